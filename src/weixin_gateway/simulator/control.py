"""The JSON control API under ``/_sim/``: the HTTP twin of the :class:`Simulator` Python API.

Errors answer 400 (bad input) or 404 (unknown bot, user, QR code, fault) with
``{"error": "...", "field": "..."}``. The routes are documented in ``docs/simulator.md``.
"""

from __future__ import annotations

import base64
import binascii
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, cast

from aiohttp import web
from pydantic import ValidationError

from weixin_gateway.ilink.wire import PartialText

from ._errors import SimulatorError
from ._http import json_response, read_json_object
from .config import config_to_json
from .faults import FaultKind, FaultPlan
from .inbound import ItemSpec, KeyEncoding, MediaKind, MediaSpec, QuoteSpec, TextSpec
from .recorder import request_view
from .views import (
    bot_view,
    fault_view,
    notification_view,
    qr_view,
    sent_view,
    typing_view,
    user_view,
)

if TYPE_CHECKING:
    from .server import Simulator

__all__ = ["ControlRoutes"]

PREFIX = "/_sim"
#: At most this many messages per ``POST /_sim/messages/batch``.
MAX_INJECT_BATCH = 1000


class _Fields:
    """Typed access to a JSON object's fields; errors name the field (with a prefix)."""

    def __init__(self, data: Mapping[str, object], prefix: str = "", *, allowed: set[str]) -> None:
        self._data = data
        self._prefix = prefix
        for key in data:
            if key not in allowed:
                raise SimulatorError(f"unknown field {key!r}", field=self.name(key))

    def name(self, key: str) -> str:
        return f"{self._prefix}{key}"

    def _fail(self, key: str, what: str) -> SimulatorError:
        return SimulatorError(f"{self.name(key)} must be {what}", field=self.name(key))

    def has(self, key: str) -> bool:
        return self._data.get(key) is not None

    def get_str(self, key: str, *, required: bool = False) -> str | None:
        value = self._data.get(key)
        if value is None:
            if required:
                raise SimulatorError(f"{self.name(key)} is required", field=self.name(key))
            return None
        if not isinstance(value, str):
            raise self._fail(key, "a string")
        return value

    def required_str(self, key: str) -> str:
        value = self.get_str(key, required=True)
        assert value is not None
        return value

    def get_int(self, key: str, *, allow_string: bool = False) -> int | None:
        value = self._data.get(key)
        if value is None:
            return None
        if isinstance(value, int) and not isinstance(value, bool):
            return value
        if allow_string and isinstance(value, str) and value.strip().isdigit():
            return int(value)
        raise self._fail(key, "an integer")

    def get_bool(self, key: str) -> bool | None:
        value = self._data.get(key)
        if value is None:
            return None
        if not isinstance(value, bool):
            raise self._fail(key, "true or false")
        return value

    def get_obj(self, key: str) -> Mapping[str, object] | None:
        value = self._data.get(key)
        if value is None:
            return None
        if not isinstance(value, dict):
            raise self._fail(key, "an object")
        return cast(Mapping[str, object], value)

    def get_list(self, key: str) -> list[object]:
        value = self._data.get(key)
        if value is None:
            return []
        if not isinstance(value, list):
            raise self._fail(key, "a list")
        return value


_MEDIA_FIELDS = {
    "type",
    "data_base64",
    "path",
    "size",
    "file_name",
    "transcript",
    "key_encoding",
    "image_aeskey",
    "playtime_ms",
    "seed",
}


def _prefixed(exc: SimulatorError, prefix: str) -> SimulatorError:
    return SimulatorError(exc.message, field=f"{prefix}{exc.field}" if exc.field else prefix)


def _media_spec(data: Mapping[str, object], prefix: str) -> MediaSpec:
    f = _Fields(data, prefix, allowed=_MEDIA_FIELDS)
    raw: bytes | None = None
    encoded = f.get_str("data_base64")
    if encoded is not None:
        try:
            raw = base64.b64decode(encoded, validate=True)
        except (binascii.Error, ValueError) as exc:
            raise SimulatorError(
                f"{f.name('data_base64')} is not valid base64", field=f.name("data_base64")
            ) from exc
    kind = cast(MediaKind, f.required_str("type"))
    path, size, file_name = f.get_str("path"), f.get_int("size"), f.get_str("file_name")
    transcript, key_encoding = f.get_str("transcript"), f.get_str("key_encoding")
    image_aeskey, playtime_ms, seed = (
        f.get_bool("image_aeskey"),
        f.get_int("playtime_ms"),
        f.get_int("seed"),
    )
    try:
        return MediaSpec(
            type=kind,
            data=raw,
            path=path,
            size=size,
            file_name=file_name,
            transcript=transcript,
            key_encoding=cast("KeyEncoding | None", key_encoding),
            image_aeskey=image_aeskey is not False,
            playtime_ms=playtime_ms,
            seed=seed or 0,
        )
    except SimulatorError as exc:
        raise _prefixed(exc, prefix) from exc


def _item_spec(value: object, prefix: str) -> ItemSpec:
    if not isinstance(value, dict):
        raise SimulatorError(f"{prefix.rstrip('.')} must be an object", field=prefix.rstrip("."))
    data = cast(Mapping[str, object], value)
    if data.get("type") == "text":
        f = _Fields(data, prefix, allowed={"type", "text"})
        return TextSpec(f.required_str("text"))
    return _media_spec(data, prefix)


def _quote_spec(data: Mapping[str, object]) -> QuoteSpec:
    prefix = "ref_msg."
    f = _Fields(
        data,
        prefix,
        allowed={"text", "title", "item", "msg_id", "svr_id", "partial_text"},
    )
    item_data = f.get_obj("item")
    partial: PartialText | None = None
    partial_data = f.get_obj("partial_text")
    if partial_data is not None:
        try:
            partial = PartialText.model_validate(partial_data, strict=True)
        except ValidationError as exc:
            where = ".".join(str(p) for p in exc.errors()[0]["loc"])
            raise SimulatorError(
                f"ref_msg.partial_text.{where}: {exc.errors()[0]['msg']}",
                field=f"ref_msg.partial_text.{where}",
            ) from exc
    item = _media_spec(item_data, prefix + "item.") if item_data is not None else None
    text, title = f.get_str("text"), f.get_str("title")
    msg_id, svr_id = f.get_int("msg_id", allow_string=True), f.get_int("svr_id", allow_string=True)
    try:
        return QuoteSpec(
            text=text, title=title, item=item, msg_id=msg_id, svr_id=svr_id, partial_text=partial
        )
    except SimulatorError as exc:
        raise _prefixed(exc, prefix) from exc


@dataclass(frozen=True)
class _Injection:
    bot_id: str
    from_user_id: str | None
    text: str | None
    items: list[ItemSpec]
    ref_msg: QuoteSpec | None


def _injection(data: Mapping[str, object], prefix: str) -> _Injection:
    f = _Fields(data, prefix, allowed={"bot_id", "from_user_id", "text", "items", "ref_msg"})
    quote_data = f.get_obj("ref_msg")
    return _Injection(
        bot_id=f.required_str("bot_id"),
        from_user_id=f.get_str("from_user_id"),
        text=f.get_str("text"),
        items=[
            _item_spec(value, f"{prefix}items[{i}].") for i, value in enumerate(f.get_list("items"))
        ],
        ref_msg=_quote_spec(quote_data) if quote_data is not None else None,
    )


class ControlRoutes:
    """Handlers for ``/_sim/*``."""

    def __init__(self, sim: Simulator) -> None:
        self._sim = sim

    def register(self, router: web.UrlDispatcher) -> None:
        routes = [
            ("POST", "/users", self.create_user),
            ("GET", "/users", self.list_users),
            ("POST", "/bots", self.create_bot),
            ("GET", "/bots", self.list_bots),
            ("GET", "/bots/{bot_id}", self.get_bot),
            ("POST", "/bots/{bot_id}/expire", self.expire_bot),
            ("GET", "/bots/{bot_id}/sent", self.sent),
            ("GET", "/bots/{bot_id}/typing", self.typing),
            ("GET", "/bots/{bot_id}/notifications", self.notifications),
            ("POST", "/messages", self.inject_message),
            ("POST", "/messages/batch", self.inject_messages),
            ("GET", "/qrcodes", self.list_qrcodes),
            ("GET", "/qrcodes/{qrcode}", self.get_qrcode),
            ("POST", "/qrcodes/{qrcode}/scan", self.scan),
            ("POST", "/qrcodes/{qrcode}/confirm", self.confirm),
            ("POST", "/qrcodes/{qrcode}/verify-code", self.verify_code),
            ("POST", "/qrcodes/{qrcode}/redirect", self.redirect),
            ("POST", "/qrcodes/{qrcode}/expire", self.expire_qr),
            ("POST", "/qrcodes/{qrcode}/bound", self.bound),
            ("GET", "/requests", self.list_requests),
            ("DELETE", "/requests", self.clear_requests),
            ("GET", "/faults", self.list_faults),
            ("POST", "/faults", self.add_fault),
            ("DELETE", "/faults", self.clear_faults),
            ("DELETE", "/faults/{fault_id}", self.remove_fault),
            ("GET", "/config", self.get_config),
            ("GET", "/stats", self.stats),
            ("POST", "/config", self.set_config),
        ]
        for method, path, handler in routes:
            router.add_route(method, PREFIX + path, handler)

    # --- users and bots -------------------------------------------------------------------------

    async def create_user(self, request: web.Request) -> web.Response:
        f = _Fields(await read_json_object(request), allowed={"name", "user_id"})
        user = self._sim.create_user(f.get_str("name"), user_id=f.get_str("user_id"))
        return json_response(user_view(user))

    async def list_users(self, request: web.Request) -> web.Response:
        return json_response({"users": [user_view(u) for u in self._sim.users()]})

    async def create_bot(self, request: web.Request) -> web.Response:
        f = _Fields(
            await read_json_object(request), allowed={"owner_user_id", "bot_id", "bot_token"}
        )
        bot = self._sim.create_bot(
            f.get_str("owner_user_id"), bot_id=f.get_str("bot_id"), bot_token=f.get_str("bot_token")
        )
        return json_response(bot_view(bot))

    async def list_bots(self, request: web.Request) -> web.Response:
        return json_response({"bots": [bot_view(b) for b in self._sim.bots()]})

    async def get_bot(self, request: web.Request) -> web.Response:
        return json_response(bot_view(self._sim.bot(request.match_info["bot_id"])))

    async def expire_bot(self, request: web.Request) -> web.Response:
        return json_response(bot_view(self._sim.expire_bot(request.match_info["bot_id"])))

    async def sent(self, request: web.Request) -> web.Response:
        messages = self._sim.sent(request.match_info["bot_id"])
        return json_response({"messages": [sent_view(m) for m in messages]})

    async def typing(self, request: web.Request) -> web.Response:
        events = self._sim.typing(request.match_info["bot_id"])
        return json_response({"events": [typing_view(e) for e in events]})

    async def notifications(self, request: web.Request) -> web.Response:
        events = self._sim.notifications(request.match_info["bot_id"])
        return json_response({"notifications": [notification_view(e) for e in events]})

    # --- messages -------------------------------------------------------------------------------

    async def inject_message(self, request: web.Request) -> web.Response:
        return json_response(self._inject(_injection(await read_json_object(request), "")))

    async def inject_messages(self, request: web.Request) -> web.Response:
        """Many messages in one request: all are checked before any is injected."""
        f = _Fields(await read_json_object(request), allowed={"messages"})
        specs = f.get_list("messages")
        if not specs or len(specs) > MAX_INJECT_BATCH:
            raise SimulatorError(
                f"messages must hold 1 to {MAX_INJECT_BATCH} messages", field="messages"
            )
        injections = []
        for i, spec in enumerate(specs):
            if not isinstance(spec, dict):
                raise SimulatorError(f"messages[{i}] must be an object", field=f"messages[{i}]")
            injections.append(_injection(spec, f"messages[{i}]."))
        return json_response({"messages": [self._inject(one) for one in injections]})

    def _inject(self, one: _Injection) -> dict[str, object]:
        injected = self._sim.inject_message(
            one.bot_id,
            from_user_id=one.from_user_id,
            text=one.text,
            items=one.items,
            ref_msg=one.ref_msg,
        )
        injected_ns = time.monotonic_ns()
        return {
            "message_id": injected.message_id,
            "context_token": injected.context_token,
            "seq": injected.seq,
            "from_user_id": injected.from_user_id,
            # when it entered the bot's mailbox (held polls are answered from here on): lets a
            # process on this machine time the message from its injection (benchmarks/)
            "injected_ns": injected_ns,
        }

    # --- QR login -------------------------------------------------------------------------------

    async def list_qrcodes(self, request: web.Request) -> web.Response:
        return json_response({"qrcodes": [qr_view(s) for s in self._sim.qr_sessions()]})

    async def get_qrcode(self, request: web.Request) -> web.Response:
        return json_response(qr_view(self._sim.qr_session(request.match_info["qrcode"])))

    async def scan(self, request: web.Request) -> web.Response:
        f = _Fields(await read_json_object(request), allowed={"user_id"})
        session = self._sim.scan(request.match_info["qrcode"], f.get_str("user_id"))
        return json_response({"status": session.status, "user_id": session.user_id})

    async def confirm(self, request: web.Request) -> web.Response:
        _Fields(await read_json_object(request), allowed=set())
        session = self._sim.confirm(request.match_info["qrcode"])
        assert session.bot_id is not None
        bot = self._sim.bot(session.bot_id)
        return json_response(
            {
                "status": session.status,
                "bot_id": bot.bot_id,
                "bot_token": bot.bot_token,
                "user_id": bot.user_id,
                "baseurl": bot.base_url,
            }
        )

    async def verify_code(self, request: web.Request) -> web.Response:
        f = _Fields(await read_json_object(request), allowed={"code"})
        session = self._sim.require_verify_code(
            request.match_info["qrcode"], f.required_str("code")
        )
        return json_response({"status": session.status})

    async def redirect(self, request: web.Request) -> web.Response:
        f = _Fields(await read_json_object(request), allowed={"host"})
        session = self._sim.redirect(request.match_info["qrcode"], f.required_str("host"))
        return json_response({"status": session.status, "redirect_host": session.redirect_host})

    async def expire_qr(self, request: web.Request) -> web.Response:
        return json_response({"status": self._sim.expire_qr(request.match_info["qrcode"]).status})

    async def bound(self, request: web.Request) -> web.Response:
        return json_response({"status": self._sim.bind_qr(request.match_info["qrcode"]).status})

    # --- requests, faults, config -------------------------------------------------------------

    async def list_requests(self, request: web.Request) -> web.Response:
        route = request.query.get("route")
        bot_id = request.query.get("bot_id")
        records = [
            request_view(r)
            for r in self._sim.requests
            if (route is None or r.route == route) and (bot_id is None or r.bot_id == bot_id)
        ]
        return json_response({"requests": records})

    async def clear_requests(self, request: web.Request) -> web.Response:
        self._sim.clear_requests()
        return json_response({"cleared": True})

    async def list_faults(self, request: web.Request) -> web.Response:
        return json_response({"faults": [fault_view(f) for f in self._sim.faults()]})

    async def add_fault(self, request: web.Request) -> web.Response:
        data = await read_json_object(request)
        f = _Fields(
            data,
            allowed={
                "kind",
                "route",
                "bot_id",
                "count",
                "delay_ms",
                "status",
                "error_message",
                "message_id",
            },
        )
        plan = FaultPlan(
            kind=cast(FaultKind, f.required_str("kind")),
            route=f.get_str("route") or "*",
            bot_id=f.get_str("bot_id"),
            count=f.get_int("count") if "count" in data else 1,
            delay_ms=f.get_int("delay_ms") or 0,
            status=f.get_int("status"),
            error_message=f.get_str("error_message"),
            message_id=f.get_int("message_id", allow_string=True),
        )
        return json_response(fault_view(self._sim.add_fault(plan)))

    async def clear_faults(self, request: web.Request) -> web.Response:
        self._sim.clear_faults()
        return json_response({"cleared": True})

    async def remove_fault(self, request: web.Request) -> web.Response:
        raw = request.match_info["fault_id"]
        if not raw.isdigit():
            raise SimulatorError("fault id must be an integer", field="id")
        self._sim.remove_fault(int(raw))
        return json_response({"removed": int(raw)})

    async def stats(self, request: web.Request) -> web.Response:
        sim = self._sim
        return json_response(
            {"bots": len(sim.bots()), "users": len(sim.users()), "held_polls": sim.held_polls}
        )

    async def get_config(self, request: web.Request) -> web.Response:
        return json_response(config_to_json(self._sim.config))

    async def set_config(self, request: web.Request) -> web.Response:
        data = await read_json_object(request)
        return json_response(config_to_json(self._sim.configure(data)))
