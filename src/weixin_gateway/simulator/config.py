"""The simulator's switches: hold times, ID format, the ``ret:-2`` rules, URL modes, recording.

Every field can be set when the :class:`~.server.Simulator` is built and changed while it runs
(``sim.configure(...)`` or ``POST /_sim/config`` with a partial JSON object).
"""

from __future__ import annotations

import dataclasses
import types
from collections.abc import Mapping
from dataclasses import dataclass
from typing import get_args, get_type_hints

from ._errors import SimulatorError

__all__ = ["SimulatorConfig", "config_from_json", "config_to_json"]


@dataclass(frozen=True, slots=True)
class SimulatorConfig:
    """How the simulated iLink server behaves. Times are seconds unless the name says ``_ms``."""

    #: ``getupdates`` is held this long when there is nothing to deliver (real time).
    hold_seconds: float = 30.0
    #: ``longpolling_timeout_ms`` sent in every ``getupdates`` answer.
    longpolling_timeout_ms: int = 35_000
    #: At most this many messages per ``getupdates`` answer.
    max_batch: int = 100
    #: Inbound messages kept per bot; older ones are dropped (and ``""`` starts after them).
    retention: int = 10_000
    #: Send ``message_id``/``msg_id``/``svr_id`` as JSON strings instead of bare numbers.
    ids_as_strings: bool = False
    #: ``ret:-2`` for a send without ``context_token``.
    require_context_token: bool = True
    #: ``ret:-2`` for a ``context_token`` this bot never gave out for that user.
    check_context_token: bool = True
    #: ``ret:-2`` when the user's last inbound message is older than this (``None``: off).
    reply_window_seconds: float | None = 86_400.0
    #: ``ret:-2`` for more than this many sends per inbound message (``None``: off).
    max_replies_per_inbound: int | None = 10
    #: ``getuploadurl`` answers ``upload_full_url`` as well as ``upload_param``.
    upload_full_url: bool = True
    #: Inbound media carry ``media.full_url`` as well as ``encrypt_query_param``.
    inbound_full_url: bool = True
    #: ``get_qrcode_status`` is held this long while the status does not change (real time).
    qr_hold_seconds: float = 25.0
    #: A QR code older than this (by the injected clock) answers ``expired``.
    qr_ttl_seconds: float = 300.0
    #: Wrong verify codes before ``verify_code_blocked``.
    verify_code_attempts: int = 3
    #: A QR login confirmed by a user expires that user's other bots (they then get -14).
    expire_replaced_bots: bool = True
    #: Record every iLink and CDN request (``sim.requests``, ``GET /_sim/requests``).
    record_requests: bool = True
    #: Keep at most this many recorded requests (oldest dropped).
    max_recorded_requests: int = 10_000
    #: Keep at most this many bytes of each recorded request body.
    record_body_limit: int = 1 << 20

    def __post_init__(self) -> None:
        for name in ("hold_seconds", "qr_hold_seconds", "qr_ttl_seconds"):
            if getattr(self, name) < 0:
                raise SimulatorError(f"{name} must not be negative", field=name)
        for name in (
            "longpolling_timeout_ms",
            "max_batch",
            "retention",
            "verify_code_attempts",
            "max_recorded_requests",
        ):
            if getattr(self, name) < 1:
                raise SimulatorError(f"{name} must be at least 1", field=name)
        if self.record_body_limit < 0:
            raise SimulatorError(
                "record_body_limit must not be negative", field="record_body_limit"
            )
        if self.reply_window_seconds is not None and self.reply_window_seconds < 0:
            raise SimulatorError(
                "reply_window_seconds must not be negative", field="reply_window_seconds"
            )
        if self.max_replies_per_inbound is not None and self.max_replies_per_inbound < 0:
            raise SimulatorError(
                "max_replies_per_inbound must not be negative", field="max_replies_per_inbound"
            )

    def replace(self, **changes: object) -> SimulatorConfig:
        """A copy with ``changes`` applied, type-checked like the JSON form."""
        return config_from_json(self, changes)


_HINTS = get_type_hints(SimulatorConfig)


def _coerce(name: str, value: object) -> object:
    hint = _HINTS[name]
    allowed = get_args(hint) if isinstance(hint, types.UnionType) else (hint,)
    if value is None and type(None) in allowed:
        return None
    if isinstance(value, bool):
        if bool in allowed:
            return value
    elif isinstance(value, int):
        if int in allowed:
            return value
        if float in allowed:
            return float(value)
    elif isinstance(value, float) and float in allowed:
        return value
    names = " or ".join("null" if t is type(None) else t.__name__ for t in allowed)
    raise SimulatorError(f"{name} must be {names}", field=name)


def config_from_json(base: SimulatorConfig, data: Mapping[str, object]) -> SimulatorConfig:
    """``base`` with the fields in ``data`` replaced; unknown names and wrong types refused."""
    changes: dict[str, object] = {}
    for name, value in data.items():
        if name not in _HINTS:
            raise SimulatorError(f"unknown config field {name!r}", field=name)
        changes[name] = _coerce(name, value)
    return dataclasses.replace(base, **changes)  # type: ignore[arg-type]


def config_to_json(config: SimulatorConfig) -> dict[str, object]:
    return dataclasses.asdict(config)
