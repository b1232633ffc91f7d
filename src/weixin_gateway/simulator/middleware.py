"""What happens around every request: recording, fault plans, and errors turned into answers.

iLink and CDN requests are recorded and pass through the fault plans before their handler runs.
A :class:`~._errors.SimulatorError` becomes the answer its route family uses: a JSON envelope
with HTTP 400 for iLink, ``x-error-message`` for the CDN, ``{"error","field"}`` for the control
API. Unknown paths and methods get a JSON 404/405.
"""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING

from aiohttp import web
from aiohttp.typedefs import Handler, Middleware

from ._errors import SimulatorError
from ._http import bearer_token, cdn_error, control_error, ilink_error, json_response
from .cdn import CdnRoutes
from .faults import CDN_ROUTES, ILINK_ROUTES, FaultPlan
from .recorder import record_of

if TYPE_CHECKING:
    from .server import Simulator

__all__ = ["plumbing"]

#: The largest JSON body an iLink route accepts (uploads go to the CDN route, streamed).
MAX_JSON_BODY = 1 << 20

_ILINK = frozenset(ILINK_ROUTES)
_CDN = frozenset(CDN_ROUTES)
_QR = frozenset({"get_bot_qrcode", "get_qrcode_status"})


def _route_of(request: web.Request) -> str | None:
    resource = request.match_info.route.resource
    return resource.name if resource is not None else None


def plumbing(sim: Simulator, cdn: CdnRoutes) -> Middleware:
    """The simulator's one middleware."""

    def bot_id_of(request: web.Request, route: str) -> str | None:
        if route in _CDN:
            return cdn.bot_of(request)
        if route in _QR:
            return None
        bot = sim.world.bot_for_token(bearer_token(request))
        return bot.bot_id if bot is not None else None

    def record(
        request: web.Request, route: str, body: bytes, size: int, bot_id: str | None
    ) -> None:
        config = sim.config
        if config.record_requests:
            entry = record_of(
                request,
                route=route,
                body=body[: config.record_body_limit],
                body_size=size,
                bot_id=bot_id,
                time=sim.clock.time(),
            )
            sim.recorder.add(entry, cap=config.max_recorded_requests)

    async def serve(request: web.Request, handler: Handler, route: str) -> web.StreamResponse:
        if route == "cdn_upload":  # streamed by its handler; only the size is recorded
            body, size = b"", request.content_length or 0
        else:
            if (request.content_length or 0) > MAX_JSON_BODY:
                return json_response(
                    {"ret": -1, "errmsg": f"body over {MAX_JSON_BODY} bytes"}, status=413
                )
            body = await request.read()
            size = len(body)
        bot_id = bot_id_of(request, route)
        record(request, route, body, size, bot_id)
        plan: FaultPlan | None = None
        if sim.fault_book:
            delay_ms, plan = sim.fault_book.take(route, bot_id)
            if delay_ms:
                await asyncio.sleep(delay_ms / 1000)
            if plan is not None and plan.kind == "status":
                assert plan.status is not None
                message = plan.error_message or f"simulated HTTP {plan.status}"
                if route in _CDN:
                    return cdn_error(plan.status, message)
                return json_response({"ret": -1, "errmsg": message}, status=plan.status)
            if plan is not None and plan.kind == "garbage":
                return web.Response(
                    text="<html><body>502 Bad Gateway</body></html>", content_type="text/html"
                )
            if plan is not None and plan.kind == "drop":
                if request.transport is not None:
                    request.transport.close()
                return web.Response()
        response = await handler(request)
        if plan is not None and plan.kind == "no_encrypted_param":
            response.headers.popall("x-encrypted-param", None)
        return response

    @web.middleware
    async def middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
        route = _route_of(request)
        try:
            if route is not None and (route in _ILINK or route in _CDN):
                return await serve(request, handler, route)
            return await handler(request)
        except SimulatorError as exc:
            if route in _ILINK:
                return ilink_error(exc)
            if route in _CDN:
                return cdn_error(exc.status, exc.message)
            return control_error(exc)
        except web.HTTPException as exc:
            if exc.status < 400:
                raise
            return json_response({"error": exc.reason}, status=exc.status)

    return middleware
