"""ILinkApi against the simulator: every endpoint, the exact 2.4.9 headers and bodies, errors."""

from __future__ import annotations

import asyncio
import base64
import json
from collections.abc import Callable

import aiohttp
import pytest
from aiohttp import web
from hypothesis import given
from hypothesis import strategies as st

from weixin_gateway.errors import (
    ApiError,
    DecodeError,
    HttpStatusError,
    NetworkError,
    RequestTimeoutError,
    SendRejectedError,
    SessionExpiredError,
)
from weixin_gateway.ilink import ILinkApi, ILinkConfig
from weixin_gateway.ilink.api import (
    _base_info_json,
    _decode,
    _getupdates_body,
    _getupdates_reply,
    _json_object,
)
from weixin_gateway.ilink.envelope import raise_for_envelope
from weixin_gateway.ilink.protocol import Timeouts
from weixin_gateway.ilink.wire import (
    GetUpdatesResponse,
    GetUploadUrlRequest,
    MessageItem,
    TextItem,
    TypingStatus,
    WeixinMessage,
    dumps_wire,
)
from weixin_gateway.simulator import FaultPlan, Simulator

BASE_INFO = {"channel_version": "2.4.9", "bot_agent": "OpenClaw"}
AUTH_POST_HEADERS = [
    "Content-Type",
    "AuthorizationType",
    "X-WECHAT-UIN",
    "iLink-App-Id",
    "iLink-App-ClientVersion",
    "Authorization",
]


def _text(to: str, text: str, ctx: str | None) -> WeixinMessage:
    return WeixinMessage(
        from_user_id="",
        to_user_id=to,
        client_id="openclaw-weixin:1795317871523-4d214df2",
        message_type=2,
        message_state=2,
        item_list=[MessageItem(type=1, text_item=TextItem(text=text))],
        context_token=ctx,
    )


async def test_authenticated_post_headers_and_body_match_2_4_9(sim: Simulator) -> None:
    bot = sim.create_bot()
    async with ILinkApi(sim.base_url, bot.bot_token) as api:
        await api.getupdates("")
    [req] = [r for r in sim.requests if r.route == "getupdates"]
    names = [name for name, _ in req.headers]
    # our headers, in the order the official client sets them (aiohttp adds its own after)
    ours = [n for n in names if n in AUTH_POST_HEADERS]
    assert ours == AUTH_POST_HEADERS
    assert req.header("AuthorizationType") == "ilink_bot_token"
    assert req.header("Authorization") == f"Bearer {bot.bot_token}"
    assert req.header("iLink-App-Id") == "bot"
    assert req.header("iLink-App-ClientVersion") == "132105"
    assert base64.b64decode(req.header("X-WECHAT-UIN") or "").decode().isdigit()
    assert req.header("SKRouteTag") is None
    assert req.body == (
        b'{"get_updates_buf":"","base_info":{"channel_version":"2.4.9","bot_agent":"OpenClaw"}}'
    )


async def test_every_request_gets_a_fresh_uin_and_route_tag_when_set(sim: Simulator) -> None:
    bot = sim.create_bot()
    config = ILinkConfig(route_tag="1001")
    async with ILinkApi(sim.base_url, bot.bot_token, config=config) as api:
        await api.notify_start()
        await api.notify_stop()
    reqs = [r for r in sim.requests if r.route in ("notifystart", "notifystop")]
    assert len(reqs) == 2
    assert reqs[0].header("X-WECHAT-UIN") != reqs[1].header("X-WECHAT-UIN")
    assert all(r.header("SKRouteTag") == "1001" for r in reqs)
    assert all(json.loads(r.body) == {"base_info": BASE_INFO} for r in reqs)
    assert [n.kind for n in sim.notifications(bot.bot_id)] == ["start", "stop"]


async def test_a_changed_token_or_config_is_sent_from_the_next_request_on(
    sim: Simulator,
) -> None:
    """The fixed headers are built once per token and config: a new token, a token removed
    and a new config each show in the very next request, and a QR call between authenticated
    ones carries no token."""
    first, second = sim.create_bot(), sim.create_bot()
    async with ILinkApi(sim.base_url, first.bot_token) as api:
        await api.notify_start()
        api.token = second.bot_token
        await api.notify_start()
        await api.get_bot_qrcode([])
        await api.notify_start()
        api.config = ILinkConfig(route_tag="7")
        await api.notify_start()
        api.token = None
        with pytest.raises(SessionExpiredError):
            await api.notify_stop()
    reqs = [r for r in sim.requests if r.route in ("notifystart", "notifystop", "get_bot_qrcode")]
    assert [r.header("Authorization") for r in reqs] == [
        f"Bearer {first.bot_token}",
        f"Bearer {second.bot_token}",
        None,
        f"Bearer {second.bot_token}",
        f"Bearer {second.bot_token}",
        None,
    ]
    assert [r.header("SKRouteTag") for r in reqs] == [None, None, None, None, "7", "7"]
    assert len({r.header("X-WECHAT-UIN") for r in reqs}) == len(reqs)


async def test_qr_routes_send_only_what_2_4_9_sends(sim: Simulator) -> None:
    async with ILinkApi(sim.base_url) as api:
        qr = await api.get_bot_qrcode(["tok-new", " ", "tok-old"])
        assert qr.qrcode
        assert qr.qrcode_img_content
        assert qr.qrcode_img_content.startswith("https://")
        status = await api.get_qrcode_status(qr.qrcode)
        assert status.status == "wait"
        legacy = await api.get_bot_qrcode(method="GET")
        assert legacy.qrcode != qr.qrcode
    create = [r for r in sim.requests if r.route == "get_bot_qrcode"]
    assert create[0].method == "POST"
    assert create[0].query == (("bot_type", "3"),)
    assert create[0].body == b'{"local_token_list":["tok-new","tok-old"]}'
    assert create[0].header("Authorization") is None
    assert create[0].header("AuthorizationType") == "ilink_bot_token"
    assert create[1].method == "GET"
    assert create[1].body == b""
    [poll] = [r for r in sim.requests if r.route == "get_qrcode_status"]
    sent = {name for name, _ in poll.headers}
    assert {"iLink-App-Id", "iLink-App-ClientVersion"} <= sent
    assert not sent & {"Authorization", "AuthorizationType", "X-WECHAT-UIN", "Content-Type"}


async def test_getupdates_delivers_big_ids_exactly_and_adopts_server_timeout(
    sim: Simulator,
) -> None:
    bot = sim.create_bot()
    user = sim.create_user()
    injected = sim.inject_message(bot.bot_id, from_user_id=user.user_id, text="hi bot")
    async with ILinkApi(sim.base_url, bot.bot_token) as api:
        assert api.long_poll_timeout == 35.0
        resp = await api.getupdates("")
        assert resp.msgs is not None
        [msg] = resp.msgs
        assert msg.message_id == injected.message_id
        assert msg.message_id > 2**53
        assert msg.text == "hi bot"
        assert msg.context_token == injected.context_token
        assert resp.get_updates_buf
        assert api.long_poll_timeout == sim.config.longpolling_timeout_ms / 1000
        again = await api.getupdates(resp.get_updates_buf)
        assert again.msgs == []


async def test_long_poll_client_timeout_is_an_idle_answer_with_the_same_cursor(
    sim: Simulator,
) -> None:
    bot = sim.create_bot()
    sim.add_fault(FaultPlan(kind="latency", route="getupdates", delay_ms=2000))
    config = ILinkConfig(timeouts=Timeouts(long_poll=0.3))
    async with ILinkApi(sim.base_url, bot.bot_token, config=config) as api:
        resp = await api.getupdates("CURSOR-X")
    assert resp.ret == 0
    assert resp.msgs == []
    assert resp.get_updates_buf == "CURSOR-X"


async def test_long_poll_uses_its_own_connection_pool(sim: Simulator) -> None:
    """A held long poll never takes the connection a send needs (one connection each here)."""
    bot = sim.create_bot()
    sim.configure(hold_seconds=3.0, require_context_token=False, check_context_token=False)
    sim.configure(reply_window_seconds=None)
    one = aiohttp.TCPConnector(limit=1)
    async with (
        aiohttp.ClientSession(connector=one) as sends,
        ILinkApi(sim.base_url, bot.bot_token, session=sends) as api,
    ):
        assert api.poll_session is not api.session
        poll = asyncio.create_task(api.getupdates(""))
        await asyncio.sleep(0.2)
        sent = await asyncio.wait_for(api.sendmessage(_text("u@im.wechat", "hi", None)), 2)
        assert sent.message_id is not None
        assert not poll.done()  # the send went through while the poll was still held
        poll.cancel()
        with pytest.raises(asyncio.CancelledError):
            await poll


async def test_a_shared_single_connection_would_block_sends(sim: Simulator) -> None:
    """The counter-check: with one pool of one connection for both, the send waits."""
    bot = sim.create_bot()
    sim.configure(hold_seconds=3.0, require_context_token=False, check_context_token=False)
    sim.configure(reply_window_seconds=None)
    one = aiohttp.TCPConnector(limit=1)
    async with aiohttp.ClientSession(connector=one) as shared:
        api = ILinkApi(sim.base_url, bot.bot_token, session=shared, poll_session=shared)
        poll = asyncio.create_task(api.getupdates(""))
        await asyncio.sleep(0.2)
        with pytest.raises(TimeoutError):
            await asyncio.wait_for(api.sendmessage(_text("u@im.wechat", "hi", None)), 0.5)
        poll.cancel()
        with pytest.raises(asyncio.CancelledError):
            await poll
        await api.close()


async def test_cancelling_a_long_poll_returns_promptly(sim: Simulator) -> None:
    bot = sim.create_bot()
    sim.configure(hold_seconds=30.0)
    async with ILinkApi(sim.base_url, bot.bot_token) as api:
        poll = asyncio.create_task(api.getupdates(""))
        await asyncio.sleep(0.2)
        poll.cancel()
        with pytest.raises(asyncio.CancelledError):
            await asyncio.wait_for(poll, 1.0)


async def test_sendmessage_body_and_message_id(sim: Simulator) -> None:
    bot = sim.create_bot()
    user = sim.create_user()
    ctx = sim.inject_message(bot.bot_id, from_user_id=user.user_id, text="q").context_token
    async with ILinkApi(sim.base_url, bot.bot_token) as api:
        resp = await api.sendmessage(_text(user.user_id, "answer", ctx))
    [sent] = sim.sent(bot.bot_id)
    assert resp.message_id == sent.message_id
    [req] = [r for r in sim.requests if r.route == "sendmessage"]
    assert json.loads(req.body) == {
        "msg": {
            "from_user_id": "",
            "to_user_id": user.user_id,
            "client_id": "openclaw-weixin:1795317871523-4d214df2",
            "message_type": 2,
            "message_state": 2,
            "item_list": [{"type": 1, "text_item": {"text": "answer"}}],
            "context_token": ctx,
        },
        "base_info": BASE_INFO,
    }
    assert list(json.loads(req.body)) == ["msg", "base_info"]


async def test_send_rejected_and_session_expired_are_distinct(sim: Simulator) -> None:
    bot = sim.create_bot()
    user = sim.create_user()
    async with ILinkApi(sim.base_url, bot.bot_token) as api:
        with pytest.raises(SendRejectedError) as rejected:
            await api.sendmessage(_text(user.user_id, "no context", "AARzJWbogus"))
        assert rejected.value.ret == -2
        sim.expire_bot(bot.bot_id)
        with pytest.raises(SessionExpiredError) as expired:
            await api.getupdates("")
        assert expired.value.code == -14
        with pytest.raises(SessionExpiredError):
            await api.sendmessage(_text(user.user_id, "x", None))


async def test_bad_token_is_session_expired(sim: Simulator) -> None:
    async with ILinkApi(sim.base_url, "not-a-token") as api:
        with pytest.raises(SessionExpiredError):
            await api.getconfig("someone@im.wechat")


async def test_getconfig_and_sendtyping(sim: Simulator) -> None:
    bot = sim.create_bot()
    user = sim.create_user()
    async with ILinkApi(sim.base_url, bot.bot_token) as api:
        cfg = await api.getconfig(user.user_id, "ctx-1")
        assert cfg.typing_ticket == sim.typing_ticket(bot.bot_id, user.user_id)
        assert cfg.typing_ticket is not None
        await api.sendtyping(user.user_id, cfg.typing_ticket, TypingStatus.TYPING)
        await api.sendtyping(user.user_id, cfg.typing_ticket, TypingStatus.CANCEL)
    assert [e.status for e in sim.typing(bot.bot_id)] == [1, 2]
    [req] = [r for r in sim.requests if r.route == "getconfig"]
    assert req.body == (
        b'{"ilink_user_id":"' + user.user_id.encode() + b'","context_token":"ctx-1",'
        b'"base_info":{"channel_version":"2.4.9","bot_agent":"OpenClaw"}}'
    )


async def test_getuploadurl_validates_and_answers(sim: Simulator) -> None:
    bot = sim.create_bot()
    user = sim.create_user()
    request = GetUploadUrlRequest(
        filekey="dd6d16d2334f45bd253a774e7b58197a",
        media_type=1,
        to_user_id=user.user_id,
        rawsize=100,
        rawfilemd5="6d41ac6d0d47f84891e52c497ed5df93",
        filesize=112,
        aeskey="eb3d6b9752ee6190fb7bc1f8fb97e98e",
    )
    async with ILinkApi(sim.base_url, bot.bot_token) as api:
        resp = await api.getuploadurl(request)
        assert resp.upload_full_url
        assert resp.upload_full_url.startswith(sim.cdn_base_url + "/upload?")
        bad = request.model_copy(update={"filesize": 100})
        with pytest.raises(HttpStatusError) as info:
            await api.getuploadurl(bad)
        assert info.value.status == 400
        assert "filesize" in info.value.body


@pytest.mark.parametrize(
    ("plan", "error"),
    [
        (FaultPlan(kind="status", route="getconfig", status=500), HttpStatusError),
        (FaultPlan(kind="status", route="getconfig", status=524), HttpStatusError),
        (FaultPlan(kind="drop", route="getconfig"), NetworkError),
    ],
)
async def test_transport_failures_are_not_api_errors(
    sim: Simulator, plan: FaultPlan, error: type[Exception]
) -> None:
    bot = sim.create_bot()
    sim.add_fault(plan)
    async with ILinkApi(sim.base_url, bot.bot_token) as api:
        with pytest.raises(error) as info:
            await api.getconfig("u@im.wechat")
        assert not isinstance(info.value, ApiError)
        # the fault fired once; the next call succeeds
        assert (await api.getconfig("u@im.wechat")).ret == 0


async def test_request_timeout(sim: Simulator) -> None:
    bot = sim.create_bot()
    sim.add_fault(FaultPlan(kind="latency", route="sendtyping", delay_ms=1500))
    config = ILinkConfig(timeouts=Timeouts(typing=0.2))
    async with ILinkApi(sim.base_url, bot.bot_token, config=config) as api:
        with pytest.raises(RequestTimeoutError):
            await api.sendtyping("u@im.wechat", "ticket")


async def test_undecodable_replies_are_decode_errors() -> None:
    async def not_json(_: web.Request) -> web.Response:
        return web.Response(text="<html>gateway</html>")

    async def array(_: web.Request) -> web.Response:
        return web.json_response([1, 2])

    app = web.Application()
    app.router.add_post("/ilink/bot/getconfig", not_json)
    app.router.add_post("/ilink/bot/sendmessage", array)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = runner.addresses[0][1]
    try:
        async with ILinkApi(f"http://127.0.0.1:{port}", "t") as api:
            with pytest.raises(DecodeError, match="not JSON"):
                await api.getconfig("u")
            with pytest.raises(DecodeError, match="not a JSON object"):
                await api.sendmessage(_text("u", "x", None))
    finally:
        await runner.cleanup()


async def test_borrowed_sessions_stay_open_and_repr_hides_the_token(sim: Simulator) -> None:
    bot = sim.create_bot()
    async with aiohttp.ClientSession() as shared, aiohttp.ClientSession() as polls:
        api = ILinkApi(sim.base_url, bot.bot_token, session=shared, poll_session=polls)
        await api.getconfig("u@im.wechat")
        await api.close()
        assert not shared.closed
        assert not polls.closed
        assert bot.bot_token not in repr(api)
        assert bot.bot_token.split(":")[-1] not in repr(api)


async def test_an_html_page_instead_of_json_is_a_decode_error(sim: Simulator) -> None:
    bot = sim.create_bot()
    sim.add_fault(FaultPlan(kind="garbage", route="getupdates"))
    async with ILinkApi(sim.base_url, bot.bot_token) as api:
        with pytest.raises(DecodeError, match="not JSON"):
            await api.getupdates("")


async def _serve(routes: dict[str, object]) -> tuple[web.AppRunner, str]:
    app = web.Application()
    for path, answer in routes.items():

        async def handler(_: web.Request, answer: object = answer) -> web.StreamResponse:
            if isinstance(answer, bytes):
                return web.Response(body=answer, content_type="application/json")
            return web.json_response(answer)

        app.router.add_post(path, handler)
    runner = web.AppRunner(app)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", 0).start()
    return runner, f"http://127.0.0.1:{runner.addresses[0][1]}"


async def test_a_malformed_reply_never_echoes_its_values() -> None:
    """A token in a field of the wrong type must not reach the exception (and so the logs)."""
    secret = "e06c1ceea05e@im.bot:0600secretsecret"
    runner, base = await _serve(
        {"/ilink/bot/getupdates": {"ret": 0, "msgs": [{"context_token": {"t": secret}}]}}
    )
    try:
        async with ILinkApi(base, "t") as api:
            with pytest.raises(DecodeError) as info:
                await api.getupdates("")
        assert "context_token" in str(info.value)
        assert secret not in str(info.value)
        assert info.value.__cause__ is None
    finally:
        await runner.cleanup()


@pytest.mark.parametrize(("server_ms", "adopted"), [(10**12, 120.0), (1, 1.0), (25_000, 25.0)])
async def test_server_long_poll_timeout_is_kept_finite(server_ms: int, adopted: float) -> None:
    runner, base = await _serve(
        {"/ilink/bot/getupdates": {"ret": 0, "msgs": [], "longpolling_timeout_ms": server_ms}}
    )
    try:
        async with ILinkApi(base, "t") as api:
            await api.getupdates("")
            assert api.long_poll_timeout == adopted
    finally:
        await runner.cleanup()


async def test_an_oversized_reply_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    from weixin_gateway.ilink import api as api_module

    monkeypatch.setattr(api_module, "MAX_REPLY_BYTES", 1000)
    runner, base = await _serve({"/ilink/bot/getconfig": b'{"ret":0,"pad":"' + b"x" * 5000 + b'"}'})
    try:
        async with ILinkApi(base, "t") as api:
            with pytest.raises(DecodeError, match="over 1000"):
                await api.getconfig("u")
    finally:
        await runner.cleanup()


@given(cursor=st.text(max_size=200))
def test_getupdates_body_is_what_dumps_wire_gives(cursor: str) -> None:
    """The long poll's body is built from a pre-serialized base_info: same bytes as the model."""
    config = ILinkConfig(route_tag="7", bot_agent="Agent/1.0")
    expected = dumps_wire({"get_updates_buf": cursor, "base_info": _base_info_json(config)})
    assert _getupdates_body(cursor, config) == expected


_JSON_VALUES = st.one_of(
    st.none(),
    st.integers(-20, 20),
    st.sampled_from(["0", "-14", "x", "", "1.5"]),
    st.floats(allow_nan=False, allow_infinity=False, width=32),
    st.booleans(),
    st.lists(st.integers(0, 3), max_size=2),
)


def _general_path(status: int, raw: bytes) -> GetUpdatesResponse:
    """What every other call does: JSON object, envelope, then validation."""
    data = _json_object("getupdates", status, raw)
    raise_for_envelope("getupdates", data)
    return _decode("getupdates", GetUpdatesResponse, data)


def _outcome(call: Callable[[], object]) -> object:
    try:
        return call()
    except Exception as exc:
        return (type(exc), str(exc))


@given(
    reply=st.one_of(
        st.fixed_dictionaries(
            {},
            optional={
                "ret": _JSON_VALUES,
                "errcode": _JSON_VALUES,
                "errmsg": _JSON_VALUES,
                "msgs": st.one_of(_JSON_VALUES, st.just([{"message_id": 1}])),
                "get_updates_buf": _JSON_VALUES,
                "longpolling_timeout_ms": _JSON_VALUES,
            },
        ).map(lambda d: json.dumps(d).encode()),
        st.sampled_from([b"", b"[]", b"null", b"{", b"\xff", b'"s"', b"{}"]),
    ),
    status=st.sampled_from([200, 204, 500]),
)
def test_getupdates_reply_fast_path_agrees_with_the_general_path(reply: bytes, status: int) -> None:
    """``getupdates`` validates a plain success straight from the bytes; whatever the reply,
    the outcome (the model, or the error and its message) is what the general path gives."""
    assert _outcome(lambda: _getupdates_reply(status, reply)) == _outcome(
        lambda: _general_path(status, reply)
    )
