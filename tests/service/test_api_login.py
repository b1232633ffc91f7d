"""QR login over the REST API (``/login/qr/*``), driven through the simulator's QR control.

``start`` → ``pending``; the simulated phone scans (``scaned``), maybe asks for a pair code
(``need_verifycode``, answered with ``/login/qr/verify-code``) and confirms (``completed``): the
account is saved and polled. Also ``cancel``, the manual ``complete``, the 400/404 answers, and an
``expired`` account made ``active`` again by a new login.
"""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

from tests.service.api_support import account, assert_error, raw_call
from tests.service.harness import GatewayHarness, eventually


async def _start(h: GatewayHarness, body: dict[str, Any] | None = None) -> dict[str, Any]:
    status, answer = await h.call("POST", "/login/qr/start", body=body)
    assert status == 200, answer
    assert answer["ok"] is True
    session: dict[str, Any] = answer["session"]
    return session


async def _session(h: GatewayHarness, session_id: str) -> dict[str, Any]:
    status, answer = await h.call("GET", f"/login/qr/status?session_id={session_id}")
    assert status == 200, answer
    assert answer["ok"] is True
    session: dict[str, Any] = answer["session"]
    return session


async def _reaches(h: GatewayHarness, session_id: str, state: str) -> dict[str, Any]:
    async def reached() -> dict[str, Any] | None:
        session = await _session(h, session_id)
        return session if session["state"] == state else None

    found: dict[str, Any] = await eventually(reached)
    return found


async def test_start_without_account_id(harness: GatewayHarness) -> None:
    h = harness
    session = await _start(h)
    assert session["session_id"].startswith("sess-")
    assert session["account_id"]  # a generated one
    assert session["state"] == "pending"
    [qr] = h.sim.qr_sessions()
    assert session["qrcode"] == qr.qrcode
    assert session["qrcode_url"] == qr.qrcode_img_content
    assert session["qrcode_url"].startswith("https://")

    # an empty body, and no body at all, are both fine
    other = await _start(h, {})
    assert other["session_id"] != session["session_id"]
    assert other["account_id"] != session["account_id"]
    assert len(h.sim.qr_sessions()) == 2


async def test_qr_login_pending_scaned_completed(harness: GatewayHarness) -> None:
    h = harness
    session = await _start(h, {"account_id": "wx-account-1", "api_base_url": h.sim.base_url})
    assert session["account_id"] == "wx-account-1"
    assert session["state"] == "pending"
    session_id = session["session_id"]
    qrcode = session["qrcode"]
    status = await _session(h, session_id)
    assert status["state"] == "pending"
    assert status["account_id"] == "wx-account-1"
    assert status["qrcode"] == qrcode
    assert status["message"]

    user = h.sim.create_user("alice")
    h.sim.scan(qrcode, user_id=user.user_id)
    scaned = await _reaches(h, session_id, "scaned")
    assert scaned["message"]
    _, listing = await h.call("GET", "/accounts")
    assert listing["accounts"] == []

    confirmed = h.sim.confirm(qrcode)
    assert confirmed.bot_id is not None
    done = await _reaches(h, session_id, "completed")
    assert done["session_id"] == session_id
    assert done["account_id"] == "wx-account-1"
    assert done["message"] == "微信登录成功。"

    view = await account(h, "wx-account-1")
    assert view["api_base_url"] == h.sim.base_url
    assert view["bot_id"] == confirmed.bot_id
    assert view["wechat_uin"] == user.user_id
    assert view["status"]["session_state"] == "active"
    await eventually(lambda: _polling(h, "wx-account-1"))
    # the new account is polled: a message to the new bot is delivered under its id
    h.sim.inject_message(confirmed.bot_id, text="hello new bot")
    [event] = await h.upstream.wait_events(1)
    assert event["account_id"] == "wx-account-1"
    assert event["text"] == "hello new bot"
    # the bot token of the new login never shows
    bot = h.sim.bot(confirmed.bot_id)
    for path in ("/accounts", f"/login/qr/status?session_id={session_id}"):
        _, _, text = await raw_call(h, "GET", path)
        assert bot.bot_token not in text


async def _polling(h: GatewayHarness, account_id: str) -> bool:
    return bool((await account(h, account_id))["status"]["polling_running"])


async def test_login_keeps_the_api_base_url_it_used(harness: GatewayHarness) -> None:
    h = harness
    via_localhost = h.sim.base_url.replace("127.0.0.1", "localhost")
    session = await _start(h, {"account_id": "wx-local", "api_base_url": via_localhost})
    h.sim.scan(session["qrcode"])
    h.sim.confirm(session["qrcode"])
    await _reaches(h, session["session_id"], "completed")
    assert (await account(h, "wx-local"))["api_base_url"] == via_localhost


async def test_login_uses_the_api_base_url_given(tmp_path: Path, database_url: str) -> None:
    """With a default iLink host that does not answer, only a given api_base_url works."""
    async with GatewayHarness(
        tmp_path / "data", database_url=database_url, ilink_base_url="http://127.0.0.1:9"
    ) as h:
        status, body = await h.call("POST", "/login/qr/start", body={})
        assert status == 502, body
        assert_error(body, contains="could not get a QR code")
        session = await _start(h, {"account_id": "wx-given", "api_base_url": h.sim.base_url})
        h.sim.scan(session["qrcode"])
        h.sim.confirm(session["qrcode"])
        await _reaches(h, session["session_id"], "completed")
        assert (await account(h, "wx-given"))["api_base_url"] == h.sim.base_url


async def test_status_without_or_with_unknown_session_id(harness: GatewayHarness) -> None:
    h = harness
    for path in ("/login/qr/status", "/login/qr/status?session_id="):
        status, body = await h.call("GET", path)
        assert status == 400, (path, body)
        assert_error(body, "session_id is required")
    status, body = await h.call("GET", "/login/qr/status?session_id=sess-nope")
    assert status == 404
    assert_error(body, "unknown session_id")


async def test_cancel(harness: GatewayHarness) -> None:
    h = harness
    session = await _start(h, {"account_id": "wx-cancelled"})
    status, body = await h.call(
        "POST", "/login/qr/cancel", body={"session_id": session["session_id"]}
    )
    assert status == 200, body
    assert body == {
        "ok": True,
        "session": {"session_id": session["session_id"], "state": "cancelled"},
    }
    after = await _session(h, session["session_id"])
    assert after["state"] == "cancelled"
    assert "qrcode" not in after

    # confirming on the phone afterwards saves nothing
    h.sim.scan(session["qrcode"])
    h.sim.confirm(session["qrcode"])
    await asyncio.sleep(0.5)
    _, listing = await h.call("GET", "/accounts")
    assert listing["accounts"] == []
    assert (await _session(h, session["session_id"]))["state"] == "cancelled"

    status, body = await h.call("POST", "/login/qr/cancel", body={"session_id": "sess-nope"})
    assert status == 404
    assert_error(body, "unknown session_id")


async def test_manual_complete(harness: GatewayHarness) -> None:
    h = harness
    session = await _start(h, {"account_id": "wx-manual"})
    bot = h.sim.create_bot()
    status, _, text = await raw_call(
        h,
        "POST",
        "/login/qr/complete",
        body={
            "session_id": session["session_id"],
            "api_base_url": h.sim.base_url,
            "bot_token": bot.bot_token,
            "wechat_uin": bot.user_id,
        },
    )
    assert status == 200, text
    assert bot.bot_token not in text
    body = json.loads(text)
    assert body["ok"] is True
    assert body["session"] == {"session_id": session["session_id"], "state": "completed"}
    saved = body["account"]
    assert saved["account_id"] == "wx-manual"
    assert saved["api_base_url"] == h.sim.base_url
    assert saved["wechat_uin"] == bot.user_id
    assert saved["cursor"] == ""
    assert (await _session(h, session["session_id"]))["state"] == "completed"

    h.sim.inject_message(bot.bot_id, text="after manual login")
    [event] = await h.upstream.wait_events(1)
    assert event["account_id"] == "wx-manual"

    status, body = await h.call(
        "POST",
        "/login/qr/complete",
        body={"session_id": "sess-nope", "bot_token": "t"},
    )
    assert status == 404
    assert_error(body, "unknown session_id")


async def test_verify_code(harness: GatewayHarness) -> None:
    h = harness
    h.sim.configure(qr_hold_seconds=0.3)  # the held status poll answers soon after the code
    session = await _start(h, {"account_id": "wx-paired"})
    session_id, qrcode = session["session_id"], session["qrcode"]
    h.sim.scan(qrcode)
    await _reaches(h, session_id, "scaned")
    h.sim.require_verify_code(qrcode, "42")
    asked = await _reaches(h, session_id, "need_verifycode")
    assert asked["message"]
    assert asked["verify_code_rejected"] is False

    # a wrong code: the phone asks again
    status, body = await h.call(
        "POST", "/login/qr/verify-code", body={"session_id": session_id, "code": "41"}
    )
    assert status == 200, body
    assert body["ok"] is True
    assert body["session"]["session_id"] == session_id
    await eventually(lambda: h.sim.qr_session(qrcode).wrong_codes == 1)

    async def told_wrong() -> bool:
        seen = await _session(h, session_id)
        return seen["state"] == "need_verifycode" and seen["verify_code_rejected"] is True

    await eventually(told_wrong)

    status, body = await h.call(
        "POST", "/login/qr/verify-code", body={"session_id": session_id, "code": "42"}
    )
    assert status == 200, body
    await _reaches(h, session_id, "scaned")
    assert h.sim.qr_session(qrcode).status == "scaned"
    assert h.sim.qr_session(qrcode).wrong_codes == 1
    h.sim.confirm(qrcode)
    await _reaches(h, session_id, "completed")
    assert (await account(h, "wx-paired"))["status"]["session_state"] == "active"

    status, body = await h.call(
        "POST", "/login/qr/verify-code", body={"session_id": "sess-nope", "code": "1"}
    )
    assert status == 404
    assert_error(body, "unknown session_id")


# --- an expired account logs in again -----------------------------------------------------------


async def _expire(h: GatewayHarness, account_id: str, bot_id: str) -> dict[str, Any]:
    """Revoke the bot's token in the simulator; wait until the gateway shows it expired."""
    h.sim.expire_bot(bot_id)

    async def expired() -> dict[str, Any] | None:
        view = await account(h, account_id)
        status = view["status"]
        done = status["session_state"] == "expired" and status["polling_running"] is False
        return view if done else None

    view: dict[str, Any] = await eventually(expired)
    assert "-14" in view["status"]["last_error"]
    _, health = await h.call("GET", "/health")
    assert health["accounts"] == {"active": 0, "expired": 1}
    return view


async def test_qr_login_for_an_expired_account(harness: GatewayHarness) -> None:
    """A login started for the expired account's id makes it active again, fresh cursor."""
    h = harness
    account_id = await h.register("wx-account-1")
    assert h.bot is not None
    owner, old_bot = h.bot.user_id, h.bot.bot_id
    h.sim.inject_message(old_bot, text="before expiry")
    await h.upstream.wait_events(1)
    before = await _expire(h, account_id, old_bot)
    assert before["cursor"]

    await h.call("POST", "/poll/stop")  # so that the cursor stays as the login left it
    session = await _start(h, {"account_id": account_id})
    h.sim.scan(session["qrcode"], user_id=owner)
    new_bot = h.sim.confirm(session["qrcode"]).bot_id
    assert new_bot is not None
    done = await _reaches(h, session["session_id"], "completed")
    assert done["account_id"] == account_id

    view = await account(h, account_id)
    assert view["status"]["session_state"] == "active"
    assert view["status"]["last_error"] == ""
    assert view["cursor"] == ""
    assert view["bot_id"] == new_bot
    assert view["created_at"] == before["created_at"]
    _, health = await h.call("GET", "/health")
    assert health["accounts"] == {"active": 1, "expired": 0}

    await h.call("POST", "/poll/start")
    await eventually(lambda: _polling(h, account_id))
    h.sim.inject_message(new_bot, text="after login")
    events = await h.upstream.wait_events(2)
    assert events[1]["text"] == "after login"
    assert events[1]["account_id"] == account_id


async def test_same_bot_completing_a_login_revives_its_account(harness: GatewayHarness) -> None:
    """A login without an account_id for a bot we already have reuses that bot's account."""
    h = harness
    old = h.sim.create_bot()
    status, body = await h.call(
        "POST",
        "/accounts/register",
        body={
            "account_id": "wx-account-1",
            "api_base_url": h.sim.base_url,
            "bot_token": old.bot_token,
            "wechat_uin": old.user_id,
            "bot_id": old.bot_id,
        },
    )
    assert status == 200, body
    await _expire(h, "wx-account-1", old.bot_id)

    fresh = h.sim.create_bot(old.user_id)  # the bot's new credentials
    session = await _start(h)
    assert session["account_id"] != "wx-account-1"
    status, body = await h.call(
        "POST",
        "/login/qr/complete",
        body={
            "session_id": session["session_id"],
            "api_base_url": h.sim.base_url,
            "bot_token": fresh.bot_token,
            "wechat_uin": old.user_id,
            "bot_id": old.bot_id,
        },
    )
    assert status == 200, body
    assert body["account"]["account_id"] == "wx-account-1"
    assert (await _session(h, session["session_id"]))["account_id"] == "wx-account-1"
    _, listing = await h.call("GET", "/accounts")
    assert [a["account_id"] for a in listing["accounts"]] == ["wx-account-1"]
    view = listing["accounts"][0]
    assert view["status"]["session_state"] == "active"
    await eventually(lambda: _polling(h, "wx-account-1"))
    h.sim.inject_message(fresh.bot_id, text="back again")
    [event] = await h.upstream.wait_events(1)
    assert event["account_id"] == "wx-account-1"


async def test_register_again_for_an_expired_account(harness: GatewayHarness) -> None:
    h = harness
    account_id = await h.register("wx-account-1")
    assert h.bot is not None
    h.sim.inject_message(h.bot.bot_id, text="before expiry")
    await h.upstream.wait_events(1)
    await _expire(h, account_id, h.bot.bot_id)

    await h.call("POST", "/poll/stop")
    fresh = h.sim.create_bot()
    status, body = await h.call(
        "POST",
        "/accounts/register",
        body={"account_id": account_id, "bot_token": fresh.bot_token},
    )
    assert status == 200, body
    assert body["account"]["status"]["session_state"] == "active"
    assert body["account"]["cursor"] == ""
    await h.call("POST", "/poll/start")
    h.sim.inject_message(fresh.bot_id, text="after register")
    events = await h.upstream.wait_events(2)
    assert events[1]["text"] == "after register"
