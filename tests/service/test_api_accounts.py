"""The REST API's service and account routes, against seed 000's shapes.

``/health``, ``/accounts`` (list, one, register, replace, delete), ``poll-once`` and ``/poll/*``:
field names and values as the Node gateway answers them, the 404 body, and the bot token never
appearing in any answer.
"""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

from tests.service.api_support import (
    ACCOUNT_KEYS,
    ISO,
    STATUS_KEYS,
    account,
    assert_error,
    raw_call,
)
from tests.service.harness import GatewayHarness, eventually


async def _register(
    h: GatewayHarness, account_id: str, **fields: Any
) -> tuple[int, dict[str, Any], str]:
    """Register a fresh simulated bot as ``account_id``; ``(status, body, raw text)``."""
    h.bot = h.sim.create_bot()
    body = {
        "account_id": account_id,
        "api_base_url": h.sim.base_url,
        "bot_token": h.bot.bot_token,
        "wechat_uin": h.bot.user_id,
        **fields,
    }
    status, _, text = await raw_call(h, "POST", "/accounts/register", body=body)
    return status, json.loads(text), text


def _assert_account_shape(view: dict[str, Any]) -> None:
    assert view.keys() >= ACCOUNT_KEYS, view
    assert view["status"].keys() >= STATUS_KEYS, view
    assert ISO.match(view["created_at"]), view
    assert ISO.match(view["updated_at"]), view
    assert isinstance(view["status"]["polling_running"], bool)
    assert isinstance(view["status"]["has_cursor"], bool)
    assert isinstance(view["status"]["last_forwarded"], int)
    assert view["status"]["has_cursor"] is bool(view["cursor"])
    assert view["status"]["last_cursor"] == view["cursor"]
    finished = view["status"]["last_poll_finished_at"]
    assert finished == "" or ISO.match(finished), view


# --- /health ------------------------------------------------------------------------------------


async def test_health_shape(harness: GatewayHarness) -> None:
    status, content_type, _ = await raw_call(harness, "GET", "/health")
    assert (status, content_type) == (200, "application/json")
    status, body = await harness.call("GET", "/health")
    assert status == 200
    assert body["ok"] is True
    assert body["service"] == "weixin-gateway"
    assert body["phase"] == "text-mvp"
    assert body["delivery_mode"] == "callback"
    assert body["polling"] == {"running": True, "interval_ms": 5000}
    assert body["accounts"] == {"active": 0, "expired": 0}
    await harness.register()
    _, body = await harness.call("GET", "/health")
    assert body["accounts"] == {"active": 1, "expired": 0}


async def test_health_reports_the_settings(tmp_path: Path, database_url: str) -> None:
    async with GatewayHarness(
        tmp_path / "data",
        database_url=database_url,
        mode="inbox",
        auto_start=False,
        poll_interval_ms=1234,
    ) as h:
        status, body = await h.call("GET", "/health")
        assert status == 200
        assert body["delivery_mode"] == "inbox"
        assert body["polling"] == {"running": False, "interval_ms": 1234}


# --- /accounts ----------------------------------------------------------------------------------


async def test_accounts_list_one_and_unknown(harness: GatewayHarness) -> None:
    h = harness
    status, body = await h.call("GET", "/accounts")
    assert (status, body) == (200, {"ok": True, "accounts": []})
    account_id = await h.register("wx-account-1")
    assert h.bot is not None
    status, body = await h.call("GET", "/accounts")
    assert status == 200
    assert body["ok"] is True
    [listed] = body["accounts"]
    _assert_account_shape(listed)
    assert listed["account_id"] == account_id
    assert listed["api_base_url"] == h.sim.base_url
    assert listed["wechat_uin"] == h.bot.user_id
    assert listed["status"]["session_state"] == "active"

    status, body = await h.call("GET", f"/accounts/{account_id}")
    assert status == 200
    assert body["ok"] is True
    _assert_account_shape(body["account"])
    assert body["account"]["account_id"] == account_id

    status, body = await h.call("GET", "/accounts/wx-nobody")
    assert status == 404
    assert_error(body, "unknown account_id")


async def test_register_shape_and_no_token_anywhere(harness: GatewayHarness) -> None:
    h = harness
    status, body, text = await _register(h, "wx-account-1", bot_id="bot-1@im.bot")
    assert h.bot is not None
    token = h.bot.bot_token
    secret = token.split(":", 1)[1]
    assert status == 200, body
    assert body["ok"] is True
    view = body["account"]
    _assert_account_shape(view)
    assert view["account_id"] == "wx-account-1"
    assert view["api_base_url"] == h.sim.base_url
    assert view["wechat_uin"] == h.bot.user_id
    assert view["bot_id"] == "bot-1@im.bot"
    assert view["cursor"] == ""
    assert view["status"]["session_state"] == "active"
    assert view["status"]["last_forwarded"] == 0
    assert view["created_at"] == view["updated_at"]

    # a message goes through, so every view has a cursor and a poll to report
    h.sim.inject_message(h.bot.bot_id, text="hello")
    await h.upstream.wait_events(1)
    answers = [text]
    for method, path in [
        ("GET", "/accounts"),
        ("GET", "/accounts/wx-account-1"),
        ("GET", "/health"),
        ("GET", "/poll/status"),
        ("POST", "/poll/run-once"),
        ("GET", "/metrics"),
        ("GET", "/inbox/messages?status=all"),
        ("DELETE", "/accounts/wx-account-1"),
    ]:
        status, _, answer = await raw_call(h, method, path)
        assert status == 200, (method, path, answer)
        answers.append(answer)
    for answer in answers:
        assert token not in answer
        assert secret not in answer


async def test_register_keeps_the_api_base_url_given(harness: GatewayHarness) -> None:
    h = harness
    via_localhost = h.sim.base_url.replace("127.0.0.1", "localhost")
    status, body, _ = await _register(h, "wx-local", api_base_url=via_localhost + "/")
    assert status == 200, body
    assert body["account"]["api_base_url"] == via_localhost
    assert (await account(h, "wx-local"))["api_base_url"] == via_localhost
    assert h.bot is not None
    h.sim.inject_message(h.bot.bot_id, text="through localhost")
    [event] = await h.upstream.wait_events(1)
    assert event["account_id"] == "wx-local"

    # without api_base_url the account uses WEIXIN_GATEWAY_ILINK_BASE_URL
    bot = h.sim.create_bot()
    status, body = await h.call(
        "POST",
        "/accounts/register",
        body={"account_id": "wx-default", "bot_token": bot.bot_token},
    )
    assert status == 200, body
    assert body["account"]["api_base_url"] == h.sim.base_url
    assert body["account"]["wechat_uin"] == ""


async def test_register_replaces_an_account(harness: GatewayHarness) -> None:
    h = harness
    status, first, _ = await _register(h, "wx-account-1")
    assert status == 200
    old_bot = h.bot
    assert old_bot is not None
    h.sim.inject_message(old_bot.bot_id, text="to the first bot")
    await h.upstream.wait_events(1)
    before = await eventually(lambda: _with_cursor(h, "wx-account-1"))
    assert before["cursor"]

    status, second, _ = await _register(h, "wx-account-1")
    assert status == 200, second
    new_bot = h.bot
    assert new_bot is not None
    replaced = second["account"]
    assert replaced["wechat_uin"] == new_bot.user_id != old_bot.user_id
    assert replaced["cursor"] == ""  # a new session starts a new stream
    assert replaced["created_at"] == first["account"]["created_at"]
    assert replaced["updated_at"] >= first["account"]["updated_at"]
    _, listing = await h.call("GET", "/accounts")
    assert [a["account_id"] for a in listing["accounts"]] == ["wx-account-1"]

    h.sim.inject_message(new_bot.bot_id, text="to the second bot")
    events = await h.upstream.wait_events(2)
    assert events[1]["text"] == "to the second bot"
    assert events[1]["account_id"] == "wx-account-1"
    assert events[1]["user_id"] == new_bot.user_id


async def _with_cursor(h: GatewayHarness, account_id: str) -> dict[str, Any] | None:
    view = await account(h, account_id)
    return view if view["cursor"] else None


async def test_delete_account(harness: GatewayHarness) -> None:
    h = harness
    account_id = await h.register("wx-account-1")
    assert h.bot is not None
    status, body = await h.call("DELETE", f"/accounts/{account_id}")
    assert status == 200, body
    assert body["ok"] is True
    assert body["polling"] == {"running": True}
    removed = body["removed"]
    _assert_account_shape(removed)
    assert removed["account_id"] == account_id
    assert removed["status"]["polling_running"] is False
    assert removed["status"]["session_state"] == "active"

    status, body = await h.call("GET", f"/accounts/{account_id}")
    assert status == 404
    assert_error(body, "unknown account_id")
    status, body = await h.call("DELETE", f"/accounts/{account_id}")
    assert status == 404
    assert_error(body, "unknown account_id")
    _, body = await h.call("GET", "/accounts")
    assert body["accounts"] == []

    # nobody polls the removed account any more
    h.sim.inject_message(h.bot.bot_id, text="after removal")
    await asyncio.sleep(h.hold_seconds + 0.3)
    assert h.upstream.events == []


# --- polling ------------------------------------------------------------------------------------


async def test_poll_once(harness: GatewayHarness) -> None:
    h = harness
    account_id = await h.register("wx-account-1")
    assert h.bot is not None
    status, body = await h.call("POST", "/poll/stop")
    assert status == 200, body
    h.sim.inject_message(h.bot.bot_id, text="fetched by poll-once")

    status, body = await h.call("POST", f"/accounts/{account_id}/poll-once")
    assert status == 200, body
    assert body["ok"] is True
    result = body["result"]
    assert result["account_id"] == account_id
    assert result["forwarded"] == 1
    assert isinstance(result["cursor"], str)
    assert result["cursor"]
    [event] = await h.upstream.wait_events(1)
    assert event["text"] == "fetched by poll-once"

    view = await account(h, account_id)
    assert view["cursor"] == result["cursor"]
    assert view["status"]["has_cursor"] is True
    assert view["status"]["last_forwarded"] == 1
    assert ISO.match(view["status"]["last_poll_finished_at"])
    assert view["status"]["polling_running"] is False

    # nothing new: the poll waits out the hold and forwards nothing, cursor unchanged
    status, body = await h.call("POST", f"/accounts/{account_id}/poll-once")
    assert status == 200, body
    assert body["result"] == {"account_id": account_id, "forwarded": 0, "cursor": result["cursor"]}


async def test_poll_once_unknown_account(harness: GatewayHarness) -> None:
    status, body = await harness.call("POST", "/accounts/wx-nobody/poll-once")
    assert status == 404
    assert_error(body, "unknown account_id")


async def test_poll_status_start_stop(harness: GatewayHarness) -> None:
    h = harness
    account_id = await h.register("wx-account-1")
    status, body = await h.call("GET", "/poll/status")
    assert status == 200
    assert body["ok"] is True
    assert body["delivery_mode"] == "callback"
    polling = body["polling"]
    assert polling.keys() >= {
        "running",
        "interval_ms",
        "last_started_at",
        "last_finished_at",
        "last_error",
        "last_results",
    }
    assert polling["running"] is True
    assert polling["interval_ms"] == 5000
    assert ISO.match(polling["last_started_at"])
    assert polling["last_error"] == ""
    assert polling["last_results"] == []
    await eventually(lambda: _polling_running(h, account_id, True))

    status, body = await h.call("POST", "/poll/stop")
    assert (status, body) == (200, {"ok": True, "polling": {"running": False, "interval_ms": 5000}})
    _, body = await h.call("GET", "/poll/status")
    assert body["polling"]["running"] is False
    assert ISO.match(body["polling"]["last_finished_at"])
    _, health = await h.call("GET", "/health")
    assert health["polling"]["running"] is False
    assert (await account(h, account_id))["status"]["polling_running"] is False

    # an empty JSON body is as good as none (seed 000)
    status, body = await h.call("POST", "/poll/start", body={})
    assert (status, body) == (200, {"ok": True, "polling": {"running": True, "interval_ms": 5000}})
    await eventually(lambda: _polling_running(h, account_id, True))
    status, body = await h.call("POST", "/poll/stop", body={})
    assert body["polling"]["running"] is False
    status, body = await h.call("POST", "/poll/start")
    assert body["polling"]["running"] is True


async def _polling_running(h: GatewayHarness, account_id: str, running: bool) -> bool:
    return bool((await account(h, account_id))["status"]["polling_running"] is running)


async def test_run_once(harness: GatewayHarness) -> None:
    h = harness
    account_id = await h.register("wx-account-1")
    assert h.bot is not None
    # while the account's poller runs, run-once leaves it alone
    status, body = await h.call("POST", "/poll/run-once", body={})
    assert status == 200, body
    [skipped] = body.pop("results")
    assert body == {"ok": True, "delivery_mode": "callback"}
    assert isinstance(skipped.pop("cursor"), str)
    assert skipped == {"account_id": account_id, "forwarded": 0, "skipped": "polling"}

    await h.call("POST", "/poll/stop")
    h.sim.inject_message(h.bot.bot_id, text="one")
    h.sim.inject_message(h.bot.bot_id, text="two")
    status, body = await h.call("POST", "/poll/run-once")
    assert status == 200, body
    assert body["ok"] is True
    assert body["delivery_mode"] == "callback"
    [result] = body["results"]
    assert result["account_id"] == account_id
    assert result["forwarded"] == 2
    assert result["cursor"] == (await account(h, account_id))["cursor"] != ""
    events = await h.upstream.wait_events(2)
    assert [e["text"] for e in events] == ["one", "two"]
    _, status_body = await h.call("GET", "/poll/status")
    assert status_body["polling"]["last_results"] == body["results"]
    assert status_body["polling"]["running"] is False


async def test_stopped_polling_holds_messages_until_started(harness: GatewayHarness) -> None:
    h = harness
    await h.register("wx-account-1")
    assert h.bot is not None
    h.sim.inject_message(h.bot.bot_id, text="while polling")
    await h.upstream.wait_events(1)

    status, body = await h.call("POST", "/poll/stop")
    assert status == 200, body
    h.sim.inject_message(h.bot.bot_id, text="while stopped")
    await asyncio.sleep(h.hold_seconds + 0.5)
    assert [e["text"] for e in h.upstream.events] == ["while polling"]

    status, body = await h.call("POST", "/poll/start")
    assert status == 200, body
    events = await h.upstream.wait_events(2)
    assert events[1]["text"] == "while stopped"
    await asyncio.sleep(0.3)
    assert len(h.upstream.events) == 2  # delivered once
