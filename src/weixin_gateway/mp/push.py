"""Verified pushes as typed records, and how go-wx-gateway forwards them (§3, §4.4, §6.4, §6.5).

:func:`parse_push` turns the field dict of a verified push (from :func:`..envelope.open_push`)
into a :class:`Push`. A push is forwarded as a JSON ``POST`` to::

    <msg-proxy-pass>/msg/<MsgType>      every message type, known or not
    <msg-proxy-pass>/event/<Event>      every event, known or not

``MsgType`` and ``Event`` are used verbatim, with their case (``/event/CLICK``,
``/event/subscribe``, ``/msg/text``), exactly as go-wx-gateway builds the URL with
``fmt.Sprintf("%s/event/%s", proxyPass, eventType)``; msg-proxy-pass is a plain prefix with no
slash normalisation. Unlike go-wx-gateway, CLICK goes to ``/event/CLICK`` and not
``/event/event`` (defect D1; :meth:`Push.forward_paths` can add the legacy path), ``video`` is
forwarded (D2), and unknown types and events are forwarded too instead of swallowed (D7). A
name that is not a plain token is percent-encoded, so a forged body cannot climb out of the path.

:func:`forward_body` builds the JSON body with go-wx-gateway's field names, key order and value
types (its Go structs, go-wx-api v2.2.0):

* header ``ToUserName``, ``FromUserName``, ``CreateTime`` (**number**, 0 when not an integer),
  ``MsgType``; events add ``Event``;
* ``MsgId`` is a **string**; ``Scale``, ``Count`` and the MASSSENDJOBFINISH counters are numbers;
  every other field is a string, present even when the XML lacks it;
* ``ScanCodeInfo``, ``SendPicsInfo`` and ``SendLocationInfo`` are flattened; ``PicList`` is the
  list of MD5 strings, ``null`` when empty;
* TEMPLATESENDJOBFINISH renames ``MsgID`` to ``MsgId``;
* MASSSENDJOBFINISH lists exactly the items present (no padding) and adds ``CheckState`` and
  ``ArticleUrlResult`` (defect D12);
* ``location_select`` is modelled from ``SendLocationInfo`` (defect D11), while a literal
  ``location`` event is still forwarded the old way;
* fields beyond a type's Go struct, and every field of a type go-wx-gateway did not know, follow
  in document order with the XML's tag names (strings, nested dicts, ``item``/``List`` arrays).

Channels-shop events keep go-wx-gateway's ``order_info`` / ``finder_shop_aftersale_status_update``
shape with ``order_id`` an exact JSON integer (a decimal string is accepted and converted), plus
every other payload field; shop events it dropped are forwarded generically (defect D27).

The ``userInfo`` / ``userInfoError`` slots are filled by the caller with :func:`append_user_info`.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Literal, cast
from urllib.parse import quote

from weixin_gateway.mp.errors import PayloadError
from weixin_gateway.mp.gojson import JsonObject, JsonValue, go_json
from weixin_gateway.mp.signature import parse_go_int
from weixin_gateway.mp.xml import XmlValue

__all__ = [
    "JOB_EVENTS",
    "USER_MESSAGE_TYPES",
    "Push",
    "append_user_info",
    "encode_forward_body",
    "forward_body",
    "parse_push",
]

USER_MESSAGE_TYPES = frozenset(
    {"text", "image", "voice", "video", "shortvideo", "location", "link"}
)
JOB_EVENTS = frozenset({"MASSSENDJOBFINISH", "TEMPLATESENDJOBFINISH"})
_HEADER = ("ToUserName", "FromUserName", "CreateTime", "MsgType")
_UINT64_MAX = 2**64 - 1


# ----------------------------------------------------------------------------- value helpers


def _text(value: JsonValue) -> str:
    """A field as Go's ``etree`` ``Text()`` would give it: strings as they are, else ``""``."""
    if isinstance(value, str):
        return value
    if isinstance(value, int) and not isinstance(value, bool):
        return str(value)
    return ""


def _int(value: JsonValue) -> int:
    """A field as Go's ``strconv.Atoi`` (or a JSON int) would give it; 0 when it is not one."""
    if isinstance(value, bool):
        return 0
    if isinstance(value, int):
        return value
    if isinstance(value, float):
        return int(value) if value.is_integer() and abs(value) < 2**53 else 0
    if isinstance(value, str):
        return parse_go_int(value) or 0
    return 0


def _uint64(value: JsonValue) -> int:
    """An order id: a JSON integer, or a decimal string, kept exact; 0 otherwise (Go zero)."""
    number = _int(value)
    return number if 0 <= number <= _UINT64_MAX else 0


def _obj(value: JsonValue) -> JsonObject:
    return value if isinstance(value, dict) else {}


def _items(value: JsonValue) -> list[JsonObject]:
    """The ``item`` children of a list wrapper such as ``PicList`` or ``ResultList``."""
    items = _obj(value).get("item")
    if isinstance(items, list):
        return [item for item in items if isinstance(item, dict)]
    if isinstance(items, dict):
        return [items]
    return []


def _segment(name: str) -> str:
    return quote(name, safe="")


# ------------------------------------------------------------------------------ the record


@dataclass(frozen=True, slots=True)
class Push:
    """A verified push: a message (``event is None``) or an event."""

    to_user: str
    from_user: str
    create_time: int
    msg_type: str
    event: str | None
    msg_id: int | None
    fields: JsonObject = field(compare=False, repr=False)
    channels_ec: bool = False

    @property
    def kind(self) -> Literal["msg", "event"]:
        """``"event"`` when ``MsgType`` is ``event``, else ``"msg"``."""
        return "msg" if self.event is None else "event"

    @property
    def event_key(self) -> str:
        """``EventKey`` (``""`` when absent)."""
        return _text(self.fields.get("EventKey"))

    @property
    def forward_path(self) -> str:
        """``/msg/<MsgType>`` or ``/event/<Event>``, verbatim (percent-encoded if not a token)."""
        if self.event is None:
            return f"/msg/{_segment(self.msg_type)}"
        return f"/event/{_segment(self.event)}"

    def forward_paths(self, *, legacy_click_path: bool = False) -> tuple[str, ...]:
        """The paths to POST to: :attr:`forward_path`, plus ``/event/event`` for a CLICK when
        ``legacy_click_path`` is on (for upstreams written against defect D1)."""
        if legacy_click_path and self.event == "CLICK":
            return (self.forward_path, "/event/event")
        return (self.forward_path,)

    def forward_url(self, msg_proxy_pass: str) -> str:
        """``msg_proxy_pass`` + :attr:`forward_path`, as a plain prefix (go-wx-gateway §6.4)."""
        return msg_proxy_pass + self.forward_path

    @property
    def is_user_message(self) -> bool:
        """An ordinary user message (text, image, voice, video, shortvideo, location, link)."""
        return self.event is None and self.msg_type in USER_MESSAGE_TYPES

    @property
    def max_news_articles(self) -> int:
        """Articles a passive ``news`` reply may carry: 1 after a user message, else 8 (§4.1)."""
        return 1 if self.event is None else 8

    @property
    def wants_user_info(self) -> bool:
        """Whether a ``user/info`` lookup can tell anything (defect D32).

        Not for shop events (go-wx-gateway never appends there), job-result events (the sender
        is a system account) or ``unsubscribe`` (always ``subscribe=0``).
        """
        if self.channels_ec or self.event in JOB_EVENTS:
            return False
        return self.event != "unsubscribe"

    def dedupe_key(self, app_id: str) -> tuple[str, ...]:
        """The hardened dedupe key of §4.4 (keep it at least 30 s; 5 min is comfortable).

        * messages with a MsgId: (AppID, ``msg``, FromUserName, MsgId);
        * job-result events: (AppID, ``job``, Event, MsgID);
        * shop events: (AppID, ``event``, FromUserName, CreateTime, Event, order id);
        * other events: (AppID, ``event``, FromUserName, CreateTime, Event, EventKey);
        * messages without a MsgId: (AppID, ``msg``, FromUserName, CreateTime, MsgType).
        """
        if self.event is None:
            raw_id = _text(self.fields.get("MsgId"))
            if raw_id:
                return (app_id, "msg", self.from_user, raw_id)
            return (app_id, "msg", self.from_user, str(self.create_time), self.msg_type)
        if self.event in JOB_EVENTS:
            job_id = _text(self.fields.get("MsgID")) or _text(self.fields.get("MsgId"))
            if job_id:
                return (app_id, "job", self.event, job_id)
        detail = self.event_key
        if self.channels_ec:
            order = _obj(self.fields.get("order_info"))
            aftersale = _obj(self.fields.get("finder_shop_aftersale_status_update"))
            detail = _text(aftersale.get("after_sale_order_id")) or _text(order.get("order_id"))
        return (app_id, "event", self.from_user, str(self.create_time), self.event, detail)


def parse_push(
    fields: Mapping[str, JsonValue] | Mapping[str, XmlValue], *, channels_ec: bool = False
) -> Push:
    """The :class:`Push` for the fields of a verified push (:func:`..xml.parse_xml` output or a
    JSON object, as :func:`..envelope.open_push` gives them).

    Raises :class:`PayloadError` when ``MsgType`` is missing or empty, or when an event has no
    ``Event`` (there is nowhere to forward it).
    """
    # XML values (str, dict, list) are JSON values; the cast only bridges dict invariance
    data: JsonObject = dict(cast(Mapping[str, JsonValue], fields))
    msg_type = _text(data.get("MsgType"))
    if not msg_type:
        raise PayloadError("MsgType missing")
    event: str | None = None
    if msg_type == "event":
        event = _text(data.get("Event"))
        if not event:
            raise PayloadError("Event missing")
    raw_id = _text(data.get("MsgId")) or _text(data.get("MsgID"))
    # a uint64 has at most 20 digits; anything longer is not a MsgId (and int() may refuse it)
    valid = raw_id.isascii() and raw_id.isdigit() and len(raw_id) <= 20
    msg_id = int(raw_id) if valid else None
    return Push(
        to_user=_text(data.get("ToUserName")),
        from_user=_text(data.get("FromUserName")),
        create_time=_int(data.get("CreateTime")),
        msg_type=msg_type,
        event=event,
        msg_id=msg_id,
        fields=data,
        channels_ec=channels_ec,
    )


# ------------------------------------------------------------------------- forward bodies

# (key in the JSON body, how to read it from the push fields)
_Reader = Callable[[JsonObject], JsonValue]
_Spec = tuple[tuple[str, _Reader], ...]


def _s(key: str) -> tuple[str, _Reader]:
    return (key, lambda f: _text(f.get(key)))


def _i(key: str) -> tuple[str, _Reader]:
    return (key, lambda f: _int(f.get(key)))


def _in(
    wrapper: str, key: str, reader: Callable[[JsonValue], JsonValue], *, as_key: str = ""
) -> tuple[str, _Reader]:
    return (as_key or key, lambda f: reader(_obj(f.get(wrapper)).get(key)))


def _pic_list(f: JsonObject) -> JsonValue:
    info = _obj(f.get("SendPicsInfo"))
    md5s: list[JsonValue] = [_text(item.get("PicMd5Sum")) for item in _items(info.get("PicList"))]
    return md5s or None


_RESULT_ITEM_KEYS = (
    "ArticleIdx",
    "UserDeclareState",
    "AuditState",
    "OriginalArticleUrl",
    "OriginalArticleType",
    "CanReprint",
    "NeedReplaceContent",
    "NeedShowReprintSource",
)


def _result_list(f: JsonObject) -> JsonValue:
    check = _obj(f.get("CopyrightCheckResult"))
    out: list[JsonValue] = []
    for item in _items(check.get("ResultList")):
        entry: JsonObject = {key: _text(item.get(key)) for key in _RESULT_ITEM_KEYS}
        entry.update({k: v for k, v in item.items() if k not in entry})
        out.append(entry)
    return out or None


_MSG_ID = _s("MsgId")
_MEDIA = (_MSG_ID, _s("MediaId"), _s("ThumbMediaId"))

_MESSAGE_SPECS: dict[str, _Spec] = {
    "text": (_MSG_ID, _s("Content")),
    "image": (_MSG_ID, _s("PicUrl"), _s("MediaId")),
    "voice": (_MSG_ID, _s("MediaId"), _s("Format"), _s("Recognition")),
    "video": _MEDIA,
    "shortvideo": _MEDIA,
    "location": (_MSG_ID, _s("Location_X"), _s("Location_Y"), _i("Scale"), _s("Label")),
    "link": (_MSG_ID, _s("Title"), _s("Description"), _s("Url")),
}

_SUBSCRIBE: _Spec = (_s("EventKey"), _s("Ticket"))
_SCANCODE: _Spec = (
    _s("EventKey"),
    _in("ScanCodeInfo", "ScanType", _text),
    _in("ScanCodeInfo", "ScanResult", _text),
)
_PICS: _Spec = (_s("EventKey"), _in("SendPicsInfo", "Count", _int), ("PicList", _pic_list))

_EVENT_SPECS: dict[str, _Spec] = {
    "subscribe": _SUBSCRIBE,
    "unsubscribe": _SUBSCRIBE,
    "SCAN": _SUBSCRIBE,
    "CLICK": (_s("EventKey"),),
    "VIEW": (_s("EventKey"), _s("MenuId")),
    "view_miniprogram": (_s("EventKey"), _s("MenuId")),
    "LOCATION": (_s("Latitude"), _s("Longitude"), _s("Precision")),
    "location": (_s("Location_X"), _s("Location_Y"), _i("Scale"), _s("Label"), _MSG_ID),
    "location_select": (
        _s("EventKey"),
        _in("SendLocationInfo", "Location_X", _text),
        _in("SendLocationInfo", "Location_Y", _text),
        _in("SendLocationInfo", "Scale", _int),
        _in("SendLocationInfo", "Label", _text),
        _in("SendLocationInfo", "Poiname", _text),
    ),
    "scancode_push": _SCANCODE,
    "scancode_waitmsg": _SCANCODE,
    "pic_sysphoto": _PICS,
    "pic_photo_or_album": _PICS,
    "pic_weixin": _PICS,
    "MASSSENDJOBFINISH": (
        _s("MsgID"),
        _s("Status"),
        _i("TotalCount"),
        _i("FilterCount"),
        _i("SentCount"),
        _i("ErrorCount"),
        _in("CopyrightCheckResult", "Count", _int, as_key="ResultCount"),
        ("ResultList", _result_list),
        _in("CopyrightCheckResult", "CheckState", _text),
        ("ArticleUrlResult", lambda f: f.get("ArticleUrlResult") or None),
    ),
    "TEMPLATESENDJOBFINISH": (("MsgId", lambda f: _text(f.get("MsgID"))), _s("Status")),
}

# source fields a spec consumes beyond its own keys (wrappers that are flattened or renamed)
_CONSUMED: dict[str, frozenset[str]] = {
    "scancode_push": frozenset({"ScanCodeInfo"}),
    "scancode_waitmsg": frozenset({"ScanCodeInfo"}),
    "pic_sysphoto": frozenset({"SendPicsInfo"}),
    "pic_photo_or_album": frozenset({"SendPicsInfo"}),
    "pic_weixin": frozenset({"SendPicsInfo"}),
    "location_select": frozenset({"SendLocationInfo"}),
    "MASSSENDJOBFINISH": frozenset({"CopyrightCheckResult"}),
    "TEMPLATESENDJOBFINISH": frozenset({"MsgID"}),
}

# Channels shop: Go's typed sub-object (JSON key, [(key, reader)]) per event
_SHOP_SPECS: dict[str, tuple[str, tuple[tuple[str, Callable[[JsonValue], JsonValue]], ...]]] = {
    "channels_ec_order_cancel": ("order_info", (("order_id", _uint64), ("cancel_type", _int))),
    "channels_ec_order_pay": ("order_info", (("order_id", _uint64), ("pay_time", _int))),
    "channels_ec_order_confirm": ("order_info", (("order_id", _uint64), ("confirm_type", _int))),
    "channels_ec_order_settle": ("order_info", (("order_id", _uint64), ("settle_time", _int))),
    "channels_ec_aftersale_update": (
        "finder_shop_aftersale_status_update",
        (("status", _text), ("after_sale_order_id", _text)),
    ),
}


def _header(push: Push) -> JsonObject:
    body: JsonObject = {
        "ToUserName": push.to_user,
        "FromUserName": push.from_user,
        "CreateTime": push.create_time,
        "MsgType": push.msg_type,
    }
    if push.event is not None:
        body["Event"] = push.event
    return body


def _rest(fields: JsonObject, body: JsonObject, consumed: frozenset[str]) -> None:
    for key, value in fields.items():
        if key not in body and key not in consumed and key not in _HEADER and key != "Event":
            body[key] = value


def _shop_body(push: Push) -> JsonObject:
    body = _header(push)
    fields = push.fields
    spec = _SHOP_SPECS.get(push.event or "")
    if spec is not None:
        name, readers = spec
        source = _obj(fields.get(name))
        sub: JsonObject = {key: reader(source.get(key)) for key, reader in readers}
        sub.update({k: v for k, v in source.items() if k not in sub})
        body[name] = sub
    elif isinstance(fields.get("order_info"), dict):
        order = dict(_obj(fields.get("order_info")))
        if "order_id" in order:
            order["order_id"] = _uint64(order["order_id"])
        body["order_info"] = order
    _rest(fields, body, frozenset())
    return body


def forward_body(push: Push) -> JsonObject:
    """The JSON object go-wx-gateway would POST upstream (see the module docstring)."""
    if push.channels_ec:
        return _shop_body(push)
    body = _header(push)
    if push.event is None:
        spec = _MESSAGE_SPECS.get(push.msg_type, ())
        consumed: frozenset[str] = frozenset()
    else:
        spec = _EVENT_SPECS.get(push.event, ())
        consumed = _CONSUMED.get(push.event, frozenset())
    for key, reader in spec:
        body[key] = reader(push.fields)
    _rest(push.fields, body, consumed)
    return body


def append_user_info(
    body: Mapping[str, JsonValue], user_info: Mapping[str, JsonValue] | None, error: str = ""
) -> JsonObject:
    """``body`` with ``userInfo`` (an object or ``null``) and ``userInfoError`` appended.

    ``error`` must already be scrubbed of URLs, secrets and tokens (defects D13/D14).
    """
    out: JsonObject = dict(body)
    out["userInfo"] = dict(user_info) if user_info is not None else None
    out["userInfoError"] = error
    return out


def encode_forward_body(body: JsonValue) -> bytes:
    """The bytes to POST: compact JSON in key order, ``<>&`` escaped and a newline, as Go does."""
    return go_json(body)
