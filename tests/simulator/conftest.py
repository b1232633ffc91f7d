"""Fixtures for the simulator tests: a running simulator on loopback and a plain aiohttp client."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass
from typing import Any

import aiohttp
import pytest

from weixin_gateway.simulator import Simulator, SimulatorConfig

#: Headers as the 2.4.9 client sends them on authenticated POSTs (ilink-vectors.md §2).
APP_HEADERS = {
    "Content-Type": "application/json",
    "AuthorizationType": "ilink_bot_token",
    "X-WECHAT-UIN": "MTI5NDI3NjQ1Mw==",
    "iLink-App-Id": "bot",
    "iLink-App-ClientVersion": "132105",
}
BASE_INFO = {"channel_version": "2.4.9", "bot_agent": "OpenClaw"}


@dataclass
class Reply:
    status: int
    text: str
    headers: Mapping[str, str]

    def json(self) -> Any:
        data = json.loads(self.text)
        assert isinstance(data, dict)
        return data


class ILinkClient:
    """Raw HTTP calls to a simulator, shaped like the official client's."""

    def __init__(self, http: aiohttp.ClientSession, base_url: str) -> None:
        self.http = http
        self.base_url = base_url

    async def post(
        self,
        path: str,
        body: object | None = None,
        *,
        token: str | None = None,
        headers: Mapping[str, str] | None = None,
        data: bytes | None = None,
        base_url: str | None = None,
    ) -> Reply:
        sent = dict(APP_HEADERS if headers is None else headers)
        if token is not None:
            sent["Authorization"] = f"Bearer {token}"
        payload = data if data is not None else json.dumps(body).encode()
        url = (base_url or self.base_url) + path
        async with self.http.post(url, data=payload, headers=sent) as resp:
            return Reply(resp.status, await resp.text(), dict(resp.headers))

    async def get(self, path: str, *, base_url: str | None = None) -> Reply:
        async with self.http.get((base_url or self.base_url) + path) as resp:
            return Reply(resp.status, await resp.text(), dict(resp.headers))

    async def delete(self, path: str) -> Reply:
        async with self.http.delete(self.base_url + path) as resp:
            return Reply(resp.status, await resp.text(), dict(resp.headers))

    async def control(self, path: str, body: object | None = None) -> Reply:
        """POST a JSON body to the control API."""
        async with self.http.post(self.base_url + path, json=body or {}) as resp:
            return Reply(resp.status, await resp.text(), dict(resp.headers))

    async def getupdates(self, token: str, cursor: str = "") -> Any:
        reply = await self.post(
            "/ilink/bot/getupdates",
            {"get_updates_buf": cursor, "base_info": BASE_INFO},
            token=token,
        )
        assert reply.status == 200, reply.text
        return reply.json()

    async def sendmessage(self, token: str, msg: dict[str, object]) -> Reply:
        return await self.post(
            "/ilink/bot/sendmessage", {"msg": msg, "base_info": BASE_INFO}, token=token
        )


def text_msg(
    to_user_id: str, text: str, context_token: str | None, **extra: object
) -> dict[str, object]:
    """A ``sendmessage`` ``msg`` as the 2.4.9 client builds it."""
    msg: dict[str, object] = {
        "from_user_id": "",
        "to_user_id": to_user_id,
        "client_id": "openclaw-weixin:1795317871523-4d214df2",
        "message_type": 2,
        "message_state": 2,
        "item_list": [{"type": 1, "text_item": {"text": text}}],
    }
    if context_token is not None:
        msg["context_token"] = context_token
    msg.update(extra)
    return msg


@pytest.fixture
def config() -> SimulatorConfig:
    return SimulatorConfig(hold_seconds=0.3, qr_hold_seconds=0.3)


@pytest.fixture
async def sim(config: SimulatorConfig) -> AsyncIterator[Simulator]:
    async with Simulator(config) as simulator:
        yield simulator


@pytest.fixture
async def http() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=0)) as session:
        yield session


@pytest.fixture
def client(http: aiohttp.ClientSession, sim: Simulator) -> ILinkClient:
    return ILinkClient(http, sim.base_url)
