"""The upstream event: one inbound WeChat message as the JSON the upstream receives.

The schema is the Node gateway's (seed 000), key for key and in the same order::

    {"type": "message", "account_id", "event_id", "chat_id", "user_id", "text",
     "context_token", "chat_type": "c2c", "attachments": [...], "raw": {...}}

* ``text`` is what the agent reads (:func:`message_text`): the text items, voice transcripts, a
  short ``[引用: …]`` prefix for a quoted message, and — when media were saved — the neutral label
  ``用户发送了以下附件:`` with one ``- kind: path`` line per attachment.
* ``attachments`` lists the saved media (:class:`Attachment`); a failed download is listed too,
  with ``error`` set and an empty ``path``.
* ``raw`` is the wire message exactly as received (:func:`~weixin_gateway.ilink.wire.dump_wire`):
  unknown fields kept, 64-bit IDs as exact JSON integers.

:func:`content_fingerprint` identifies a message by sender and content (not by ``message_id``),
so that a re-delivery under a new ``message_id`` can be recognised and dropped.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal, cast, get_args

from weixin_gateway.ilink.quotes import quoted_ref, resolve_partial_text
from weixin_gateway.ilink.wire import MessageItem, RefMessage, WeixinMessage, dump_wire
from weixin_gateway.store.events import EventRecord

__all__ = [
    "ATTACHMENTS_LABEL",
    "Attachment",
    "AttachmentKind",
    "build_event",
    "content_fingerprint",
    "message_text",
]

AttachmentKind = Literal["image", "video", "voice", "file"]
ATTACHMENT_KINDS: tuple[str, ...] = get_args(AttachmentKind)

#: The first line of the attachment list in ``text`` (seed 000's wording).
ATTACHMENTS_LABEL = "用户发送了以下附件:"

#: Quoted text longer than this is cut (with "…") in the ``[引用: …]`` prefix.
QUOTE_MAX_CHARS = 200

_KIND_LABELS = {"image": "[图片]", "video": "[视频]", "voice": "[语音]", "file": "[文件]"}


@dataclass(frozen=True, slots=True)
class Attachment:
    """One inbound media item, saved to disk (or not: then ``error`` says why)."""

    kind: AttachmentKind
    #: Absolute path of the saved file; ``""`` when the download failed.
    path: str
    #: The saved file's name (``""`` when the download failed).
    filename: str
    mime_type: str
    #: Size of the saved file in bytes; 0 when the download failed.
    size: int
    #: A short reason when the download failed, else ``""``.
    error: str = ""
    #: Voice only: the absolute path of the transcoded WAV, else ``""``.
    wav_path: str = ""

    @property
    def ok(self) -> bool:
        """True if the media was saved."""
        return not self.error

    def to_json(self) -> dict[str, object]:
        """``{"kind", "path", "filename", "mime_type", "size"}`` (+ ``error`` / ``wav_path``)."""
        data: dict[str, object] = {
            "kind": self.kind,
            "path": self.path,
            "filename": self.filename,
            "mime_type": self.mime_type,
            "size": self.size,
        }
        if self.error:
            data["error"] = self.error
        if self.wav_path:
            data["wav_path"] = self.wav_path
        return data

    @classmethod
    def from_json(cls, data: Mapping[str, object]) -> Attachment:
        """The inverse of :meth:`to_json`; raises ``ValueError`` for an unknown ``kind``."""
        kind = str(data.get("kind", ""))
        if kind not in ATTACHMENT_KINDS:
            raise ValueError(f"unknown attachment kind {kind!r}")
        size = data.get("size", 0)
        if isinstance(size, str) and size.isdigit():
            size = int(size)
        return cls(
            kind=cast(AttachmentKind, kind),
            path=str(data.get("path", "") or ""),
            filename=str(data.get("filename", "") or ""),
            mime_type=str(data.get("mime_type", "") or ""),
            size=size if type(size) is int and size >= 0 else 0,
            error=str(data.get("error", "") or ""),
            wav_path=str(data.get("wav_path", "") or ""),
        )


# --- text ---------------------------------------------------------------------------------------


def _item_text(item: MessageItem | None) -> str:
    if item is None:
        return ""
    if item.text_item is not None and item.text_item.text:
        return item.text_item.text
    if item.voice_item is not None and item.voice_item.text:
        return item.voice_item.text
    return ""


def _item_label(item: MessageItem | None) -> str:
    if item is None:
        return ""
    if item.file_item is not None:
        name = item.file_item.file_name
        return f"[文件] {name}" if name else "[文件]"
    for attr, kind in (("image_item", "image"), ("video_item", "video"), ("voice_item", "voice")):
        if getattr(item, attr) is not None:
            return _KIND_LABELS[kind]
    return ""


def _quoted_text(ref: RefMessage) -> str:
    inline = _item_text(ref.message_item)
    if inline and ref.partial_text is not None:
        inline = resolve_partial_text(inline, ref.partial_text) or inline
    text = inline or ref.title or _item_label(ref.message_item)
    text = " ".join(text.split())
    if len(text) > QUOTE_MAX_CHARS:
        text = text[: QUOTE_MAX_CHARS - 1] + "…"
    return text


def _attachment_line(attachment: Attachment) -> str:
    if attachment.error or not attachment.path:
        reason = " ".join((attachment.error or "unknown error").split())
        return f"- {attachment.kind}: (下载失败: {reason})"
    return f"- {attachment.kind}: {attachment.path}"


def message_text(msg: WeixinMessage, attachments: Sequence[Attachment]) -> str:
    """The text the agent sees for ``msg`` whose media were saved as ``attachments``.

    Text items (and voice transcripts) joined with ``"\\n"``; a quoted message as a leading
    ``[引用: <quoted text>]`` line; then, if there are attachments, a blank line and the label
    ``用户发送了以下附件:`` with one ``- kind: path`` line each (``- kind: (下载失败: <error>)``
    for a failed download). A media-only message is the label alone.
    """
    parts = [text for item in msg.item_list or () if (text := _item_text(item))]
    body = "\n".join(parts)
    if attachments:
        listing = "\n".join([ATTACHMENTS_LABEL, *(_attachment_line(a) for a in attachments)])
        body = f"{body}\n\n{listing}" if body else listing
    ref = quoted_ref(msg)
    if ref is not None:
        quoted = _quoted_text(ref)
        prefix = f"[引用: {quoted}]" if quoted else "[引用]"
        body = f"{prefix}\n{body}" if body else prefix
    return body


# --- the event ----------------------------------------------------------------------------------


def build_event(
    *,
    account_id: str,
    event_id: str,
    msg: WeixinMessage,
    attachments: Sequence[Attachment],
    text: str | None = None,
) -> dict[str, object]:
    """The upstream event for ``msg`` (seed 000's schema, keys in its order).

    ``text`` overrides :func:`message_text`. ``raw`` is the wire message as received (unknown
    fields kept, ``None`` fields left out, 64-bit IDs as exact integers).
    """
    return event_payload(
        account_id=account_id,
        event_id=event_id,
        user_id=msg.from_user_id or "",
        text=message_text(msg, attachments) if text is None else text,
        context_token=msg.context_token or "",
        attachments=[a.to_json() for a in attachments],
        raw=dump_wire(msg),
    )


def stored_event(record: EventRecord) -> dict[str, object]:
    """The upstream event of a stored message (what callbacks post)."""
    return event_payload(
        account_id=record.account_id,
        event_id=record.event_id,
        user_id=record.user_id,
        text=record.text,
        context_token=record.context_token,
        attachments=record.attachments,
        raw=record.raw,
    )


def event_payload(
    *,
    account_id: str,
    event_id: str,
    user_id: str,
    text: str,
    context_token: str,
    attachments: Sequence[Mapping[str, object]],
    raw: Mapping[str, Any],
) -> dict[str, object]:
    """Seed 000's event object, keys in its order (``chat_id`` is the user in a c2c chat)."""
    return {
        "type": "message",
        "account_id": account_id,
        "event_id": event_id,
        "chat_id": user_id,
        "user_id": user_id,
        "text": text,
        "context_token": context_token,
        "chat_type": "c2c",
        "attachments": list(attachments),
        "raw": raw,
    }


# --- fingerprint --------------------------------------------------------------------------------


def _media_identity(item: MessageItem) -> dict[str, Any] | None:
    body = item.image_item or item.video_item or item.file_item or item.voice_item
    if body is None:
        return None
    media = body.media
    ident: dict[str, Any] = {
        "param": media.encrypt_query_param if media is not None else None,
        "url": media.full_url if media is not None and not media.encrypt_query_param else None,
    }
    if item.image_item is not None:
        ident["image"] = [item.image_item.mid_size, item.image_item.hd_size, item.image_item.url]
    if item.video_item is not None:
        ident["video"] = [item.video_item.video_size, item.video_item.video_md5]
    if item.file_item is not None:
        ident["file"] = [item.file_item.file_name, item.file_item.len, item.file_item.md5]
    if item.voice_item is not None:
        ident["voice"] = [item.voice_item.playtime, item.voice_item.text]
    return ident


def _item_identity(item: MessageItem | None) -> dict[str, Any] | None:
    if item is None:
        return None
    ident: dict[str, Any] = {"type": item.type}
    if item.text_item is not None:
        ident["text"] = item.text_item.text
    media = _media_identity(item)
    if media is not None:
        ident["media"] = media
    if item.tool_call_start_item is not None or item.tool_call_result_item is not None:
        tool = item.tool_call_start_item or item.tool_call_result_item
        ident["tool"] = dump_wire(tool) if tool is not None else None
    ref = item.ref_msg
    if ref is not None:
        ident["ref"] = {
            "svr_id": ref.svr_id,
            "title": ref.title,
            "item": _item_identity(ref.message_item),
            "partial": dump_wire(ref.partial_text) if ref.partial_text is not None else None,
        }
    return ident


def content_fingerprint(msg: WeixinMessage) -> str:
    """A short stable hash (32 hex chars of SHA-256) of the sender and the message's content.

    Covers text items, voice transcripts, media identities (download parameter, file name,
    sizes, checksums) and quotes — not ``message_id``, ``msg_id``, ``seq``, the times or the
    ``context_token`` — so a re-delivery under a new ``message_id`` has the same fingerprint.
    Two genuinely separate messages with equal text do too: compare within a short window only.
    """
    content = {
        "from": msg.from_user_id or "",
        "group": msg.group_id or "",
        "items": [_item_identity(item) for item in msg.item_list or ()],
    }
    canonical = json.dumps(content, ensure_ascii=False, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(canonical.encode()).hexdigest()[:32]
