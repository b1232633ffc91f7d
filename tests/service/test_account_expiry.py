"""An account whose session expires (-14) and the same user logging in again."""

from __future__ import annotations

from typing import Any

from tests.service.harness import GatewayHarness, eventually


async def _account(h: GatewayHarness, account_id: str) -> dict[str, Any]:
    status, body = await h.call("GET", f"/accounts/{account_id}")
    assert status == 200, body
    account: dict[str, Any] = body["account"]
    return account


async def test_expired_account_kept_and_revived_by_a_new_login(harness: GatewayHarness) -> None:
    h = harness
    account_id = await h.register("wx-expiring")
    assert h.bot is not None
    owner = h.bot.user_id
    h.sim.inject_message(h.bot.bot_id, text="before expiry")
    await h.upstream.wait_events(1)
    h.sim.expire_bot(h.bot.bot_id)

    async def expired() -> bool:
        account = await _account(h, account_id)
        return account["status"]["session_state"] == "expired"

    await eventually(expired)
    account = await _account(h, account_id)
    assert account["status"]["polling_running"] is False
    assert "-14" in account["status"]["last_error"]
    _, health = await h.call("GET", "/health")
    assert health["accounts"] == {"active": 0, "expired": 1}
    _, metrics = await h.call("GET", "/metrics")
    assert 'weixin_gateway_accounts{state="expired"} 1.0' in metrics
    assert 'weixin_gateway_polls_total{outcome="expired"} 1.0' in metrics

    # the same WeChat user logs in again through the gateway's QR login
    status, body = await h.call("POST", "/login/qr/start", body={})
    assert status == 200, body
    session_id = body["session"]["session_id"]
    qrcode = body["session"]["qrcode"]
    h.sim.scan(qrcode, user_id=owner)
    h.sim.confirm(qrcode)

    async def completed() -> dict[str, Any] | None:
        _, status_body = await h.call("GET", f"/login/qr/status?session_id={session_id}")
        session: dict[str, Any] = status_body["session"]
        return session if session["state"] == "completed" else None

    session = await eventually(completed)
    assert session["account_id"] == account_id
    account = await _account(h, account_id)
    assert account["status"]["session_state"] == "active"
    assert account["cursor"] == ""
    assert account["api_base_url"] == h.sim.base_url
    _, listing = await h.call("GET", "/accounts")
    assert [a["account_id"] for a in listing["accounts"]] == [account_id]
    new_bot = account["bot_id"]
    assert new_bot
    assert new_bot != h.bot.bot_id
    h.sim.inject_message(new_bot, text="after login")
    events = await h.upstream.wait_events(2)
    assert events[1]["text"] == "after login"
    assert events[1]["account_id"] == account_id
