"""Building and delivering pushes for the :class:`~.server.OfficialAccountSimulator`.

:class:`PushEngine` turns a :class:`~.messages.PushSpec` (or a :class:`~.messages.ShopEvent`)
into the exact request WeChat would send — header, MsgId, CreateTime, the body per mode
(plain, compat, safe; JSON or XML for shop events), the signed query string — applies the user
action it stands for (subscription, customer-service window, subscription quota), delivers it
with :func:`.pusher.deliver` and judges the answer with :func:`.replies.check_reply`.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal

from weixin_gateway.mp.push import USER_MESSAGE_TYPES
from weixin_gateway.mp.signature import msg_signature, url_signature
from weixin_gateway.mp.xml import XmlInput, build_xml
from weixin_gateway.simulator._errors import SimulatorError

from .config import Mode
from .messages import PushSpec, ShopEvent
from .pusher import QueryMaker, deliver
from .records import PushResult, PushVerdict
from .replies import check_reply
from .state import AppState, UserState

if TYPE_CHECKING:
    from .server import OfficialAccountSimulator

__all__ = ["NOTICE", "PUSH_HEADERS", "Prepared", "PushEngine"]

log = logging.getLogger(__name__)

#: Headers of every push (WeChat's exact ones are undocumented; nothing should depend on them).
PUSH_HEADERS = {"User-Agent": "Mozilla/4.0", "Accept": "*/*", "Pragma": "no-cache"}
#: What the user sees when the gateway failed or answered garbage (official-account.md §4.2).
NOTICE = "该公众号暂时无法提供服务，请稍后再试"
#: Pushes after which the user sees no system notice (nothing was waiting for an answer).
_SILENT_EVENTS = frozenset(
    {
        "unsubscribe",
        "LOCATION",
        "VIEW",
        "view_miniprogram",
        "MASSSENDJOBFINISH",
        "TEMPLATESENDJOBFINISH",
        "subscribe_msg_popup_event",
        "subscribe_msg_change_event",
        "subscribe_msg_sent_event",
        "kf_create_session",
        "kf_close_session",
        "kf_switch_session",
    }
)
_MENU_EVENTS = frozenset({"CLICK", "scancode_push", "scancode_waitmsg"})
#: Media fields of user messages, registered in the media store so the gateway can fetch them.
_MEDIA_FIELDS: dict[str, tuple[str, ...]] = {
    "image": ("MediaId",),
    "voice": ("MediaId",),
    "video": ("MediaId", "ThumbMediaId"),
    "shortvideo": ("MediaId", "ThumbMediaId"),
}


def _list_entries(fields: Mapping[str, XmlInput], wrapper: str) -> list[Mapping[str, XmlInput]]:
    node = fields.get(wrapper)
    if not isinstance(node, Mapping):
        return []
    entries = node.get("List")
    if isinstance(entries, Mapping):
        return [entries]
    if isinstance(entries, list | tuple):
        return [e for e in entries if isinstance(e, Mapping)]
    return []


def _jsonable(value: XmlInput) -> object:
    if isinstance(value, Mapping):
        return {k: _jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_jsonable(v) for v in value]
    if isinstance(value, str | int) or value is None:
        return value
    return getattr(value, "text", str(value))


def _stringify_ids(value: object) -> object:
    if isinstance(value, Mapping):
        return {
            k: str(v) if k.endswith("order_id") and isinstance(v, int) else _stringify_ids(v)
            for k, v in value.items()
        }
    if isinstance(value, list):
        return [_stringify_ids(v) for v in value]
    return value


def _xml_input(value: Mapping[str, object]) -> dict[str, XmlInput]:
    def convert(item: object) -> XmlInput:
        if isinstance(item, Mapping):
            return {str(k): convert(v) for k, v in item.items()}
        if isinstance(item, list | tuple):
            return [convert(v) for v in item]
        if isinstance(item, bool):
            return int(item)
        if isinstance(item, str | int) or item is None:
            return item
        return str(item)

    return {str(k): convert(v) for k, v in value.items()}


@dataclass(frozen=True, slots=True)
class Prepared:
    """A push built once: every attempt (and every duplicate delivery) sends this body."""

    app: AppState
    openid: str
    url: str
    mode: Mode
    shop: bool
    msg_type: str
    event: str | None
    msg_id: int | None
    create_time: int
    message: str
    body: bytes
    encrypt: str | None
    content_type: str
    notice: bool


class PushEngine:
    """Builds, delivers and judges pushes for one simulator."""

    def __init__(self, sim: OfficialAccountSimulator) -> None:
        self._sim = sim

    def user_action(self, app: AppState, user: UserState, spec: PushSpec, now: float) -> None:
        """What the user's action changes on WeChat's side (subscription, windows, quotas)."""
        if spec.event is None:
            if spec.msg_type in USER_MESSAGE_TYPES:
                user.grant("message", now)
            return
        event = spec.event
        key = spec.fields.get("EventKey")
        if event == "subscribe":
            user.subscribed = True
            user.subscribe_time = int(now)
            if isinstance(key, str) and key.startswith("qrscene_"):
                scene = key.removeprefix("qrscene_")
                user.subscribe_scene = "ADD_SCENE_QR_CODE"
                if scene.isdigit():
                    user.qr_scene, user.qr_scene_str = int(scene), ""
                else:
                    user.qr_scene, user.qr_scene_str = 0, scene
            user.grant("subscribe", now)
        elif event == "unsubscribe":
            user.subscribed = False
            user.windows.clear()
        elif event == "SCAN":
            user.grant("scan", now)
        elif event in _MENU_EVENTS:
            user.grant("menu", now)
        elif event == "subscribe_msg_popup_event":
            for entry in _list_entries(spec.fields, "SubscribeMsgPopupEvent"):
                template = entry.get("TemplateId")
                if not isinstance(template, str):
                    continue
                app.subscribe_templates.add(template)
                if entry.get("SubscribeStatusString") == "accept":
                    user.subscriptions[template] = user.subscriptions.get(template, 0) + 1
                else:
                    user.subscriptions[template] = 0
        elif event == "subscribe_msg_change_event":
            for entry in _list_entries(spec.fields, "SubscribeMsgChangeEvent"):
                template = entry.get("TemplateId")
                if isinstance(template, str):
                    user.subscriptions[template] = 0

    def push_url(self, app: AppState, url: str | None) -> str:
        target = url or app.config.push_url
        if not target:
            raise SimulatorError(f"app {app.appid} has no push_url; pass url", field="url")
        if not target.startswith(("http://", "https://")):
            raise SimulatorError("url must be an http(s) URL", field="url")
        return target

    def prepare(
        self,
        app: AppState,
        openid: str,
        spec: PushSpec,
        *,
        url: str | None,
        mode: Mode | None,
    ) -> Prepared:
        now = self._sim.now()
        target = self.push_url(app, url)
        push_mode: Mode = mode or app.config.mode
        user = app.add_user(now, openid) if spec.from_user is None else None
        for media_id, (kind, data) in spec.media.items():
            self._sim.add_media(app.appid, kind, data or b"simulated", media_id=media_id)
        for name in _MEDIA_FIELDS.get(spec.msg_type, ()) if spec.event is None else ():
            value = spec.fields.get(name)
            if isinstance(value, str) and value and value not in app.media:
                self._sim.add_media(
                    app.appid, "thumb" if name == "ThumbMediaId" else spec.msg_type, media_id=value
                )
        create_time = int(now)
        sender = spec.from_user or openid
        fields: dict[str, XmlInput] = {
            "ToUserName": app.config.gh_id,
            "FromUserName": sender,
            "CreateTime": create_time,
            "MsgType": spec.msg_type,
        }
        if spec.event is not None:
            fields["Event"] = spec.event
        fields.update(spec.fields)
        msg_id: int | None = None
        if spec.event is None:
            msg_id = spec.msg_id if spec.msg_id is not None else self._sim.ids.msg_id()
            fields["MsgId"] = msg_id
        message = build_xml(fields)
        encrypt: str | None = None
        if push_mode == "plain":
            body = message
        else:
            encrypt = app.crypto.encrypt(message)
            if push_mode == "safe":
                body = build_xml({"ToUserName": app.config.gh_id, "Encrypt": encrypt})
            else:
                body = build_xml({**fields, "Encrypt": encrypt})
        if user is not None:
            self.user_action(app, user, spec, now)
            if spec.event is None:
                content = {k: _jsonable(v) for k, v in spec.fields.items()}
                self._sim._say(app, openid, "user", spec.msg_type, content)
        notice = user is not None and (spec.event is None or spec.event not in _SILENT_EVENTS)
        return Prepared(
            app=app,
            openid=sender,
            url=target,
            mode=push_mode,
            shop=False,
            msg_type=spec.msg_type,
            event=spec.event,
            msg_id=msg_id,
            create_time=create_time,
            message=message,
            body=body.encode(),
            encrypt=encrypt,
            content_type="text/xml",
            notice=notice,
        )

    def prepare_shop(
        self,
        app: AppState,
        event: ShopEvent,
        *,
        openid: str | None,
        url: str | None,
        mode: Mode | None,
        format: Literal["json", "xml"] | None,
    ) -> Prepared:
        now = self._sim.now()
        target = self.push_url(app, url)
        push_mode: Mode = mode or app.config.mode
        shop_format = format or app.config.shop_format
        sender = openid or app.system_openid
        payload: dict[str, object] = {
            "ToUserName": app.config.gh_id,
            "FromUserName": sender,
            "CreateTime": int(now),
            "MsgType": "event",
            "Event": event.event,
        }
        payload.update(
            {k: _stringify_ids(v) if event.ids_as_strings else v for k, v in event.payload.items()}
        )
        encrypt: str | None = None
        if shop_format == "json":
            message = json.dumps(payload, ensure_ascii=False, separators=(",", ":"))
        else:
            message = build_xml(_xml_input(payload))
        if push_mode == "plain":
            body = message
        else:
            encrypt = app.crypto.encrypt(message)
            outer: dict[str, object] = (
                {"ToUserName": app.config.gh_id, "Encrypt": encrypt}
                if push_mode == "safe"
                else {**payload, "Encrypt": encrypt}
            )
            if shop_format == "json":
                body = json.dumps(outer, ensure_ascii=False, separators=(",", ":"))
            else:
                body = build_xml(_xml_input(outer))
        return Prepared(
            app=app,
            openid=sender,
            url=target,
            mode=push_mode,
            shop=True,
            msg_type="event",
            event=event.event,
            msg_id=None,
            create_time=int(now),
            message=message,
            body=body.encode(),
            encrypt=encrypt,
            content_type="application/json" if shop_format == "json" else "text/xml",
            notice=False,
        )

    def _query_maker(self, prepared: Prepared, resign: bool) -> QueryMaker:
        token = prepared.app.config.token
        first: list[tuple[dict[str, str], str, str]] = []

        def make(index: int) -> tuple[dict[str, str], str, str]:
            if first and (index > 0 and not resign):
                return first[0]
            timestamp = str(int(self._sim.now()))
            nonce = self._sim.ids.nonce()
            query = {
                "signature": url_signature(token, timestamp, nonce),
                "timestamp": timestamp,
                "nonce": nonce,
                "openid": prepared.openid,
            }
            if prepared.encrypt is not None:
                query["encrypt_type"] = "aes"
                query["msg_signature"] = msg_signature(token, timestamp, nonce, prepared.encrypt)
            elif self._sim.config.push_encrypt_type_raw:
                query["encrypt_type"] = "raw"
            made = (query, timestamp, nonce)
            if not first:
                first.append(made)
            return made

        return make

    # --- pushes: delivering ---------------------------------------------------------------------

    async def deliver(
        self,
        prepared: Prepared,
        *,
        timeout_s: float | None = None,
        attempts: int | None = None,
        resign: bool | None = None,
        overlap_after_s: float | None = None,
    ) -> PushResult:
        config = self._sim.config
        app = prepared.app
        make_query = self._query_maker(
            prepared, config.push_resign_retries if resign is None else resign
        )
        if prepared.shop:
            delivery = await deliver(
                self._sim.session,
                url=prepared.url,
                body=prepared.body,
                headers={**PUSH_HEADERS, "Content-Type": prepared.content_type},
                make_query=make_query,
                attempts=attempts or config.shop_push_attempts,
                timeout_s=timeout_s or config.push_timeout_s,
                max_reply=config.push_max_reply_bytes,
                is_final=lambda status, body: status == 200 and body in (b"", b"success"),
                schedule=config.shop_retry_schedule_s,
                sleep=self._sim.clock.sleep,
            )
        else:
            delivery = await deliver(
                self._sim.session,
                url=prepared.url,
                body=prepared.body,
                headers={**PUSH_HEADERS, "Content-Type": prepared.content_type},
                make_query=make_query,
                attempts=attempts or config.push_attempts,
                timeout_s=timeout_s or config.push_timeout_s,
                max_reply=config.push_max_reply_bytes,
                is_final=lambda status, body: status == 200,
                overlap_after_s=(
                    overlap_after_s if overlap_after_s is not None else config.push_overlap_after_s
                ),
            )
        reply = None
        error: str | None = None
        verdict: PushVerdict
        if delivery.final is None:
            verdict = "failed"
            last = delivery.attempts[-1] if delivery.attempts else None
            error = last.error if last is not None else "no attempt"
            if prepared.shop and last is not None and last.status == 200:
                error = "the answer is neither 'success' nor empty"
        elif prepared.shop:
            verdict = "no_reply"
        else:
            media_ok = None
            if config.validate_reply_media:
                now = self._sim.now()

                def media_ok(media_id: str) -> bool:
                    return app.live_media(media_id, now) is not None

            check = check_reply(
                delivery.final_body,
                mode=prepared.mode,
                token=app.config.token,
                gh_id=app.config.gh_id,
                user=prepared.openid,
                after_user_message=prepared.event is None,
                decrypt=app.crypto.decrypt,
                media_ok=media_ok,
            )
            verdict, reply, error = check.verdict, check.reply, check.error
        notice = prepared.notice and verdict in ("failed", "invalid")
        if notice:
            self._sim._say(app, prepared.openid, "notice", "text", {"Content": NOTICE})
        elif reply is not None and prepared.notice:
            content = {
                k: v for k, v in reply.fields.items() if k not in ("ToUserName", "FromUserName")
            }
            self._sim._say(app, prepared.openid, "passive_reply", reply.msg_type, content)
        result = PushResult(
            id=self._sim._next_seq(),
            appid=app.appid,
            openid=prepared.openid,
            url=prepared.url,
            mode=prepared.mode,
            shop=prepared.shop,
            msg_type=prepared.msg_type,
            event=prepared.event,
            msg_id=prepared.msg_id,
            create_time=prepared.create_time,
            message=prepared.message,
            body=prepared.body.decode(),
            attempts=delivery.attempts,
            verdict=verdict,
            reply=reply,
            error=error,
            notice=notice,
        )
        self._sim._record_push(result)
        log.info(
            "push %s %s to %s: %s after %d attempt(s)",
            prepared.msg_type,
            prepared.event or "",
            prepared.url,
            verdict,
            len(delivery.attempts),
        )
        return result
