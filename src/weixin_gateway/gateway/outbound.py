"""What ``POST /send`` does for one request: check every item, then send them all, in order.

* Every item is checked before anything goes out (blank text, ``file_type``, the URL's form,
  local paths under ``media_dirs``, local file sizes), so a bad third item never leaves the first
  two delivered and the rest missing.
* One :class:`asyncio.Lock` per (account, user) is held for the whole request: two requests to
  one user never interleave, requests to different users run side by side. The locks live in a
  :class:`weakref.WeakValueDictionary` and vanish once no request holds or waits for them.
* ``http(s)://`` media are downloaded (at most ``media_max_bytes``, within ``fetch_timeout_s``)
  into a temporary directory that is removed afterwards. ``file:///abs`` and ``/abs`` are read
  only when their real path (symlinks and ``..`` resolved) lies under one of ``media_dirs``.
* ``file_type`` 3 (voice) goes out as a *file* — voice bubbles from bots do not render for users —
  unless ``as_voice`` asks for a bubble, which needs SILK audio.
* Every failure is an :class:`OutboundError`: the HTTP status to answer, the item field, and how
  many items had already gone out (``sent``). Messages never carry a bot token or an AES key.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import tempfile
import weakref
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from stat import S_ISREG
from typing import TypeAlias
from urllib.parse import unquote, urlsplit

import aiohttp

from weixin_gateway.errors import (
    HttpStatusError,
    MediaTooLargeError,
    RequestTimeoutError,
    SendRejectedError,
    SessionExpiredError,
    TransportError,
    WeixinError,
)
from weixin_gateway.ilink import cdn
from weixin_gateway.ilink.client import MediaSendResult, WeixinClient
from weixin_gateway.ilink.media import extension_for_content_type, name_from_url
from weixin_gateway.ilink.voice import is_silk

__all__ = ["FilePart", "Outbound", "OutboundError", "SendPart", "TextPart", "fetch_to_file"]

#: ``file_type`` → what the item is sent as (3 becomes ``"voice"`` only with ``as_voice``).
FILE_KINDS = {1: "image", 2: "video", 3: "file", 4: "file"}
VOICE_FILE_TYPE = 3
_PATH_NOT_ALLOWED = "path not allowed: files must be under WEIXIN_GATEWAY_MEDIA_DIRS"
_BAD_URL = "url must be http(s)://..., file:///absolute/path or /absolute/path"


@dataclass(frozen=True, slots=True)
class TextPart:
    """``items[].type == "text"``."""

    text: str


@dataclass(frozen=True, slots=True)
class FilePart:
    """``items[].type == "file"``: ``file_type`` 1 image, 2 video, 3 voice, 4 file."""

    file_type: int
    url: str
    file_name: str | None = None
    #: Send a SILK voice bubble instead of a file (explicit opt-in; ``file_type`` 3 only).
    as_voice: bool = False


SendPart: TypeAlias = TextPart | FilePart


class OutboundError(Exception):
    """A send that failed: ``status`` to answer, ``field`` at fault, ``sent`` items already out."""

    def __init__(
        self,
        status: int,
        message: str,
        *,
        field: str | None = None,
        item_index: int | None = None,
        sent: int = 0,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.field = field
        self.item_index = item_index
        self.sent = sent


def _item_error(
    status: int, message: str, index: int, attribute: str | None, *, sent: int = 0
) -> OutboundError:
    """An error about ``items[index]`` (``attribute`` names the field, None the whole item)."""
    field = f"items[{index}].{attribute}" if attribute else f"items[{index}]"
    return OutboundError(status, message, field=field, item_index=index, sent=sent)


@dataclass(frozen=True, slots=True)
class _LocalFile:
    path: Path  # the real path, inside media_dirs
    name: str  # the name to send it under


@dataclass(frozen=True, slots=True)
class _RemoteFile:
    url: str


_Source: TypeAlias = _LocalFile | _RemoteFile | None


async def fetch_to_file(
    session: aiohttp.ClientSession, url: str, path: Path, *, max_bytes: int, timeout: float
) -> str | None:
    """Download ``url`` as plain bytes into ``path``; return its ``Content-Type``.

    Raises :class:`MediaTooLargeError` past ``max_bytes``, :class:`RequestTimeoutError` after
    ``timeout`` s, :class:`HttpStatusError` on a non-2xx answer, :class:`NetworkError` otherwise.
    """
    handle = await asyncio.to_thread(path.open, "wb")
    try:

        async def write(piece: bytes) -> None:
            await asyncio.to_thread(handle.write, piece)

        _, content_type = await cdn.download(
            session, url, write, key=None, max_bytes=max_bytes, timeout=timeout, label="media fetch"
        )
    finally:
        await asyncio.to_thread(handle.close)
    return content_type


def _remote_name(url: str, content_type: str | None) -> str:
    """``<url stem><ext>``; the extension from ``Content-Type``, else the URL, else ``.bin``."""
    url_name = PurePosixPath(name_from_url(url))
    ext = extension_for_content_type(content_type) or url_name.suffix.lower() or ".bin"
    return f"{url_name.stem or 'file'}{ext}"


def _wechat_failure(exc: WeixinError, index: int, token: str | None) -> OutboundError:
    """The :class:`OutboundError` for a failed upload or ``sendmessage``."""
    if isinstance(exc, SendRejectedError):
        message = "WeChat rejected the send (ret=-2); likely causes: " + "; ".join(
            exc.likely_causes
        )
    elif isinstance(exc, SessionExpiredError):
        message = "account session expired; log in again"
    else:
        # a real token is long; replacing a short one would garble the message
        message = str(exc).replace(token, "***") if token and len(token) >= 8 else str(exc)
    status = 504 if isinstance(exc, RequestTimeoutError) else 502
    if isinstance(exc, MediaTooLargeError):
        status = 413
    return _item_error(status, message, index, None, sent=index)


class Outbound:
    """Sends the items of ``POST /send`` requests (see the module docstring)."""

    def __init__(
        self,
        *,
        media_dirs: Sequence[Path],
        media_max_bytes: int,
        fetch_timeout_s: float,
        text_chunk_limit: int = 4000,
        fetch_session: aiohttp.ClientSession | None = None,
    ) -> None:
        self.media_dirs = tuple(Path(os.path.realpath(d)) for d in media_dirs)
        self.media_max_bytes = media_max_bytes
        self.fetch_timeout_s = fetch_timeout_s
        self.text_chunk_limit = text_chunk_limit
        self.fetch_session = fetch_session
        self._locks: weakref.WeakValueDictionary[tuple[str, str], asyncio.Lock] = (
            weakref.WeakValueDictionary()
        )

    # --- ordering -------------------------------------------------------------------------------

    def conversation_lock(self, account_id: str, user_id: str) -> asyncio.Lock:
        """The lock of one (account, user); it lives while someone holds a reference to it."""
        key = (account_id, user_id)
        lock = self._locks.get(key)
        if lock is None:
            lock = self._locks[key] = asyncio.Lock()
        return lock

    @property
    def conversation_count(self) -> int:
        """How many conversation locks are alive (held, awaited or still referenced)."""
        return len(self._locks)

    # --- sending --------------------------------------------------------------------------------

    async def send(
        self,
        client: WeixinClient,
        *,
        account_id: str,
        to_user_id: str,
        context_token: str | None,
        parts: Sequence[SendPart],
        locked: bool = False,
    ) -> list[dict[str, object]]:
        """Check every part, then send them all in order under the conversation lock
        (``locked``: the caller holds :meth:`conversation_lock` already)."""
        if not locked:
            async with self.conversation_lock(account_id, to_user_id):
                return await self.send(
                    client,
                    account_id=account_id,
                    to_user_id=to_user_id,
                    context_token=context_token,
                    parts=parts,
                    locked=True,
                )
        sources = await self.check(parts)
        results: list[dict[str, object]] = []
        for index, (part, source) in enumerate(zip(parts, sources, strict=True)):
            try:
                if isinstance(part, TextPart):
                    results.append(await self._send_text(client, to_user_id, context_token, part))
                else:
                    async with self._local_copy(client, index, source) as (path, name):
                        results.append(
                            await self._send_file(
                                client, to_user_id, context_token, index, part, path, name
                            )
                        )
            except WeixinError as exc:
                raise _wechat_failure(exc, index, client.api.token) from exc
        return results

    async def _send_text(
        self, client: WeixinClient, to_user_id: str, context_token: str | None, part: TextPart
    ) -> dict[str, object]:
        sent = await client.send_text_chunked(
            to_user_id, part.text, context_token=context_token, max_length=self.text_chunk_limit
        )
        return {"type": "text", "messages": len(sent), "message_ids": [r.message_id for r in sent]}

    async def _send_file(
        self,
        client: WeixinClient,
        to_user_id: str,
        context_token: str | None,
        index: int,
        part: FilePart,
        path: Path,
        name: str,
    ) -> dict[str, object]:
        kind = FILE_KINDS[part.file_type]
        result: MediaSendResult
        if part.file_type == 1:
            result = await client.send_image(to_user_id, path, context_token=context_token)
        elif part.file_type == 2:
            result = await client.send_video(to_user_id, path, context_token=context_token)
        elif part.as_voice:
            await _require_silk(index, path, name)
            kind = "voice"
            result = await client.send_voice(to_user_id, path, context_token=context_token)
        else:
            result = await client.send_file(
                to_user_id, path, context_token=context_token, file_name=name
            )
        return {
            "type": "file",
            "file_type": part.file_type,
            "kind": kind,
            "file_name": name,
            "size": result.media.rawsize,
            "message_id": result.message_id,
        }

    # --- checks before anything is sent ---------------------------------------------------------

    async def check(self, parts: Sequence[SendPart]) -> list[_Source]:
        """Refuse a request that could not be sent (:class:`OutboundError`), before anything
        goes out — also what ``/send/async`` runs before queuing a task."""
        if not parts:
            raise OutboundError(400, "items must hold at least one item", field="items")
        return await asyncio.to_thread(self._check_all, parts)

    def _check_all(self, parts: Sequence[SendPart]) -> list[_Source]:
        return [self._check(index, part) for index, part in enumerate(parts)]

    def _check(self, index: int, part: SendPart) -> _Source:
        """Refuse a part that cannot be sent; for a file, where its bytes come from."""
        if isinstance(part, TextPart):
            if not part.text.strip():
                raise _item_error(400, "text must not be empty", index, "text")
            return None
        if part.file_type not in FILE_KINDS:
            raise _item_error(400, f"unsupported file_type: {part.file_type}", index, "file_type")
        if part.as_voice and part.file_type != VOICE_FILE_TYPE:
            raise _item_error(400, "as_voice needs file_type 3 (voice)", index, "as_voice")
        url = part.url.strip()
        try:
            pieces = urlsplit(url)
        except ValueError:  # e.g. an unbalanced "[" in the host
            raise _item_error(400, _BAD_URL, index, "url") from None
        scheme = pieces.scheme.lower()
        if scheme in ("http", "https") and pieces.hostname:
            return _RemoteFile(url)
        if scheme == "file" and pieces.netloc in ("", "localhost"):
            return self._local_file(index, unquote(pieces.path), part.file_name)
        if not scheme and url.startswith("/"):
            return self._local_file(index, url, part.file_name)
        raise _item_error(400, _BAD_URL, index, "url")

    def _local_file(self, index: int, requested: str, file_name: str | None) -> _LocalFile:
        if not requested.startswith("/") or "\x00" in requested:
            raise _item_error(400, _BAD_URL, index, "url")
        real = Path(os.path.realpath(requested))
        if not any(real.is_relative_to(base) for base in self.media_dirs):
            raise _item_error(400, _PATH_NOT_ALLOWED, index, "url")
        try:
            stat = real.stat()
        except OSError:
            raise _item_error(400, f"file not found: {requested}", index, "url") from None
        if not S_ISREG(stat.st_mode):
            raise _item_error(400, f"not a regular file: {requested}", index, "url")
        if stat.st_size > self.media_max_bytes:
            message = (
                f"file is {stat.st_size} bytes, over the limit of {self.media_max_bytes} bytes"
            )
            raise _item_error(413, message, index, "url")
        return _LocalFile(real, file_name or PurePosixPath(requested).name or real.name)

    # --- where the bytes come from --------------------------------------------------------------

    @asynccontextmanager
    async def _local_copy(
        self, client: WeixinClient, index: int, source: _Source
    ) -> AsyncIterator[tuple[Path, str]]:
        """A local path holding the part's bytes and the name to send it under."""
        if isinstance(source, _LocalFile):
            yield source.path, source.name
            return
        assert source is not None
        tmp_dir = Path(await asyncio.to_thread(tempfile.mkdtemp, prefix="weixin-send-"))
        try:
            path = tmp_dir / "download"
            content_type = await self._fetch(client, index, source.url, path)
            yield path, _remote_name(source.url, content_type)
        finally:
            await asyncio.to_thread(shutil.rmtree, tmp_dir, True)

    async def _fetch(self, client: WeixinClient, index: int, url: str, path: Path) -> str | None:
        session = self.fetch_session or client.api.session
        try:
            return await fetch_to_file(
                session, url, path, max_bytes=self.media_max_bytes, timeout=self.fetch_timeout_s
            )
        except MediaTooLargeError as exc:
            raise _item_error(413, str(exc), index, "url", sent=index) from exc
        except RequestTimeoutError as exc:
            message = f"fetching the url timed out after {self.fetch_timeout_s:g} s"
            raise _item_error(504, message, index, "url", sent=index) from exc
        except TransportError as exc:
            reason = f"HTTP {exc.status}" if isinstance(exc, HttpStatusError) else str(exc)
            message = f"fetching the url failed: {reason}"
            raise _item_error(502, message, index, "url", sent=index) from exc


async def _require_silk(index: int, path: Path, name: str) -> None:
    """400 unless ``path`` starts like a SILK v3 stream (a voice bubble needs SILK)."""

    def head() -> bytes:
        with path.open("rb") as f:
            return f.read(16)

    if not is_silk(await asyncio.to_thread(head)):
        ext = PurePosixPath(name).suffix.lower() or "(none)"
        message = f"unsupported voice format: {ext}; a voice bubble needs SILK audio (.silk)"
        raise _item_error(400, message, index, "url", sent=index)
