"""WeixinClient basics against the simulator: construction, poll, text sends, config."""

from __future__ import annotations

from collections.abc import AsyncIterator
from types import SimpleNamespace

import aiohttp
import pytest
from aiohttp import web

from weixin_gateway.errors import SendRejectedError, SessionExpiredError
from weixin_gateway.ilink.client import WeixinClient
from weixin_gateway.ilink.login import LoginResult
from weixin_gateway.ilink.protocol import CDN_BASE_URL, DEFAULT_BASE_URL
from weixin_gateway.ilink.wire import GetUploadUrlRequest
from weixin_gateway.simulator import SimBot, Simulator

from .conftest import bodies, requests_to

USER = "o9cq800kum_AbCdEfGhIjKlMnOpQrStUvWx@im.wechat"
CTX = "AARzJWAFAAABAAAAAAApZ0x5bW9ja2VkLWNvbnRleHQtdG9rZW4="
RUN = "0b5c9a7e-3f6d-4c1a-9e2b-7d8f1a2b3c4d"
TOKEN = "e06c1ceea05e@im.bot:06000044b7c1a2f3d4e5f60718293a4b5c6d7e8f"


async def test_from_account_accepts_mappings_objects_and_login_results() -> None:
    records: list[object] = [
        {"token": TOKEN, "baseUrl": "http://127.0.0.1:1", "cdnBaseUrl": "http://127.0.0.1:2/c2c"},
        {"bot_token": TOKEN, "base_url": "http://127.0.0.1:1", "cdn_base_url": "http://127.0.0.1:2/c2c/"},
        SimpleNamespace(token=TOKEN, base_url="http://127.0.0.1:1", cdn_base_url="http://127.0.0.1:2/c2c"),
        LoginResult(bot_token=TOKEN, account_id="e06c1ceea05e@im.bot", base_url="http://127.0.0.1:1"),
    ]  # fmt: skip
    for record in records:
        async with WeixinClient.from_account(record, markdown_filter=True) as client:
            assert client.api.token == TOKEN
            assert client.api.base_url == "http://127.0.0.1:1"
            assert client.markdown_filter
            expected_cdn = (
                CDN_BASE_URL if isinstance(record, LoginResult) else "http://127.0.0.1:2/c2c"
            )
            assert client.cdn_base_url == expected_cdn
    async with WeixinClient.from_account({"token": TOKEN}) as client:
        assert client.api.base_url == DEFAULT_BASE_URL
    with pytest.raises(ValueError, match="no token"):
        WeixinClient.from_account({"baseUrl": "http://127.0.0.1:1", "token": "  "})


async def test_repr_never_shows_the_token() -> None:
    async with WeixinClient("http://127.0.0.1:1", TOKEN) as client:
        text = repr(client)
    assert "06000044b7c1" not in text
    assert "e06c1ceea05e@im.bot:***" in text


async def test_poll_returns_messages_and_keeps_the_cursor(
    sim: Simulator, bot: SimBot, client: WeixinClient
) -> None:
    first = sim.inject_message(bot.bot_id, text="one")
    sim.inject_message(bot.bot_id, text="two")
    result = await client.poll()
    assert [m.text for m in result.msgs] == ["one", "two"]
    assert result.msgs[0].message_id == first.message_id
    assert result.ret == 0
    assert result.longpolling_timeout_ms == 35_000
    assert result.cursor == client.cursor == result.next_cursor != ""
    saved = client.cursor

    idle = await client.poll()  # held 0.5 s, nothing new
    assert idle.msgs == []
    assert client.cursor == saved
    assert [b["get_updates_buf"] for b in bodies(sim, "getupdates")] == ["", saved]

    sim.inject_message(bot.bot_id, text="three")
    replay = await client.poll(cursor="")  # seed 004 style: an explicit cursor
    assert "three" in [m.text for m in replay.msgs]
    assert bodies(sim, "getupdates")[-1]["get_updates_buf"] == ""

    client.cursor = saved
    again = await client.poll()
    assert [m.text for m in again.msgs] == ["three"]


@pytest.fixture
async def bare_server() -> AsyncIterator[tuple[str, list[str]]]:
    """A server that answers getupdates with ``{"ret":0}``: no msgs, no cursor."""
    seen: list[str] = []

    async def getupdates(request: web.Request) -> web.Response:
        seen.append((await request.json())["get_updates_buf"])
        return web.json_response({"ret": 0})

    app = web.Application()
    app.router.add_post("/ilink/bot/getupdates", getupdates)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = runner.addresses[0][1]
    yield f"http://127.0.0.1:{port}", seen
    await runner.cleanup()


async def test_cursor_advances_only_on_a_non_empty_buf(bare_server: tuple[str, list[str]]) -> None:
    url, seen = bare_server
    async with WeixinClient(url, TOKEN, cursor="C1") as client:
        result = await client.poll()
        assert result.msgs == []
        assert result.get_updates_buf is None
        assert result.cursor == client.cursor == "C1"
        await client.poll()
    assert seen == ["C1", "C1"]


async def test_expired_token_raises_session_expired(
    sim: Simulator, bot: SimBot, client: WeixinClient
) -> None:
    sim.expire_bot(bot.bot_id)
    with pytest.raises(SessionExpiredError):
        await client.poll()


async def test_send_text_reproduces_the_captured_body(sim: Simulator, client: WeixinClient) -> None:
    sim.create_user(user_id=USER)
    client.markdown_filter = True
    raw = "**Sure!** Here is *the* answer:\n##### Small heading\n![img](http://x/y.png)\n这是*中文斜体*。"
    result = await client.send_text(
        USER, raw, context_token=CTX, run_id=RUN, client_id="openclaw-weixin:1795317871523-4d214df2"
    )
    expected = (
        '{"msg":{"from_user_id":"","to_user_id":"o9cq800kum_AbCdEfGhIjKlMnOpQrStUvWx@im.wechat",'
        '"client_id":"openclaw-weixin:1795317871523-4d214df2","message_type":2,"message_state":2,'
        '"item_list":[{"type":1,"text_item":{"text":"**Sure!** Here is *the* answer:'
        '\\nSmall heading\\n\\n这是中文斜体。"}}],'
        '"context_token":"AARzJWAFAAABAAAAAAApZ0x5bW9ja2VkLWNvbnRleHQtdG9rZW4=",'
        '"run_id":"0b5c9a7e-3f6d-4c1a-9e2b-7d8f1a2b3c4d"},"base_info":{"channel_version":"2.4.9",'
        '"bot_agent":"OpenClaw"}}'
    )
    assert requests_to(sim, "sendmessage")[-1].body == expected.encode()
    assert result.client_id == "openclaw-weixin:1795317871523-4d214df2"
    assert result.message_id is not None
    assert result.message_id > 2**53  # a uint64 kept exact


async def test_send_text_defaults(sim: Simulator, bot: SimBot, client: WeixinClient) -> None:
    a = await client.send_text(bot.user_id, "*plain* ##### kept")  # filter off by default
    b = await client.send_text(bot.user_id, "")
    assert a.client_id != b.client_id
    assert a.client_id.startswith("openclaw-weixin:")
    sent = [b["msg"] for b in bodies(sim, "sendmessage")]
    assert sent[0]["item_list"] == [{"type": 1, "text_item": {"text": "*plain* ##### kept"}}]
    assert "context_token" not in sent[0]
    assert "run_id" not in sent[0]
    assert list(sent[1]) == [
        "from_user_id",
        "to_user_id",
        "client_id",
        "message_type",
        "message_state",
    ]


async def test_markdown_filter_switch(sim: Simulator, bot: SimBot, client: WeixinClient) -> None:
    await client.send_text(bot.user_id, "##### 标题", markdown_filter=True)
    client.markdown_filter = True
    await client.send_text(bot.user_id, "##### 标题")
    await client.send_text(bot.user_id, "##### 标题", markdown_filter=False)
    assert [m.text for m in sim.sent(bot.bot_id)] == ["标题", "标题", "##### 标题"]


async def test_send_text_chunked(sim: Simulator, bot: SimBot, client: WeixinClient) -> None:
    paragraphs = ["a" * 30, "b" * 30, "c" * 30]
    results = await client.send_text_chunked(bot.user_id, "\n\n".join(paragraphs), max_length=40)
    assert len(results) == 3
    assert len({r.client_id for r in results}) == 3
    assert [m.text for m in sim.sent(bot.bot_id)] == paragraphs
    assert await client.send_text_chunked(bot.user_id, " \n ") == []


async def test_send_text_chunked_default_limit_and_filter(
    sim: Simulator, bot: SimBot, client: WeixinClient
) -> None:
    client.markdown_filter = True
    text = "##### 头\n" + ("x" * 3000 + "\n") * 3
    results = await client.send_text_chunked(bot.user_id, text, context_token=None)
    sent = [m.text for m in sim.sent(bot.bot_id)]
    assert len(results) == len(sent) == 3
    assert all(len(t) <= 4000 for t in sent)
    assert sent[0].startswith("头\n")
    client.text_chunk_limit = 1000
    assert len(await client.send_text_chunked(bot.user_id, "y" * 2500)) == 3


async def test_rejected_send_raises(sim: Simulator, bot: SimBot, client: WeixinClient) -> None:
    sim.configure(require_context_token=True)
    with pytest.raises(SendRejectedError):
        await client.send_text(bot.user_id, "no context token")
    inbound = sim.inject_message(bot.bot_id, text="hi")
    ok = await client.send_text(bot.user_id, "reply", context_token=inbound.context_token)
    assert ok.message_id is not None


async def test_get_config_and_upload_url_wrappers(
    sim: Simulator, bot: SimBot, client: WeixinClient
) -> None:
    config = await client.get_config(bot.user_id, "ctx-1")
    assert config.ret == 0
    assert config.typing_ticket == sim.typing_ticket(bot.bot_id, bot.user_id)
    assert bodies(sim, "getconfig")[0] == {
        "ilink_user_id": bot.user_id,
        "context_token": "ctx-1",
        "base_info": {"channel_version": "2.4.9", "bot_agent": "OpenClaw"},
    }
    reply = await client.get_upload_url(
        GetUploadUrlRequest(
            filekey="ab" * 16,
            media_type=3,
            to_user_id=bot.user_id,
            rawsize=1,
            rawfilemd5="0" * 32,
            filesize=16,
            aeskey="cd" * 16,
        )
    )
    assert reply.upload_param
    assert reply.upload_full_url


async def test_close_is_idempotent_and_borrowed_sessions_stay_open(bot: SimBot) -> None:
    async with aiohttp.ClientSession() as shared:
        client = WeixinClient.from_account(bot, session=shared, poll_session=shared)
        await client.send_text(bot.user_id, "via a shared session")
        await client.close()
        await client.close()
        assert not shared.closed
