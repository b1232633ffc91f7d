"""JSON shapes of the gateway's REST API: seed 000's field names, ISO times, no credentials,
and its error answer."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

from starlette.responses import JSONResponse

from weixin_gateway.gateway.logins import LoginSession
from weixin_gateway.gateway.poller import AccountPoller
from weixin_gateway.store import AccountRecord, EventRecord, SendTaskRecord

__all__ = [
    "account_view",
    "error_response",
    "iso",
    "json_safe",
    "login_view",
    "message_view",
    "task_view",
]


def iso(seconds: float | None) -> str:
    """``2026-03-24T00:00:00.000Z`` (JavaScript's ``toISOString``), ``""`` for no time."""
    if seconds is None:
        return ""
    stamp = datetime.fromtimestamp(seconds, tz=UTC)
    return stamp.strftime("%Y-%m-%dT%H:%M:%S.") + f"{stamp.microsecond // 1000:03d}Z"


def account_view(record: AccountRecord, poller: AccountPoller | None) -> dict[str, Any]:
    running = poller is not None and poller.running
    last_error = (poller.status.last_error if poller else "") or record.last_error
    finished = poller.status.last_poll_finished_at if poller else None
    return {
        "account_id": record.account_id,
        "api_base_url": record.api_base_url,
        "wechat_uin": record.wechat_uin,
        "bot_id": record.bot_id,
        "cursor": record.cursor,
        "created_at": iso(record.created_at),
        "updated_at": iso(record.updated_at),
        "status": {
            "session_state": record.session_state,
            "polling_running": running,
            "has_cursor": bool(record.cursor),
            "last_forwarded": record.last_forwarded,
            "last_error": last_error,
            "last_cursor": record.cursor,
            "last_poll_finished_at": iso(finished or record.last_poll_finished_at),
        },
    }


def _status(record: EventRecord, now: float) -> str:
    lease = record.lease_expires_at
    if record.status == "claimed" and lease is not None and lease <= now:
        return "pending"  # the lease ran out
    if not record.ready and record.status == "pending":
        return "preparing"
    return record.status


def message_view(record: EventRecord, now: float) -> dict[str, Any]:
    """An inbox message (seed 000's fields, plus attempts, lease and delivery details)."""
    status = _status(record, now)
    claim = None
    if status == "claimed":
        claim = {
            "worker_id": record.claim_worker,
            "claimed_at": iso(record.claimed_at),
            "lease_expires_at": iso(record.lease_expires_at),
        }
    callback = record.mode == "callback"
    return {
        "id": record.id,
        "type": "message",
        "status": status,
        "mode": record.mode,
        "account_id": record.account_id,
        "event_id": record.event_id,
        "chat_id": record.chat_id,
        "user_id": record.user_id,
        "chat_type": "c2c",
        "text": record.text,
        "context_token": record.context_token,
        "attachments": record.attachments,
        "callback_attempted": callback and record.attempts > 0,
        "callback_succeeded": callback and record.status == "delivered",
        "claim": claim,
        "attempts": record.attempts,
        "error": record.error,
        "completion_note": record.completion_note,
        "created_at": iso(record.created_at),
        "updated_at": iso(record.updated_at),
        "delivered_at": iso(record.delivered_at),
        "completed_at": iso(record.completed_at),
        "failed_at": iso(record.failed_at),
        "raw": record.raw,
    }


def login_view(session: LoginSession) -> dict[str, Any]:
    view: dict[str, Any] = {
        "session_id": session.session_id,
        "account_id": session.account_id,
        "state": session.state,
        "message": session.message,
    }
    if not session.final:
        view["qrcode"] = session.qrcode
        view["qrcode_url"] = session.qrcode_url
    if session.state == "need_verifycode" and session.login is not None:
        # true: the last code was wrong, ask again; false while a given code waits to be checked
        login = session.login
        view["verify_code_rejected"] = login.verify_code_rejected and login.verify_code is None
    return view


def json_safe(results: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Send results with message ids as strings: uint64 values do not survive JavaScript."""
    text = json.dumps(results, default=str)
    safe: list[dict[str, Any]] = json.loads(text)
    for result in safe:
        if isinstance(result.get("message_id"), int):
            result["message_id"] = str(result["message_id"])
        ids = result.get("message_ids")
        if isinstance(ids, list):
            result["message_ids"] = [str(i) if isinstance(i, int) else i for i in ids]
    return safe


def task_view(task: SendTaskRecord) -> dict[str, Any]:
    return {
        "id": task.id,
        "status": task.status,
        "account_id": task.account_id,
        "to_user_id": task.to_user_id,
        "results": json_safe(task.results),
        "error": task.error,
        "error_status": task.error_status,
        "created_at": iso(task.created_at),
        "updated_at": iso(task.updated_at),
    }


def error_response(http_status: int, error: str, **extra: Any) -> JSONResponse:
    """The API's error answer: ``{"ok": false, "error": ..., **extra}`` with ``http_status``."""
    return JSONResponse({"ok": False, "error": error, **extra}, status_code=http_status)
