"""The JSON control API under ``/_sim/mp/``: the HTTP twin of the simulator's Python methods.

Bad input answers 400, an unknown app, user, token, push or fault 404, both as
``{"error": "...", "field": "..."}``. 64-bit identifiers (order ids, MsgIds, template msgids)
are written as JSON strings. Routes are listed in ``docs/simulator-official-account.md``.
"""

from __future__ import annotations

import base64
import binascii
import dataclasses
import json
import re
from collections.abc import Awaitable, Callable, Mapping
from typing import TYPE_CHECKING, Any, Literal, cast

from aiohttp import web

from weixin_gateway.mp.xml import Plain, XmlInput
from weixin_gateway.simulator._errors import SimulatorError

from . import messages
from .config import config_to_json
from .faults import ApiFaultKind, ApiFaultPlan
from .messages import PushSpec, ShopEvent
from .pusher import with_query
from .records import PushResult

if TYPE_CHECKING:
    from .server import OfficialAccountSimulator

__all__ = ["PREFIX", "ControlRoutes", "to_json"]

PREFIX = "/_sim/mp"
_BIG_IDS = frozenset({"order_id", "after_sale_order_id", "msg_id", "msgid", "product_id", "sku_id"})
_HIDDEN = frozenset({"data"})
_XML_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_.\-]*")
_PUSH_OPTIONS = {"url", "mode", "timeout_s", "attempts", "resign", "overlap_after_s"}
_SHOP_OPTIONS = {"url", "mode", "format", "timeout_s", "attempts"}

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def to_json(value: object, key: str = "") -> Any:
    """A record as JSON: dataclasses become objects, bytes text, 64-bit ids strings."""
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {
            f.name: to_json(getattr(value, f.name), f.name)
            for f in dataclasses.fields(value)
            if f.name not in _HIDDEN
        }
    if isinstance(value, Plain):
        return value.text
    if isinstance(value, Mapping):
        return {str(k): to_json(v, str(k)) for k, v in value.items()}
    if isinstance(value, list | tuple | set | frozenset):
        return [to_json(v, key) for v in value]
    if isinstance(value, bytes):
        return value.decode("utf-8", "replace")
    if isinstance(value, int) and not isinstance(value, bool) and key in _BIG_IDS:
        return str(value)
    return value


def _response(data: object, status: int = 200) -> web.Response:
    body = json.dumps(data, ensure_ascii=False, separators=(",", ":")).encode()
    return web.Response(body=body, status=status, content_type="application/json")


class _Body:
    """Typed access to a JSON object's fields; errors name the field."""

    def __init__(self, data: Mapping[str, object], allowed: set[str], prefix: str = "") -> None:
        self.data = data
        self._prefix = prefix
        for key in data:
            if key not in allowed:
                raise SimulatorError(f"unknown field {key!r}", field=prefix + key)

    def _fail(self, key: str, what: str) -> SimulatorError:
        return SimulatorError(f"{self._prefix}{key} must be {what}", field=self._prefix + key)

    def text(self, key: str, *, required: bool = False) -> str | None:
        value = self.data.get(key)
        if value is None:
            if required:
                raise SimulatorError(f"{self._prefix}{key} is required", field=self._prefix + key)
            return None
        if not isinstance(value, str):
            raise self._fail(key, "a string")
        return value

    def req(self, key: str) -> str:
        value = self.text(key, required=True)
        assert value is not None
        return value

    def integer(self, key: str, *, allow_string: bool = False) -> int | None:
        value = self.data.get(key)
        if value is None:
            return None
        if isinstance(value, int) and not isinstance(value, bool):
            return value
        if allow_string and isinstance(value, str) and value.isdigit():
            return int(value)
        raise self._fail(key, "an integer")

    def number(self, key: str) -> float | None:
        value = self.data.get(key)
        if value is None:
            return None
        if isinstance(value, int | float) and not isinstance(value, bool):
            return float(value)
        raise self._fail(key, "a number")

    def flag(self, key: str) -> bool | None:
        value = self.data.get(key)
        if value is None:
            return None
        if not isinstance(value, bool):
            raise self._fail(key, "true or false")
        return value

    def obj(self, key: str) -> Mapping[str, object] | None:
        value = self.data.get(key)
        if value is None:
            return None
        if not isinstance(value, dict):
            raise self._fail(key, "an object")
        return cast(Mapping[str, object], value)


async def _read(request: web.Request) -> dict[str, object]:
    raw = await request.read()
    if not raw.strip():
        return {}
    try:
        data = json.loads(raw)
    except (UnicodeDecodeError, ValueError) as exc:
        raise SimulatorError("body is not valid JSON", field="body") from exc
    if not isinstance(data, dict):
        raise SimulatorError("body must be a JSON object", field="body")
    return data


def _xml_fields(value: object, where: str) -> XmlInput:
    if isinstance(value, dict):
        out: dict[str, XmlInput] = {}
        for key, inner in value.items():
            if not _XML_NAME.fullmatch(key):
                raise SimulatorError(f"{where}.{key} is not an XML element name", field=where)
            out[key] = _xml_fields(inner, f"{where}.{key}")
        return out
    if isinstance(value, list):
        items = [_xml_fields(v, f"{where}[{i}]") for i, v in enumerate(value)]
        if any(isinstance(i, list) for i in items):
            raise SimulatorError(f"{where} cannot hold a list of lists", field=where)
        return items
    if isinstance(value, bool):
        return int(value)
    if isinstance(value, float):
        return Plain(repr(value))
    if isinstance(value, str | int) or value is None:
        return value
    raise SimulatorError(f"{where} has an unsupported value", field=where)  # pragma: no cover


def _spec(body: _Body) -> PushSpec:
    fields_raw = body.obj("fields") or {}
    fields = _xml_fields(dict(fields_raw), "fields")
    assert isinstance(fields, dict)
    event = body.text("event")
    msg_type = body.text("msg_type")
    if event is not None:
        if msg_type not in (None, "event"):
            raise SimulatorError("give msg_type or event, not both", field="msg_type")
        return PushSpec("event", event=event, fields=fields, from_user=body.text("from_user"))
    if msg_type is None:
        raise SimulatorError("msg_type (or event) is required", field="msg_type")
    return PushSpec(
        msg_type,
        fields=fields,
        msg_id=body.integer("msg_id", allow_string=True),
        from_user=body.text("from_user"),
    )


def _push_options(body: _Body) -> dict[str, Any]:
    options: dict[str, Any] = {}
    if (url := body.text("url")) is not None:
        options["url"] = url
    if (mode := body.text("mode")) is not None:
        if mode not in ("plain", "compat", "safe"):
            raise SimulatorError("mode must be plain, compat or safe", field="mode")
        options["mode"] = mode
    if (timeout := body.number("timeout_s")) is not None:
        if timeout <= 0:
            raise SimulatorError("timeout_s must be positive", field="timeout_s")
        options["timeout_s"] = timeout
    if (attempts := body.integer("attempts")) is not None:
        if attempts < 1:
            raise SimulatorError("attempts must be at least 1", field="attempts")
        options["attempts"] = attempts
    if "resign" in body.data:
        options["resign"] = body.flag("resign")
    if (overlap := body.number("overlap_after_s")) is not None:
        options["overlap_after_s"] = overlap
    if (shop_format := body.text("format")) is not None:
        if shop_format not in ("json", "xml"):
            raise SimulatorError("format must be json or xml", field="format")
        options["format"] = shop_format
    return options


class ControlRoutes:
    """Handlers for ``/_sim/mp/*``."""

    def __init__(self, sim: OfficialAccountSimulator) -> None:
        self._sim = sim

    def register(self, router: web.UrlDispatcher) -> None:
        routes: list[tuple[str, str, Handler]] = [
            ("GET", "/config", self.get_config),
            ("POST", "/config", self.set_config),
            ("GET", "/clock", self.get_clock),
            ("POST", "/clock", self.set_clock),
            ("POST", "/reset", self.reset),
            ("GET", "/apps", self.list_apps),
            ("POST", "/apps", self.create_app),
            ("GET", "/apps/{appid}", self.get_app),
            ("POST", "/apps/{appid}", self.update_app),
            ("GET", "/apps/{appid}/users", self.list_users),
            ("POST", "/apps/{appid}/users", self.add_user),
            ("GET", "/apps/{appid}/users/{openid}", self.get_user),
            ("POST", "/apps/{appid}/users/{openid}", self.update_user),
            ("POST", "/apps/{appid}/users/{openid}/window", self.open_window),
            ("POST", "/apps/{appid}/templates", self.add_template),
            ("POST", "/apps/{appid}/subscriptions", self.grant_subscription),
            ("GET", "/apps/{appid}/media", self.list_media),
            ("POST", "/apps/{appid}/media", self.add_media),
            ("GET", "/tokens", self.list_tokens),
            ("POST", "/tokens", self.issue_token),
            ("POST", "/tokens/invalidate", self.invalidate_tokens),
            ("POST", "/tokens/expire", self.expire_token),
            ("GET", "/calls", self.list_calls),
            ("DELETE", "/calls", self.clear_calls),
            ("GET", "/messages", self.list_messages),
            ("GET", "/transcript", self.transcript),
            ("GET", "/oauth/codes", self.list_codes),
            ("POST", "/oauth/codes", self.issue_code),
            ("POST", "/oauth/browse", self.browse),
            ("GET", "/qrcodes", self.list_qrcodes),
            ("POST", "/qrcodes", self.create_qrcode),
            ("POST", "/push", self.push),
            ("POST", "/push/duplicate", self.push_duplicate),
            ("POST", "/push/shop", self.push_shop),
            ("POST", "/verify-url", self.verify_url),
            ("GET", "/pushes", self.list_pushes),
            ("POST", "/leaks", self.leaks),
            ("GET", "/pushes/{push_id}", self.get_push),
            ("POST", "/scenario/{name}", self.scenario),
            ("POST", "/jssdk/verify", self.jssdk_verify),
            ("POST", "/jssdk/tickets", self.jssdk_ticket),
            ("GET", "/orders", self.list_orders),
            ("POST", "/orders", self.create_order),
            ("POST", "/aftersales", self.create_aftersale),
            ("GET", "/faults", self.list_faults),
            ("POST", "/faults", self.add_fault),
            ("DELETE", "/faults", self.clear_faults),
            ("DELETE", "/faults/{fault_id}", self.remove_fault),
        ]
        for method, path, handler in routes:
            router.add_route(method, PREFIX + path, self._guard(handler))

    @staticmethod
    def _guard(handler: Handler) -> Handler:
        async def guarded(request: web.Request) -> web.StreamResponse:
            try:
                return await handler(request)
            except SimulatorError as exc:
                body: dict[str, object] = {"error": exc.message}
                if exc.field:
                    body["field"] = exc.field
                return _response(body, exc.status)

        return guarded

    def _app_id(self, request: web.Request) -> str:
        appid = request.match_info["appid"]
        self._sim.app(appid)
        return appid

    @staticmethod
    def _query_app(request: web.Request, *, required: bool = False) -> str | None:
        appid = request.query.get("appid")
        if required and not appid:
            raise SimulatorError("appid is required", field="appid")
        return appid

    # --- config, clock, reset -----------------------------------------------------------------

    async def get_config(self, request: web.Request) -> web.StreamResponse:
        return _response(config_to_json(self._sim.config))

    async def set_config(self, request: web.Request) -> web.StreamResponse:
        return _response(config_to_json(self._sim.configure(await _read(request))))

    async def get_clock(self, request: web.Request) -> web.StreamResponse:
        return _response({"now": self._sim.now()})

    async def set_clock(self, request: web.Request) -> web.StreamResponse:
        body = _Body(await _read(request), {"advance_s", "set"})
        advance, at = body.number("advance_s"), body.number("set")
        if (advance is None) == (at is None):
            raise SimulatorError("give exactly one of advance_s and set", field="advance_s")
        now = self._sim.advance(advance) if advance is not None else self._sim.set_time(at or 0)
        return _response({"now": now})

    async def reset(self, request: web.Request) -> web.StreamResponse:
        _Body(await _read(request), set())
        self._sim.reset()
        return _response({"reset": True})

    # --- apps and users ------------------------------------------------------------------------

    async def list_apps(self, request: web.Request) -> web.StreamResponse:
        return _response({"apps": [config_to_json(a) for a in self._sim.apps()]})

    async def create_app(self, request: web.Request) -> web.StreamResponse:
        return _response(config_to_json(self._sim.create_app(**await _read(request))))

    async def get_app(self, request: web.Request) -> web.StreamResponse:
        return _response(config_to_json(self._sim.app(request.match_info["appid"])))

    async def update_app(self, request: web.Request) -> web.StreamResponse:
        appid = self._app_id(request)
        return _response(config_to_json(self._sim.update_app(appid, **await _read(request))))

    async def list_users(self, request: web.Request) -> web.StreamResponse:
        return _response({"users": to_json(self._sim.users(self._app_id(request)))})

    async def add_user(self, request: web.Request) -> web.StreamResponse:
        appid = self._app_id(request)
        data = await _read(request)
        body = _Body(data, {"openid", "subscribed", "unionid", "nickname", *self._sim._USER_FIELDS})
        extra = {
            k: v
            for k, v in data.items()
            if k not in ("openid", "subscribed", "unionid", "nickname")
        }
        user = self._sim.add_user(
            appid,
            body.text("openid"),
            subscribed=body.flag("subscribed") is not False,
            unionid=body.text("unionid"),
            nickname=body.text("nickname"),
            **extra,
        )
        return _response(to_json(user))

    async def get_user(self, request: web.Request) -> web.StreamResponse:
        appid = self._app_id(request)
        return _response(to_json(self._sim.user(appid, request.match_info["openid"])))

    async def update_user(self, request: web.Request) -> web.StreamResponse:
        appid = self._app_id(request)
        user = self._sim.update_user(appid, request.match_info["openid"], **await _read(request))
        return _response(to_json(user))

    async def open_window(self, request: web.Request) -> web.StreamResponse:
        appid = self._app_id(request)
        body = _Body(await _read(request), {"trigger"})
        trigger = body.text("trigger") or "message"
        if trigger not in ("message", "menu", "subscribe", "scan"):
            raise SimulatorError(
                "trigger must be message, menu, subscribe or scan", field="trigger"
            )
        user = self._sim.open_window(
            appid,
            request.match_info["openid"],
            cast(Literal["message", "menu", "subscribe", "scan"], trigger),
        )
        return _response(to_json(user))

    async def add_template(self, request: web.Request) -> web.StreamResponse:
        appid = self._app_id(request)
        body = _Body(await _read(request), {"template_id", "banned", "kind"})
        kind = body.text("kind") or "template"
        if kind == "template":
            value = self._sim.add_template(
                appid, body.text("template_id"), banned=body.flag("banned") is True
            )
        elif kind == "subscribe":
            if body.flag("banned") is not None:
                raise SimulatorError("banned is only for kind 'template'", field="banned")
            value = self._sim.add_subscribe_template(appid, body.text("template_id"))
        else:
            raise SimulatorError("kind must be template or subscribe", field="kind")
        return _response({"template_id": value, "kind": kind})

    async def grant_subscription(self, request: web.Request) -> web.StreamResponse:
        appid = self._app_id(request)
        body = _Body(await _read(request), {"openid", "template_id", "count"})
        count = body.integer("count")
        if count is not None and count < 1:
            raise SimulatorError("count must be at least 1", field="count")
        user = self._sim.grant_subscription(
            appid, body.req("openid"), body.req("template_id"), count or 1
        )
        return _response(to_json(user))

    async def list_media(self, request: web.Request) -> web.StreamResponse:
        return _response({"media": to_json(self._sim.media(self._app_id(request)))})

    async def add_media(self, request: web.Request) -> web.StreamResponse:
        appid = self._app_id(request)
        body = _Body(
            await _read(request), {"type", "data_base64", "filename", "content_type", "media_id"}
        )
        kind = body.text("type") or "image"
        if kind not in ("image", "voice", "video", "thumb"):
            raise SimulatorError("type must be image, voice, video or thumb", field="type")
        encoded = body.text("data_base64")
        try:
            data = base64.b64decode(encoded, validate=True) if encoded else b"simulated media"
        except (binascii.Error, ValueError) as exc:
            raise SimulatorError("data_base64 is not valid base64", field="data_base64") from exc
        item = self._sim.add_media(
            appid,
            kind,
            data,
            filename=body.text("filename") or "media.jpg",
            content_type=body.text("content_type") or "image/jpeg",
            media_id=body.text("media_id"),
        )
        return _response(to_json(item))

    # --- tokens -------------------------------------------------------------------------------

    def _token_view(self, token: object) -> dict[str, object]:
        view = to_json(token)
        assert isinstance(view, dict)
        view["state"] = self._sim.token_state(str(view["token"]))
        return view

    async def list_tokens(self, request: web.Request) -> web.StreamResponse:
        tokens = self._sim.tokens(self._query_app(request))
        return _response({"tokens": [self._token_view(t) for t in tokens]})

    async def issue_token(self, request: web.Request) -> web.StreamResponse:
        body = _Body(await _read(request), {"appid", "kind"})
        kind = body.text("kind") or "classic"
        if kind not in ("classic", "stable"):
            raise SimulatorError("kind must be classic or stable", field="kind")
        token = self._sim.issue_token(body.req("appid"), cast(Literal["classic", "stable"], kind))
        return _response(self._token_view(token))

    async def invalidate_tokens(self, request: web.Request) -> web.StreamResponse:
        body = _Body(await _read(request), {"appid"})
        return _response({"invalidated": self._sim.invalidate_tokens(body.req("appid"))})

    async def expire_token(self, request: web.Request) -> web.StreamResponse:
        body = _Body(await _read(request), {"token"})
        return _response(self._token_view(self._sim.expire_token(body.req("token"))))

    # --- records ------------------------------------------------------------------------------

    async def list_calls(self, request: web.Request) -> web.StreamResponse:
        since_raw = request.query.get("since", "0")
        if not since_raw.isdigit():
            raise SimulatorError("since must be a non-negative integer", field="since")
        calls = self._sim.calls(
            request.query.get("path"), since=int(since_raw), appid=self._query_app(request)
        )
        return _response({"calls": to_json(calls)})

    async def clear_calls(self, request: web.Request) -> web.StreamResponse:
        self._sim.clear_calls()
        return _response({"cleared": True})

    async def list_messages(self, request: web.Request) -> web.StreamResponse:
        kind = request.query.get("kind")
        appid, openid = self._query_app(request), request.query.get("openid")
        if kind == "template":
            found: tuple[object, ...] = self._sim.template_messages(appid, openid)
        elif kind == "custom":
            found = self._sim.custom_messages(appid, openid)
        elif kind == "subscribe":
            found = self._sim.subscribe_messages(appid, openid)
        else:
            raise SimulatorError("kind must be template, custom or subscribe", field="kind")
        return _response({"messages": to_json(found)})

    async def transcript(self, request: web.Request) -> web.StreamResponse:
        appid = self._query_app(request, required=True)
        openid = request.query.get("openid")
        if not openid:
            raise SimulatorError("openid is required", field="openid")
        assert appid is not None
        self._sim.app(appid)
        return _response({"transcript": to_json(self._sim.transcript(appid, openid))})

    # --- OAuth, QR codes ----------------------------------------------------------------------

    async def list_codes(self, request: web.Request) -> web.StreamResponse:
        return _response({"codes": to_json(self._sim.oauth_codes(self._query_app(request)))})

    async def issue_code(self, request: web.Request) -> web.StreamResponse:
        body = _Body(
            await _read(request),
            {"appid", "openid", "scope", "redirect_uri", "state", "snapshot"},
        )
        code = self._sim.issue_oauth_code(
            body.req("appid"),
            body.text("openid"),
            scope=body.text("scope") or "snsapi_base",
            redirect_uri=body.text("redirect_uri") or "",
            state=body.text("state") or "",
            snapshot=body.flag("snapshot") is True,
        )
        view = to_json(code)
        if code.redirect_uri:
            view["location"] = with_query(
                code.redirect_uri, {"code": code.code, "state": code.state}
            )
        return _response(view)

    async def browse(self, request: web.Request) -> web.StreamResponse:
        body = _Body(
            await _read(request),
            {
                "appid",
                "redirect_uri",
                "openid",
                "scope",
                "state",
                "refuse",
                "snapshot",
                "double",
                "double_delay_s",
                "timeout_s",
            },
        )
        result = await self._sim.browse_oauth(
            body.req("appid"),
            body.req("redirect_uri"),
            openid=body.text("openid"),
            scope=body.text("scope") or "snsapi_base",
            state=body.text("state") or "",
            refuse=body.flag("refuse") is True,
            snapshot=body.flag("snapshot") is True,
            double=body.flag("double") is True,
            double_delay_s=body.number("double_delay_s") or 0.1,
            timeout_s=body.number("timeout_s"),
        )
        return _response(to_json(result))

    async def list_qrcodes(self, request: web.Request) -> web.StreamResponse:
        appid = self._query_app(request, required=True)
        assert appid is not None
        return _response({"qrcodes": to_json(self._sim.qrcodes(appid))})

    async def create_qrcode(self, request: web.Request) -> web.StreamResponse:
        body = _Body(await _read(request), {"appid", "scene", "permanent", "expire_seconds"})
        scene = body.data.get("scene")
        if not isinstance(scene, str | int) or isinstance(scene, bool):
            raise SimulatorError("scene must be a string or an integer", field="scene")
        code = self._sim.create_qrcode(
            body.req("appid"),
            scene,
            permanent=body.flag("permanent") is True,
            expire_seconds=body.integer("expire_seconds") or 60,
        )
        return _response(to_json(code))

    # --- pushes -------------------------------------------------------------------------------

    def _push_view(self, result: PushResult) -> dict[str, Any]:
        """A push result as JSON (bodies and query strings included), plus ``delivered``."""
        view: dict[str, Any] = to_json(result)
        view["delivered"] = result.delivered
        return view

    async def push(self, request: web.Request) -> web.StreamResponse:
        body = _Body(
            await _read(request),
            {"appid", "openid", "msg_type", "event", "fields", "msg_id", "from_user"}
            | _PUSH_OPTIONS,
        )
        spec = _spec(body)
        result = await self._sim.push(
            body.req("appid"), body.req("openid"), spec, **_push_options(body)
        )
        return _response(self._push_view(result))

    async def push_duplicate(self, request: web.Request) -> web.StreamResponse:
        body = _Body(
            await _read(request),
            {
                "appid",
                "openid",
                "msg_type",
                "event",
                "fields",
                "msg_id",
                "from_user",
                "times",
                "concurrent",
                "url",
                "mode",
                "timeout_s",
            },
        )
        spec = _spec(body)
        results = await self._sim.push_duplicate(
            body.req("appid"),
            body.req("openid"),
            spec,
            times=body.integer("times") or 2,
            concurrent=body.flag("concurrent") is True,
            **_push_options(body),
        )
        return _response({"pushes": [self._push_view(r) for r in results]})

    async def push_shop(self, request: web.Request) -> web.StreamResponse:
        body = _Body(
            await _read(request),
            {"appid", "openid", "event", "payload", "ids_as_strings"} | _SHOP_OPTIONS,
        )
        payload = body.obj("payload") or {}
        event = ShopEvent(
            body.req("event"),
            cast(Mapping[str, messages.JsonLike], payload),
            body.flag("ids_as_strings") is True,
        )
        result = await self._sim.push_shop(
            body.req("appid"), event, openid=body.text("openid"), **_push_options(body)
        )
        return _response(self._push_view(result))

    async def verify_url(self, request: web.Request) -> web.StreamResponse:
        body = _Body(
            await _read(request), {"appid", "url", "echostr", "bad_signature", "timeout_s"}
        )
        result = await self._sim.verify_url(
            body.req("appid"),
            url=body.text("url"),
            echostr=body.text("echostr"),
            bad_signature=body.flag("bad_signature") is True,
            timeout_s=body.number("timeout_s"),
        )
        return _response(to_json(result))

    async def leaks(self, request: web.Request) -> web.StreamResponse:
        body = _Body(await _read(request), {"text"})
        return _response({"leaks": list(self._sim.leaks(body.req("text")))})

    async def list_pushes(self, request: web.Request) -> web.StreamResponse:
        pushes = self._sim.pushes(self._query_app(request))
        return _response({"pushes": [self._push_view(p) for p in pushes]})

    async def get_push(self, request: web.Request) -> web.StreamResponse:
        raw = request.match_info["push_id"]
        if not raw.isdigit():
            raise SimulatorError("push id must be an integer", field="id")
        return _response(self._push_view(self._sim.push_result(int(raw))))

    async def scenario(self, request: web.Request) -> web.StreamResponse:
        name = request.match_info["name"]
        data = await _read(request)
        sim = self._sim
        common = {"appid"} | _PUSH_OPTIONS
        if name == "follow":
            body = _Body(data, common | {"openid", "scene"})
            scene = body.data.get("scene")
            if scene is not None and (not isinstance(scene, str | int) or isinstance(scene, bool)):
                raise SimulatorError("scene must be a string or an integer", field="scene")
            result = await sim.follow(
                body.req("appid"), body.text("openid"), scene=scene, **_push_options(body)
            )
        elif name == "unfollow":
            body = _Body(data, common | {"openid"})
            result = await sim.unfollow(
                body.req("appid"), body.req("openid"), **_push_options(body)
            )
        elif name == "message":
            body = _Body(data, common | {"openid", "content"})
            result = await sim.user_says(
                body.req("appid"), body.req("openid"), body.req("content"), **_push_options(body)
            )
        elif name == "scan":
            body = _Body(data, common | {"openid", "ticket"})
            scanned = await sim.scan_qr(
                body.req("appid"), body.req("ticket"), body.text("openid"), **_push_options(body)
            )
            if scanned is None:
                return _response({"pushed": False, "reason": "the ticket is unknown or expired"})
            result = scanned
        elif name == "click":
            body = _Body(data, common | {"openid", "key"})
            result = await sim.click_menu(
                body.req("appid"), body.req("openid"), body.req("key"), **_push_options(body)
            )
        elif name == "popup":
            body = _Body(data, common | {"openid", "decisions", "popup_scene"})
            decisions = body.obj("decisions") or {}
            if not decisions or any(v not in ("accept", "reject") for v in decisions.values()):
                raise SimulatorError(
                    "decisions must map template ids to accept or reject", field="decisions"
                )
            result = await sim.answer_popup(
                body.req("appid"),
                body.req("openid"),
                cast(Mapping[str, Literal["accept", "reject"]], decisions),
                popup_scene=body.integer("popup_scene") or 2,
                **_push_options(body),
            )
        elif name == "mass_send_finished":
            body = _Body(data, common | {"msg_id"})
            result = await sim.mass_send_finished(
                body.req("appid"), body.integer("msg_id", allow_string=True), **_push_options(body)
            )
        elif name == "order":
            body = _Body(
                data,
                (common - {"resign", "overlap_after_s"})
                | {"format", "event", "order_id", "openid", "ids_as_strings"},
            )
            order, result = await sim.order_scenario(
                body.req("appid"),
                body.text("event") or "channels_ec_order_new",
                order_id=body.integer("order_id", allow_string=True),
                openid=body.text("openid"),
                ids_as_strings=body.flag("ids_as_strings") is True,
                **_push_options(body),
            )
            return _response({"order": to_json(order), "push": self._push_view(result)})
        elif name == "aftersale":
            body = _Body(
                data,
                (common - {"resign", "overlap_after_s"})
                | {"format", "order_id", "status", "after_sale_order_id", "ids_as_strings"},
            )
            order_id = body.integer("order_id", allow_string=True)
            if order_id is None:
                raise SimulatorError("order_id is required", field="order_id")
            aftersale, result = await sim.aftersale_scenario(
                body.req("appid"),
                order_id,
                body.text("status") or "MERCHANT_PROCESSING",
                after_sale_order_id=body.integer("after_sale_order_id", allow_string=True),
                ids_as_strings=body.flag("ids_as_strings") is True,
                **_push_options(body),
            )
            return _response({"aftersale": to_json(aftersale), "push": self._push_view(result)})
        else:
            raise SimulatorError(f"unknown scenario {name!r}", field="name")
        return _response(self._push_view(result))

    # --- JS-SDK -------------------------------------------------------------------------------

    async def jssdk_verify(self, request: web.Request) -> web.StreamResponse:
        body = _Body(await _read(request), {"url", "noncestr", "timestamp", "signature", "appid"})
        timestamp = body.data.get("timestamp")
        if not isinstance(timestamp, str | int) or isinstance(timestamp, bool):
            raise SimulatorError("timestamp must be a string or an integer", field="timestamp")
        check = self._sim.verify_jssdk(
            url=body.req("url"),
            noncestr=body.req("noncestr"),
            timestamp=timestamp,
            signature=body.req("signature"),
            appid=body.text("appid"),
        )
        return _response(
            {
                "ok": check.ok,
                "reason": check.reason,
                "signed_with_fragment": check.signed_with_fragment,
            }
        )

    async def jssdk_ticket(self, request: web.Request) -> web.StreamResponse:
        body = _Body(await _read(request), {"appid", "type", "ticket"})
        kind = body.text("type") or "jsapi"
        if kind not in ("jsapi", "wx_card"):
            raise SimulatorError("type must be jsapi or wx_card", field="type")
        ticket = self._sim.issue_ticket(body.req("appid"), kind, body.text("ticket"))
        return _response({"ticket": ticket, "type": kind})

    # --- shop ---------------------------------------------------------------------------------

    async def list_orders(self, request: web.Request) -> web.StreamResponse:
        appid = self._query_app(request, required=True)
        assert appid is not None
        return _response(
            {
                "orders": to_json(self._sim.orders(appid)),
                "aftersales": to_json(self._sim.aftersales(appid)),
            }
        )

    async def create_order(self, request: web.Request) -> web.StreamResponse:
        body = _Body(await _read(request), {"appid", "openid", "order_id", "status", "price"})
        order = self._sim.create_order(
            body.req("appid"),
            body.text("openid"),
            order_id=body.integer("order_id", allow_string=True),
            status=body.integer("status") or 10,
            price=body.integer("price") or 990,
        )
        return _response(to_json(order))

    async def create_aftersale(self, request: web.Request) -> web.StreamResponse:
        body = _Body(
            await _read(request), {"appid", "order_id", "status", "type", "after_sale_order_id"}
        )
        order_id = body.integer("order_id", allow_string=True)
        if order_id is None:
            raise SimulatorError("order_id is required", field="order_id")
        aftersale = self._sim.create_aftersale(
            body.req("appid"),
            order_id,
            status=body.text("status") or "MERCHANT_PROCESSING",
            type=body.text("type") or "REFUND",
            after_sale_order_id=body.integer("after_sale_order_id", allow_string=True),
        )
        return _response(to_json(aftersale))

    # --- faults -------------------------------------------------------------------------------

    async def list_faults(self, request: web.Request) -> web.StreamResponse:
        return _response({"faults": to_json(self._sim.faults())})

    async def add_fault(self, request: web.Request) -> web.StreamResponse:
        data = await _read(request)
        body = _Body(data, {"kind", "path", "count", "latency_ms", "status", "errcode", "errmsg"})
        plan = ApiFaultPlan(
            kind=cast(ApiFaultKind, body.req("kind")),
            path=body.text("path") or "*",
            count=body.integer("count") if "count" in data else 1,
            latency_ms=body.integer("latency_ms") or 0,
            status=body.integer("status"),
            errcode=body.integer("errcode"),
            errmsg=body.text("errmsg"),
        )
        return _response(to_json(self._sim.add_fault(plan)))

    async def clear_faults(self, request: web.Request) -> web.StreamResponse:
        self._sim.clear_faults()
        return _response({"cleared": True})

    async def remove_fault(self, request: web.Request) -> web.StreamResponse:
        raw = request.match_info["fault_id"]
        if not raw.isdigit():
            raise SimulatorError("fault id must be an integer", field="id")
        self._sim.remove_fault(int(raw))
        return _response({"removed": int(raw)})
