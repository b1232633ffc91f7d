"""Backoff as data plus pure functions, so schedules can be tested without waiting."""

from __future__ import annotations

import random
from dataclasses import dataclass

__all__ = ["PollBackoffConfig", "full_jitter_delay", "poll_failure_delay"]


@dataclass(frozen=True, slots=True)
class PollBackoffConfig:
    """The official client's schedule after failed polls (``monitor.ts``, ilink.md §6.4).

    Wait ``short`` seconds after each failure; on the ``threshold``-th consecutive failure wait
    ``long`` seconds instead and start counting again.
    """

    short: float = 2.0
    long: float = 30.0
    threshold: int = 3


def poll_failure_delay(config: PollBackoffConfig, failures: int) -> tuple[float, int]:
    """Return ``(delay, failures_after)`` for the ``failures``-th consecutive failure (1-based)."""
    if failures >= config.threshold:
        return config.long, 0
    return config.short, failures


def full_jitter_delay(
    attempt: int,
    *,
    base: float,
    cap: float,
    rng: random.Random | None = None,
) -> float:
    """Full-jitter exponential backoff: uniform in ``[0, min(cap, base * 2**attempt)]``.

    ``attempt`` counts from 0 for the first retry.
    """
    ceiling = min(cap, base * (2 ** max(0, attempt)))
    return (rng or random).uniform(0.0, ceiling)
