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
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from fastapi import FastAPI
from fastapi.exceptions import RequestValidationError
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.types import ASGIApp, Receive, Scope, Send

from weixin_gateway._clock import Clock
from weixin_gateway.api.errors import ErrorShield
from weixin_gateway.api.gateway_routes import router
from weixin_gateway.gateway.service import IlinkGateway
from weixin_gateway.gateway.settings import GatewaySettings

__all__ = ["create_gateway_app", "error_response"]

log = logging.getLogger(__name__)

OPEN_PATHS = frozenset({"/health"})


def error_response(status: int, error: str, **extra: Any) -> JSONResponse:
    return JSONResponse({"ok": False, "error": error, **extra}, status_code=status)


def _location(loc: tuple[Any, ...]) -> str:
    parts = [str(p) for p in loc if p not in ("body", "query", "path")]
    text = ""
    for part in parts:
        text += f"[{part}]" if part.isdigit() else (f".{part}" if text else part)
    return text


async def _validation_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, RequestValidationError)
    errors = exc.errors()
    if not errors:
        return error_response(400, "invalid request")
    first = errors[0]
    field = _location(tuple(first.get("loc", ())))
    message = str(first.get("msg", "invalid value"))
    if first.get("type") == "json_invalid":
        return error_response(400, "the body is not valid JSON")
    if first.get("type") == "missing":
        missing = [_location(tuple(e.get("loc", ()))) for e in errors if e.get("type") == "missing"]
        return error_response(400, f"{', '.join(missing)} required", field=missing[0])
    return error_response(400, f"{field}: {message}" if field else message, field=field)


async def _http_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, StarletteHTTPException)
    if exc.status_code == 404:
        return error_response(404, "not found")
    if exc.status_code == 405:
        return error_response(405, "method not allowed", headers=None)
    return error_response(exc.status_code, str(exc.detail or "error"))


class BearerAuth:
    """Plain ASGI middleware: ``Authorization: Bearer <token>`` on every path but /health."""

    def __init__(self, app: ASGIApp, token: str) -> None:
        self.app = app
        self.expected = f"Bearer {token}".encode()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope.get("path") in OPEN_PATHS:
            await self.app(scope, receive, send)
            return
        given = dict(scope.get("headers") or []).get(b"authorization", b"")
        if hmac.compare_digest(given, self.expected):
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
    app.add_middleware(ErrorShield)
    return app
