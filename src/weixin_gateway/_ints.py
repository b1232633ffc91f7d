"""Reading the integers protocols put in JSON: numbers, numeric strings, or nonsense."""

from __future__ import annotations

__all__ = ["as_int"]


def as_int(value: object) -> int | None:
    """``value`` as an int if it is one (or a bool, or a decimal string); else ``None``."""
    if isinstance(value, bool):
        return int(value)
    if isinstance(value, int):
        return value
    if isinstance(value, str):
        try:
            return int(value.strip())
        except ValueError:
            return None
    return None
