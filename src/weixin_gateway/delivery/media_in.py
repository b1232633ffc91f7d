"""Inbound attachments: every media item of a message, downloaded, decrypted and saved to disk.

:class:`InboundMedia` saves each image, video, file and voice item that says where to download
(:func:`~weixin_gateway.ilink.media.is_downloadable`) into one directory, one item after another
(``download_media_to`` streams, so memory stays bounded), as
``weixin-inbound-<uuid hex>[-<original name>].<ext>``:

* images: the extension and MIME type come from the first bytes (PNG, JPEG, GIF, WebP, BMP;
  ``.jpg`` when none matches);
* files: the original ``file_name`` is kept after the hex, sanitised to letters, digits,
  ``. _ -`` (a name can never leave the directory), its extension gives the MIME type;
* videos ``.mp4``, voices ``.silk`` — and, when the ``voice`` extra is installed, a ``.wav``
  beside it (``wav_path``).

A failed item never fails the message: it becomes an :class:`~.events.Attachment` with ``error``
(a short reason — never a token or key) and an empty ``path``. Only cancellation propagates.
"""

from __future__ import annotations

import asyncio
import importlib.util
import logging
import os
import posixpath
import re
import unicodedata
import uuid
from pathlib import Path

from weixin_gateway.errors import (
    HttpStatusError,
    MediaError,
    MediaTooLargeError,
    MissingExtraError,
    NetworkError,
    RequestTimeoutError,
    WeixinError,
)
from weixin_gateway.ilink.client import WeixinClient
from weixin_gateway.ilink.media import guess_content_type, is_downloadable, media_type_of_item
from weixin_gateway.ilink.voice import silk_to_wav
from weixin_gateway.ilink.wire import MediaType, MessageItem, WeixinMessage

from .events import Attachment, AttachmentKind

__all__ = ["INBOUND_PREFIX", "InboundMedia", "safe_file_name", "sniff_image"]

log = logging.getLogger(__name__)

#: Every saved file's name starts with this.
INBOUND_PREFIX = "weixin-inbound-"

_KINDS: dict[MediaType, AttachmentKind] = {
    MediaType.IMAGE: "image",
    MediaType.VIDEO: "video",
    MediaType.FILE: "file",
    MediaType.VOICE: "voice",
}
_FIXED: dict[AttachmentKind, tuple[str, str]] = {
    "video": (".mp4", "video/mp4"),
    "voice": (".silk", "audio/silk"),
}
_IMAGE_SIGNATURES: tuple[tuple[bytes, str, str], ...] = (
    (b"\x89PNG\r\n\x1a\n", ".png", "image/png"),
    (b"\xff\xd8\xff", ".jpg", "image/jpeg"),
    (b"GIF87a", ".gif", "image/gif"),
    (b"GIF89a", ".gif", "image/gif"),
    (b"BM", ".bmp", "image/bmp"),
)
_UNSAFE = re.compile(r"[^\w.\-]+")
_EXT = re.compile(r"\.[a-z0-9]{1,10}")
#: Cap (UTF-8 bytes) of the original name kept in a saved file's name (file systems allow 255).
_MAX_NAME_BYTES = 120
_ERROR_MAX_CHARS = 200


def sniff_image(head: bytes) -> tuple[str, str]:
    """``(extension, MIME type)`` of an image from its first bytes; ``(".jpg", "image/jpeg")``
    when it is none of PNG, JPEG, GIF, WebP or BMP."""
    if head[:4] == b"RIFF" and head[8:12] == b"WEBP":
        return ".webp", "image/webp"
    for signature, ext, mime in _IMAGE_SIGNATURES:
        if head.startswith(signature):
            return ext, mime
    return ".jpg", "image/jpeg"


def _truncate_utf8(text: str, limit: int) -> str:
    encoded = text.encode()
    if len(encoded) <= limit:
        return text
    return encoded[:limit].decode("utf-8", "ignore")


def safe_file_name(name: str | None) -> tuple[str, str]:
    """``(stem, extension)`` of a sender's file name, made safe to put in a saved file's name.

    Only the last path component counts (``/`` and ``\\`` both separate), characters other
    than letters, digits, ``.``, ``_`` and ``-`` become ``_``, leading dots are dropped (no
    ``..``, no hidden files), the stem is capped at 120 UTF-8 bytes, and the extension is kept
    only if it is 1-10 ASCII letters or digits (lowercased). Either part may be ``""``.
    """
    if not name:
        return "", ""
    base = posixpath.basename(unicodedata.normalize("NFC", name).replace("\\", "/"))
    base = "".join(ch for ch in base if unicodedata.category(ch)[0] != "C")
    stem, ext = posixpath.splitext(base.strip())
    ext = ext.lower()
    if not _EXT.fullmatch(ext):
        stem, ext = stem + ext, ""
    stem = _UNSAFE.sub("_", stem).strip("._-")
    stem = _truncate_utf8(stem, _MAX_NAME_BYTES).rstrip("._-")
    return stem, ext


def _voice_codec_available() -> bool:
    return importlib.util.find_spec("pysilk") is not None


def _short_error(exc: BaseException) -> str:
    """A short reason for ``error``: never the URL (it carries the download parameter)."""
    if isinstance(exc, MediaTooLargeError):
        reason = str(exc)
    elif isinstance(exc, HttpStatusError):
        reason = f"CDN answered HTTP {exc.status}"
    elif isinstance(exc, RequestTimeoutError | TimeoutError):
        reason = "download timed out"
    elif isinstance(exc, NetworkError):
        cause = exc.__cause__
        reason = f"network error ({type(cause).__name__ if cause else 'connection failed'})"
    elif isinstance(exc, MediaError):
        reason = str(exc) or "media error"
    elif isinstance(exc, OSError):
        reason = f"cannot save the file: {exc.strerror or type(exc).__name__}"
    else:
        reason = f"download failed ({type(exc).__name__})"
    reason = " ".join(reason.split())
    return reason[:_ERROR_MAX_CHARS]


def _failed(kind: AttachmentKind, exc: BaseException) -> Attachment:
    return Attachment(
        kind=kind, path="", filename="", mime_type="", size=0, error=_short_error(exc)
    )


def _read_head(path: Path, n: int = 16) -> bytes:
    with path.open("rb") as handle:
        return handle.read(n)


def _remove(path: Path) -> None:
    try:
        path.unlink(missing_ok=True)
    except OSError:
        log.debug("could not remove %s", path.name)


def _transcode(silk_path: Path, wav_path: Path) -> None:
    wav = silk_to_wav(silk_path.read_bytes())
    partial = wav_path.with_name(wav_path.name + ".part")
    try:
        partial.write_bytes(wav)
        partial.replace(wav_path)
    finally:
        partial.unlink(missing_ok=True)


class InboundMedia:
    """Saves a message's media into ``inbound_dir`` (created on first use).

    ``max_bytes`` caps each item's plaintext size; ``transcode_voice`` also writes a ``.wav``
    for each voice when ``silk-python`` (the ``voice`` extra) is installed.
    """

    def __init__(self, inbound_dir: Path, *, max_bytes: int, transcode_voice: bool = True) -> None:
        if max_bytes < 1:
            raise ValueError("max_bytes must be at least 1")
        self.inbound_dir = Path(os.path.abspath(Path(inbound_dir).expanduser()))
        self.max_bytes = max_bytes
        self.transcode_voice = transcode_voice

    def __repr__(self) -> str:
        return f"InboundMedia({str(self.inbound_dir)!r}, max_bytes={self.max_bytes})"

    async def save_all(self, client: WeixinClient, msg: WeixinMessage) -> list[Attachment]:
        """Download every downloadable media item of ``msg`` in order; one attachment each.

        Never raises for a failed item (its attachment carries ``error``); cancellation
        propagates (a partly written file is removed).
        """
        attachments: list[Attachment] = []
        for item in msg.item_list or ():
            kind_type = media_type_of_item(item)
            if kind_type is None or not is_downloadable(item.media):
                continue
            kind = _KINDS[kind_type]
            try:
                attachment = await self._save(client, item, kind)
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # a failure of one item must not lose the message
                attachment = _failed(kind, exc)
                log.warning(
                    "inbound %s of message %s not saved: %s", kind, msg.id, attachment.error
                )
                if not isinstance(exc, WeixinError | OSError):
                    log.debug("inbound media failure", exc_info=True)
            attachments.append(attachment)
        return attachments

    def _target(self, stem: str, ext: str) -> Path:
        path = self.inbound_dir / f"{stem}{ext}"
        if path.parent != self.inbound_dir or not path.name.startswith(INBOUND_PREFIX):
            raise MediaError("unsafe file name")  # cannot happen after safe_file_name
        return path

    async def _save(
        self, client: WeixinClient, item: MessageItem, kind: AttachmentKind
    ) -> Attachment:
        await asyncio.to_thread(self.inbound_dir.mkdir, parents=True, exist_ok=True)
        stem = INBOUND_PREFIX + uuid.uuid4().hex
        if kind == "file":
            original = item.file_item.file_name if item.file_item is not None else None
            safe_stem, ext = safe_file_name(original)
            if safe_stem:
                stem = f"{stem}-{safe_stem}"
            ext = ext or ".bin"
            path = self._target(stem, ext)
            mime = guess_content_type(path.name)
        elif kind == "image":
            path = self._target(stem, "")  # renamed once the first bytes are known
            mime = ""
        else:
            ext, mime = _FIXED[kind]
            path = self._target(stem, ext)

        size = await client.download_media_to(item, path, max_bytes=self.max_bytes)
        try:
            if kind == "image":
                ext, mime = sniff_image(await asyncio.to_thread(_read_head, path))
                final = self._target(stem, ext)
                await asyncio.to_thread(path.replace, final)
                path = final
            wav_path = ""
            if kind == "voice":
                wav_path = await self._wav(path)
        except BaseException:
            _remove(path)  # synchronous: must also run when the task is being cancelled
            raise
        return Attachment(
            kind=kind,
            path=str(path),
            filename=path.name,
            mime_type=mime,
            size=size,
            wav_path=wav_path,
        )

    async def _wav(self, silk_path: Path) -> str:
        if not self.transcode_voice or not _voice_codec_available():
            return ""
        wav_path = silk_path.with_suffix(".wav")
        try:
            await asyncio.to_thread(_transcode, silk_path, wav_path)
        except (WeixinError, OSError) as exc:  # MediaError (not SILK) or MissingExtraError
            kind = "codec missing" if isinstance(exc, MissingExtraError) else _short_error(exc)
            log.debug("voice %s kept as SILK, no WAV: %s", silk_path.name, kind)
            return ""
        return str(wav_path)
