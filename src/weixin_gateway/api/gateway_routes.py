"""The routes of the gateway's REST API (seed 000's, then ours). See ``api/gateway_app.py``."""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Iterable
from typing import Annotated, Any, Literal
from urllib.parse import urlsplit

from fastapi import APIRouter, Body, Depends, Query, Request
from fastapi.exceptions import RequestValidationError
from pydantic import BaseModel, ConfigDict, Field
from starlette.responses import JSONResponse, Response

from weixin_gateway.api.gateway_views import (
    account_view,
    error_response,
    iso,
    json_safe,
    login_view,
    message_view,
    task_view,
)
from weixin_gateway.errors import LoginError, SessionExpiredError, WeixinError
from weixin_gateway.gateway.outbound import OutboundError
from weixin_gateway.gateway.send_request import SendRequest, parts_of
from weixin_gateway.gateway.service import (
    AccountExpiredError,
    IlinkGateway,
    StandbyError,
    UnknownAccountError,
)
from weixin_gateway.ilink.login import LoginResult
from weixin_gateway.store import ClaimConflict, EventRecord
from weixin_gateway.store.accounts import EXPIRED
from weixin_gateway.store.events import Settled

__all__ = ["router"]

_Location = tuple[str | int, ...]


def _nul_in(value: Any, loc: _Location) -> _Location | None:
    """Where a NUL character is in a decoded JSON value, or None."""
    if isinstance(value, str):
        return loc if "\x00" in value else None
    items: Any = ()
    if isinstance(value, dict):
        items = value.items()
    elif isinstance(value, list):
        items = enumerate(value)
    for key, item in items:
        if isinstance(key, str) and "\x00" in key:
            return (*loc, key)
        found = _nul_in(item, (*loc, key))
        if found is not None:
            return found
    return None


async def _refuse_nul(request: Request) -> None:
    """A 400 for a NUL character anywhere in the path, the query or the JSON body.

    PostgreSQL cannot store NUL in text (the insert fails), and no id or text needs one.
    """
    found: _Location | None = None
    body: Any = None
    for name, value in request.path_params.items():
        if found is None and isinstance(value, str) and "\x00" in value:
            found = ("path", name)
    for name, value in request.query_params.multi_items():
        if found is None and "\x00" in value:
            found = ("query", name)
    if found is None and request.method not in ("GET", "HEAD"):
        raw = await request.body()
        if b"\\u0000" in raw:  # in JSON, a NUL can only be written escaped
            try:
                body = json.loads(raw)
            except ValueError:
                body = None  # not JSON: the body's own validation answers
            found = _nul_in(body, ("body",))
    if found is not None:
        error = {"type": "value_error", "loc": found, "msg": "must not contain NUL characters"}
        raise RequestValidationError([error], body=body)


router = APIRouter(dependencies=[Depends(_refuse_nul)])

_ID = Field(min_length=1, max_length=255)
#: A bot token travels in an HTTP header: visible ASCII only (no spaces, no line breaks).
_TOKEN = Field(min_length=1, max_length=4096, pattern=r"^[\x21-\x7e]+$")
#: A long poll looks again at least this often: a message stored by another gateway process
#: (the leader) wakes no waiter here, and a wake-up may fall between a search and the wait.
_OPTIONAL_BODY = Body()


def _gateway(request: Request) -> IlinkGateway:
    gateway: IlinkGateway = request.app.state.gateway
    return gateway


def _unknown_account() -> JSONResponse:
    return error_response(404, "unknown account_id", field="account_id")


def _expired_account() -> JSONResponse:
    return error_response(409, "account session expired (-14): log in again", field="account_id")


class _Body(BaseModel):
    model_config = ConfigDict(extra="allow")


# --- health and metrics -----------------------------------------------------------------------


@router.get("/health", tags=["service"])
async def health(request: Request) -> dict[str, Any]:
    gateway = _gateway(request)
    counts = await gateway.accounts.count_by_state()
    return {
        "ok": True,
        "service": "weixin-gateway",
        "phase": "text-mvp",
        "delivery_mode": gateway.settings.delivery_mode,
        "polling": {
            "running": gateway.polling_enabled,
            "interval_ms": gateway.settings.poll_interval_ms,
        },
        "accounts": {"active": counts.get("active", 0), "expired": counts.get("expired", 0)},
        "leader": gateway.is_leader,
    }


@router.get("/metrics", tags=["service"], response_class=Response)
async def metrics(request: Request) -> Response:
    gateway = _gateway(request)
    await gateway.refresh_gauges()
    counts = await gateway.events.count_by_status()
    gateway.metrics.pending_events.clear()
    for (mode, status), n in counts.items():
        if status not in ("delivered", "completed"):
            gateway.metrics.pending_events.labels(status=f"{mode}:{status}").set(n)
    body, content_type = gateway.metrics.render()
    return Response(body, media_type=content_type)


# --- accounts ---------------------------------------------------------------------------------


@router.get("/accounts", tags=["accounts"])
async def list_accounts(request: Request) -> dict[str, Any]:
    gateway = _gateway(request)
    records = await gateway.accounts.all()
    views = [account_view(r, gateway.poller_of(r.account_id)) for r in records]
    return {"ok": True, "accounts": views}


class RegisterBody(_Body):
    account_id: str = _ID
    bot_token: str = _TOKEN
    api_base_url: str | None = Field(default=None, max_length=1024)
    cdn_base_url: str | None = Field(default=None, max_length=1024)
    wechat_uin: str = Field(default="", max_length=255)
    bot_id: str = Field(default="", max_length=255)


def _check_url(value: str | None, field: str) -> JSONResponse | None:
    if not value:
        return None  # not given: the default applies
    if any(c.isspace() or not c.isprintable() for c in value):
        return error_response(
            400, f"{field} must not contain spaces or control characters", field=field
        )
    try:
        parts = urlsplit(value)
    except ValueError:  # e.g. an unbalanced "[" in the host
        parts = None
    if parts is None or parts.scheme.lower() not in ("http", "https") or not parts.hostname:
        return error_response(400, f"{field} must be an http:// or https:// URL", field=field)
    return None


@router.post("/accounts/register", tags=["accounts"])
async def register_account(request: Request, body: RegisterBody) -> Any:
    gateway = _gateway(request)
    for field in ("api_base_url", "cdn_base_url"):
        bad = _check_url(getattr(body, field), field)
        if bad is not None:
            return bad
    record = await gateway.register(
        account_id=body.account_id,
        api_base_url=body.api_base_url or gateway.settings.ilink_base_url,
        cdn_base_url=body.cdn_base_url or "",
        bot_token=body.bot_token,
        wechat_uin=body.wechat_uin,
        bot_id=body.bot_id,
    )
    return {"ok": True, "account": account_view(record, gateway.poller_of(record.account_id))}


@router.get("/accounts/{account_id}", tags=["accounts"])
async def get_account(request: Request, account_id: str) -> Any:
    gateway = _gateway(request)
    record = await gateway.accounts.get(account_id)
    if record is None:
        return _unknown_account()
    return {"ok": True, "account": account_view(record, gateway.poller_of(account_id))}


@router.delete("/accounts/{account_id}", tags=["accounts"])
async def delete_account(request: Request, account_id: str) -> Any:
    gateway = _gateway(request)
    removed = await gateway.remove(account_id)
    if removed is None:
        return _unknown_account()
    return {
        "ok": True,
        "removed": account_view(removed, None),
        "polling": {"running": gateway.polling_enabled},
    }


@router.post("/accounts/{account_id}/poll-once", tags=["accounts"])
async def poll_account_once(request: Request, account_id: str) -> Any:
    gateway = _gateway(request)
    try:
        result = await gateway.poll_once(account_id)
    except UnknownAccountError:
        return _unknown_account()
    except SessionExpiredError:
        return _expired_account()
    except StandbyError as exc:
        return error_response(409, str(exc))
    except WeixinError as exc:
        return error_response(502, f"poll failed: {exc}")
    return {"ok": True, "result": result}


# --- login --------------------------------------------------------------------------------------


class LoginStartBody(_Body):
    account_id: str | None = Field(default=None, min_length=1, max_length=255)
    api_base_url: str | None = Field(default=None, max_length=1024)


@router.post("/login/qr/start", tags=["login"])
async def login_start(
    request: Request, body: Annotated[LoginStartBody | None, _OPTIONAL_BODY] = None
) -> Any:
    body = body or LoginStartBody()
    bad = _check_url(body.api_base_url, "api_base_url")
    if bad is not None:
        return bad
    try:
        session = await _gateway(request).logins.start(body.account_id, body.api_base_url)
    except LoginError as exc:
        return error_response(429, str(exc))
    except WeixinError as exc:
        return error_response(502, f"could not get a QR code: {exc}")
    return {"ok": True, "session": login_view(session)}


@router.get("/login/qr/status", tags=["login"])
async def login_status(
    request: Request, session_id: Annotated[str | None, Query(max_length=255)] = None
) -> Any:
    if not session_id:
        return error_response(400, "session_id is required", field="session_id")
    session = _gateway(request).logins.get(session_id)
    if session is None:
        return error_response(404, "unknown session_id", field="session_id")
    return {"ok": True, "session": login_view(session)}


class SessionBody(_Body):
    session_id: str = _ID


@router.post("/login/qr/cancel", tags=["login"])
async def login_cancel(request: Request, body: SessionBody) -> Any:
    session = _gateway(request).logins.cancel(body.session_id)
    if session is None:
        return error_response(404, "unknown session_id", field="session_id")
    return {"ok": True, "session": {"session_id": session.session_id, "state": session.state}}


class VerifyCodeBody(SessionBody):
    code: str = Field(min_length=1, max_length=32)


@router.post("/login/qr/verify-code", tags=["login"])
async def login_verify_code(request: Request, body: VerifyCodeBody) -> Any:
    session = _gateway(request).logins.submit_verify_code(body.session_id, body.code)
    if session is None:
        return error_response(404, "unknown session_id", field="session_id")
    return {"ok": True, "session": login_view(session)}


class CompleteBody(SessionBody):
    bot_token: str = _TOKEN
    api_base_url: str | None = Field(default=None, max_length=1024)
    wechat_uin: str = Field(default="", max_length=255)
    bot_id: str = Field(default="", max_length=255)


@router.post("/login/qr/complete", tags=["login"])
async def login_complete(request: Request, body: CompleteBody) -> Any:
    gateway = _gateway(request)
    bad = _check_url(body.api_base_url, "api_base_url")
    if bad is not None:
        return bad
    session = gateway.logins.get(body.session_id)
    if session is None:
        return error_response(404, "unknown session_id", field="session_id")
    result = LoginResult(
        bot_token=body.bot_token,
        account_id=body.bot_id,
        base_url=body.api_base_url or session.api_base_url,
        user_id=body.wechat_uin or None,
    )
    await gateway.logins.complete(session, result)
    record = await gateway.accounts.get(session.account_id)
    if session.state != "completed" or record is None:
        return error_response(500, session.message or "login could not be completed")
    view = account_view(record, gateway.poller_of(record.account_id))
    return {
        "ok": True,
        "session": {"session_id": session.session_id, "state": session.state},
        "account": view,
    }


# --- polling ------------------------------------------------------------------------------------


def _polling(gateway: IlinkGateway) -> dict[str, Any]:
    return {"running": gateway.polling_enabled, "interval_ms": gateway.settings.poll_interval_ms}


@router.get("/poll/status", tags=["polling"])
async def poll_status(request: Request) -> dict[str, Any]:
    gateway = _gateway(request)
    return {
        "ok": True,
        "delivery_mode": gateway.settings.delivery_mode,
        "polling": {
            **_polling(gateway),
            "last_started_at": iso(gateway.last_started_at),
            "last_finished_at": iso(gateway.last_finished_at),
            "last_error": gateway.last_error,
            "last_results": gateway.last_results,
        },
    }


@router.post("/poll/start", tags=["polling"])
async def poll_start(
    request: Request, body: Annotated[Any, _OPTIONAL_BODY] = None
) -> dict[str, Any]:
    gateway = _gateway(request)
    await gateway.start_polling()
    return {"ok": True, "polling": _polling(gateway)}


@router.post("/poll/stop", tags=["polling"])
async def poll_stop(
    request: Request, body: Annotated[Any, _OPTIONAL_BODY] = None
) -> dict[str, Any]:
    gateway = _gateway(request)
    await gateway.stop_polling()
    return {"ok": True, "polling": _polling(gateway)}


@router.post("/poll/run-once", tags=["polling"])
async def poll_run_once(
    request: Request, body: Annotated[Any, _OPTIONAL_BODY] = None
) -> dict[str, Any]:
    gateway = _gateway(request)
    results = await gateway.run_once()
    return {"ok": True, "delivery_mode": gateway.settings.delivery_mode, "results": results}


# --- inbox --------------------------------------------------------------------------------------

InboxStatus = Literal["pending", "claimed", "completed", "failed", "dead", "delivered", "all"]


@router.get("/inbox/messages", tags=["inbox"])
async def inbox_list(
    request: Request,
    status: InboxStatus = "pending",
    limit: Annotated[int, Query(ge=1, le=1000)] = 20,
    account_id: Annotated[str | None, Query(max_length=255)] = None,
    wait: Annotated[float, Query(ge=0, le=60, description="long-poll seconds")] = 0,
) -> dict[str, Any]:
    gateway = _gateway(request)

    async def fetch() -> list[EventRecord]:
        return await gateway.events.search(
            status=None if status == "all" else status, limit=limit, account_id=account_id
        )

    records = await gateway.inbox_long_poll(fetch, wait)
    now = gateway.clock.time()
    return {"ok": True, "messages": [message_view(r, now) for r in records]}


class BatchClaimBody(_Body):
    worker_id: str = _ID
    limit: int = Field(default=10, ge=1, le=500)
    lease_ms: int | None = Field(default=None, ge=1000, le=86_400_000)
    account_id: str | None = Field(default=None, max_length=255)
    wait: float = Field(default=0, ge=0, le=60, description="long-poll seconds")


@router.post("/inbox/claim", tags=["inbox"])
async def inbox_claim_batch(request: Request, body: BatchClaimBody) -> dict[str, Any]:
    gateway = _gateway(request)
    lease_s = (body.lease_ms or gateway.settings.lease_ms) / 1000

    async def claim() -> list[EventRecord]:
        return await gateway.events.claim_batch(
            body.worker_id, body.limit, lease_s, account_id=body.account_id
        )

    records = await gateway.inbox_long_poll(claim, body.wait)
    if records:
        gateway.metrics.deliveries_total.labels(mode="inbox", outcome="claimed").inc(len(records))
    now = gateway.clock.time()
    return {"ok": True, "messages": [message_view(r, now) for r in records]}


@router.get("/inbox/messages/{message_id}", tags=["inbox"])
async def inbox_show(request: Request, message_id: str) -> Any:
    gateway = _gateway(request)
    record = await gateway.events.get(message_id)
    if record is None:
        return _unknown_message()
    return {"ok": True, "message": message_view(record, gateway.clock.time())}


_UNKNOWN_MESSAGE = "unknown message_id"


def _unknown_message() -> JSONResponse:
    return error_response(404, _UNKNOWN_MESSAGE, field="message_id")


def _conflict_error(conflict: ClaimConflict, message_id: str) -> str:
    if conflict.status == "claimed":
        return f"message {message_id} is claimed by worker {conflict.holder!r}"
    return f"message {message_id} is {conflict.status}"


def _holder(conflict: ClaimConflict) -> dict[str, Any]:
    return {"holder": conflict.holder} if conflict.status == "claimed" else {}


def _settled(gateway: IlinkGateway, outcome: Settled, message_id: str) -> Any:
    if outcome is None:
        return _unknown_message()
    if isinstance(outcome, ClaimConflict):
        error = _conflict_error(outcome, message_id)
        return error_response(409, error, status=outcome.status, **_holder(outcome))
    return {"ok": True, "message": message_view(outcome, gateway.clock.time())}


def _settled_item(gateway: IlinkGateway, outcome: Settled, message_id: str) -> dict[str, Any]:
    """One message's entry in the answer of a batch complete or fail: ``status`` is what the
    single-message route would answer (404 or 409), a conflict's own is ``message_status``."""
    item: dict[str, Any] = {"message_id": message_id, "ok": isinstance(outcome, EventRecord)}
    if isinstance(outcome, EventRecord):
        item["message"] = message_view(outcome, gateway.clock.time())
    elif outcome is None:
        item.update(status=404, error=_UNKNOWN_MESSAGE)
    else:
        error = _conflict_error(outcome, message_id)
        item.update(status=409, error=error, message_status=outcome.status, **_holder(outcome))
    return item


def _count_settled(gateway: IlinkGateway, records: Iterable[EventRecord]) -> None:
    """Count settled messages by what they became: ``completed``, ``failed`` or ``dead``."""
    counts = Counter(r.status for r in {r.seq: r for r in records}.values())
    for status, n in counts.items():
        gateway.metrics.deliveries_total.labels(mode="inbox", outcome=status).inc(n)


def _settled_batch(
    gateway: IlinkGateway, outcomes: dict[str, Settled], message_ids: list[str]
) -> dict[str, Any]:
    """The answer of a batch complete or fail: one result per requested id, in order."""
    _count_settled(gateway, (o for o in outcomes.values() if isinstance(o, EventRecord)))
    return {"ok": True, "results": [_settled_item(gateway, outcomes[i], i) for i in message_ids]}


class ClaimBody(_Body):
    worker_id: str = Field(default="anonymous", min_length=1, max_length=255)
    lease_ms: int | None = Field(default=None, ge=1000, le=86_400_000)


@router.post("/inbox/messages/{message_id}/claim", tags=["inbox"])
async def inbox_claim(
    request: Request, message_id: str, body: Annotated[ClaimBody | None, _OPTIONAL_BODY] = None
) -> Any:
    gateway = _gateway(request)
    body = body or ClaimBody()
    lease_s = (body.lease_ms or gateway.settings.lease_ms) / 1000
    outcome = await gateway.events.claim(message_id, body.worker_id, lease_s)
    if isinstance(outcome, EventRecord):
        gateway.metrics.deliveries_total.labels(mode="inbox", outcome="claimed").inc()
    return _settled(gateway, outcome, message_id)


class CompleteMessageBody(_Body):
    worker_id: str | None = Field(default=None, min_length=1, max_length=255)
    completion_note: str = Field(default="", max_length=10_000)


@router.post("/inbox/messages/{message_id}/complete", tags=["inbox"])
async def inbox_complete(
    request: Request,
    message_id: str,
    body: Annotated[CompleteMessageBody | None, _OPTIONAL_BODY] = None,
) -> Any:
    gateway = _gateway(request)
    body = body or CompleteMessageBody()
    outcome = await gateway.events.complete(
        message_id, worker=body.worker_id, note=body.completion_note
    )
    if isinstance(outcome, EventRecord):
        _count_settled(gateway, [outcome])
    return _settled(gateway, outcome, message_id)


class FailBody(_Body):
    worker_id: str | None = Field(default=None, min_length=1, max_length=255)
    error: str = Field(default="", max_length=10_000)


@router.post("/inbox/messages/{message_id}/fail", tags=["inbox"])
async def inbox_fail(
    request: Request, message_id: str, body: Annotated[FailBody | None, _OPTIONAL_BODY] = None
) -> Any:
    gateway = _gateway(request)
    body = body or FailBody()
    outcome = await gateway.events.fail(
        message_id,
        worker=body.worker_id,
        error=body.error,
        max_attempts=gateway.settings.inbox_max_attempts,
    )
    if isinstance(outcome, EventRecord):
        _count_settled(gateway, [outcome])
    return _settled(gateway, outcome, message_id)


#: ``message_ids`` of a batch complete or fail (the size of the largest claim batch).
_MESSAGE_IDS = Field(min_length=1, max_length=500)


class BatchCompleteBody(CompleteMessageBody):
    message_ids: list[Annotated[str, _ID]] = _MESSAGE_IDS


class BatchFailBody(FailBody):
    message_ids: list[Annotated[str, _ID]] = _MESSAGE_IDS


@router.post("/inbox/complete", tags=["inbox"])
async def inbox_complete_batch(request: Request, body: BatchCompleteBody) -> dict[str, Any]:
    """Complete many messages in one transaction; each one's outcome, as the single route's."""
    gateway = _gateway(request)
    outcomes = await gateway.events.complete_batch(
        body.message_ids, worker=body.worker_id, note=body.completion_note
    )
    return _settled_batch(gateway, outcomes, body.message_ids)


@router.post("/inbox/fail", tags=["inbox"])
async def inbox_fail_batch(request: Request, body: BatchFailBody) -> dict[str, Any]:
    """Fail many messages in one transaction; each one's outcome, as the single route's."""
    gateway = _gateway(request)
    outcomes = await gateway.events.fail_batch(
        body.message_ids,
        worker=body.worker_id,
        error=body.error,
        max_attempts=gateway.settings.inbox_max_attempts,
    )
    return _settled_batch(gateway, outcomes, body.message_ids)


# --- dead events: list and re-deliver -----------------------------------------------------------


@router.get("/deliveries", tags=["deliveries"])
async def list_deliveries(
    request: Request,
    status: Literal["dead", "pending", "delivered"] = "dead",
    limit: Annotated[int, Query(ge=1, le=1000)] = 50,
    account_id: Annotated[str | None, Query(max_length=255)] = None,
) -> dict[str, Any]:
    gateway = _gateway(request)
    records = await gateway.events.search(status=status, limit=limit, account_id=account_id)
    now = gateway.clock.time()
    return {"ok": True, "events": [message_view(r, now) for r in records]}


class RedeliverBody(_Body):
    event_ids: list[Annotated[str, _ID]] = Field(default_factory=list, max_length=1000)
    all: bool = False
    account_id: str | None = Field(default=None, max_length=255)


@router.post("/deliveries/redeliver", tags=["deliveries"])
async def redeliver(request: Request, body: RedeliverBody) -> Any:
    if not body.all and not body.event_ids:
        return error_response(400, "give event_ids, or all: true", field="event_ids")
    records = await _gateway(request).redeliver(
        ids=body.event_ids, account_id=body.account_id, all_dead=body.all
    )
    return {"ok": True, "redelivered": [r.event_id for r in records]}


@router.post("/deliveries/{event_id}/redeliver", tags=["deliveries"])
async def redeliver_one(request: Request, event_id: str) -> Any:
    gateway = _gateway(request)
    records = await gateway.redeliver(ids=[event_id])
    if not records:
        record = await gateway.events.get(event_id)
        if record is None:
            return error_response(404, "unknown event_id", field="event_id")
        return error_response(
            409, f"event {event_id} is {record.status}, not dead", status=record.status
        )
    return {"ok": True, "redelivered": [r.event_id for r in records]}


# --- typing and sending -------------------------------------------------------------------------


class TypingBody(_Body):
    account_id: str = _ID
    to_user_id: str = _ID
    context_token: str | None = Field(default=None, max_length=4096)
    status: Literal["typing", "cancel"] = "typing"


@router.post("/typing", tags=["sending"])
async def typing(request: Request, body: TypingBody) -> Any:
    gateway = _gateway(request)
    try:
        record = await gateway.account(body.account_id)
    except UnknownAccountError:
        return _unknown_account()
    if record.session_state == EXPIRED:
        return _expired_account()
    client = gateway.client_for(record)
    token = body.context_token or await gateway.accounts.context_token(
        body.account_id, body.to_user_id
    )
    try:
        if body.status == "typing":
            sent = await client.send_typing(body.to_user_id, context_token=token)
        else:
            sent = await client.cancel_typing(body.to_user_id, context_token=token)
    except SessionExpiredError:
        return _expired_account()
    except WeixinError as exc:
        return error_response(502, f"typing failed: {exc}")
    if not sent:
        return error_response(
            409, "WeChat gave no typing ticket for this user (no recent message?)"
        )
    return {
        "ok": True,
        "typing": {
            "account_id": body.account_id,
            "to_user_id": body.to_user_id,
            "status": body.status,
        },
    }


def _send_failure(exc: OutboundError) -> JSONResponse:
    extra: dict[str, Any] = {"sent": exc.sent}
    if exc.field:
        extra["field"] = exc.field
    return error_response(exc.status, exc.message, **extra)


async def _sendable(gateway: IlinkGateway, account_id: str) -> JSONResponse | None:
    """The answer refusing a send from ``account_id`` (unknown, or expired), else None."""
    record = await gateway.accounts.get(account_id)
    if record is None:
        return error_response(404, f"unknown account: {account_id}", field="account_id")
    if record.session_state == EXPIRED:
        return _expired_account()
    return None


@router.post("/send", tags=["sending"])
async def send(request: Request, body: SendRequest) -> Any:
    gateway = _gateway(request)
    try:
        results = await gateway.send(
            account_id=body.account_id,
            to_user_id=body.to_user_id,
            context_token=body.context_token,
            parts=parts_of(body),
        )
    except UnknownAccountError:
        return error_response(404, f"unknown account: {body.account_id}", field="account_id")
    except AccountExpiredError:
        return _expired_account()
    except OutboundError as exc:
        return _send_failure(exc)
    return {"ok": True, "results": json_safe(results)}


@router.post("/send/async", tags=["sending"], status_code=202)
async def send_async(request: Request, body: SendRequest) -> Any:
    gateway = _gateway(request)
    refused = await _sendable(gateway, body.account_id)
    if refused is not None:
        return refused
    parts = parts_of(body)
    try:
        task = await gateway.submit_send(body.model_dump(mode="json"), parts)
    except UnknownAccountError:
        return error_response(404, f"unknown account: {body.account_id}", field="account_id")
    except OutboundError as exc:  # an item that could never be sent
        return _send_failure(exc)
    return JSONResponse({"ok": True, "task": task_view(task)}, status_code=202)


@router.get("/send/tasks/{task_id}", tags=["sending"])
async def send_task(request: Request, task_id: str) -> Any:
    task = await _gateway(request).send_tasks.get(task_id)
    if task is None:
        return error_response(404, "unknown task_id", field="task_id")
    return {"ok": True, "task": task_view(task)}
