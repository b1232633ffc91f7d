"""The simulated WeChat APIs: ``api.weixin.qq.com``, ``mp.weixin.qq.com/cgi-bin/showqrcode`` and
``open.weixin.qq.com/connect/oauth2/authorize`` (official-account.md §5, checklist §2–§7).

Business errors are HTTP 200 ``{"errcode": N, "errmsg": "<text> rid: <rid>"}`` with
``Content-Type: application/json; encoding=utf-8``; successes omit ``errcode`` where WeChat does
(token, stable_token, qrcode, user/info, media/upload, sns/*) and carry ``"errcode":0,
"errmsg":"ok"`` where it does. Every call is recorded and passes through the fault plans.
The handlers live in :mod:`.api_identity` and :mod:`.api_messages`; this module routes.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from aiohttp import web

from weixin_gateway.simulator._errors import SimulatorError

from ._api_base import Call, Handler, json_answer
from ._errcodes import WeChatApiError
from .api_identity import IdentityApi
from .api_messages import MessageApi
from .records import ApiCall

if TYPE_CHECKING:
    from .server import OfficialAccountSimulator

__all__ = ["API_ROUTES", "ApiRoutes"]


@dataclass(frozen=True, slots=True)
class _Route:
    name: str
    method: str
    path: str
    handler: Handler = field(repr=False)
    #: Read the body before the handler (False: the handler streams it, e.g. multipart).
    read_body: bool = True
    #: errcode for a wrong HTTP method.
    method_errcode: int | None = None
    #: Answers are HTML/redirects (the OAuth page), not JSON.
    html: bool = False


#: route name -> (method, path)
API_ROUTES: dict[str, tuple[str, str]] = {
    "token": ("GET", "/cgi-bin/token"),
    "stable_token": ("POST", "/cgi-bin/stable_token"),
    "user_info": ("GET", "/cgi-bin/user/info"),
    "user_info_batchget": ("POST", "/cgi-bin/user/info/batchget"),
    "qrcode_create": ("POST", "/cgi-bin/qrcode/create"),
    "showqrcode": ("GET", "/cgi-bin/showqrcode"),
    "oauth_authorize": ("GET", "/connect/oauth2/authorize"),
    "sns_access_token": ("GET", "/sns/oauth2/access_token"),
    "sns_refresh_token": ("GET", "/sns/oauth2/refresh_token"),
    "sns_userinfo": ("GET", "/sns/userinfo"),
    "sns_auth": ("GET", "/sns/auth"),
    "template_send": ("POST", "/cgi-bin/message/template/send"),
    "subscribe_bizsend": ("POST", "/cgi-bin/message/subscribe/bizsend"),
    "custom_send": ("POST", "/cgi-bin/message/custom/send"),
    "media_upload": ("POST", "/cgi-bin/media/upload"),
    "media_get": ("GET", "/cgi-bin/media/get"),
    "getticket": ("GET", "/cgi-bin/ticket/getticket"),
    "shorturl": ("POST", "/cgi-bin/shorturl"),
    "shop_order_get": ("POST", "/channels/ec/order/get"),
    "shop_aftersale_get": ("POST", "/channels/ec/aftersale/getaftersaleorder"),
}


class ApiRoutes(IdentityApi, MessageApi):
    """Handlers of every simulated WeChat endpoint."""

    def __init__(self, sim: OfficialAccountSimulator) -> None:
        super().__init__(sim)
        handlers: dict[str, Handler] = {
            "token": self.token,
            "stable_token": self.stable_token,
            "user_info": self.user_info,
            "user_info_batchget": self.user_info_batchget,
            "qrcode_create": self.qrcode_create,
            "showqrcode": self.showqrcode,
            "oauth_authorize": self.oauth_authorize,
            "sns_access_token": self.sns_access_token,
            "sns_refresh_token": self.sns_refresh_token,
            "sns_userinfo": self.sns_userinfo,
            "sns_auth": self.sns_auth,
            "template_send": self.template_send,
            "subscribe_bizsend": self.subscribe_bizsend,
            "custom_send": self.custom_send,
            "media_upload": self.media_upload,
            "media_get": self.media_get,
            "getticket": self.getticket,
            "shorturl": self.shorturl,
            "shop_order_get": self.shop_order_get,
            "shop_aftersale_get": self.shop_aftersale_get,
        }
        self.routes = tuple(
            _Route(
                name,
                method,
                path,
                handlers[name],
                read_body=name != "media_upload",
                method_errcode=47001 if name == "stable_token" else None,
                html=name == "oauth_authorize",
            )
            for name, (method, path) in API_ROUTES.items()
        )

    def register(self, router: web.UrlDispatcher) -> None:
        for route in self.routes:
            router.add_route("*", route.path, self._wrap(route))

    # --- plumbing -------------------------------------------------------------------------------

    def _error(self, errcode: int, errmsg: str) -> web.Response:
        return json_answer({"errcode": errcode, "errmsg": f"{errmsg} rid: {self._sim.ids.rid()}"})

    def _wrap(self, route: _Route) -> Callable[[web.Request], Awaitable[web.StreamResponse]]:
        sim = self._sim

        async def handle(request: web.Request) -> web.StreamResponse:
            body = await request.read() if route.read_body else b""
            call = Call(request, body)
            response: web.StreamResponse
            errcode: int | None = None
            fault: str | None = None
            delay_ms, plan = sim.fault_book.take(request.path)
            if delay_ms:
                await asyncio.sleep(delay_ms / 1000)
            if plan is not None:
                fault = plan.kind
                if plan.kind == "status":
                    assert plan.status is not None
                    response = web.Response(
                        status=plan.status, text=f"simulated HTTP {plan.status}"
                    )
                elif plan.kind == "reset":
                    if request.transport is not None:
                        request.transport.close()
                    response = web.Response()
                elif plan.kind == "non_json":
                    response = web.Response(
                        text="<html><body><h1>502 Bad Gateway</h1></body></html>",
                        content_type="text/html",
                    )
                else:
                    errcode = plan.errcode if plan.errcode is not None else -1
                    message = plan.errmsg or WeChatApiError(errcode).errmsg
                    response = self._error(errcode, message)
            else:
                response, errcode = await self._serve(route, call)
            sim._record_call(
                ApiCall(
                    seq=sim.next_call_seq(),
                    time=sim.now(),
                    method=request.method,
                    path=request.path,
                    route=route.name,
                    query=dict(request.query),
                    body=body[: sim.config.record_body_limit],
                    access_token=request.query.get("access_token"),
                    appid=call.appid,
                    status=response.status,
                    errcode=errcode,
                    fault=fault,
                )
            )
            return response

        return handle

    async def _serve(self, route: _Route, call: Call) -> tuple[web.StreamResponse, int | None]:
        try:
            if call.request.method != route.method:
                if route.html:
                    return web.Response(status=405, headers={"Allow": route.method}), None
                raise WeChatApiError(
                    route.method_errcode or (43002 if route.method == "POST" else 43001)
                )
            answer = await route.handler(call)
        except WeChatApiError as exc:
            return self._error(exc.errcode, exc.errmsg), exc.errcode
        except SimulatorError as exc:  # e.g. a sim_openid the simulator cannot take
            return self._error(40097, f"invalid args {exc.message}"), 40097
        if isinstance(answer, web.StreamResponse):
            return answer, None
        errcode = answer.get("errcode", 0)
        return json_answer(answer), errcode if isinstance(errcode, int) else None
