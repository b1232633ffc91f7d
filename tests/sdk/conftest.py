"""Fixtures for the SDK tests: a simulator on loopback, a bot on it and a client for that bot."""

from __future__ import annotations

import json
from typing import Any

from tests.sim_fixtures import RELAXED, bot, client, sim
from weixin_gateway.simulator import RecordedRequest, Simulator

__all__ = ["RELAXED", "bodies", "bot", "client", "requests_to", "sim"]


def requests_to(sim: Simulator, route: str) -> list[RecordedRequest]:
    return [r for r in sim.requests if r.route == route]


def bodies(sim: Simulator, route: str) -> list[dict[str, Any]]:
    out = []
    for request in requests_to(sim, route):
        body = json.loads(request.body)
        assert isinstance(body, dict)
        out.append(body)
    return out
