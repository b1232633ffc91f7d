from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from weixin_gateway.simulator import Simulator, SimulatorConfig


@pytest.fixture
async def sim() -> AsyncIterator[Simulator]:
    async with Simulator(SimulatorConfig(hold_seconds=0.3, qr_hold_seconds=0.2)) as simulator:
        yield simulator
