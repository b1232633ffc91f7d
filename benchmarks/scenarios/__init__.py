"""The scenarios, by name: each module has a title and ``async def run(ctx) -> ScenarioResult``."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path

from benchmarks.results import ScenarioResult

__all__ = ["SCENARIOS", "RunContext", "Scenario"]


@dataclass(frozen=True)
class RunContext:
    #: "full" measures; "tiny" proves the scenario still works (the test suite runs it)
    size: str
    work_dir: Path

    @property
    def tiny(self) -> bool:
        return self.size == "tiny"


@dataclass(frozen=True)
class Scenario:
    title: str
    run: Callable[[RunContext], Awaitable[ScenarioResult]]


def _load() -> dict[str, Scenario]:
    from . import idle, inbound, media_in, oa_push, outbound, poll_transport

    return {
        "inbound-latency": Scenario(inbound.LATENCY_TITLE, inbound.run_latency),
        "inbound-throughput": Scenario(inbound.THROUGHPUT_TITLE, inbound.run_throughput),
        "outbound": Scenario(outbound.TITLE, outbound.run),
        "idle-scale": Scenario(idle.TITLE, idle.run),
        "media-in": Scenario(media_in.TITLE, media_in.run),
        "oa-push": Scenario(oa_push.TITLE, oa_push.run),
        "poll-transport": Scenario(poll_transport.TITLE, poll_transport.run),
    }


SCENARIOS = _load()
