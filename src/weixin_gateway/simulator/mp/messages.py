"""Builders for every push of official-account.md §3: messages, events and Channels-shop events.

A builder returns a :class:`PushSpec` (or a :class:`ShopEvent`): the type-specific fields only.
The simulator adds the header when it pushes — ``ToUserName`` (the app's gh id),
``FromUserName`` (the user), ``CreateTime`` (simulated now) and, for messages, a fresh 64-bit
``MsgId`` — so one spec can be pushed to several users::

    await wx.push(appid, openid, messages.text("hello ]]> 你好 🎉"))
    await wx.push(appid, openid, messages.click("MENU_KEY"))
    await wx.push_shop(appid, messages.order_event("channels_ec_order_pay", order_id, pay_time=…))
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Literal

from weixin_gateway.mp.xml import Plain, XmlInput

__all__ = [
    "AFTERSALE_STATUSES",
    "SHOP_ORDER_EVENTS",
    "PushSpec",
    "ShopEvent",
    "aftersale_event",
    "click",
    "file",
    "image",
    "kf_close_session",
    "kf_create_session",
    "kf_switch_session",
    "link",
    "location",
    "location_report",
    "location_select",
    "mass_send_job_finish",
    "order_event",
    "pic_event",
    "scan",
    "scancode",
    "shortvideo",
    "subscribe",
    "subscribe_msg_change",
    "subscribe_msg_popup",
    "subscribe_msg_sent",
    "template_send_job_finish",
    "text",
    "unknown_event",
    "unknown_message",
    "unsubscribe",
    "video",
    "view",
    "view_miniprogram",
    "voice",
]

SHOP_ORDER_EVENTS = (
    "channels_ec_order_new",
    "channels_ec_order_cancel",
    "channels_ec_order_pay",
    "channels_ec_order_wait_shipping",
    "channels_ec_order_deliver",
    "channels_ec_order_confirm",
    "channels_ec_order_settle",
    "channels_ec_order_ext_info_update",
)
AFTERSALE_STATUSES = (
    "USER_CANCELD",
    "MERCHANT_PROCESSING",
    "MERCHANT_REJECT_REFUND",
    "MERCHANT_REJECT_RETURN",
    "USER_WAIT_RETURN",
    "RETURN_CLOSED",
    "MERCHANT_WAIT_RECEIPT",
    "MERCHANT_OVERDUE_REFUND",
    "MERCHANT_REFUND_SUCCESS",
    "MERCHANT_RETURN_SUCCESS",
    "PLATFORM_REFUNDING",
    "PLATFORM_REFUND_FAIL",
    "USER_WAIT_CONFIRM",
    "MERCHANT_REFUND_RETRY_FAIL",
    "MERCHANT_FAIL",
)


@dataclass(frozen=True, slots=True)
class PushSpec:
    """An Official Account push without its header (see the module docstring)."""

    msg_type: str
    event: str | None = None
    #: Type-specific fields, in document order (``str`` → CDATA, ``int``/``Plain`` → text).
    fields: Mapping[str, XmlInput] = field(default_factory=dict)
    #: Force this MsgId (e.g. to collide with another user's); messages only.
    msg_id: int | None = None
    #: Send from this account instead of the user (job-result events use a system account).
    from_user: str | None = None
    #: Media to register in the simulator's store under these ids: id -> (type, bytes).
    media: Mapping[str, tuple[str, bytes]] = field(default_factory=dict, repr=False)

    @property
    def is_event(self) -> bool:
        return self.event is not None


JsonLike = str | int | bool | None | Mapping[str, "JsonLike"] | Sequence["JsonLike"]


@dataclass(frozen=True, slots=True)
class ShopEvent:
    """A Channels-shop event: ``Event`` plus its payload object(s), pushed as JSON or XML."""

    event: str
    payload: Mapping[str, JsonLike]
    #: Send every ``order_id`` / ``after_sale_order_id`` as a JSON string instead of a number.
    ids_as_strings: bool = False


# --- ordinary messages (§3.2) ----------------------------------------------------------------


def _num(value: float | int) -> Plain:
    return Plain(repr(value) if isinstance(value, float) else str(value))


def text(content: str, *, msg_data_id: int | None = None, idx: int | None = None) -> PushSpec:
    """A text message (``]]>``, emoji and CJK are fine: the builder keeps the XML valid)."""
    fields: dict[str, XmlInput] = {"Content": content}
    if msg_data_id is not None:
        fields["MsgDataId"] = msg_data_id
        fields["Idx"] = idx if idx is not None else 1
    return PushSpec("text", fields=fields)


def image(*, media_id: str, pic_url: str | None = None, data: bytes = b"") -> PushSpec:
    url = pic_url or f"http://mmbiz.qpic.cn/mmbiz_jpg/{media_id[:16]}/0"
    media = {media_id: ("image", data)} if data else {}
    return PushSpec("image", fields={"PicUrl": url, "MediaId": media_id}, media=media)


def voice(
    *,
    media_id: str,
    format: str = "amr",
    recognition: str | None = None,
    media_id_16k: str | None = None,
) -> PushSpec:
    fields: dict[str, XmlInput] = {"MediaId": media_id, "Format": format}
    if media_id_16k is not None:
        fields["MediaId16K"] = media_id_16k
    if recognition is not None:
        fields["Recognition"] = recognition
    return PushSpec("voice", fields=fields)


def video(*, media_id: str, thumb_media_id: str) -> PushSpec:
    return PushSpec("video", fields={"MediaId": media_id, "ThumbMediaId": thumb_media_id})


def shortvideo(*, media_id: str, thumb_media_id: str) -> PushSpec:
    return PushSpec("shortvideo", fields={"MediaId": media_id, "ThumbMediaId": thumb_media_id})


def location(
    latitude: float = 23.134521, longitude: float = 113.358803, *, scale: int = 20, label: str = ""
) -> PushSpec:
    """A location message: ``Location_X`` is the latitude, ``Location_Y`` the longitude."""
    fields: dict[str, XmlInput] = {
        "Location_X": _num(latitude),
        "Location_Y": _num(longitude),
        "Scale": scale,
        "Label": label or "广州市海珠区",
    }
    return PushSpec("location", fields=fields)


def link(title: str, description: str, url: str) -> PushSpec:
    return PushSpec("link", fields={"Title": title, "Description": description, "Url": url})


def file(
    title: str = "report.pdf",
    description: str = "",
    *,
    file_key: str = "key",
    file_md5: str = "d41d8cd98f00b204e9800998ecf8427e",
    size: int = 0,
) -> PushSpec:
    """A ``file`` message: not an Official Account type (WeCom has it) — the gateway must
    forward it generically."""
    fields: dict[str, XmlInput] = {
        "Title": title,
        "Description": description,
        "FileKey": file_key,
        "FileMd5": file_md5,
        "FileTotalLen": size,
    }
    return PushSpec("file", fields=fields)


def unknown_message(msg_type: str, fields: Mapping[str, XmlInput] | None = None) -> PushSpec:
    """A message of any (made-up) ``MsgType``."""
    return PushSpec(msg_type, fields=dict(fields or {}))


# --- events (§3.3) ---------------------------------------------------------------------------


def _event(name: str, fields: Mapping[str, XmlInput]) -> PushSpec:
    return PushSpec("event", event=name, fields=dict(fields))


def subscribe(scene: str | int | None = None, *, ticket: str | None = None) -> PushSpec:
    """A follow; with ``scene`` a follow through a parametric QR (``qrscene_<scene>``)."""
    if scene is None:
        return _event("subscribe", {"EventKey": ""})
    fields: dict[str, XmlInput] = {"EventKey": f"qrscene_{scene}"}
    fields["Ticket"] = ticket or "gQHq8DoAAAAAAAAAASxodHRwOi8vd2VpeGluLnFxLmNvbS9xL1lFc0ZrTHpsQ0Ux"
    return _event("subscribe", fields)


def unsubscribe() -> PushSpec:
    return _event("unsubscribe", {"EventKey": ""})


def scan(scene: str | int, *, ticket: str) -> PushSpec:
    """An already-following user scanned a parametric QR (``EventKey`` without the prefix)."""
    return _event("SCAN", {"EventKey": str(scene), "Ticket": ticket})


def location_report(
    latitude: float = 23.137466, longitude: float = 113.352425, precision: float = 119.385040
) -> PushSpec:
    """The periodic ``LOCATION`` report."""
    fields = {"Latitude": _num(latitude), "Longitude": _num(longitude)}
    return _event("LOCATION", {**fields, "Precision": _num(precision)})


def click(key: str) -> PushSpec:
    return _event("CLICK", {"EventKey": key})


def view(url: str, *, menu_id: str | int | None = None) -> PushSpec:
    fields: dict[str, XmlInput] = {"EventKey": url}
    if menu_id is not None:
        fields["MenuId"] = str(menu_id)
    return _event("VIEW", fields)


def view_miniprogram(pagepath: str, *, menu_id: str | int = "1") -> PushSpec:
    return _event("view_miniprogram", {"EventKey": pagepath, "MenuId": str(menu_id)})


def scancode(
    key: str,
    result: str,
    *,
    wait: bool = False,
    scan_type: str = "qrcode",
) -> PushSpec:
    """``scancode_push`` (or ``scancode_waitmsg`` with ``wait``)."""
    name = "scancode_waitmsg" if wait else "scancode_push"
    info = {"ScanType": scan_type, "ScanResult": result}
    return _event(name, {"EventKey": key, "ScanCodeInfo": info})


def pic_event(
    kind: Literal["pic_sysphoto", "pic_photo_or_album", "pic_weixin"],
    key: str,
    md5s: Sequence[str] = (),
) -> PushSpec:
    """A photo menu event with one ``item`` per picture (0, 1 or N)."""
    items: list[XmlInput] = [{"PicMd5Sum": m} for m in md5s]
    info: dict[str, XmlInput] = {"Count": len(md5s), "PicList": {"item": items}}
    return _event(kind, {"EventKey": key, "SendPicsInfo": info})


def location_select(
    key: str,
    latitude: float = 23.0,
    longitude: float = 113.0,
    *,
    scale: int = 15,
    label: str = "广州市海珠区客村艺苑路 106号",
    poiname: str = "",
) -> PushSpec:
    info: dict[str, XmlInput] = {
        "Location_X": _num(latitude),
        "Location_Y": _num(longitude),
        "Scale": scale,
        "Label": label,
        "Poiname": poiname,
    }
    return _event("location_select", {"EventKey": key, "SendLocationInfo": info})


def mass_send_job_finish(
    msg_id: int,
    *,
    status: str = "send success",
    total: int = 100,
    filtered: int = 80,
    sent: int = 75,
    errors: int = 5,
    article_urls: Sequence[str] = ("https://mp.weixin.qq.com/s/article",),
    copyright_items: int = 1,
) -> PushSpec:
    """MASSSENDJOBFINISH with ``CopyrightCheckResult`` and ``ArticleUrlResult``."""
    check_items: list[XmlInput] = [
        {
            "ArticleIdx": i + 1,
            "UserDeclareState": 0,
            "AuditState": 2,
            "OriginalArticleUrl": "Url_1",
            "OriginalArticleType": 1,
            "CanReprint": 1,
            "NeedReplaceContent": 1,
            "NeedShowReprintSource": 1,
        }
        for i in range(copyright_items)
    ]
    url_items: list[XmlInput] = [
        {"ArticleIdx": i + 1, "ArticleUrl": url} for i, url in enumerate(article_urls)
    ]
    fields: dict[str, XmlInput] = {
        "MsgID": msg_id,
        "Status": status,
        "TotalCount": total,
        "FilterCount": filtered,
        "SentCount": sent,
        "ErrorCount": errors,
        "CopyrightCheckResult": {
            "Count": copyright_items,
            "ResultList": {"item": check_items},
            "CheckState": 2,
        },
        "ArticleUrlResult": {"Count": len(url_items), "ResultList": {"item": url_items}},
    }
    return _event("MASSSENDJOBFINISH", fields)


def template_send_job_finish(msg_id: int, status: str = "success") -> PushSpec:
    """``Status``: ``success``, ``failed:user block`` or ``failed: system failed``."""
    return _event("TEMPLATESENDJOBFINISH", {"MsgID": msg_id, "Status": status})


def subscribe_msg_popup(
    entries: Sequence[tuple[str, Literal["accept", "reject"]]], *, popup_scene: int = 2
) -> PushSpec:
    """The user answered a subscription popup: one ``List`` per template."""
    items: list[XmlInput] = [
        {"TemplateId": t, "SubscribeStatusString": s, "PopupScene": str(popup_scene)}
        for t, s in entries
    ]
    return _event("subscribe_msg_popup_event", {"SubscribeMsgPopupEvent": {"List": items}})


def subscribe_msg_change(template_ids: Sequence[str]) -> PushSpec:
    """The user turned notices off in the settings (only ``reject`` is pushed)."""
    items: list[XmlInput] = [
        {"TemplateId": t, "SubscribeStatusString": "reject"} for t in template_ids
    ]
    return _event("subscribe_msg_change_event", {"SubscribeMsgChangeEvent": {"List": items}})


def subscribe_msg_sent(
    entries: Sequence[tuple[str, int]], *, error_code: int = 0, error_status: str = "success"
) -> PushSpec:
    """The result of ``bizsend``: (template_id, msgid) per ``List``."""
    items: list[XmlInput] = [
        {"TemplateId": t, "MsgID": str(m), "ErrorCode": error_code, "ErrorStatus": error_status}
        for t, m in entries
    ]
    return _event("subscribe_msg_sent_event", {"SubscribeMsgSentEvent": {"List": items}})


def kf_create_session(kf_account: str) -> PushSpec:
    return _event("kf_create_session", {"KfAccount": kf_account})


def kf_close_session(kf_account: str) -> PushSpec:
    return _event("kf_close_session", {"KfAccount": kf_account})


def kf_switch_session(from_kf: str, to_kf: str) -> PushSpec:
    return _event("kf_switch_session", {"FromKfAccount": from_kf, "ToKfAccount": to_kf})


def unknown_event(name: str, fields: Mapping[str, XmlInput] | None = None) -> PushSpec:
    return _event(name, dict(fields or {}))


# --- Channels shop (§3.4) --------------------------------------------------------------------


def order_event(
    event: str, order_id: int, *, ids_as_strings: bool = False, **info: JsonLike
) -> ShopEvent:
    """``channels_ec_order_*``: ``order_info{order_id, …}`` (``order_id`` a JSON number)."""
    return ShopEvent(event, {"order_info": {"order_id": order_id, **info}}, ids_as_strings)


def aftersale_event(
    status: str,
    after_sale_order_id: int,
    order_id: int,
    *,
    ids_as_strings: bool = False,
) -> ShopEvent:
    payload: dict[str, JsonLike] = {
        "finder_shop_aftersale_status_update": {
            "status": status,
            "after_sale_order_id": after_sale_order_id,
            "order_id": order_id,
        }
    }
    return ShopEvent("channels_ec_aftersale_update", payload, ids_as_strings)
