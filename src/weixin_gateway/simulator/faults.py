"""Fault plans: make chosen requests slow, fail, vanish, or re-deliver an inbound message.

A plan targets a route (or ``*``), optionally one bot, and fires ``count`` times (``None``:
forever). Kinds:

``latency``
    wait ``delay_ms``, then answer normally. Every matching latency plan adds its delay.
``status``
    wait ``delay_ms``, then answer HTTP ``status`` (5xx, 524, 4xx ...). On CDN routes the
    message goes into ``x-error-message`` as the real CDN does for 4xx.
``drop``
    wait ``delay_ms``, then close the connection without an answer.
``garbage``
    wait ``delay_ms``, then answer HTTP 200 with a body that is not JSON (an HTML error page, as
    a misbehaving proxy would send).
``no_encrypted_param``
    ``cdn_upload`` only: store the upload but answer 200 without ``x-encrypted-param``.
``duplicate``
    the next inbound message for the bot (or any bot), or the retained message ``message_id``,
    is delivered again under a new ``message_id`` after ``delay_ms`` — same sender, items and
    context token.

At most one of ``status``/``drop``/``garbage``/``no_encrypted_param`` fires per request: the
oldest plan that matches.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Generic, Literal, Protocol, TypeVar, get_args

from ._errors import SimulatorError, SimulatorNotFoundError

__all__ = [
    "FAULT_KINDS",
    "ROUTES",
    "CountedPlan",
    "Fault",
    "FaultBook",
    "FaultKind",
    "FaultPlan",
    "PlanBook",
]

FaultKind = Literal["latency", "status", "drop", "garbage", "no_encrypted_param", "duplicate"]
FAULT_KINDS: tuple[str, ...] = get_args(FaultKind)

ILINK_ROUTES = (
    "get_bot_qrcode",
    "get_qrcode_status",
    "getupdates",
    "sendmessage",
    "getuploadurl",
    "getconfig",
    "sendtyping",
    "notifystart",
    "notifystop",
)
CDN_ROUTES = ("cdn_upload", "cdn_download")
#: Every route a fault plan can target (besides ``*``).
ROUTES = ILINK_ROUTES + CDN_ROUTES


@dataclass(frozen=True, slots=True)
class FaultPlan:
    """What to break, where, and how often."""

    kind: FaultKind
    route: str = "*"
    bot_id: str | None = None
    #: Times the plan fires; ``None`` = forever.
    count: int | None = 1
    delay_ms: int = 0
    #: HTTP status for ``kind="status"``.
    status: int | None = None
    #: ``x-error-message`` (CDN) / error text of a ``status`` answer.
    error_message: str | None = None
    #: ``duplicate``: re-deliver this retained message instead of the next one.
    message_id: int | None = None

    def __post_init__(self) -> None:
        if self.kind not in FAULT_KINDS:
            raise SimulatorError(f"kind must be one of {', '.join(FAULT_KINDS)}", field="kind")
        if self.route != "*" and self.route not in ROUTES:
            raise SimulatorError(f"route must be * or one of {', '.join(ROUTES)}", field="route")
        if self.count is not None and self.count < 1:
            raise SimulatorError("count must be at least 1 (or null for forever)", field="count")
        if self.delay_ms < 0:
            raise SimulatorError("delay_ms must not be negative", field="delay_ms")
        if self.kind == "status":
            if self.status is None or not 100 <= self.status <= 599 or 200 <= self.status < 300:
                raise SimulatorError("status must be a non-2xx HTTP status", field="status")
        elif self.status is not None:
            raise SimulatorError("status is only for kind 'status'", field="status")
        if self.kind == "no_encrypted_param" and self.route not in ("*", "cdn_upload"):
            raise SimulatorError("no_encrypted_param applies to cdn_upload only", field="route")
        if self.kind == "duplicate" and self.route not in ("*", "getupdates"):
            raise SimulatorError(
                "duplicate applies to getupdates (inbound messages)", field="route"
            )
        if self.message_id is not None and self.kind != "duplicate":
            raise SimulatorError("message_id is only for kind 'duplicate'", field="message_id")
        if self.message_id is not None and self.count is None:
            raise SimulatorError("a duplicate of one message needs a finite count", field="count")

    def matches(self, route: str, bot_id: str | None) -> bool:
        if self.route not in ("*", route):
            return False
        if self.bot_id is not None and self.bot_id != bot_id:
            return False
        if self.kind == "no_encrypted_param":
            return route == "cdn_upload"
        return self.kind != "duplicate"


class CountedPlan(Protocol):
    """What the fault book needs of a plan: its kind and how many times it fires."""

    @property
    def kind(self) -> str: ...

    @property
    def count(self) -> int | None: ...


P = TypeVar("P", bound=CountedPlan)


@dataclass(frozen=True, slots=True)
class Fault(Generic[P]):
    """An active plan: its ID, how many more times it fires (``None``: forever), times fired."""

    id: int
    plan: P
    remaining: int | None
    fired: int = 0


class PlanBook(Generic[P]):
    """Active fault plans, oldest first, each firing its ``count`` times (shared by both sides)."""

    def __init__(self) -> None:
        self._faults: dict[int, Fault[P]] = {}
        self._ids = itertools.count(1)

    def add(self, plan: P) -> Fault[P]:
        fault = Fault(next(self._ids), plan, plan.count)
        self._faults[fault.id] = fault
        return fault

    def list(self) -> tuple[Fault[P], ...]:
        return tuple(self._faults.values())

    def remove(self, fault_id: int) -> None:
        if self._faults.pop(fault_id, None) is None:
            raise SimulatorNotFoundError(f"no fault {fault_id}", field="id")

    def clear(self) -> None:
        self._faults.clear()

    def __bool__(self) -> bool:
        return bool(self._faults)

    def _fire(self, fault: Fault[P]) -> P:
        remaining = None if fault.remaining is None else fault.remaining - 1
        if remaining == 0:
            del self._faults[fault.id]
        else:
            self._faults[fault.id] = replace(fault, remaining=remaining, fired=fault.fired + 1)
        return fault.plan

    def take_matching(
        self, matches: Callable[[P], bool], delay_ms: Callable[[P], int]
    ) -> tuple[int, P | None]:
        """For one request: the total delay in ms, and the failing plan (if any) that fires.

        Every matching ``latency`` plan adds its delay; at most one other plan fires — the oldest.
        """
        delay = 0
        failing: P | None = None
        for fault in list(self._faults.values()):
            plan = fault.plan
            if not matches(plan):
                continue
            if plan.kind == "latency":
                delay += delay_ms(self._fire(fault))
            elif failing is None:
                failing = self._fire(fault)
                delay += delay_ms(plan)
        return delay, failing


class FaultBook(PlanBook[FaultPlan]):
    """The iLink side's fault plans."""

    def take(self, route: str, bot_id: str | None) -> tuple[int, FaultPlan | None]:
        """For one request: the total delay in ms, and the failing plan (if any) that fires."""
        return self.take_matching(lambda plan: plan.matches(route, bot_id), _delay)

    def take_duplicate(self, bot_id: str) -> FaultPlan | None:
        """A ``duplicate`` plan (without ``message_id``) for the next inbound message of a bot."""
        for fault in list(self._faults.values()):
            plan = fault.plan
            if (
                plan.kind == "duplicate"
                and plan.message_id is None
                and plan.bot_id in (None, bot_id)
            ):
                return self._fire(fault)
        return None


def _delay(plan: FaultPlan) -> int:
    return plan.delay_ms
