"""Message, media, JS-SDK, discontinued and shop APIs.

Checklist §5–§7; official-account.md §5.6–§5.12.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from aiohttp import web

from . import messages
from ._api_base import Answer, ApiBase, Call, ok, str_field
from ._errcodes import WeChatApiError
from .records import CustomMessage, SubscribeMessage, TemplateMessage
from .state import AppState

__all__ = ["MessageApi", "check_subscribe_value"]

_MEDIA_TYPES: dict[str, tuple[str, ...]] = {
    "image": ("png", "jpeg", "jpg", "gif"),
    "voice": ("amr", "mp3"),
    "video": ("mp4",),
    "thumb": ("jpg", "jpeg"),
}
_MAGIC: tuple[tuple[bytes, str], ...] = (
    (b"\xff\xd8\xff", "jpg"),
    (b"\x89PNG", "png"),
    (b"GIF8", "gif"),
    (b"#!AMR", "amr"),
    (b"ID3", "mp3"),
)
_CONTENT_TYPES = {
    "jpg": "image/jpeg",
    "jpeg": "image/jpeg",
    "png": "image/png",
    "gif": "image/gif",
    "amr": "audio/amr",
    "mp3": "audio/mpeg",
    "mp4": "video/mp4",
}
_CUSTOM_TYPES = frozenset(
    {
        "text",
        "image",
        "voice",
        "video",
        "music",
        "news",
        "mpnews",
        "mpnewsarticle",
        "msgmenu",
        "wxcard",
        "miniprogrampage",
    }
)
_CJK = re.compile(r"[\u3400-\u9fff\uf900-\ufaff]")
_SUBSCRIBE_RULES: dict[str, re.Pattern[str]] = {
    "number": re.compile(r"[0-9.]{1,32}"),
    "letter": re.compile(r"[A-Za-z]{1,32}"),
    "symbol": re.compile(r".{1,5}", re.S),
    "character_string": re.compile(r"[\x21-\x7e]{1,32}"),
    "time": re.compile(
        r"(\d{4}[-/年]\d{1,2}[-/月]\d{1,2}日?\s*)?\d{1,2}:\d{2}(:\d{2})?"
        r"|\d{4}[-/年]\d{1,2}[-/月]\d{1,2}日?"
    ),
    "date": re.compile(r"\d{4}[-/年]\d{1,2}[-/月]\d{1,2}日?(\s*\d{1,2}:\d{2}(:\d{2})?)?"),
    "amount": re.compile(r"[¥￥$€£]?\d{1,10}(\.\d{1,2})?元?"),
    "phone_number": re.compile(r"[0-9+\- ]{1,17}"),
}
_ORDER_NOTES = {"customer_notes": "", "merchant_notes": ""}


def check_subscribe_value(key: str, value: object) -> str | None:
    """Why ``data.<key>.value`` breaks the subscription-notice rules (§5.7), or ``None``."""
    if not isinstance(value, str) or not value:
        return "must be a non-empty string"
    kind = key.rstrip("0123456789")
    pattern = _SUBSCRIBE_RULES.get(kind)
    if pattern is not None:
        return None if pattern.fullmatch(value) else f"does not fit the {kind} rule"
    if kind == "phrase":
        ok = len(value) <= 5 and all(_CJK.match(c) for c in value)
        return None if ok else "must be at most 5 Chinese characters"
    if kind == "name":
        limit = 10 if _CJK.search(value) else 20
        return None if len(value) <= limit else f"exceeds {limit} characters"
    if kind == "car_number":
        return None if len(value) <= 8 else "exceeds 8 characters"
    return None if len(value) <= 20 else "exceeds 20 characters"  # thing and the rest


class MessageApi(ApiBase):
    """Template, subscription and customer-service messages, media, tickets, shorturl, shop."""

    # --- template, subscription and customer-service messages ----------------------------------

    async def template_send(self, call: Call) -> Answer:
        sim = self._sim
        app = self.auth(call, "template_send")
        if not app.config.template_api:
            raise WeChatApiError(45109)
        data = call.json()
        user = self.real_user(app, data.get("touser"))
        if not user.subscribed:
            raise WeChatApiError(43004)
        template_id = data.get("template_id")
        if not isinstance(template_id, str) or template_id not in app.templates:
            raise WeChatApiError(40037)
        if app.templates[template_id]:
            raise WeChatApiError(43116)
        fields = data.get("data", {})
        if not isinstance(fields, dict):
            raise WeChatApiError(47003, "data")
        for key, value in fields.items():
            if not isinstance(value, dict) or not isinstance(value.get("value"), str | int | float):
                raise WeChatApiError(47003, f"data.{key}.value")
        url = data.get("url")
        miniprogram = data.get("miniprogram")
        if url is not None and not isinstance(url, str):
            raise WeChatApiError(47003, "url")
        if miniprogram is not None and not isinstance(miniprogram, dict):
            raise WeChatApiError(47003, "miniprogram")
        client_msg_id = data.get("client_msg_id")
        if client_msg_id is not None and not isinstance(client_msg_id, str):
            raise WeChatApiError(47003, "client_msg_id")
        if client_msg_id and client_msg_id in app.client_msg_ids:
            return ok(msgid=app.client_msg_ids[client_msg_id])
        msgid = sim.ids.template_msgid()
        if client_msg_id:
            app.client_msg_ids[client_msg_id] = msgid
        sim._record_template(
            TemplateMessage(
                app.appid,
                user.openid,
                template_id,
                msgid,
                fields,
                url,
                miniprogram,
                client_msg_id,
                sim.now(),
            )
        )
        content: dict[str, object] = {"template_id": template_id, "data": fields, "msgid": msgid}
        if url is not None:
            content["url"] = url
        sim._say(app, user.openid, "template", "template", content)
        status = "failed:user block" if user.blocked else sim.config.template_job_status
        sim._job_push(app, user.openid, messages.template_send_job_finish(msgid, status))
        return ok(msgid=msgid)

    async def subscribe_bizsend(self, call: Call) -> Answer:
        sim = self._sim
        app = self.auth(call, "subscribe_bizsend")
        data = call.json()
        user = self.real_user(app, data.get("touser"))
        template_id = data.get("template_id")
        if not isinstance(template_id, str) or template_id not in app.subscribe_templates:
            raise WeChatApiError(40037)
        page = data.get("page")
        if page is not None and (
            not isinstance(page, str) or not page.startswith(("http://", "https://"))
        ):
            raise WeChatApiError(41030)
        miniprogram = data.get("miniprogram")
        if miniprogram is not None and not isinstance(miniprogram, dict):
            raise WeChatApiError(47003, "miniprogram")
        fields = data.get("data")
        if not isinstance(fields, dict) or not fields:
            raise WeChatApiError(47003, "data")
        for key, value in fields.items():
            inner = value.get("value") if isinstance(value, dict) else None
            problem = check_subscribe_value(key, inner)
            if problem is not None:
                raise WeChatApiError(47003, f"data.{key}.value {problem}")
        if user.subscriptions.get(template_id, 0) <= 0:
            raise WeChatApiError(43101)
        user.subscriptions[template_id] -= 1
        msgid = sim.ids.template_msgid()
        sim._record_subscribe(
            SubscribeMessage(
                app.appid, user.openid, template_id, msgid, fields, page, miniprogram, sim.now()
            )
        )
        sim._say(
            app,
            user.openid,
            "subscribe",
            "subscribe",
            {"template_id": template_id, "data": fields, "page": page},
        )
        sim._job_push(app, user.openid, messages.subscribe_msg_sent([(template_id, msgid)]))
        return ok()

    def _media_check(self, app: AppState, media_id: object) -> None:
        if not isinstance(media_id, str) or app.live_media(media_id, self._sim.now()) is None:
            raise WeChatApiError(40007)

    def _custom_object(self, app: AppState, msgtype: str, obj: Mapping[str, Any]) -> None:
        config = self._sim.config
        if msgtype == "text":
            content = obj.get("content")
            if not isinstance(content, str) or not content:
                raise WeChatApiError(44004)
            if len(content.encode()) > config.custom_text_limit_bytes:
                raise WeChatApiError(45002)
        elif msgtype in ("image", "voice"):
            self._media_check(app, obj.get("media_id"))
        elif msgtype == "video":
            self._media_check(app, obj.get("media_id"))
            if obj.get("thumb_media_id") is not None:
                self._media_check(app, obj.get("thumb_media_id"))
        elif msgtype in ("music", "miniprogrampage"):
            self._media_check(app, obj.get("thumb_media_id"))
        elif msgtype == "news":
            articles = obj.get("articles")
            if not isinstance(articles, list) or not articles:
                raise WeChatApiError(44003)
            if len(articles) != 1:
                raise WeChatApiError(45008)
        elif msgtype == "mpnews" and (
            not isinstance(obj.get("media_id"), str) or not obj.get("media_id")
        ):
            raise WeChatApiError(40007)

    async def custom_send(self, call: Call) -> Answer:
        sim = self._sim
        app = self.auth(call, "custom_send")
        data = call.json()
        user = self.real_user(app, data.get("touser"))
        msgtype = data.get("msgtype")
        if not isinstance(msgtype, str) or msgtype not in _CUSTOM_TYPES:
            raise WeChatApiError(40008)
        obj = data.get(msgtype)
        if not isinstance(obj, dict):
            raise WeChatApiError(47001)
        self._custom_object(app, msgtype, obj)
        service = data.get("customservice")
        kf_account = str_field(service, "kf_account") if isinstance(service, dict) else None
        window = user.consume(
            sim.now(),
            enforce_window=sim.config.enforce_custom_window,
            enforce_quota=sim.config.enforce_custom_quota,
        )
        entry = sim._say(app, user.openid, "custom", msgtype, dict(obj))
        sim._record_custom(
            CustomMessage(
                app.appid, user.openid, msgtype, data, kf_account, window, entry.time, entry.seq
            )
        )
        return ok()

    # --- media ------------------------------------------------------------------------------

    async def media_upload(self, call: Call) -> Answer:
        sim = self._sim
        app = self.auth(call, "media_upload")
        kind = call.query.get("type", "")
        if kind not in _MEDIA_TYPES:
            raise WeChatApiError(40004)
        if not call.request.content_type.startswith("multipart/"):
            raise WeChatApiError(41005)
        form = await call.request.post()
        part = form.get("media")
        if not isinstance(part, web.FileField):
            raise WeChatApiError(41005)
        data = part.file.read()
        filename = part.filename or ""
        ext = filename.rsplit(".", 1)[-1].lower() if "." in filename else ""
        if not ext:
            ext = next((name for magic, name in _MAGIC if data.startswith(magic)), "")
        if ext not in _MEDIA_TYPES[kind]:
            raise WeChatApiError(40005)
        limits = {
            "image": sim.config.image_max_bytes,
            "voice": sim.config.voice_max_bytes,
            "video": sim.config.video_max_bytes,
            "thumb": sim.config.thumb_max_bytes,
        }
        if not data or len(data) > limits[kind]:
            raise WeChatApiError(40006)
        item = sim.add_media(
            app.appid,
            kind,
            data,
            filename=filename or f"media.{ext}",
            content_type=_CONTENT_TYPES.get(ext, "application/octet-stream"),
        )
        id_key = "thumb_media_id" if kind == "thumb" else "media_id"
        return {"type": kind, id_key: item.media_id, "created_at": int(item.created_at)}

    async def media_get(self, call: Call) -> Answer:
        app = self.auth(call, "media_get")
        item = app.live_media(call.query.get("media_id", ""), self._sim.now())
        if item is None:
            raise WeChatApiError(40007)
        disposition = f'attachment; filename="{item.filename}"'
        return web.Response(
            body=item.data,
            content_type=item.content_type,
            headers={"Content-Disposition": disposition},
        )

    # --- JS-SDK, shorturl -------------------------------------------------------------------

    async def getticket(self, call: Call) -> Answer:
        sim = self._sim
        app = self.auth(call, "getticket")
        kind = call.query.get("type", "")
        if kind not in ("jsapi", "wx_card"):
            raise WeChatApiError(40097, "type")
        ticket = sim.issue_ticket(app.appid, kind)
        expires_at = app.tickets[kind][-1][1]
        return ok(ticket=ticket, expires_in=int(expires_at - sim.now()))

    async def shorturl(self, call: Call) -> Answer:
        sim = self._sim
        self.auth(call, "shorturl")
        data = call.json()
        if data.get("action") != "long2short":
            raise WeChatApiError(40097, "action")
        long_url = data.get("long_url")
        if not isinstance(long_url, str) or not long_url:
            raise WeChatApiError(40097, "long_url")
        mode = sim.config.shorturl_mode
        if mode == "unsupported":
            raise WeChatApiError(45103)
        if mode == "legacy":
            return ok(short_url="https://w.url.cn/s/" + sim.ids.token()[:7])
        return ok(short_url=long_url)

    # --- shop ---------------------------------------------------------------------------------

    def _shop(self, call: Call, route: str) -> AppState:
        app = self.auth(call, route)
        if not app.config.is_shop:
            raise WeChatApiError(48001)
        return app

    @staticmethod
    def _id(value: object) -> int:
        if isinstance(value, str) and value.isdigit():
            return int(value)
        if isinstance(value, int) and not isinstance(value, bool) and value >= 0:
            return value
        raise WeChatApiError(47001)

    async def shop_order_get(self, call: Call) -> Answer:
        sim = self._sim
        app = self._shop(call, "shop_order_get")
        order_id = self._id(call.json().get("order_id"))
        order = app.orders.get(order_id)
        if order is None:
            raise WeChatApiError(sim.config.shop_not_found_errcode)
        user = app.users.get(order.openid)
        aftersales = [a for a in app.aftersales.values() if a.order_id == order_id]
        detail: dict[str, object] = {
            "product_infos": [
                {
                    "product_id": str(order.product_id),
                    "sku_id": str(order.sku_id),
                    "sku_cnt": 1,
                    "sale_price": order.price,
                    "title": "模拟商品",
                }
            ],
            "price_info": {"product_price": order.price, "order_price": order.price, "freight": 0},
            "pay_info": {"prepay_id": "", "transaction_id": "", "pay_time": order.update_time}
            if order.status >= 20 and order.status < 190
            else {},
            "delivery_info": {"address_info": {}, "delivery_product_info": []},
            "coupon_info": {},
            "ext_info": dict(_ORDER_NOTES),
        }
        payload: dict[str, object] = {
            "order_id": str(order.order_id),
            "status": order.status,
            "create_time": order.create_time,
            "update_time": order.update_time,
            "openid": order.openid,
        }
        if user is not None and user.unionid:
            payload["unionid"] = user.unionid
        payload["order_detail"] = detail
        payload["aftersale_detail"] = {
            "aftersale_order_list": [
                {"aftersale_order_id": str(a.after_sale_order_id), "status": a.status}
                for a in aftersales
            ],
            "on_aftersale_order_cnt": len(aftersales),
        }
        return ok(order=payload)

    async def shop_aftersale_get(self, call: Call) -> Answer:
        sim = self._sim
        app = self._shop(call, "shop_aftersale_get")
        value = self._id(call.json().get("after_sale_order_id"))
        aftersale = app.aftersales.get(value)
        if aftersale is None:
            raise WeChatApiError(sim.config.shop_not_found_errcode)
        order = app.orders.get(aftersale.order_id)
        user = app.users.get(aftersale.openid)
        details: dict[str, object] = {
            "desc": "",
            "receive_product": 0,
            "cancel_time": 0,
            "prove_imgs": [],
            "tel_number": "",
        }
        payload: dict[str, object] = {
            "after_sale_order_id": str(aftersale.after_sale_order_id),
            "status": aftersale.status,
            "openid": aftersale.openid,
            "unionid": user.unionid if user is not None and user.unionid else "",
            "product_info": {
                "product_id": str(order.product_id) if order else "",
                "sku_id": str(order.sku_id) if order else "",
                "count": 1,
            },
            "details": details,
            "refund_info": {"amount": aftersale.amount},
            "return_info": {"delivery_id": "", "waybill_id": "", "delivery_name": ""},
            "merchant_upload_info": {"reject_reason": "", "refund_certificates": []},
            "create_time": aftersale.create_time,
            "update_time": aftersale.update_time,
            "reason": "",
            "type": aftersale.type,
            "order_id": str(aftersale.order_id),
            "refund_resp": {"code": "", "ret": 0, "message": ""},
        }
        return ok(after_sale_order=payload)
