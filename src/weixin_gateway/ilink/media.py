"""Media rules without I/O: kinds, MIME and extension guesses, items, key choice (ilink.md §10-§11).

* Which kind a file is sent as: by extension (video ``.mp4 .mov .webm .mkv .avi``, image
  ``.png .jpg .jpeg .gif .webp .bmp``, anything else a file — audio included), or by content type.
* The item the official client sends for an upload (:func:`build_media_item`): ``aes_key`` is base64
  of the ASCII hex key; images carry ``mid_size`` and videos ``video_size`` (ciphertext sizes);
  files carry ``file_name`` and ``len`` (the plaintext size, as a string).
* Which item of an inbound message to download (:func:`pick_media_item`) and with which key
  (:func:`media_key_for`): for an image the hex ``aeskey`` first, then ``media.aes_key``, else the
  bytes are plain; voice, file and video must carry ``media.aes_key``.
"""

from __future__ import annotations

import mimetypes
import posixpath
from dataclasses import dataclass, field
from urllib.parse import unquote, urlsplit

from weixin_gateway.errors import MediaError

from .crypto import aes_key_b64_hex, parse_aes_key, parse_hex_key
from .wire import (
    CDNMedia,
    FileItem,
    ImageItem,
    MediaType,
    MessageItem,
    MessageItemType,
    VideoItem,
    VoiceItem,
    WeixinMessage,
)

__all__ = [
    "DEFAULT_MEDIA_MAX_BYTES",
    "IMAGE_EXTENSIONS",
    "VIDEO_EXTENSIONS",
    "SilkVoice",
    "UploadedMedia",
    "build_media_item",
    "extension_for_content_type",
    "guess_content_type",
    "is_downloadable",
    "media_key_for",
    "media_type_for_content_type",
    "media_type_for_name",
    "media_type_of_item",
    "name_from_url",
    "pick_media_item",
]

#: The official client's cap for inbound media (``WEIXIN_MEDIA_MAX_BYTES``); ours for both ways.
DEFAULT_MEDIA_MAX_BYTES = 100 * 1024 * 1024

VIDEO_EXTENSIONS = frozenset({".mp4", ".mov", ".webm", ".mkv", ".avi"})
IMAGE_EXTENSIONS = frozenset({".png", ".jpg", ".jpeg", ".gif", ".webp", ".bmp"})

# The official ``mime.ts`` table for the types it sends, so results do not depend on the host's
# ``/etc/mime.types``; other names fall back to :mod:`mimetypes`.
_CONTENT_TYPES = {
    ".mp4": "video/mp4",
    ".mov": "video/quicktime",
    ".webm": "video/webm",
    ".mkv": "video/x-matroska",
    ".avi": "video/x-msvideo",
    ".png": "image/png",
    ".jpg": "image/jpeg",
    ".jpeg": "image/jpeg",
    ".gif": "image/gif",
    ".webp": "image/webp",
    ".bmp": "image/bmp",
    ".pdf": "application/pdf",
    ".txt": "text/plain",
    ".mp3": "audio/mpeg",
    ".wav": "audio/wav",
    ".ogg": "audio/ogg",
    ".silk": "audio/silk",
}
_EXTENSIONS = {
    "image/jpeg": ".jpg",
    "image/jpg": ".jpg",
    "image/png": ".png",
    "image/gif": ".gif",
    "image/webp": ".webp",
    "image/bmp": ".bmp",
    "video/mp4": ".mp4",
    "video/quicktime": ".mov",
    "video/webm": ".webm",
    "video/x-matroska": ".mkv",
    "video/x-msvideo": ".avi",
    "application/pdf": ".pdf",
    "text/plain": ".txt",
    "audio/mpeg": ".mp3",
    "audio/wav": ".wav",
    "audio/x-wav": ".wav",
    "audio/ogg": ".ogg",
    "audio/silk": ".silk",
    "application/zip": ".zip",
    "application/json": ".json",
}


def _extension(name: str) -> str:
    return posixpath.splitext(name.replace("\\", "/"))[1].lower()


def media_type_for_name(name: str) -> MediaType:
    """IMAGE, VIDEO or FILE from a file name's extension (the official ``mime.ts`` rule)."""
    ext = _extension(name)
    if ext in VIDEO_EXTENSIONS:
        return MediaType.VIDEO
    if ext in IMAGE_EXTENSIONS:
        return MediaType.IMAGE
    return MediaType.FILE


def media_type_for_content_type(content_type: str | None) -> MediaType | None:
    """IMAGE for ``image/*``, VIDEO for ``video/*``, FILE for anything else; None if unknown."""
    if not content_type:
        return None
    main = content_type.split(";", 1)[0].strip().lower()
    if not main or main == "application/octet-stream":
        return None
    if main.startswith("image/"):
        return MediaType.IMAGE
    if main.startswith("video/"):
        return MediaType.VIDEO
    return MediaType.FILE


def guess_content_type(name: str) -> str:
    """A MIME type for a file name; ``application/octet-stream`` when nothing fits."""
    ext = _extension(name)
    return (
        _CONTENT_TYPES.get(ext) or mimetypes.guess_type("x" + ext)[0] or "application/octet-stream"
    )


def extension_for_content_type(content_type: str | None) -> str | None:
    """The extension (with dot) for a ``Content-Type`` header, or None if it says nothing."""
    if not content_type:
        return None
    main = content_type.split(";", 1)[0].strip().lower()
    if not main or main == "application/octet-stream":
        return None
    return _EXTENSIONS.get(main) or mimetypes.guess_extension(main)


def name_from_url(url: str) -> str:
    """The last path segment of a URL, decoded; ``""`` when there is none."""
    return posixpath.basename(unquote(urlsplit(url).path))


@dataclass(frozen=True, slots=True)
class SilkVoice:
    """How to describe an uploaded SILK file as a VOICE item (encode_type 6)."""

    playtime_ms: int | None = None
    sample_rate: int = 24_000
    bits_per_sample: int = 16


@dataclass(frozen=True, slots=True)
class UploadedMedia:
    """What one finished CDN upload yields; enough to build the item that points at it."""

    media_type: MediaType
    download_param: str
    aes_key: bytes = field(repr=False)
    filekey: str
    rawsize: int
    filesize: int
    md5: str
    file_name: str

    @property
    def cdn_media(self) -> CDNMedia:
        """``{"encrypt_query_param", "aes_key" (base64 of the hex key), "encrypt_type": 1}``."""
        return CDNMedia(
            encrypt_query_param=self.download_param,
            aes_key=aes_key_b64_hex(self.aes_key),
            encrypt_type=1,
        )


def build_media_item(uploaded: UploadedMedia, *, voice: SilkVoice | None = None) -> MessageItem:
    """The ``item_list`` entry the official client sends for an upload (ilink-vectors.md §8)."""
    media = uploaded.cdn_media
    kind = uploaded.media_type
    if kind == MediaType.IMAGE:
        return MessageItem(
            type=MessageItemType.IMAGE,
            image_item=ImageItem(media=media, mid_size=uploaded.filesize),
        )
    if kind == MediaType.VIDEO:
        return MessageItem(
            type=MessageItemType.VIDEO,
            video_item=VideoItem(media=media, video_size=uploaded.filesize),
        )
    if kind == MediaType.VOICE:
        info = voice or SilkVoice()
        return MessageItem(
            type=MessageItemType.VOICE,
            voice_item=VoiceItem(
                media=media,
                encode_type=6,
                bits_per_sample=info.bits_per_sample,
                sample_rate=info.sample_rate,
                playtime=info.playtime_ms,
            ),
        )
    return MessageItem(
        type=MessageItemType.FILE,
        file_item=FileItem(media=media, file_name=uploaded.file_name, len=str(uploaded.rawsize)),
    )


# --- inbound ------------------------------------------------------------------------------------


def is_downloadable(media: CDNMedia | None) -> bool:
    """True if ``media`` says where to download: a non-empty ``encrypt_query_param`` or URL."""
    return media is not None and bool(media.encrypt_query_param or media.full_url)


def _pick_direct(items: list[MessageItem]) -> MessageItem | None:
    for attr in ("image_item", "video_item", "file_item"):
        for item in items:
            body = getattr(item, attr)
            if body is not None and is_downloadable(body.media):
                return item
    for item in items:
        voice = item.voice_item
        if voice is not None and not voice.text and is_downloadable(voice.media):
            return item
    return None


def pick_media_item(msg: WeixinMessage) -> MessageItem | None:
    """The one item of ``msg`` whose media the official client downloads (ilink.md §11.1).

    An image, else a video, else a file, else a voice *without* transcript; each must say where
    to download. If none qualifies, the quoted media of the first text item that quotes one.
    """
    items = list(msg.item_list or ())
    found = _pick_direct(items)
    if found is not None:
        return found
    for item in items:
        if item.text_item is None or item.ref_msg is None:
            continue
        quoted = item.ref_msg.message_item
        if quoted is not None and _pick_direct([quoted]) is not None:
            return quoted
    return None


def media_key_for(item: MessageItem) -> bytes | None:
    """The AES key to decrypt ``item``'s media with, or None for a plain (unencrypted) image.

    Raises :class:`MediaError` for voice, file or video without ``media.aes_key``, for an item
    without media, and for a key that is not one of the two known encodings.
    """
    image = item.image_item
    if image is not None:
        if image.aeskey:
            return parse_hex_key(image.aeskey)
        if image.media is not None and image.media.aes_key:
            return parse_aes_key(image.media.aes_key)
        return None
    media = item.media
    if media is None:
        raise MediaError("item carries no media")
    if not media.aes_key:
        raise MediaError("voice, file and video media need media.aes_key to be decrypted")
    return parse_aes_key(media.aes_key)


def media_type_of_item(item: MessageItem) -> MediaType | None:
    """The kind of media an item carries (by its body), or None for a non-media item."""
    if item.image_item is not None:
        return MediaType.IMAGE
    if item.video_item is not None:
        return MediaType.VIDEO
    if item.file_item is not None:
        return MediaType.FILE
    if item.voice_item is not None:
        return MediaType.VOICE
    return None
