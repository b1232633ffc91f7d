"""Helpers shared by the REST API tests (``test_api_*.py``)."""

from __future__ import annotations

import re
from typing import Any

from tests.service.harness import GatewayHarness, eventually

__all__ = [
    "ACCOUNT_KEYS",
    "ISO",
    "STATUS_KEYS",
    "account",
    "assert_error",
    "inbox_messages",
    "raw_call",
    "wait_inbox",
]

#: ``2026-03-24T00:00:00.000Z`` (JavaScript's ``toISOString``).
ISO = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$")

#: Seed 000's account fields and its ``status`` sub-object.
ACCOUNT_KEYS = frozenset(
    {"account_id", "api_base_url", "wechat_uin", "cursor", "created_at", "updated_at", "status"}
)
STATUS_KEYS = frozenset(
    {
        "session_state",
        "polling_running",
        "has_cursor",
        "last_forwarded",
        "last_error",
        "last_cursor",
        "last_poll_finished_at",
    }
)


def assert_error(body: Any, error: str | None = None, *, contains: str | None = None) -> None:
    """``body`` is ``{"ok": false, "error": "..."}``: that ``error``, or one with ``contains``."""
    assert isinstance(body, dict), body
    assert body["ok"] is False, body
    assert isinstance(body["error"], str), body
    assert body["error"], body
    if error is not None:
        assert body["error"] == error, body
    if contains is not None:
        assert contains in body["error"], body


async def raw_call(
    h: GatewayHarness, method: str, path: str, *, body: Any = None, **kwargs: Any
) -> tuple[int, str, str]:
    """``(status, content type, raw text)`` of one request (for what must never appear)."""
    assert h.http is not None
    headers = {**h.headers, **kwargs.pop("headers", {})}
    if body is not None:
        kwargs["json"] = body
    async with h.http.request(method, h.base_url + path, headers=headers, **kwargs) as response:
        return response.status, response.content_type, await response.text()


async def account(h: GatewayHarness, account_id: str) -> dict[str, Any]:
    status, body = await h.call("GET", f"/accounts/{account_id}")
    assert status == 200, body
    found: dict[str, Any] = body["account"]
    return found


async def inbox_messages(h: GatewayHarness, query: str = "") -> list[dict[str, Any]]:
    status, body = await h.call("GET", f"/inbox/messages{query}")
    assert status == 200, body
    messages: list[dict[str, Any]] = body["messages"]
    return messages


async def wait_inbox(
    h: GatewayHarness, n: int, query: str = "?status=all&limit=1000"
) -> list[dict[str, Any]]:
    """Until the inbox lists ``n`` messages (``query`` picks which); those messages."""

    async def enough() -> list[dict[str, Any]] | None:
        messages = await inbox_messages(h, query)
        return messages if len(messages) >= n else None

    found: list[dict[str, Any]] = await eventually(enough)
    assert len(found) == n, found
    return found
