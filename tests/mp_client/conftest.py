"""Fixtures: an Official Account simulator on loopback and clients pointed at it."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from typing import Any

import aiohttp
import pytest

from weixin_gateway._clock import FakeClock
from weixin_gateway.mp.client import MpApiClient, MpClientConfig, MpTimeouts
from weixin_gateway.mp.tokens import TokenStore
from weixin_gateway.simulator.mp import OfficialAccountSimulator
from weixin_gateway.simulator.mp.config import AppConfig

#: Short but finite timeouts: every test is bounded even when something hangs.
TEST_TIMEOUTS = MpTimeouts(connect=2.0, request=5.0, upload=5.0)

ClientFactory = Callable[..., MpApiClient]


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
async def wx(clock: FakeClock) -> AsyncIterator[OfficialAccountSimulator]:
    async with OfficialAccountSimulator(clock=clock) as sim:
        yield sim


@pytest.fixture
def app(wx: OfficialAccountSimulator) -> AppConfig:
    return wx.create_app()


@pytest.fixture
async def http() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as session:
        yield session


@pytest.fixture
def make_client(
    wx: OfficialAccountSimulator, app: AppConfig, http: aiohttp.ClientSession, clock: FakeClock
) -> ClientFactory:
    """Build a client for ``app`` (or another app) that talks to the simulator."""

    def make(
        *,
        appid: str | None = None,
        secret: str | None = None,
        token_store: TokenStore | None = None,
        **config: Any,
    ) -> MpApiClient:
        config.setdefault("timeouts", TEST_TIMEOUTS)
        target = wx.app(appid) if appid else app
        return MpApiClient(
            target.appid,
            secret if secret is not None else target.secret,
            api_base_url=wx.api_base_url,
            mp_base_url=wx.mp_base_url,
            open_base_url=wx.open_base_url,
            session=http,
            token_store=token_store,
            clock=clock,
            config=MpClientConfig(**config),
        )

    return make


@pytest.fixture
def client(make_client: ClientFactory) -> MpApiClient:
    return make_client()
