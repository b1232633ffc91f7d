"""Fault plans for the simulated WeChat API: make chosen calls slow, fail, or answer an errcode.

A plan targets one API path (``/cgi-bin/token``) or ``*`` and fires ``count`` times (``None``:
forever). Kinds:

``latency``   wait ``latency_ms``, then answer normally (every matching plan adds its delay);
``status``    wait ``latency_ms``, then answer HTTP ``status`` (a 5xx) with a short text body;
``reset``     wait ``latency_ms``, then close the connection without an answer (reset/early close);
``non_json``  answer HTTP 200 with an HTML page instead of JSON;
``errcode``   answer HTTP 200 ``{"errcode": errcode, "errmsg": …}`` (default -1, system busy).

At most one failing plan (every kind but ``latency``) fires per request: the oldest that matches.
TLS failures cannot be simulated: the simulator speaks plain HTTP on loopback.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal, get_args

from weixin_gateway.simulator._errors import SimulatorError
from weixin_gateway.simulator.faults import Fault, PlanBook

__all__ = ["FAULT_KINDS", "ApiFault", "ApiFaultBook", "ApiFaultKind", "ApiFaultPlan"]

ApiFaultKind = Literal["latency", "status", "reset", "non_json", "errcode"]
FAULT_KINDS: tuple[str, ...] = get_args(ApiFaultKind)


@dataclass(frozen=True, slots=True)
class ApiFaultPlan:
    kind: ApiFaultKind
    #: The API path (``/cgi-bin/token``) or ``*`` for every WeChat API route.
    path: str = "*"
    #: Times the plan fires; ``None`` = forever.
    count: int | None = 1
    latency_ms: int = 0
    #: HTTP status for ``status``.
    status: int | None = None
    #: errcode for ``errcode`` (default -1).
    errcode: int | None = None
    #: errmsg for ``errcode`` (default: WeChat's text for the code).
    errmsg: str | None = None

    def __post_init__(self) -> None:
        if self.kind not in FAULT_KINDS:
            raise SimulatorError(f"kind must be one of {', '.join(FAULT_KINDS)}", field="kind")
        if self.path != "*" and not self.path.startswith("/"):
            raise SimulatorError("path must be * or start with /", field="path")
        if self.count is not None and self.count < 1:
            raise SimulatorError("count must be at least 1 (or null for forever)", field="count")
        if self.latency_ms < 0:
            raise SimulatorError("latency_ms must not be negative", field="latency_ms")
        if self.kind == "status":
            if self.status is None or not 400 <= self.status <= 599:
                raise SimulatorError("status must be a 4xx or 5xx HTTP status", field="status")
        elif self.status is not None:
            raise SimulatorError("status is only for kind 'status'", field="status")
        if self.kind != "errcode" and (self.errcode is not None or self.errmsg is not None):
            raise SimulatorError("errcode and errmsg are only for kind 'errcode'", field="errcode")

    def matches(self, path: str) -> bool:
        return self.path in ("*", path)


#: An active API fault plan (see :class:`~weixin_gateway.simulator.faults.Fault`).
ApiFault = Fault[ApiFaultPlan]


class ApiFaultBook(PlanBook[ApiFaultPlan]):
    """The active API fault plans, oldest first."""

    def take(self, path: str) -> tuple[int, ApiFaultPlan | None]:
        """For one request: the total delay in ms, and the failing plan (if any) that fires."""
        return self.take_matching(lambda plan: plan.matches(path), _latency)


def _latency(plan: ApiFaultPlan) -> int:
    return plan.latency_ms
