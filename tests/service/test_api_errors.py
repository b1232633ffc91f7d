"""Bad input on every endpoint is a 4xx JSON error; the bearer token guards all but /health.

Errors are ``{"ok": false, "error": "...", "field"?: "..."}`` — never a 500, a stack trace or an
HTML page. A table covers malformed JSON, wrong types, missing fields (named in the answer),
oversize strings, out-of-range numbers, bad enum values, unknown paths and wrong methods; then
schemathesis generates requests from our own ``/openapi.json`` and checks that none is a 5xx.
"""

from __future__ import annotations

import asyncio
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis.errors import Unsatisfiable
from schemathesis.checks import not_a_server_error
from schemathesis.generation import GenerationMode

from tests.service.api_support import assert_error
from tests.service.harness import GatewayHarness

#: Every route of the gateway's API: (method, path) as /openapi.json lists them.
ROUTES = frozenset(
    {
        ("GET", "/health"),
        ("GET", "/metrics"),
        ("GET", "/accounts"),
        ("POST", "/accounts/register"),
        ("GET", "/accounts/{account_id}"),
        ("DELETE", "/accounts/{account_id}"),
        ("POST", "/accounts/{account_id}/poll-once"),
        ("POST", "/login/qr/start"),
        ("GET", "/login/qr/status"),
        ("POST", "/login/qr/cancel"),
        ("POST", "/login/qr/verify-code"),
        ("POST", "/login/qr/complete"),
        ("GET", "/poll/status"),
        ("POST", "/poll/start"),
        ("POST", "/poll/stop"),
        ("POST", "/poll/run-once"),
        ("GET", "/inbox/messages"),
        ("POST", "/inbox/claim"),
        ("POST", "/inbox/complete"),
        ("POST", "/inbox/fail"),
        ("GET", "/inbox/messages/{message_id}"),
        ("POST", "/inbox/messages/{message_id}/claim"),
        ("POST", "/inbox/messages/{message_id}/complete"),
        ("POST", "/inbox/messages/{message_id}/fail"),
        ("GET", "/deliveries"),
        ("POST", "/deliveries/redeliver"),
        ("POST", "/deliveries/{event_id}/redeliver"),
        ("POST", "/typing"),
        ("POST", "/send"),
        ("POST", "/send/async"),
        ("GET", "/send/tasks/{task_id}"),
    }
)


@dataclass(frozen=True)
class Raw:
    """A body sent as is, with its content type."""

    data: bytes
    content_type: str = "application/json"


LONG = "x" * 256  # one over the 255 characters of ids
SEND_OK = {
    "account_id": "wx-test",
    "to_user_id": "u@im.wechat",
    "items": [{"type": "text", "text": "hi"}],
}


def _send(**changes: Any) -> dict[str, Any]:
    body = {**SEND_OK, **changes}
    return {k: v for k, v in body.items() if v is not None}


Case = tuple[str, str, Any, int, str | None]

#: Missing required fields: the answer names them.
MISSING: list[Case] = [
    ("POST", "/accounts/register", {}, 400, "account_id"),
    ("POST", "/accounts/register", {"account_id": "a"}, 400, "bot_token"),
    ("POST", "/login/qr/cancel", {}, 400, "session_id"),
    ("POST", "/login/qr/verify-code", {"session_id": "s"}, 400, "code"),
    ("POST", "/login/qr/complete", {"session_id": "s"}, 400, "bot_token"),
    ("POST", "/inbox/claim", {}, 400, "worker_id"),
    ("POST", "/inbox/complete", {}, 400, "message_ids"),
    ("POST", "/inbox/fail", {"error": "e"}, 400, "message_ids"),
    ("POST", "/deliveries/redeliver", {}, 400, "event_ids"),
    ("POST", "/typing", {"account_id": "a"}, 400, "to_user_id"),
    ("POST", "/send", _send(account_id=None), 400, "account_id"),
    ("POST", "/send", _send(items=None), 400, "items"),
    ("POST", "/send", _send(items=[{"type": "text"}]), 400, "items[0].text"),
    ("POST", "/send", _send(items=[{"type": "file", "file_type": 1}]), 400, "items[0].url"),
    ("POST", "/send/async", _send(to_user_id=None), 400, "to_user_id"),
    ("GET", "/login/qr/status", None, 400, "session_id"),
]

#: Bad requests by kind: (method, path, body, status, field named in the answer or None).
BAD_INPUT: dict[str, list[Case]] = {
    "missing fields": MISSING,
    # malformed JSON, on routes with required and with optional bodies
    "malformed JSON": [
        ("POST", "/accounts/register", Raw(b'{"account_id": "a",'), 400, None),
        ("POST", "/login/qr/start", Raw(b"{nope"), 400, None),
        ("POST", "/login/qr/cancel", Raw(b"[1, 2"), 400, None),
        ("POST", "/poll/start", Raw(b"{"), 400, None),
        ("POST", "/inbox/claim", Raw(b"not json"), 400, None),
        ("POST", "/inbox/complete", Raw(b'{"message_ids": ['), 400, None),
        ("POST", "/inbox/messages/msg-x/claim", Raw(b"{'single': 'quotes'}"), 400, None),
        ("POST", "/inbox/messages/msg-x/complete", Raw(b"{,}"), 400, None),
        ("POST", "/inbox/messages/msg-x/fail", Raw(b"}"), 400, None),
        ("POST", "/deliveries/redeliver", Raw(b"{"), 400, None),
        ("POST", "/typing", Raw(b"{"), 400, None),
        ("POST", "/send", Raw(b'{"items": ['), 400, None),
        ("POST", "/send/async", Raw(b"\xff\xfe"), 400, None),
    ],
    # a body that is not an object, or not JSON at all
    "not an object": [
        ("POST", "/accounts/register", [], 400, None),
        ("POST", "/send", "a string", 400, None),
        ("POST", "/typing", 42, 400, None),
        (
            "POST",
            "/accounts/register",
            Raw(b"account_id=a", "application/x-www-form-urlencoded"),
            400,
            None,
        ),
        ("POST", "/send", Raw(b'{"account_id": "a"}', "text/plain"), 400, None),
    ],
    # wrong types
    "wrong types": [
        ("POST", "/accounts/register", {"account_id": 5, "bot_token": "t"}, 400, "account_id"),
        ("POST", "/accounts/register", {"account_id": "a", "bot_token": ["t"]}, 400, "bot_token"),
        ("POST", "/login/qr/start", {"account_id": 1}, 400, "account_id"),
        ("POST", "/login/qr/verify-code", {"session_id": "s", "code": 42}, 400, "code"),
        ("POST", "/inbox/claim", {"worker_id": "w", "limit": "many"}, 400, "limit"),
        ("POST", "/inbox/claim", {"worker_id": "w", "limit": 2.5}, 400, "limit"),
        ("POST", "/inbox/messages/msg-x/claim", {"worker_id": 7}, 400, "worker_id"),
        ("POST", "/inbox/messages/msg-x/claim", {"lease_ms": "long"}, 400, "lease_ms"),
        ("POST", "/inbox/messages/msg-x/complete", {"completion_note": {}}, 400, "completion_note"),
        ("POST", "/inbox/messages/msg-x/fail", {"error": 3}, 400, "error"),
        ("POST", "/inbox/complete", {"message_ids": [1]}, 400, "message_ids[0]"),
        ("POST", "/inbox/fail", {"message_ids": "msg-1"}, 400, "message_ids"),
        ("POST", "/deliveries/redeliver", {"event_ids": "evt-1"}, 400, "event_ids"),
        ("POST", "/deliveries/redeliver", {"event_ids": [1]}, 400, "event_ids[0]"),
        ("POST", "/deliveries/redeliver", {"all": "maybe"}, 400, "all"),
        ("POST", "/typing", {"account_id": "a", "to_user_id": "u", "status": 1}, 400, "status"),
        ("POST", "/send", _send(items={"type": "text"}), 400, "items"),
        ("POST", "/send", _send(items=["hi"]), 400, "items[0]"),
        ("POST", "/send", _send(items=[{"type": "text", "text": 5}]), 400, "items[0].text"),
        (
            "POST",
            "/send",
            _send(items=[{"type": "file", "file_type": "img", "url": "/a"}]),
            400,
            "items[0].file_type",
        ),
        ("POST", "/send", _send(context_token=5), 400, "context_token"),
        ("GET", "/inbox/messages?limit=ten", None, 400, "limit"),
        ("GET", "/inbox/messages?wait=soon", None, 400, "wait"),
        ("GET", "/deliveries?limit=1.5", None, 400, "limit"),
    ],
    # empty and oversize strings
    "empty or oversize strings": [
        ("POST", "/accounts/register", {"account_id": "", "bot_token": "t"}, 400, "account_id"),
        ("POST", "/accounts/register", {"account_id": LONG, "bot_token": "t"}, 400, "account_id"),
        (
            "POST",
            "/accounts/register",
            {"account_id": "a", "bot_token": "t" * 4097},
            400,
            "bot_token",
        ),
        (
            "POST",
            "/accounts/register",
            {"account_id": "a", "bot_token": "t", "wechat_uin": LONG},
            400,
            "wechat_uin",
        ),
        ("POST", "/login/qr/start", {"account_id": ""}, 400, "account_id"),
        ("POST", "/login/qr/cancel", {"session_id": LONG}, 400, "session_id"),
        ("POST", "/login/qr/verify-code", {"session_id": "s", "code": "1" * 33}, 400, "code"),
        ("GET", f"/login/qr/status?session_id={LONG}", None, 400, "session_id"),
        ("POST", "/inbox/claim", {"worker_id": ""}, 400, "worker_id"),
        ("POST", "/inbox/claim", {"worker_id": LONG}, 400, "worker_id"),
        ("POST", "/inbox/messages/msg-x/claim", {"worker_id": ""}, 400, "worker_id"),
        (
            "POST",
            "/inbox/messages/msg-x/complete",
            {"completion_note": "n" * 10_001},
            400,
            "completion_note",
        ),
        ("POST", "/inbox/messages/msg-x/fail", {"error": "e" * 10_001}, 400, "error"),
        ("POST", "/inbox/complete", {"message_ids": [LONG]}, 400, "message_ids[0]"),
        ("POST", "/inbox/fail", {"message_ids": ["m"], "error": "e" * 10_001}, 400, "error"),
        ("POST", "/deliveries/redeliver", {"event_ids": [""]}, 400, "event_ids[0]"),
        ("POST", "/typing", {"account_id": LONG, "to_user_id": "u"}, 400, "account_id"),
        ("POST", "/send", _send(to_user_id=""), 400, "to_user_id"),
        ("POST", "/send", _send(context_token="c" * 4097), 400, "context_token"),
        ("POST", "/send", _send(items=[{"type": "text", "text": ""}]), 400, "items[0].text"),
        (
            "POST",
            "/send",
            _send(items=[{"type": "text", "text": "t" * 200_001}]),
            400,
            "items[0].text",
        ),
        (
            "POST",
            "/send",
            _send(items=[{"type": "file", "file_type": 1, "url": "u" * 8193}]),
            400,
            "items[0].url",
        ),
        ("GET", f"/inbox/messages?account_id={LONG}", None, 400, "account_id"),
    ],
    # numbers out of range
    "numbers out of range": [
        ("GET", "/inbox/messages?limit=0", None, 400, "limit"),
        ("GET", "/inbox/messages?limit=1001", None, 400, "limit"),
        ("GET", "/inbox/messages?limit=-1", None, 400, "limit"),
        ("GET", "/inbox/messages?wait=-1", None, 400, "wait"),
        ("GET", "/inbox/messages?wait=61", None, 400, "wait"),
        ("GET", "/inbox/messages?wait=nan", None, 400, "wait"),
        ("GET", "/deliveries?limit=0", None, 400, "limit"),
        ("GET", "/deliveries?limit=100000", None, 400, "limit"),
        ("POST", "/inbox/claim", {"worker_id": "w", "limit": 0}, 400, "limit"),
        ("POST", "/inbox/claim", {"worker_id": "w", "limit": 501}, 400, "limit"),
        ("POST", "/inbox/claim", {"worker_id": "w", "lease_ms": 999}, 400, "lease_ms"),
        ("POST", "/inbox/claim", {"worker_id": "w", "wait": 61}, 400, "wait"),
        ("POST", "/inbox/complete", {"message_ids": []}, 400, "message_ids"),
        ("POST", "/inbox/fail", {"message_ids": ["m"] * 501}, 400, "message_ids"),
        ("POST", "/inbox/messages/msg-x/claim", {"lease_ms": 0}, 400, "lease_ms"),
        ("POST", "/inbox/messages/msg-x/claim", {"lease_ms": 86_400_001}, 400, "lease_ms"),
        ("POST", "/send", _send(items=[]), 400, "items"),
        ("POST", "/send", _send(items=[{"type": "text", "text": "t"}] * 101), 400, "items"),
    ],
    # values outside the allowed set
    "values not allowed": [
        ("GET", "/inbox/messages?status=done", None, 400, "status"),
        ("GET", "/inbox/messages?status=", None, 400, "status"),
        ("GET", "/deliveries?status=completed", None, 400, "status"),
        (
            "POST",
            "/typing",
            {"account_id": "a", "to_user_id": "u", "status": "dancing"},
            400,
            "status",
        ),
        ("POST", "/send", _send(items=[{"type": "sticker"}]), 400, "items[0]"),
        ("POST", "/send", _send(items=[{"text": "no type"}]), 400, "items[0]"),
        (
            "POST",
            "/accounts/register",
            {"account_id": "a", "bot_token": "t", "api_base_url": "ftp://x"},
            400,
            "api_base_url",
        ),
        (
            "POST",
            "/accounts/register",
            {"account_id": "a", "bot_token": "t", "api_base_url": "http://"},
            400,
            "api_base_url",
        ),
        (
            "POST",
            "/accounts/register",
            {"account_id": "a", "bot_token": "t", "cdn_base_url": "cdn"},
            400,
            "cdn_base_url",
        ),
        ("POST", "/login/qr/start", {"api_base_url": "ilinkai.weixin.qq.com"}, 400, "api_base_url"),
        (
            "POST",
            "/login/qr/complete",
            {"session_id": "s", "bot_token": "t", "api_base_url": "x"},
            400,
            "api_base_url",
        ),
    ],
    # bad items that only the send itself can see (the account exists)
    "items the send checks": [
        ("POST", "/send", _send(items=[{"type": "text", "text": "   "}]), 400, "items[0].text"),
        (
            "POST",
            "/send",
            _send(items=[{"type": "file", "file_type": 9, "url": "/a"}]),
            400,
            "items[0].file_type",
        ),
        (
            "POST",
            "/send",
            _send(items=[{"type": "file", "file_type": 1, "url": "ftp://x/a.png"}]),
            400,
            "items[0].url",
        ),
        (
            "POST",
            "/send",
            _send(items=[{"type": "file", "file_type": 1, "url": "a.png"}]),
            400,
            "items[0].url",
        ),
        (
            "POST",
            "/send",
            _send(items=[{"type": "file", "file_type": 1, "url": "/etc/hostname"}]),
            400,
            "items[0].url",
        ),
        (
            "POST",
            "/send",
            _send(items=[{"type": "file", "file_type": 4, "url": "file://host/a"}]),
            400,
            "items[0].url",
        ),
        (
            "POST",
            "/send",
            _send(items=[{"type": "file", "file_type": 4, "url": "http://[::1/a"}]),
            400,
            "items[0].url",
        ),
        (
            "POST",
            "/send",
            _send(items=[{"type": "file", "file_type": 1, "url": "/a", "as_voice": True}]),
            400,
            "items[0].as_voice",
        ),
    ],
    # NUL characters (PostgreSQL cannot store them) and header-breaking tokens
    "NUL and control characters": [
        ("GET", "/accounts/a%00b", None, 400, "account_id"),
        ("GET", "/inbox/messages/msg%00", None, 400, "message_id"),
        ("GET", "/inbox/messages?account_id=a%00", None, 400, "account_id"),
        (
            "POST",
            "/accounts/register",
            {"account_id": "a\x00", "bot_token": "t"},
            400,
            "account_id",
        ),
        ("POST", "/login/qr/start", {"account_id": "wx-\x00"}, 400, "account_id"),
        ("POST", "/inbox/claim", {"worker_id": "w\x00"}, 400, "worker_id"),
        ("POST", "/inbox/messages/msg-x/fail", {"error": "bad\x00"}, 400, "error"),
        (
            "POST",
            "/inbox/messages/msg-x/complete",
            {"completion_note": "\x00"},
            400,
            "completion_note",
        ),
        ("POST", "/deliveries/redeliver", {"event_ids": ["evt", "e\x00"]}, 400, "event_ids[1]"),
        ("POST", "/send", _send(items=[{"type": "text", "text": "a\x00b"}]), 400, "items[0].text"),
        ("POST", "/send", _send(extra={"nested": ["\x00"]}), 400, "extra.nested[0]"),
        (
            "POST",
            "/accounts/register",
            {"account_id": "a", "bot_token": "t\r\nX-Evil: 1"},
            400,
            "bot_token",
        ),
        (
            "POST",
            "/accounts/register",
            {"account_id": "a", "bot_token": "two words"},
            400,
            "bot_token",
        ),
        ("POST", "/login/qr/complete", {"session_id": "s", "bot_token": "t\n"}, 400, "bot_token"),
        (
            "POST",
            "/accounts/register",
            {"account_id": "a", "bot_token": "t", "api_base_url": "http://a b"},
            400,
            "api_base_url",
        ),
        (
            "POST",
            "/accounts/register",
            {"account_id": "a", "bot_token": "t", "api_base_url": "http://a\n"},
            400,
            "api_base_url",
        ),
    ],
    # unknown things
    "unknown ids": [
        ("GET", "/accounts/wx-nobody", None, 404, "account_id"),
        ("DELETE", "/accounts/wx-nobody", None, 404, "account_id"),
        ("POST", "/accounts/wx-nobody/poll-once", None, 404, "account_id"),
        ("GET", "/login/qr/status?session_id=sess-nope", None, 404, "session_id"),
        (
            "POST",
            "/login/qr/verify-code",
            {"session_id": "sess-nope", "code": "1"},
            404,
            "session_id",
        ),
        ("GET", "/inbox/messages/msg-nope", None, 404, "message_id"),
        ("POST", "/deliveries/evt-nope/redeliver", None, 404, "event_id"),
        ("GET", "/send/tasks/send-nope", None, 404, "task_id"),
        ("POST", "/typing", {"account_id": "wx-nobody", "to_user_id": "u"}, 404, "account_id"),
        ("POST", "/send", _send(account_id="wx-nobody"), 404, "account_id"),
    ],
    # unknown paths and wrong methods
    "unknown paths and methods": [
        ("GET", "/nope", None, 404, None),
        ("POST", "/accounts/register/extra", {}, 404, None),
        ("GET", "/inbox", None, 404, None),
        ("GET", "/send", None, 405, None),
        ("DELETE", "/health", None, 405, None),
        ("PUT", "/accounts/wx-test", {}, 405, None),
        ("GET", "/inbox/claim", None, 405, None),
        ("PATCH", "/poll/start", {}, 405, None),
    ],
}


def _case_id(case: Case) -> str:
    method, path, body, status, field = case
    what = "raw" if isinstance(body, Raw) else type(body).__name__
    return f"{method} {path[:40]} {what} {status} {field or ''}".strip()


async def _request(
    h: GatewayHarness, method: str, path: str, body: Any, headers: dict[str, str] | None = None
) -> tuple[int, str, str, Any]:
    """``(status, content type, text, headers)``; a :class:`Raw` body is sent as is."""
    assert h.http is not None
    kwargs: dict[str, Any] = {"headers": {**h.headers, **(headers or {})}}
    if isinstance(body, Raw):
        kwargs["data"] = body.data
        kwargs["headers"]["Content-Type"] = body.content_type
    elif body is not None:
        kwargs["json"] = body
    async with h.http.request(method, h.base_url + path, **kwargs) as response:
        return response.status, response.content_type, await response.text(), response.headers


def _assert_json_error(status: int, content_type: str, text: str) -> dict[str, Any]:
    assert content_type == "application/json", (status, content_type, text)
    assert "Traceback" not in text
    assert "<html" not in text.lower()
    body: dict[str, Any] = json.loads(text)
    assert_error(body)
    assert set(body) <= {"ok", "error", "field", "holder", "status", "sent"}, body
    return body


@pytest.fixture
async def api(tmp_path: Path, database_url: str) -> Any:
    async with GatewayHarness(tmp_path / "data", database_url=database_url) as h:
        await h.register()  # "wx-test" exists, so item checks behind the account lookup run
        yield h


@pytest.mark.parametrize("kind", list(BAD_INPUT))
async def test_bad_input_is_a_4xx_json_error(api: GatewayHarness, kind: str) -> None:
    failures = []
    for case in BAD_INPUT[kind]:
        method, path, body, expected, field = case
        status, content_type, text, headers = await _request(api, method, path, body)
        try:
            assert status == expected, (status, text)
            answer = _assert_json_error(status, content_type, text)
            if field is not None:
                assert answer.get("field") == field, answer
            if status == 405:
                assert headers.get("Allow"), dict(headers)
        except AssertionError as exc:
            failures.append(f"{_case_id(case)}: {exc}")
    assert not failures, "\n".join(failures)
    assert api.bot is not None
    assert api.sim.sent(api.bot.bot_id) == ()  # none of it reached WeChat


async def test_missing_fields_are_named(api: GatewayHarness) -> None:
    for method, path, request, _, field in MISSING:
        status, body = await api.call(method, path, body=request)
        assert status == 400, (path, body)
        assert field is not None
        assert body["field"] == field, (path, body)
        assert field in body["error"], (path, body)
    status, body = await api.call("POST", "/send", body={})
    assert status == 400
    for name in ("account_id", "to_user_id", "items"):
        assert name in body["error"], body
    assert body["field"] == "account_id"


async def test_no_body_where_one_is_required(api: GatewayHarness) -> None:
    for path in ("/accounts/register", "/inbox/claim", "/send", "/typing", "/login/qr/cancel"):
        status, content_type, text, _ = await _request(api, "POST", path, None)
        assert status == 400, (path, text)
        _assert_json_error(status, content_type, text)


async def test_optional_bodies_may_be_absent_or_empty(api: GatewayHarness) -> None:
    for path in ("/poll/stop", "/poll/start", "/poll/run-once"):
        for body in (None, {}, Raw(b"")):
            status, _, text, _ = await _request(api, "POST", path, body)
            assert status == 200, (path, body, text)


async def test_an_unexpected_error_is_a_json_500_without_traceback(
    api: GatewayHarness, caplog: pytest.LogCaptureFixture
) -> None:
    async def broken() -> None:
        raise RuntimeError("secret internals")

    api.gateway.accounts.all = broken  # type: ignore[method-assign]
    status, content_type, text, _ = await _request(api, "GET", "/accounts", None)
    assert (status, content_type) == (500, "application/json")
    assert json.loads(text) == {"ok": False, "error": "internal error (see the gateway log)"}
    assert "secret internals" not in text
    assert "Traceback" not in text
    assert "secret internals" in caplog.text  # the log has it


# --- authentication -----------------------------------------------------------------------------


def _concrete(path: str) -> str:
    return (
        path.replace("{account_id}", "wx-test")
        .replace("{message_id}", "msg-x")
        .replace("{event_id}", "evt-x")
        .replace("{task_id}", "send-x")
    )


async def test_bearer_token(tmp_path: Path, database_url: str) -> None:
    async with GatewayHarness(tmp_path / "data", database_url=database_url, api_token="t0ken") as h:
        status, body = await h.call("GET", "/health")
        assert status == 200
        assert body["ok"] is True
        for method, path in sorted(ROUTES | {("GET", "/openapi.json"), ("GET", "/docs")}):
            if path == "/health":
                continue
            for headers in ({}, {"Authorization": "Bearer wrong"}, {"Authorization": "t0ken"}):
                status, content_type, text, answer_headers = await _request(
                    h, method, _concrete(path), None, headers
                )
                assert status == 401, (method, path, headers, status, text)
                body = _assert_json_error(status, content_type, text)
                assert "WEIXIN_GATEWAY_API_TOKEN" in body["error"]
                assert answer_headers.get("WWW-Authenticate") == "Bearer"
        # unknown paths too: nothing about the API shows without the token
        status, _, _, _ = await _request(h, "GET", "/nope", None)
        assert status == 401

        h.headers = {"Authorization": "Bearer t0ken"}
        await h.register()
        status, body = await h.call("GET", "/openapi.json")
        assert status == 200
        listed = {
            (method.upper(), path)
            for path, operations in body["paths"].items()
            for method in operations
        }
        assert listed == ROUTES
        status, body = await h.call("GET", "/accounts/wx-test")
        assert status == 200
        assert body["account"]["account_id"] == "wx-test"
        for method, path in sorted(ROUTES):
            if (method, path) == ("POST", "/login/qr/start"):
                continue  # would start a login
            status, _, text, _ = await _request(h, method, _concrete(path), None)
            assert status != 401, (method, path, text)
            assert status < 500, (method, path, text)
        # the scheme is case-insensitive (RFC 9110 §11.1)
        status, _, _, _ = await _request(
            h, "GET", "/accounts", None, {"Authorization": "bearer t0ken"}
        )
        assert status == 200


# --- generated requests (schemathesis) ----------------------------------------------------------

#: Operations left out of the generated run: none so far.
NOT_FUZZED: frozenset[tuple[str, str]] = frozenset()


def _fuzz(base_url: str, spec: dict[str, Any], max_examples: int) -> list[str]:
    """Generated requests to every operation; the failures (a 5xx, or a non-JSON error)."""
    schema = schemathesis.openapi.from_dict(spec)
    failures: list[str] = []
    for result in schema.get_all_operations():
        operation = result.ok()
        key = (operation.method.upper(), operation.path)
        if key in NOT_FUZZED:
            continue
        for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE):
            strategy = operation.as_strategy(generation_mode=mode).map(_no_waiting)

            @settings(
                max_examples=max_examples,
                deadline=None,
                derandomize=True,
                database=None,
                suppress_health_check=list(HealthCheck),
                phases=[Phase.explicit, Phase.generate, Phase.shrink],
            )
            @given(case=strategy)
            def check(case: Any) -> None:
                response = case.call(base_url=base_url, timeout=15)
                case.validate_response(response, checks=[not_a_server_error])
                if response.status_code >= 400:
                    content_type = response.headers.get("content-type") or [""]
                    assert content_type[0] == "application/json", response.text[:200]
                    assert response.json()["ok"] is False

            try:
                check()
            except Unsatisfiable:
                pass  # no invalid input for this operation (e.g. only a string path parameter)
            except Exception as exc:
                failures.append(f"{key[0]} {key[1]} ({mode.value}): {exc}"[:2000])
    return failures


def _no_waiting(case: Any) -> Any:
    """Long polls of up to 60 s are valid input; keep the generated ones short."""
    if isinstance(case.query, dict) and "wait" in case.query:
        case.query["wait"] = 0
    if isinstance(case.body, dict) and "wait" in case.body:
        case.body["wait"] = 0
    return case


@pytest.mark.timeout(300)  # bounded by 25 examples per operation; about 90 s on a slow day
async def test_schemathesis_no_server_errors(tmp_path: Path, database_url: str) -> None:
    async with GatewayHarness(tmp_path / "data", database_url=database_url, hold_seconds=0.1) as h:
        await h.register()
        status, spec = await h.call("GET", "/openapi.json")
        assert status == 200
        failures = await asyncio.to_thread(_fuzz, h.base_url, spec, 25)
        assert not failures, "\n\n".join(failures)
        # the gateway is still fine afterwards
        status, body = await h.call("GET", "/health")
        assert status == 200
        assert body["ok"] is True
