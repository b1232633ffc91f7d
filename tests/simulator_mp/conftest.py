"""Fixtures for the Official Account simulator: a running simulator on a FakeClock, a raw HTTP
client for its WeChat API, and a tiny gateway stand-in (the receiver) built on weixin_gateway.mp."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator, Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import aiohttp
import pytest
from aiohttp import web

from weixin_gateway._clock import FakeClock
from weixin_gateway.mp.crypto import MsgCrypto
from weixin_gateway.mp.envelope import PushQuery, open_push, seal_response, verify_url
from weixin_gateway.mp.push import Push, parse_push
from weixin_gateway.mp.reply import TextReply, passive_reply
from weixin_gateway.simulator.mp import AppConfig, MpSimulatorConfig, OfficialAccountSimulator

#: Push deadline used by the tests (WeChat's is 5 s).
DEADLINE = 0.3


@dataclass
class Answer:
    status: int
    text: str
    headers: Mapping[str, str]

    def json(self) -> Any:
        return json.loads(self.text)


class WeChatApi:
    """Raw calls to the simulated WeChat API and control API."""

    def __init__(self, http: aiohttp.ClientSession, base_url: str) -> None:
        self.http = http
        self.base_url = base_url

    async def get(self, path: str, params: Mapping[str, str] | None = None, **kw: Any) -> Answer:
        async with self.http.get(self.base_url + path, params=params, **kw) as resp:
            return Answer(resp.status, await resp.text(errors="replace"), dict(resp.headers))

    async def post(
        self,
        path: str,
        body: object = None,
        *,
        params: Mapping[str, str] | None = None,
        data: bytes | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> Answer:
        payload = data if data is not None else json.dumps(body, ensure_ascii=False).encode()
        sent = {"Content-Type": "application/json"} if headers is None else dict(headers)
        async with self.http.post(
            self.base_url + path, params=params, data=payload, headers=sent
        ) as resp:
            return Answer(resp.status, await resp.text(errors="replace"), dict(resp.headers))

    async def delete(self, path: str) -> Answer:
        async with self.http.delete(self.base_url + path) as resp:
            return Answer(resp.status, await resp.text(errors="replace"), dict(resp.headers))

    async def call(self, path: str, token: str, body: object = None, **params: str) -> Any:
        """A protected API: GET when ``body`` is None, else POST JSON; returns the JSON."""
        query = {"access_token": token, **params}
        answer = (
            await self.get(path, query)
            if body is None
            else await self.post(path, body, params=query)
        )
        assert answer.status == 200, answer.text
        return answer.json()

    async def token(self, app: AppConfig) -> str:
        answer = await self.get(
            "/cgi-bin/token",
            {"grant_type": "client_credential", "appid": app.appid, "secret": app.secret},
        )
        data = answer.json()
        assert "access_token" in data, data
        return str(data["access_token"])


@dataclass
class Hit:
    method: str
    query: dict[str, str]
    body: bytes
    at: float


@dataclass
class Receiver:
    """A gateway stand-in: answers pushes correctly (plain, compat, safe) with the mp helpers,
    or misbehaves on purpose.

    ``behaviour``: ``reply`` (text ``echo: …``), ``success``, ``empty``, ``malformed`` (an
    unescaped ``]]>``), ``json``, ``wrong_to``, ``status500``, ``plain_in_safe`` (a plaintext
    reply to an encrypted push), ``wrong_appid`` (an envelope sealed for another AppID),
    ``custom`` (``reply_body`` verbatim). ``delays`` makes the n-th hit wait that long.
    """

    app: AppConfig
    behaviour: str = "reply"
    delays: list[float] = field(default_factory=list)
    reply_body: bytes = b""
    reply_factory: Callable[[Push], str] | None = None
    channels_ec: bool = False
    hits: list[Hit] = field(default_factory=list)
    pushes: list[Push] = field(default_factory=list)
    url: str = ""

    def crypto(self, appid: str | None = None) -> MsgCrypto:
        return MsgCrypto(
            token=self.app.token,
            encoding_aes_key=self.app.encoding_aes_key,
            app_id=appid or self.app.appid,
        )

    async def handle(self, request: web.Request) -> web.StreamResponse:
        body = await request.read()
        index = len(self.hits)
        self.hits.append(Hit(request.method, dict(request.query), body, time.monotonic()))
        if index < len(self.delays) and self.delays[index]:
            await asyncio.sleep(self.delays[index])
        query = PushQuery.from_mapping(request.query)
        if request.method == "GET":
            echo = verify_url(query, token=self.app.token, now=time.time())
            return web.Response(text=echo or "")
        if self.behaviour == "status500":
            return web.Response(status=500, text="boom")
        if self.behaviour == "custom":
            return web.Response(body=self.reply_body)
        if self.behaviour in ("success", "empty"):
            return web.Response(text="success" if self.behaviour == "success" else "")
        opened = open_push(
            body,
            query,
            token=self.app.token,
            crypto=self.crypto(),
            now=time.time(),
            channels_ec=self.channels_ec,
        )
        push = parse_push(opened.fields, channels_ec=self.channels_ec)
        self.pushes.append(push)
        if self.channels_ec:
            return web.Response(text="success")
        if self.behaviour == "json":
            return web.json_response({"type": "text", "msg": "hi"})
        content = str(push.fields.get("Content", push.event or push.msg_type))
        reply = (
            self.reply_factory(push)
            if self.reply_factory is not None
            else passive_reply(push, TextReply(f"echo: {content}"), create_time=push.create_time)
        )
        if self.behaviour == "malformed":
            reply = reply.replace("<![CDATA[echo: ", "<![CDATA[echo: ]]> ")
        if self.behaviour == "wrong_to":
            reply = reply.replace(push.from_user, "oSomeoneElse")
        if self.behaviour == "plain_in_safe":
            return web.Response(text=reply)
        crypto = self.crypto("wx0000000000000000" if self.behaviour == "wrong_appid" else None)
        sealed = seal_response(
            reply,
            crypto=crypto,
            encrypted=opened.encrypted,
            timestamp=query.timestamp,
            nonce=query.nonce,
        )
        return web.Response(text=sealed)


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def config() -> MpSimulatorConfig:
    return MpSimulatorConfig(push_timeout_s=DEADLINE, seed=7)


@pytest.fixture
async def wx(
    config: MpSimulatorConfig, clock: FakeClock
) -> AsyncIterator[OfficialAccountSimulator]:
    async with OfficialAccountSimulator(config, clock=clock) as simulator:
        yield simulator


@pytest.fixture
async def http() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as session:
        yield session


@pytest.fixture
def api(http: aiohttp.ClientSession, wx: OfficialAccountSimulator) -> WeChatApi:
    return WeChatApi(http, wx.api_base_url)


@pytest.fixture
def app(wx: OfficialAccountSimulator) -> AppConfig:
    return wx.create_app()


@pytest.fixture
async def serve() -> AsyncIterator[Callable[[Receiver], Any]]:
    """Start a receiver on 127.0.0.1 and return its URL (``/wx``)."""
    runners: list[web.AppRunner] = []

    async def start(receiver: Receiver) -> str:
        server = web.Application()
        server.router.add_route("*", "/wx", receiver.handle)
        runner = web.AppRunner(server, handler_cancellation=True, shutdown_timeout=0.5)
        await runner.setup()
        await web.TCPSite(runner, "127.0.0.1", 0).start()
        runners.append(runner)
        port = runner.addresses[0][1]
        receiver.url = f"http://127.0.0.1:{port}/wx"
        return receiver.url

    yield start
    for runner in runners:
        await runner.cleanup()
