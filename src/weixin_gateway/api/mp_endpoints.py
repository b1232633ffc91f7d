"""go-wx-gateway's ``common-endpoints``, with its parameters and answers (official-account.md §6.9).

Every JSON answer is ``Content-Type: application/json;charset=UTF-8``, the object with its keys in
alphabetical order (Go maps), no HTML escaping, and a newline. Errors are
``{"code":<status>,"msg":"<text>"}`` with the same HTTP status:

* a missing parameter: 400 ``no value specified for field <GoFieldName>``;
* an unknown ``s``: 500 ``no params for <s>``;
* WeChat refused: 500 with WeChat's ``errmsg``, plus ``errcode`` (go-wx-gateway lost it);
* anything else failed: 500 with a short text that never holds a URL, secret or token (D14).

Endpoints (each mounted only when its path is configured):

============================  ======  ==================================================
``health-check``              GET     ``OK``
``wx-qr``                     GET     ``s``, ``t`` = temp | forever, ``sceneid`` (``"0"``),
                                      ``e`` (temp only, 30 s) → ``result{ticketURL2ShowQrCode,
                                      urlIncluedInQrcode}`` (sic); scenes are strings (D21);
                                      the ticket is URL-encoded (D20)
``wx-user``                   GET     ``s``, ``o`` → ``userInfo``
``sns-auth2``                 GET     ``s``, ``code``, ``scope`` → ``openId``, ``userInfo``,
                                      ``error``; the base scope reads ``user/info`` (D13)
``short-url``                 POST    form ``s``, ``u`` → 410: WeChat discontinued long2short
``tmpl-msg``                  POST    JSON ``{s, to, tid, url?, mp?{appid, pagepath}, data}``
                                      → ``result`` = WeChat's answer (go-wx-gateway: ``null``,
                                      D18); nested ``{value, color}`` kept, numbers as text
``sign-jsapi``                POST    form ``s``, ``u`` → ``params{nonce, signature,
                                      timestamp}`` (+ ``nonceStr``, ``appId``); the URL is
                                      signed without its ``#fragment`` (D19)
``channels-ec-order-detail``  GET     ``s``, ``o`` → ``order`` (shop services only)
``channels-ec-refund-detail`` GET     ``s``, ``o`` → ``aftersaleOrder`` (shop services only)
============================  ======  ==================================================

"Form" parameters are read like Go's ``FormValue``: an URL-encoded body first, then the query.
"""

from __future__ import annotations

import email.policy
import json
import logging
from collections.abc import Awaitable, Callable, Mapping
from email.parser import BytesParser
from typing import Final, TypeVar
from urllib.parse import parse_qsl

from starlette.requests import Request
from starlette.responses import Response

from weixin_gateway.errors import ApiError, WeixinError
from weixin_gateway.gateway.mp_gateway import MpGateway
from weixin_gateway.gateway.mp_service import OfficialAccountService
from weixin_gateway.gateway.userinfo import error_text, user_info_object
from weixin_gateway.mp.client import ApiDiscontinuedError, MpApiClient, TemplateValue
from weixin_gateway.mp.config import CommonEndpointsConfig
from weixin_gateway.mp.gojson import JsonObject, JsonValue

__all__ = ["JSON_CONTENT_TYPE", "CommonEndpoints"]

log = logging.getLogger(__name__)

JSON_CONTENT_TYPE: Final = "application/json;charset=UTF-8"
_TEXT_CONTENT_TYPE: Final = "text/plain;charset=UTF-8"
_MAX_FORM_BYTES: Final = 64 * 1024
_MAX_JSON_BYTES: Final = 1024 * 1024

T = TypeVar("T")
Endpoint = Callable[[Request], Awaitable[Response]]


def go_json_response(status: int, payload: Mapping[str, JsonValue]) -> Response:
    """A JSON answer as go-wx-gateway writes a Go map: top-level keys sorted (nested objects,
    such as ``userInfo`` or a shop order, keep their own order), no escaping, newline."""
    ordered = dict(sorted(payload.items()))
    text = json.dumps(ordered, ensure_ascii=False, separators=(",", ":"))
    return Response((text + "\n").encode(), status, media_type=JSON_CONTENT_TYPE)


def _ok(**fields: JsonValue) -> Response:
    return go_json_response(200, {"code": 200, "msg": "OK", **fields})


class EndpointError(Exception):
    """Ends an endpoint with go-wx-gateway's error envelope."""

    def __init__(self, status: int, msg: str, **extra: JsonValue) -> None:
        super().__init__(msg)
        self.status = status
        self.msg = msg
        self.extra = extra

    def response(self) -> Response:
        return go_json_response(self.status, {"code": self.status, "msg": self.msg, **self.extra})


def _required(params: Mapping[str, str], fields: tuple[tuple[str, str], ...]) -> list[str]:
    """The values of ``(param, GoFieldName)`` pairs, refusing the first missing one (§6.9)."""
    values: list[str] = []
    for param, go_name in fields:
        value = params.get(param, "")
        if not value:
            raise EndpointError(400, f"no value specified for field {go_name}")
        values.append(value)
    return values


async def _call(awaitable: Awaitable[T]) -> T:
    """Await a WeChat call, turning its failures into go-wx-gateway's error answers."""
    try:
        return await awaitable
    except ApiDiscontinuedError as exc:
        raise EndpointError(410, str(exc)) from exc
    except ApiError as exc:
        raise EndpointError(500, exc.errmsg or str(exc), errcode=exc.errcode) from exc
    except WeixinError as exc:
        log.warning("common endpoint: WeChat call failed: %s", exc)
        raise EndpointError(500, error_text(exc)) from exc
    except (ValueError, TypeError) as exc:
        raise EndpointError(400, str(exc)) from exc


def _query(request: Request) -> dict[str, str]:
    """Query parameters; the first value of a repeated name wins, as with Go's ``Query().Get``."""
    out: dict[str, str] = {}
    for name, value in request.query_params.multi_items():
        out.setdefault(name, value)
    return out


async def _form(request: Request) -> dict[str, str]:
    """Go's ``FormValue`` view: the form body (URL-encoded or multipart), then the query."""
    out: dict[str, str] = {}
    content_type = request.headers.get("content-type", "")
    kind = content_type.split(";", 1)[0].strip().lower()
    if kind == "application/x-www-form-urlencoded":
        body = await _read(request, _MAX_FORM_BYTES)
        try:
            pairs = parse_qsl(body.decode("utf-8"), keep_blank_values=True)
        except UnicodeDecodeError as exc:
            raise EndpointError(400, "the form is not UTF-8") from exc
        for name, value in pairs:
            out.setdefault(name, value)
    elif kind == "multipart/form-data":
        for name, value in _multipart_fields(content_type, await _read(request, _MAX_FORM_BYTES)):
            out.setdefault(name, value)
    for name, value in _query(request).items():
        out.setdefault(name, value)
    return out


def _multipart_fields(content_type: str, body: bytes) -> list[tuple[str, str]]:
    """The text fields of a multipart/form-data body (files are ignored, as FormValue does)."""
    message = BytesParser(policy=email.policy.HTTP).parsebytes(
        b"Content-Type: " + content_type.encode("latin-1", "replace") + b"\r\n\r\n" + body
    )
    if not message.is_multipart():
        raise EndpointError(400, "the multipart form cannot be read")
    fields: list[tuple[str, str]] = []
    for part in message.iter_parts():
        name = part.get_param("name", header="content-disposition")
        if not isinstance(name, str) or part.get_filename() is not None:
            continue
        payload = part.get_payload(decode=True)
        if not isinstance(payload, bytes):
            continue
        try:
            fields.append((name, payload.decode("utf-8")))
        except UnicodeDecodeError as exc:
            raise EndpointError(400, "the form is not UTF-8") from exc
    return fields


async def _read(request: Request, limit: int) -> bytes:
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise EndpointError(413, "request body too large")
        chunks.append(chunk)
    return b"".join(chunks)


def _template_value(value: JsonValue) -> TemplateValue:
    """A ``data`` value as WeChat wants it: text, a number written as text, or a whole
    ``{"value": …, "color": …}`` object (go-wx-gateway's ``%v`` mangled both, defect D18)."""
    if isinstance(value, dict):
        return value
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str | int | float):
        return value
    if value is None:
        return ""
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"))


class CommonEndpoints:
    """The endpoint functions, bound to a gateway; :meth:`routes` lists the configured ones."""

    def __init__(self, gateway: MpGateway) -> None:
        self.gateway = gateway

    def routes(self, paths: CommonEndpointsConfig) -> list[tuple[str, str, Endpoint]]:
        """``(path, method, endpoint)`` for every endpoint with a path."""
        table: list[tuple[str, str, Endpoint]] = [
            (paths.health_check, "GET", self.health_check),
            (paths.wx_qr, "GET", self.wx_qr),
            (paths.wx_user, "GET", self.wx_user),
            (paths.sns_auth2, "GET", self.sns_auth2),
            (paths.short_url, "POST", self.short_url),
            (paths.tmpl_msg, "POST", self.tmpl_msg),
            (paths.sign_jsapi, "POST", self.sign_jsapi),
            (paths.channels_ec_order_detail, "GET", self.order_detail),
            (paths.channels_ec_refund_detail, "GET", self.refund_detail),
        ]
        return [(path, method, _guarded(fn)) for path, method, fn in table if path]

    def _service(self, name: str) -> OfficialAccountService:
        service = self.gateway.service(name)
        if service is None:
            raise EndpointError(500, f"no params for {name}")
        return service

    def _client(self, name: str) -> MpApiClient:
        client = self._service(name).client
        if client is None:
            raise EndpointError(500, f"no params for {name}")
        return client

    def _shop_client(self, name: str) -> MpApiClient:
        service = self._service(name)
        if not service.config.is_channels_ec or service.client is None:
            raise EndpointError(500, f"params {name} is not for channels ec")
        return service.client

    # ------------------------------------------------------------------------ endpoints

    async def health_check(self, request: Request) -> Response:
        return Response(b"OK\n", 200, media_type=_TEXT_CONTENT_TYPE)

    async def wx_qr(self, request: Request) -> Response:
        q = _query(request)
        name, kind = _required(q, (("s", "Service"), ("t", "QrType")))
        if kind not in ("temp", "forever"):
            raise EndpointError(400, 't(ype) value must be "temp" or "forever"')
        scene = q.get("sceneid") or "0"
        expire: int | None = None
        if kind == "temp":
            raw = q.get("e", "")
            try:
                expire = int(raw) if raw else 30
            except ValueError:
                raise EndpointError(
                    400, f'strconv.ParseInt: parsing "{raw}": invalid syntax'
                ) from None
        client = self._client(name)
        qr = await _call(
            client.qrcode.create(scene, permanent=kind == "forever", expire_seconds=expire)
        )
        return _ok(result={"ticketURL2ShowQrCode": qr.image_url, "urlIncluedInQrcode": qr.url})

    async def wx_user(self, request: Request) -> Response:
        name, openid = _required(_query(request), (("s", "Service"), ("o", "OpenId")))
        record = await _call(self._client(name).user.info(openid))
        return _ok(userInfo=user_info_object(record))

    async def sns_auth2(self, request: Request) -> Response:
        q = _query(request)
        name, code = _required(q, (("s", "Service"), ("code", "Code")))
        scope = q.get("scope", "")
        if scope in ("", "base", "snsapi_base", "sns_base"):
            userinfo_scope = False
        elif scope in ("userinfo", "snsapi_userinfo", "sns_userinfo"):
            userinfo_scope = True
        else:
            raise EndpointError(
                400, 'scope must be "useinfo", "base", "sns_userinfo" or "sns_base"'
            )
        client = self._client(name)
        token = await _call(client.oauth.exchange_code(code))
        info: JsonObject | None = None
        error = ""
        try:
            if userinfo_scope:
                record = await client.oauth.userinfo(token.access_token, token.openid)
            else:
                record = await client.user.info(token.openid)
            info = user_info_object(record)
        except (WeixinError, ValueError) as exc:
            error = error_text(exc)
        return _ok(error=error, openId=token.openid, userInfo=info)

    async def short_url(self, request: Request) -> Response:
        name, long_url = _required(await _form(request), (("s", "Service"), ("u", "LongUrl")))
        # WeChat discontinued the API: the client refuses, which _call answers with 410
        await _call(self._client(name).short_url(long_url))

    async def tmpl_msg(self, request: Request) -> Response:
        raw = await _read(request, _MAX_JSON_BYTES)
        try:
            body = json.loads(raw.decode("utf-8") or "null")
        except (UnicodeDecodeError, ValueError, RecursionError) as exc:
            detail = exc.msg if isinstance(exc, json.JSONDecodeError) else "not UTF-8"
            if isinstance(exc, RecursionError):
                detail = "nested too deeply"
            raise EndpointError(400, f"invalid JSON: {detail}") from None
        if not isinstance(body, dict):
            raise EndpointError(400, "invalid JSON: the body must be an object")

        def text(key: str) -> str:
            value = body.get(key)
            return value if isinstance(value, str) else ""

        name, to, tid = text("s"), text("to"), text("tid")
        if not name:
            raise EndpointError(400, "s(ervice) parameter expected")
        if not to:
            raise EndpointError(400, "to(user id) parameter expected")
        if not tid:
            raise EndpointError(400, "tid(template id) parameter expected")
        data = body.get("data")
        if not isinstance(data, dict):
            raise EndpointError(400, "data parameter as a map expected")
        mp = body.get("mp")
        appid = mp.get("appid") if isinstance(mp, dict) else None
        pagepath = mp.get("pagepath") if isinstance(mp, dict) else None
        with_mp = isinstance(appid, str) and isinstance(pagepath, str) and appid and pagepath
        client = self._client(name)
        msgid = await _call(
            client.message.send_template(
                to,
                tid,
                {key: _template_value(value) for key, value in data.items()},
                url=text("url") or None,
                miniprogram_appid=appid if with_mp and isinstance(appid, str) else None,
                miniprogram_pagepath=pagepath if with_mp and isinstance(pagepath, str) else None,
                client_msg_id=text("client_msg_id") or None,
            )
        )
        return _ok(result={"errcode": 0, "errmsg": "ok", "msgid": msgid})

    async def sign_jsapi(self, request: Request) -> Response:
        name, url = _required(await _form(request), (("s", "Service"), ("u", "Url")))
        client = self._client(name)
        signed = await _call(client.jsapi.sign(url))
        return _ok(
            params={
                "appId": signed.app_id,
                "nonce": signed.noncestr,
                "nonceStr": signed.noncestr,
                "signature": signed.signature,
                "timestamp": signed.timestamp,
            }
        )

    async def order_detail(self, request: Request) -> Response:
        name, order_id = _required(_query(request), (("s", "Service"), ("o", "OrderId")))
        order = await _call(self._shop_client(name).shop.order_detail(order_id))
        return _ok(order=order)

    async def refund_detail(self, request: Request) -> Response:
        q = _query(request)
        name, aftersale_id = _required(q, (("s", "Service"), ("o", "AftersaleOrderId")))
        aftersale = await _call(self._shop_client(name).shop.refund_detail(aftersale_id))
        return _ok(aftersaleOrder=aftersale)


def _guarded(endpoint: Endpoint) -> Endpoint:
    async def run(request: Request) -> Response:
        try:
            return await endpoint(request)
        except EndpointError as exc:
            return exc.response()

    run.__name__ = endpoint.__name__
    return run
