"""Upstream reply JSON → passive reply XML, or a customer-service message (§4.1, §5.8, §6.6).

The upstream answers a forwarded push with go-wx-gateway's JSON::

    {"type": "text" | "image" | "voice" | "video" | "success", "msg": "...",
     "title": "...", "desc": "..."}

read exactly as go-wx-gateway reads it: unknown keys are ignored; a missing, ``null`` or empty
``type`` means ``text``; ``msg`` is the text or the media id and an empty ``msg`` means *no
reply*; ``success`` means no reply; a video's missing ``title`` / ``desc`` become ``[no title]``
/ ``[no desc]``. The types go-wx-gateway never produced are opt-in extensions:

* ``{"type": "news", "articles": [{"title", "description", "url", "picurl"}, ...]}``
* ``{"type": "music", "title", "desc", "music_url", "hq_music_url", "thumb_media_id"}``
  (``thumb_media_id`` required)
* ``{"type": "transfer_customer_service", "kf_account"?: "agent@account"}``
* ``"thumb_media_id"`` on a ``video``, used only by the customer-service message.

Anything else (not an object, an unknown type, a missing or mistyped field) raises
:class:`ReplyError`; the server answers WeChat with ``success`` then, as go-wx-gateway did.

:func:`render_reply` writes the passive reply XML with CDATA that survives ``]]>`` (defect D3).
:func:`custom_message` gives the ``/cgi-bin/message/custom/send`` body for the same reply, used
when the upstream answers after the passive-reply budget has run out (defect D6b).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from weixin_gateway.mp.errors import PayloadError, ReplyError
from weixin_gateway.mp.gojson import JsonObject, JsonValue, parse_json_object
from weixin_gateway.mp.push import Push
from weixin_gateway.mp.xml import XmlInput, build_xml

__all__ = [
    "DEFAULT_MAX_REPLY",
    "NO_REPLY_BODY",
    "Article",
    "ImageReply",
    "MusicReply",
    "NewsReply",
    "NoReply",
    "Reply",
    "TextReply",
    "TransferReply",
    "VideoReply",
    "VoiceReply",
    "custom_message",
    "parse_reply",
    "passive_reply",
    "render_reply",
]

DEFAULT_MAX_REPLY = 1024 * 1024
NO_REPLY_BODY = "success"
MAX_ARTICLES = 8


@dataclass(frozen=True, slots=True)
class TextReply:
    content: str


@dataclass(frozen=True, slots=True)
class ImageReply:
    media_id: str


@dataclass(frozen=True, slots=True)
class VoiceReply:
    media_id: str


@dataclass(frozen=True, slots=True)
class VideoReply:
    media_id: str
    title: str = "[no title]"
    description: str = "[no desc]"
    thumb_media_id: str = ""


@dataclass(frozen=True, slots=True)
class MusicReply:
    thumb_media_id: str
    title: str = ""
    description: str = ""
    music_url: str = ""
    hq_music_url: str = ""


@dataclass(frozen=True, slots=True)
class Article:
    title: str = ""
    description: str = ""
    url: str = ""
    pic_url: str = ""


@dataclass(frozen=True, slots=True)
class NewsReply:
    articles: tuple[Article, ...]


@dataclass(frozen=True, slots=True)
class TransferReply:
    """Hand the conversation to the customer-service system (optionally one agent)."""

    kf_account: str = ""


@dataclass(frozen=True, slots=True)
class NoReply:
    """Answer ``success``: WeChat shows nothing and does not retry."""


Reply = (
    TextReply
    | ImageReply
    | VoiceReply
    | VideoReply
    | MusicReply
    | NewsReply
    | TransferReply
    | NoReply
)


# ------------------------------------------------------------------------------- parsing


def _str(data: Mapping[str, JsonValue], key: str, default: str | None = None) -> str:
    value = data.get(key)
    if value is None:
        if default is None:
            raise ReplyError(f"reply lacks {key!r}")
        return default
    if not isinstance(value, str):
        raise ReplyError(f"reply field {key!r} must be a string")
    return value


def _article(value: JsonValue) -> Article:
    if not isinstance(value, dict):
        raise ReplyError("each article must be an object")
    return Article(
        title=_str(value, "title", ""),
        description=_str(value, "description", ""),
        url=_str(value, "url", ""),
        pic_url=_str(value, "picurl", ""),
    )


def parse_reply(
    data: bytes | str | Mapping[str, JsonValue], *, max_size: int = DEFAULT_MAX_REPLY
) -> Reply:
    """The :class:`Reply` an upstream answer asks for (see the module docstring)."""
    if isinstance(data, bytes | str):
        try:
            obj: Mapping[str, JsonValue] = parse_json_object(data, max_size=max_size)
        except PayloadError as exc:
            raise ReplyError("reply is not a JSON object") from exc
    else:
        obj = data
    kind = obj.get("type")
    if kind is None or kind == "":
        kind = "text"
    if not isinstance(kind, str):
        raise ReplyError("reply field 'type' must be a string")
    if kind in ("text", "image", "voice", "video", "success"):
        msg = _str(obj, "msg")
        if not msg or kind == "success":
            return NoReply()
        if kind == "text":
            return TextReply(msg)
        if kind == "image":
            return ImageReply(msg)
        if kind == "voice":
            return VoiceReply(msg)
        return VideoReply(
            media_id=msg,
            title=_str(obj, "title", "[no title]"),
            description=_str(obj, "desc", "[no desc]"),
            thumb_media_id=_str(obj, "thumb_media_id", ""),
        )
    if kind == "news":
        articles = obj.get("articles")
        if not isinstance(articles, list) or not articles:
            raise ReplyError("a news reply needs a non-empty 'articles' list")
        return NewsReply(tuple(_article(item) for item in articles))
    if kind == "music":
        thumb = _str(obj, "thumb_media_id")
        if not thumb:
            raise ReplyError("a music reply needs 'thumb_media_id'")
        return MusicReply(
            thumb_media_id=thumb,
            title=_str(obj, "title", ""),
            description=_str(obj, "desc", ""),
            music_url=_str(obj, "music_url", ""),
            hq_music_url=_str(obj, "hq_music_url", ""),
        )
    if kind == "transfer_customer_service":
        return TransferReply(_str(obj, "kf_account", ""))
    raise ReplyError("unknown reply type")


# ----------------------------------------------------------------------------- rendering


def render_reply(
    reply: Reply,
    *,
    to_user: str,
    from_user: str,
    create_time: int,
    max_articles: int = MAX_ARTICLES,
) -> str:
    """The passive reply body: reply XML, or ``success`` for :class:`NoReply`.

    ``to_user`` is the push's ``FromUserName`` (the user), ``from_user`` its ``ToUserName``.
    News beyond ``max_articles`` are dropped, as WeChat would (1 after a user message, else 8).
    """
    if isinstance(reply, NoReply):
        return NO_REPLY_BODY
    fields: dict[str, XmlInput] = {
        "ToUserName": to_user,
        "FromUserName": from_user,
        "CreateTime": create_time,
    }
    match reply:
        case TextReply(content):
            fields.update(MsgType="text", Content=content)
        case ImageReply(media_id):
            fields.update(MsgType="image", Image={"MediaId": media_id})
        case VoiceReply(media_id):
            fields.update(MsgType="voice", Voice={"MediaId": media_id})
        case VideoReply(media_id, title, description, _):
            video = {"MediaId": media_id, "Title": title, "Description": description}
            fields.update(MsgType="video", Video=video)
        case MusicReply(thumb, title, description, music_url, hq_music_url):
            music = {
                "Title": title,
                "Description": description,
                "MusicUrl": music_url,
                "HQMusicUrl": hq_music_url,
                "ThumbMediaId": thumb,
            }
            fields.update(MsgType="music", Music=music)
        case NewsReply(articles):
            kept = articles[: max(1, max_articles)]
            items: list[XmlInput] = [
                {"Title": a.title, "Description": a.description, "PicUrl": a.pic_url, "Url": a.url}
                for a in kept
            ]
            fields.update(MsgType="news", ArticleCount=len(kept), Articles={"item": items})
        case TransferReply(kf_account):
            fields["MsgType"] = "transfer_customer_service"
            if kf_account:
                fields["TransInfo"] = {"KfAccount": kf_account}
    return build_xml(fields)


def passive_reply(push: Push, reply: Reply, *, create_time: int) -> str:
    """:func:`render_reply` addressed back to the sender of ``push``, with its article limit."""
    return render_reply(
        reply,
        to_user=push.from_user,
        from_user=push.to_user,
        create_time=create_time,
        max_articles=push.max_news_articles,
    )


def custom_message(reply: Reply, *, to_user: str, kf_account: str = "") -> JsonObject | None:
    """The ``message/custom/send`` body for ``reply`` (§5.8), or ``None`` when there is nothing
    to send (:class:`NoReply`, :class:`TransferReply`). News carry one article, as allowed."""
    body: JsonObject = {"touser": to_user}
    match reply:
        case TextReply(content):
            body.update(msgtype="text", text={"content": content})
        case ImageReply(media_id):
            body.update(msgtype="image", image={"media_id": media_id})
        case VoiceReply(media_id):
            body.update(msgtype="voice", voice={"media_id": media_id})
        case VideoReply(media_id, title, description, thumb):
            video: JsonObject = {"media_id": media_id}
            if thumb:
                video["thumb_media_id"] = thumb
            video.update(title=title, description=description)
            body.update(msgtype="video", video=video)
        case MusicReply(thumb, title, description, music_url, hq_music_url):
            music: JsonObject = {
                "title": title,
                "description": description,
                "musicurl": music_url,
                "hqmusicurl": hq_music_url,
                "thumb_media_id": thumb,
            }
            body.update(msgtype="music", music=music)
        case NewsReply(articles):
            first = articles[0]
            article: JsonObject = {
                "title": first.title,
                "description": first.description,
                "url": first.url,
                "picurl": first.pic_url,
            }
            body.update(msgtype="news", news={"articles": [article]})
        case _:
            return None
    if kf_account:
        body["customservice"] = {"kf_account": kf_account}
    return body
