"""Checking the gateway's answer to a push as WeChat would (checklist §1.6).

* ``success`` (plaintext, in every mode) and a zero-length body mean "no reply".
* Otherwise the body must be ``<xml>``; in safe mode the §2.3 envelope (``Encrypt``,
  ``MsgSignature``, ``TimeStamp``, ``Nonce``) whose signature is checked *before* decrypting and
  whose trailing AppID must be ours; compat mode takes either; plain mode only plaintext.
* The reply itself: ``ToUserName`` = the push's ``FromUserName``, ``FromUserName`` = the gh id,
  an integer ``CreateTime``, a known ``MsgType`` with its required children, at most 1 news
  article after a user message (8 after an event), and media IDs that exist and are not expired.

A failed check is an *invalid* reply: the user sees the system notice and WeChat does not retry.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal

from weixin_gateway.mp.errors import AppIdMismatchError, DecryptError, MpError, XmlError
from weixin_gateway.mp.signature import check_msg_signature, parse_go_int
from weixin_gateway.mp.xml import XmlDict, XmlValue, parse_xml

from .records import PushReply

__all__ = ["REPLY_TYPES", "ReplyCheck", "check_reply"]

REPLY_TYPES = frozenset(
    {"text", "image", "voice", "video", "music", "news", "transfer_customer_service"}
)
_ENVELOPE = ("MsgSignature", "TimeStamp", "Nonce")


@dataclass(frozen=True, slots=True)
class ReplyCheck:
    """The outcome: ``no_reply``, a valid ``reply``, or ``invalid`` with the reason."""

    verdict: Literal["reply", "no_reply", "invalid"]
    reply: PushReply | None = None
    error: str | None = None


class _Invalid(Exception):
    pass


def _text(fields: XmlDict, key: str) -> str:
    value = fields.get(key)
    if not isinstance(value, str):
        raise _Invalid(f"{key} is missing")
    return value


def _child(fields: XmlDict, parent: str, key: str) -> str:
    node = fields.get(parent)
    if not isinstance(node, dict):
        raise _Invalid(f"{parent} is missing")
    value = node.get(key)
    if not isinstance(value, str) or not value:
        raise _Invalid(f"{parent}/{key} is missing")
    return value


def _items(node: XmlValue | None) -> list[XmlValue]:
    if not isinstance(node, dict):
        return []
    items = node.get("item")
    return items if isinstance(items, list) else []


def check_reply(
    body: bytes,
    *,
    mode: str,
    token: str,
    gh_id: str,
    user: str,
    after_user_message: bool,
    decrypt: Callable[[str], bytes],
    media_ok: Callable[[str], bool] | None = None,
) -> ReplyCheck:
    """Validate one reply body. ``decrypt`` is the app's ``MsgCrypto.decrypt``; ``media_ok``
    says whether a media ID exists and is alive (``None``: skip that check)."""
    if body in (b"", b"success"):
        return ReplyCheck("no_reply")
    try:
        return ReplyCheck(
            "reply", _check(body, mode, token, gh_id, user, after_user_message, decrypt, media_ok)
        )
    except _Invalid as exc:
        return ReplyCheck("invalid", error=str(exc))


def _parse(data: bytes, what: str) -> XmlDict:
    try:
        data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise _Invalid(f"{what} is not UTF-8") from exc
    try:
        return parse_xml(data)
    except XmlError as exc:
        raise _Invalid(f"{what} is not well-formed <xml>: {exc}") from exc
    except MpError as exc:
        raise _Invalid(f"{what}: {exc}") from exc


def _check(
    body: bytes,
    mode: str,
    token: str,
    gh_id: str,
    user: str,
    after_user_message: bool,
    decrypt: Callable[[str], bytes],
    media_ok: Callable[[str], bool] | None,
) -> PushReply:
    outer = _parse(body, "the reply")
    encrypted = "Encrypt" in outer
    if encrypted:
        if mode == "plain":
            raise _Invalid("an encrypted reply to a plaintext push")
        encrypt = _text(outer, "Encrypt")
        for key in _ENVELOPE:
            _text(outer, key)
        try:
            check_msg_signature(
                token,
                _text(outer, "TimeStamp"),
                _text(outer, "Nonce"),
                encrypt,
                _text(outer, "MsgSignature"),
            )
        except MpError as exc:
            raise _Invalid("MsgSignature does not match the envelope") from exc
        try:
            plain = decrypt(encrypt)
        except AppIdMismatchError as exc:
            raise _Invalid("the encrypted reply carries another AppID") from exc
        except DecryptError as exc:
            raise _Invalid(f"the encrypted reply does not decrypt: {exc}") from exc
        fields = _parse(plain, "the decrypted reply")
        xml = plain.decode()
    else:
        if mode == "safe":
            raise _Invalid("safe mode needs an encrypted reply (Encrypt envelope)")
        fields = outer
        xml = body.decode()
    msg_type = _validate(fields, gh_id, user, after_user_message, media_ok)
    return PushReply(msg_type, fields, encrypted, xml)


def _validate(
    fields: XmlDict,
    gh_id: str,
    user: str,
    after_user_message: bool,
    media_ok: Callable[[str], bool] | None,
) -> str:
    if _text(fields, "ToUserName") != user:
        raise _Invalid("ToUserName is not the push's FromUserName")
    if _text(fields, "FromUserName") != gh_id:
        raise _Invalid("FromUserName is not the account's gh id")
    if parse_go_int(_text(fields, "CreateTime").strip()) is None:
        raise _Invalid("CreateTime is not an integer")
    msg_type = _text(fields, "MsgType")
    if msg_type not in REPLY_TYPES:
        raise _Invalid(f"MsgType {msg_type!r} is not a passive reply type")
    media: list[str] = []
    if msg_type == "text":
        _text(fields, "Content")
    elif msg_type in ("image", "voice", "video"):
        media.append(_child(fields, msg_type.capitalize(), "MediaId"))
    elif msg_type == "music":
        media.append(_child(fields, "Music", "ThumbMediaId"))
    elif msg_type == "news":
        count = parse_go_int(_text(fields, "ArticleCount").strip())
        items = _items(fields.get("Articles"))
        if count is None or count != len(items):
            raise _Invalid("ArticleCount does not match the number of Articles/item")
        limit = 1 if after_user_message else 8
        if not 1 <= count <= limit:
            raise _Invalid(f"a news reply here may carry 1..{limit} articles, not {count}")
    if media_ok is not None:
        for media_id in media:
            if not media_ok(media_id):
                raise _Invalid(f"media_id {media_id!r} is unknown or expired")
    return msg_type
