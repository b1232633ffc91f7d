"""The iLink gateway service as an ASGI app: seed 000's REST API over :class:`IlinkGateway`.

::

    app = create_gateway_app(load_settings())      # uvicorn, or AppServer(app) in tests

Every answer is JSON. Errors are ``{"ok": false, "error": "...", "field"?: "..."}`` with a 4xx
status naming what was wrong (a 500 never carries a stack trace). With
``WEIXIN_GATEWAY_API_TOKEN`` set, every route but ``/health`` needs
``Authorization: Bearer <token>``. OpenAPI is at ``/openapi.json``, the docs at ``/docs``.
"""

from __future__ import annotations

import hmac
import importlib.metadata
import json
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any, Final

from fastapi import FastAPI
from fastapi.exceptions import RequestValidationError
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.requests import Request
from starlette.responses import Response
from starlette.types import ASGIApp, Receive, Scope, Send

from weixin_gateway._clock import Clock
from weixin_gateway.api.errors import ErrorShield
from weixin_gateway.api.gateway_routes import router
from weixin_gateway.api.gateway_views import error_response
from weixin_gateway.gateway.service import IlinkGateway
from weixin_gateway.gateway.settings import GatewaySettings

__all__ = ["BearerAuth", "create_gateway_app", "error_response"]

log = logging.getLogger(__name__)

OPEN_PATHS = frozenset({"/health"})
_SOURCES = frozenset({"body", "query", "path", "header", "cookie"})
_NOT_AN_OBJECT = frozenset({"model_attributes_type", "model_type", "dict_type"})


def _location(loc: tuple[Any, ...], body: Any = None) -> str:
    """``items[0].text`` for ``("body", "items", 0, "text", "text")``.

    Pydantic puts a tagged union's tag in the path (``…, 0, "text", "text"`` for the ``text``
    field of the ``{"type": "text"}`` item); walking the request body drops it again.
    """
    parts = list(loc)
    source = parts.pop(0) if parts and parts[0] in _SOURCES else None
    node = body if source == "body" else None
    text = ""
    index = 0
    while index < len(parts):
        part = parts[index]
        is_tag = (
            isinstance(node, dict)
            and isinstance(part, str)
            and node.get("type") == part
            and index + 1 < len(parts)
        )
        if is_tag:
            index += 1
            part = parts[index]
        if isinstance(part, int):
            text += f"[{part}]"
        else:
            text += f".{part}" if text else str(part)
        node = _child(node, part)
        index += 1
    return text


def _child(node: Any, part: Any) -> Any:
    if isinstance(node, dict):
        return node.get(part)
    if isinstance(node, list) and isinstance(part, int) and 0 <= part < len(node):
        return node[part]
    return None


async def _validation_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, RequestValidationError)
    errors = exc.errors()
    if not errors:
        return error_response(400, "invalid request")
    body = exc.body
    first = errors[0]
    field = _location(tuple(first.get("loc", ())), body)
    message = str(first.get("msg", "invalid value"))
    if first.get("type") == "json_invalid":
        return error_response(400, "the body is not valid JSON")
    if first.get("type") == "missing":
        missing = [
            _location(tuple(e.get("loc", ())), body) for e in errors if e.get("type") == "missing"
        ]
        if missing == [""]:
            return error_response(400, "a JSON body is required")
        return error_response(400, f"{', '.join(missing)} required", field=missing[0])
    if not field:
        if first.get("type") in _NOT_AN_OBJECT:
            return error_response(400, "the body must be a JSON object")
        return error_response(400, message)
    return error_response(400, f"{field}: {message}", field=field)


async def _http_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, StarletteHTTPException)
    if exc.status_code == 404:
        response = error_response(404, "not found")
    elif exc.status_code == 405:
        response = error_response(405, "method not allowed")
    else:
        response = error_response(exc.status_code, str(exc.detail or "error"))
    for name, value in (exc.headers or {}).items():
        response.headers[name] = value  # e.g. Allow on a 405
    return response


_INTERNAL_ERROR: Final = json.dumps(
    {"ok": False, "error": "internal error (see the gateway log)"}
).encode()


class BearerAuth:
    """Plain ASGI middleware: ``Authorization: Bearer <token>`` on every path but /health."""

    def __init__(self, app: ASGIApp, token: str) -> None:
        self.app = app
        self.expected = token.encode()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope.get("path") in OPEN_PATHS:
            await self.app(scope, receive, send)
            return
        given = dict(scope.get("headers") or []).get(b"authorization", b"")
        scheme, _, credentials = given.strip().partition(b" ")
        # the scheme is case-insensitive (RFC 9110 section 11.1)
        right = hmac.compare_digest(credentials.strip(), self.expected)
        if scheme.lower() == b"bearer" and right:
            await self.app(scope, receive, send)
            return
        response = error_response(401, "missing or wrong bearer token (WEIXIN_GATEWAY_API_TOKEN)")
        response.headers["WWW-Authenticate"] = "Bearer"
        await response(scope, receive, send)


def create_gateway_app(
    settings: GatewaySettings,
    *,
    clock: Clock | None = None,
    gateway: IlinkGateway | None = None,
) -> FastAPI:
    """The REST app; its lifespan starts and stops the gateway (or the one given)."""
    service = gateway or IlinkGateway(settings, clock=clock)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        await service.start()
        try:
            yield
        finally:
            await service.close()

    app = FastAPI(
        title="weixin-gateway",
        version=importlib.metadata.version("weixin-gateway"),
        summary="WeChat iLink bot gateway for agents: accounts, polling, callback and inbox "
        "delivery, sending.",
        lifespan=lifespan,
    )
    app.state.gateway = service
    app.include_router(router)
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.add_exception_handler(StarletteHTTPException, _http_error)
    token = settings.api_token.get_secret_value()
    if token:
        app.add_middleware(BearerAuth, token=token)
    app.add_middleware(ErrorShield, body=_INTERNAL_ERROR, content_type=b"application/json")
    return app
