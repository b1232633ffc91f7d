"""Small HTTP helpers shared by the iLink, CDN and control routes: JSON in, JSON out, errors."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import TypeVar

from aiohttp import web
from pydantic import BaseModel, ValidationError

from ._errors import SimulatorError

__all__ = [
    "SESSION_TIMEOUT",
    "bearer_token",
    "cdn_error",
    "control_error",
    "ilink_error",
    "json_bytes",
    "json_response",
    "read_json_object",
    "serve",
    "url_host",
    "validate",
]

_M = TypeVar("_M", bound=BaseModel)

#: What a bad, missing or revoked bot token gets (HTTP 200).
SESSION_TIMEOUT = b'{"ret":-14,"errcode":-14,"errmsg":"session timeout"}'


def json_bytes(data: object) -> bytes:
    return json.dumps(data, ensure_ascii=False, separators=(",", ":")).encode()


def json_response(
    data: Mapping[str, object] | bytes,
    *,
    status: int = 200,
    headers: Mapping[str, str] | None = None,
) -> web.Response:
    body = data if isinstance(data, bytes) else json_bytes(data)
    return web.Response(body=body, status=status, headers=headers, content_type="application/json")


async def read_json_object(request: web.Request) -> dict[str, object]:
    """The body as a JSON object; an empty body counts as ``{}``. 400 otherwise."""
    raw = await request.read()
    if not raw.strip():
        return {}
    try:
        data = json.loads(raw)
    except (UnicodeDecodeError, ValueError) as exc:
        raise SimulatorError(f"body is not valid JSON: {exc}", field="body") from exc
    if not isinstance(data, dict):
        raise SimulatorError("body must be a JSON object", field="body")
    return data


def validate(model: type[_M], data: Mapping[str, object]) -> _M:
    """Validate ``data`` strictly (no str-to-int guessing); 400 naming the first bad field."""
    try:
        return model.model_validate(data, strict=True)
    except ValidationError as exc:
        error = exc.errors()[0]
        where = ".".join(str(part) for part in error["loc"]) or "body"
        raise SimulatorError(f"{where}: {error['msg']}", field=where) from exc


def bearer_token(request: web.Request) -> str | None:
    """The token of ``Authorization: Bearer <token>`` (header and scheme case-insensitive)."""
    value = request.headers.get("Authorization", "")
    scheme, _, token = value.strip().partition(" ")
    if scheme.lower() != "bearer":
        return None
    return token.strip() or None


def ilink_error(exc: SimulatorError) -> web.Response:
    """A malformed iLink request: HTTP 400 with a JSON envelope (the real answer is unknown)."""
    body: dict[str, object] = {"ret": -1, "errcode": -1, "errmsg": exc.message}
    if exc.field:
        body["field"] = exc.field
    return json_response(body, status=400)


def cdn_error(status: int, message: str) -> web.Response:
    """A CDN refusal: the message in ``x-error-message`` (what the client reads) and the body."""
    safe = message.encode("ascii", "replace").decode().replace("\r", " ").replace("\n", " ")
    return web.Response(
        status=status, text=message, headers={"x-error-message": safe}, content_type="text/plain"
    )


def control_error(exc: SimulatorError) -> web.Response:
    body: dict[str, object] = {"error": exc.message}
    if exc.field:
        body["field"] = exc.field
    return json_response(body, status=exc.status)


def url_host(host: str) -> str:
    """The host part of a URL for a bind address (a wildcard bind is reached via loopback)."""
    if host in ("0.0.0.0", ""):  # noqa: S104 - only mapping a wildcard bind to a usable URL
        return "127.0.0.1"
    if host == "::":
        return "[::1]"
    return f"[{host}]" if ":" in host else host


async def serve(app: web.Application, host: str, port: int) -> tuple[web.AppRunner, str]:
    """Bind ``app`` on ``host:port`` (0 = any free port); return its runner and base URL."""
    runner = web.AppRunner(app, handler_cancellation=True, shutdown_timeout=1.0, access_log=None)
    await runner.setup()
    try:
        await web.TCPSite(runner, host, port).start()
    except BaseException:
        await runner.cleanup()
        raise
    bound = int(runner.addresses[0][1])
    return runner, f"http://{url_host(host)}:{bound}"
