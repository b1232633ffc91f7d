"""Fixtures for the SDK tests: a simulator on loopback, a bot on it and a client for that bot."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from typing import Any

import pytest

from weixin_gateway.ilink.client import WeixinClient
from weixin_gateway.simulator import RecordedRequest, SimBot, Simulator, SimulatorConfig

#: Reply-window rules off (they have their own tests in the simulator suite), short holds.
RELAXED = SimulatorConfig(
    hold_seconds=0.5,
    require_context_token=False,
    check_context_token=False,
    reply_window_seconds=None,
    max_replies_per_inbound=None,
)


@pytest.fixture
async def sim() -> AsyncIterator[Simulator]:
    async with Simulator(config=RELAXED) as simulator:
        yield simulator


@pytest.fixture
def bot(sim: Simulator) -> SimBot:
    return sim.create_bot()


@pytest.fixture
async def client(bot: SimBot) -> AsyncIterator[WeixinClient]:
    async with WeixinClient.from_account(bot) as weixin:
        yield weixin


def requests_to(sim: Simulator, route: str) -> list[RecordedRequest]:
    return [r for r in sim.requests if r.route == route]


def bodies(sim: Simulator, route: str) -> list[dict[str, Any]]:
    out = []
    for request in requests_to(sim, route):
        body = json.loads(request.body)
        assert isinstance(body, dict)
        out.append(body)
    return out
