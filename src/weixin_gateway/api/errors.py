"""Error handling shared by the HTTP services: short answers, never a stack trace.

* :class:`ErrorShield` is plain ASGI middleware (not ``BaseHTTPMiddleware``, which breaks
  context variables): an exception escaping a route is logged with its traceback on the server
  side and answered with a short ``500 internal error`` (go-wx-gateway returned the goroutine
  stack in the body, defect D4). If the answer had already started, the connection is closed.
* :func:`install_error_handlers` makes Starlette's own errors look like Go's ``net/http``: an
  unknown path is ``404 page not found``, a known path with the wrong method is ``405`` with an
  empty body and an ``Allow`` header (official-account.md §6.2).
"""

from __future__ import annotations

import logging
from typing import Final

from fastapi import FastAPI
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.requests import Request
from starlette.responses import Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

__all__ = ["ErrorShield", "install_error_handlers"]

log = logging.getLogger(__name__)

_TEXT: Final = b"text/plain; charset=utf-8"
_INTERNAL: Final = b"internal error\n"


class ErrorShield:
    """Plain ASGI middleware: any exception from the app becomes a short 500.

    ``body`` and ``content_type`` are the 500's (default: ``internal error``, plain text; the
    gateway service's JSON API answers with its own JSON error object).
    """

    def __init__(
        self, app: ASGIApp, *, body: bytes = _INTERNAL, content_type: bytes = _TEXT
    ) -> None:
        self.app = app
        self.body = body
        self.content_type = content_type

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = False

        async def tracking_send(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        try:
            await self.app(scope, receive, tracking_send)
        except Exception:
            log.exception("unhandled error on %s %s", scope.get("method"), scope.get("path"))
            if started:
                raise  # too late for a clean answer; the server closes the connection
            await send(
                {
                    "type": "http.response.start",
                    "status": 500,
                    "headers": [
                        (b"content-type", self.content_type),
                        (b"content-length", str(len(self.body)).encode()),
                        (b"x-content-type-options", b"nosniff"),
                    ],
                }
            )
            await send({"type": "http.response.body", "body": self.body})


async def _http_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, StarletteHTTPException)
    headers = dict(exc.headers or {})
    if exc.status_code == 404:
        return Response(
            b"404 page not found\n", 404, headers=headers, media_type="text/plain; charset=utf-8"
        )
    if exc.status_code == 405:
        return Response(b"", 405, headers=headers)
    body = f"{exc.detail}\n".encode() if exc.detail else b""
    return Response(body, exc.status_code, headers=headers, media_type="text/plain; charset=utf-8")


def install_error_handlers(app: FastAPI) -> None:
    """Add :class:`ErrorShield` and Go-like 404/405 answers to ``app``."""
    app.add_exception_handler(StarletteHTTPException, _http_error)
    app.add_middleware(ErrorShield)
