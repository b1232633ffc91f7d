"""A faithful local iLink server + CDN, with a JSON control API and fault plans.

Depends only on the protocol layer (:mod:`weixin_gateway.ilink.wire`, ``.crypto``,
``.protocol``). See ``docs/simulator.md``.
"""

from __future__ import annotations

from ._errors import SimulatorError, SimulatorNotFoundError
from .config import SimulatorConfig
from .faults import Fault, FaultKind, FaultPlan
from .inbound import (
    ItemSpec,
    KeyEncoding,
    MediaKind,
    MediaSpec,
    QuoteSpec,
    TextSpec,
    generated_bytes,
)
from .records import (
    InjectedMessage,
    Notification,
    QrSession,
    RecordedRequest,
    SentItem,
    SentMessage,
    SimBot,
    SimUser,
    TypingEvent,
)
from .server import Simulator

__all__ = [
    "Fault",
    "FaultKind",
    "FaultPlan",
    "InjectedMessage",
    "ItemSpec",
    "KeyEncoding",
    "MediaKind",
    "MediaSpec",
    "Notification",
    "QrSession",
    "QuoteSpec",
    "RecordedRequest",
    "SentItem",
    "SentMessage",
    "SimBot",
    "SimUser",
    "Simulator",
    "SimulatorConfig",
    "SimulatorError",
    "SimulatorNotFoundError",
    "TextSpec",
    "TypingEvent",
    "generated_bytes",
]
