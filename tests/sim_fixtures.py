"""The simulator fixtures shared by the SDK, delivery and gateway suites: a simulator on
loopback with the reply-window rules off, a bot on it, and a client for that bot.

A suite's ``conftest.py`` imports them (``from tests.sim_fixtures import bot, client, sim``).
"""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from weixin_gateway.ilink.client import WeixinClient
from weixin_gateway.simulator import SimBot, Simulator, SimulatorConfig

__all__ = ["RELAXED", "bot", "client", "sim"]

#: Reply-window rules off (they have their own tests, or a test turns them on); short holds.
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
