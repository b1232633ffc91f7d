"""The Official Account gateway as an ASGI app: go-wx-gateway's routes over :class:`MpGateway`.

::

    config, _ = load_config("wx-gateway-conf.json")
    app = create_mp_app(config)          # uvicorn, or AppServer(app) in tests

Routes (official-account.md §6.2), matched **exactly** (go-wx-gateway's signature middleware
matched by prefix, so ``/wx`` also guarded ``/wx2``, defect D23; trailing slashes are not
redirected either):

* per service, ``service-path``: ``GET`` URL verification, ``POST`` push;
* per service with a ``redirect-url``, ``redirect-path``: ``GET`` OAuth redirect;
* ``common-endpoints`` (:mod:`weixin_gateway.api.mp_endpoints`).

A wrong method is 405 with an empty body, an unknown path 404 ``404 page not found``, and any
unexpected error a short 500 (:mod:`weixin_gateway.api.errors`). The app's lifespan opens and
closes the gateway (its aiohttp sessions, token store and clients).

A push (``POST service-path``) is the hot path: it is answered by a plain ASGI handler that the
app calls before FastAPI's middleware and router (the same :class:`ErrorShield` 500 included),
which costs a fraction of the framework's per-request layers. Every other request, ``GET`` and
``HEAD`` on the service path included, goes through FastAPI.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from typing import Any, Final

import aiohttp
from fastapi import FastAPI
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route
from starlette.types import ASGIApp, Receive, Scope, Send

from weixin_gateway._clock import Clock
from weixin_gateway.api.errors import ErrorShield, install_error_handlers
from weixin_gateway.api.mp_endpoints import CommonEndpoints
from weixin_gateway.gateway.mp_gateway import MpGateway, MpGatewayConfig
from weixin_gateway.gateway.mp_service import HttpAnswer, OfficialAccountService
from weixin_gateway.mp.config import MpConfig
from weixin_gateway.mp.envelope import PushQuery
from weixin_gateway.mp.tokens import TokenStore

__all__ = ["create_mp_app"]

_TOO_LARGE: Final = HttpAnswer(413, b"request body too large\n")
_NOT_READY: Final = HttpAnswer(503, b"starting\n")

Endpoint = Callable[[Request], Awaitable[Response]]


def to_response(answer: HttpAnswer) -> Response:
    """A Starlette response for a gateway :class:`HttpAnswer` (duplicate headers kept)."""
    response = Response(answer.body, answer.status, media_type=answer.content_type)
    if answer.headers:
        response.raw_headers.extend(
            (name.lower().encode("latin-1"), value.encode("latin-1"))
            for name, value in answer.headers
        )
    return response


class _ClientGone(Exception):
    """The client disconnected before its request body was complete."""


async def _read_body(scope: Scope, receive: Receive, limit: int) -> bytes | None:
    """The body, or ``None`` when it is over ``limit`` bytes (checked while reading).

    Raises :class:`_ClientGone` when the client disconnects first (nobody reads an answer).
    """
    for name, value in scope["headers"]:
        if name == b"content-length":
            if value.isdigit() and int(value) > limit:
                return None
            break
    chunks: list[bytes] = []
    size = 0
    while True:
        message = await receive()
        if message["type"] != "http.request":  # http.disconnect
            raise _ClientGone
        chunk: bytes = message.get("body", b"")
        size += len(chunk)
        if size > limit:
            return None
        chunks.append(chunk)
        if not message.get("more_body", False):
            return b"".join(chunks)


class _ServicePath:
    """``service-path`` as plain ASGI: ``POST`` a push, ``GET`` (and ``HEAD``) verification."""

    def __init__(self, gateway: MpGateway, name: str) -> None:
        self._gateway = gateway
        self._name = name

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        received_at = self._gateway.clock.monotonic()
        service = self._gateway.service(self._name)
        query = PushQuery.from_query_string(scope["query_string"])
        if service is None:
            answer = _NOT_READY
        elif scope["method"] == "POST":
            try:
                body = await _read_body(scope, receive, service.tuning.max_body_bytes)
            except _ClientGone:
                return
            if body is None:
                answer = _TOO_LARGE
            else:
                answer = await service.handle_push(query, body, received_at=received_at)
        else:
            answer = service.verify(query)
        await to_response(answer)(scope, receive, send)


class _MpApp(FastAPI):
    """FastAPI, except that a push goes straight to its service's handler (module docstring)."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.push_handlers: dict[str, ASGIApp] = {}

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["method"] == "POST":
            handler = self.push_handlers.get(scope["path"])
            if handler is not None:
                await handler(scope, receive, send)
                return
        await super().__call__(scope, receive, send)


def _redirect_endpoint(gateway: MpGateway, name: str) -> Endpoint:
    async def redirect_path(request: Request) -> Response:
        service: OfficialAccountService | None = gateway.service(name)
        if service is None:
            return to_response(_NOT_READY)
        scope = request.scope
        raw_path: bytes = scope.get("raw_path") or scope["path"].encode()
        answer = await service.handle_redirect(
            path=raw_path.decode("latin-1"),
            query_string=scope["query_string"].decode("latin-1"),
            headers=[(k.decode("latin-1"), v.decode("latin-1")) for k, v in request.headers.raw],
            client_ip=request.client.host if request.client else None,
        )
        return to_response(answer)

    return redirect_path


def create_mp_app(
    config: MpConfig,
    *,
    settings: MpGatewayConfig | None = None,
    api_session: aiohttp.ClientSession | None = None,
    upstream_session: aiohttp.ClientSession | None = None,
    token_store: TokenStore | None = None,
    clock: Clock | None = None,
) -> FastAPI:
    """The ASGI app serving every service and common endpoint of ``config``.

    Sessions and the token store are borrowed when given, created (and closed) by the app's
    lifespan otherwise. ``app.state.gateway`` is the :class:`MpGateway`.
    """
    gateway = MpGateway(
        config,
        settings=settings,
        api_session=api_session,
        upstream_session=upstream_session,
        token_store=token_store,
        clock=clock,
    )

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        async with gateway:
            yield

    app = _MpApp(
        title="weixin-gateway: Official Account gateway",
        docs_url=None,
        redoc_url=None,
        openapi_url=None,
        redirect_slashes=False,
        lifespan=lifespan,
    )
    app.state.gateway = gateway
    install_error_handlers(app)
    for service in config.services:
        endpoints = service.listen_endpoints
        handler = _ServicePath(gateway, service.name)
        app.push_handlers[endpoints.service_path] = ErrorShield(handler)
        # an ASGI object, not a function: Starlette hands it the raw scope
        app.router.routes.append(
            Route(endpoints.service_path, handler, methods=["GET", "POST"], include_in_schema=False)
        )
        if service.redirect_url and endpoints.redirect_path:
            app.add_route(
                endpoints.redirect_path,
                _redirect_endpoint(gateway, service.name),
                methods=["GET"],
                include_in_schema=False,
            )
    for path, method, endpoint in CommonEndpoints(gateway).routes(config.common_endpoints):
        app.add_route(path, endpoint, methods=[method], include_in_schema=False)
    return app
