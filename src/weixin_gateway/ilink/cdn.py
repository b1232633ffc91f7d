"""The encrypted CDN: upload and download in bounded memory (ilink.md §10.1, §11.2).

Upload (``POST``): the body is ``AES-128-ECB(key, PKCS#7(plaintext))`` produced chunk by chunk from
a :class:`MediaSource`, with ``Content-Type: application/octet-stream`` and a ``Content-Length``
of the padded size. ``200`` with ``x-encrypted-param`` is success; a 4xx fails at once with the
``x-error-message`` header (or the body) as :class:`MediaError`; any other status, a missing
header or a network error is retried immediately, 3 attempts in all.

Download (``GET``): ``media.full_url`` when set, else ``{cdn}/download?encrypted_query_param=…``.
The body is decrypted as it streams in and handed to a sink; a cap is enforced while counting.
Transport failures raise :class:`NetworkError` / :class:`RequestTimeoutError` /
:class:`HttpStatusError`; bad keys, bad padding and the cap raise :class:`MediaError`.

Like :mod:`.api`, this module borrows the ``aiohttp`` session it is given.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import os
from abc import ABC, abstractmethod
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from stat import S_ISREG
from urllib.parse import quote

import aiohttp

from weixin_gateway.errors import (
    HttpStatusError,
    MediaError,
    MediaTooLargeError,
    NetworkError,
    RequestTimeoutError,
)

from .crypto import EcbDecryptor, EcbEncryptor, padded_size
from .wire import CDNMedia, GetUploadUrlResponse

__all__ = [
    "CHUNK_SIZE",
    "UPLOAD_ATTEMPTS",
    "BytesSource",
    "FileSource",
    "MediaSource",
    "Sink",
    "cdn_download_url",
    "cdn_upload_url",
    "download",
    "encode_uri_component",
    "upload",
]

log = logging.getLogger(__name__)

CHUNK_SIZE = 1 << 20
UPLOAD_ATTEMPTS = 3

#: Receives plaintext pieces in order.
Sink = Callable[[bytes], Awaitable[None]]


def encode_uri_component(value: str) -> str:
    """Percent-encode like JavaScript's ``encodeURIComponent``."""
    return quote(value, safe="!~*'()")


def cdn_upload_url(cdn_base_url: str, reply: GetUploadUrlResponse, filekey: str) -> str:
    """``upload_full_url`` if non-blank, else ``{cdn}/upload?encrypted_query_param=…&filekey=…``."""
    full = (reply.upload_full_url or "").strip()
    if full:
        return full
    if not reply.upload_param:
        raise MediaError("getuploadurl returned no upload URL")
    return (
        f"{cdn_base_url.rstrip('/')}/upload?encrypted_query_param="
        f"{encode_uri_component(reply.upload_param)}&filekey={encode_uri_component(filekey)}"
    )


def cdn_download_url(cdn_base_url: str, media: CDNMedia) -> str:
    """``media.full_url`` if set, else ``{cdn}/download?encrypted_query_param=…``."""
    if media.full_url:
        return media.full_url
    if not media.encrypt_query_param:
        raise MediaError("media has neither full_url nor encrypt_query_param")
    return (
        f"{cdn_base_url.rstrip('/')}/download?encrypted_query_param="
        f"{encode_uri_component(media.encrypt_query_param)}"
    )


# --- sources ------------------------------------------------------------------------------------


class MediaSource(ABC):
    """Plaintext to upload that can be read more than once (md5 pass, then each attempt)."""

    name: str
    size: int

    @abstractmethod
    async def md5(self) -> str:
        """Lowercase hex MD5 of the whole plaintext."""

    @abstractmethod
    def chunks(self) -> AsyncIterator[bytes]:
        """The plaintext, in pieces of at most :data:`CHUNK_SIZE` bytes."""


class BytesSource(MediaSource):
    """Plaintext already in memory."""

    def __init__(self, data: bytes, name: str) -> None:
        self._data = data
        self.name = name
        self.size = len(data)

    def __repr__(self) -> str:
        return f"BytesSource(name={self.name!r}, size={self.size})"

    async def md5(self) -> str:
        return hashlib.md5(self._data, usedforsecurity=False).hexdigest()

    async def chunks(self) -> AsyncIterator[bytes]:
        view = memoryview(self._data)
        for start in range(0, len(view), CHUNK_SIZE):
            yield bytes(view[start : start + CHUNK_SIZE])


def _md5_of_file(path: Path) -> str:
    digest = hashlib.md5(usedforsecurity=False)
    with path.open("rb") as f:
        while chunk := f.read(CHUNK_SIZE):
            digest.update(chunk)
    return digest.hexdigest()


class FileSource(MediaSource):
    """A file on disk, read in chunks on a worker thread; never held whole in memory."""

    def __init__(self, path: Path, size: int, name: str | None = None) -> None:
        self.path = path
        self.size = size
        self.name = name or path.name

    def __repr__(self) -> str:
        return f"FileSource(path={str(self.path)!r}, size={self.size})"

    @classmethod
    async def open(cls, path: str | os.PathLike[str], name: str | None = None) -> FileSource:
        """A source for ``path``; :class:`MediaError` if it is not a readable regular file."""
        file_path = Path(path)
        try:
            stat = await asyncio.to_thread(file_path.stat)
        except OSError as exc:
            raise MediaError(f"cannot read {file_path.name!r}: {exc.strerror}") from exc
        if not S_ISREG(stat.st_mode):
            raise MediaError(f"{file_path.name!r} is not a regular file")
        return cls(file_path, stat.st_size, name)

    async def md5(self) -> str:
        try:
            return await asyncio.to_thread(_md5_of_file, self.path)
        except OSError as exc:
            raise MediaError(f"cannot read {self.name!r}: {exc.strerror}") from exc

    async def chunks(self) -> AsyncIterator[bytes]:
        try:
            f = await asyncio.to_thread(self.path.open, "rb")
        except OSError as exc:
            raise MediaError(f"cannot read {self.name!r}: {exc.strerror}") from exc
        try:
            while chunk := await asyncio.to_thread(f.read, CHUNK_SIZE):
                yield chunk
        finally:
            f.close()


# --- upload -------------------------------------------------------------------------------------


async def _ciphertext(source: MediaSource, key: bytes) -> AsyncIterator[bytes]:
    encryptor = EcbEncryptor(key)
    seen = 0
    async for chunk in source.chunks():
        seen += len(chunk)
        if seen > source.size:
            break
        if out := encryptor.update(chunk):
            yield out
    if seen != source.size:
        raise MediaError(f"{source.name!r} changed size during the upload")
    yield encryptor.finalize()


#: A transfer that receives nothing for this long has stalled, whatever its size.
IDLE_READ_TIMEOUT = 60.0


def _bounds(total: float) -> str:
    return f"over {total:g} s in all, or {min(total, IDLE_READ_TIMEOUT):g} s without data"


def _timeout(total: float) -> aiohttp.ClientTimeout:
    """``total`` bounds the whole transfer; a stall is caught sooner by the idle-read timeout."""
    return aiohttp.ClientTimeout(
        total=total, sock_connect=min(total, 30.0), sock_read=min(total, IDLE_READ_TIMEOUT)
    )


async def _upload_once(
    session: aiohttp.ClientSession, url: str, source: MediaSource, key: bytes, timeout: float
) -> str | Exception:
    """One attempt: the download parameter, or the retryable error; 4xx raises."""
    headers = {
        "Content-Type": "application/octet-stream",
        "Content-Length": str(padded_size(source.size)),
    }
    try:
        async with session.post(
            url, data=_ciphertext(source, key), headers=headers, timeout=_timeout(timeout)
        ) as resp:
            if 400 <= resp.status < 500:
                reason = resp.headers.get("x-error-message") or (
                    (await resp.content.read(300)).decode("utf-8", "replace")
                )
                raise MediaError(f"CDN upload client error {resp.status}: {reason[:300]}")
            if resp.status != 200:
                body = (await resp.content.read(500)).decode("utf-8", "replace")
                return HttpStatusError("cdn upload", resp.status, body)
            param = resp.headers.get("x-encrypted-param")
            if not param:
                return MediaError("CDN upload reply has no x-encrypted-param header")
            return param
    except TimeoutError:
        return RequestTimeoutError(f"cdn upload timed out: {_bounds(timeout)}")
    except aiohttp.ClientError as exc:
        return NetworkError(f"cdn upload failed: {exc.__class__.__name__}: {exc}")


async def upload(
    session: aiohttp.ClientSession,
    url: str,
    source: MediaSource,
    key: bytes,
    *,
    timeout: float,
    attempts: int = UPLOAD_ATTEMPTS,
) -> str:
    """POST the encrypted ``source`` to ``url``; return the ``x-encrypted-param`` value."""
    last: Exception | None = None
    for attempt in range(1, attempts + 1):
        outcome = await _upload_once(session, url, source, key, timeout)
        if isinstance(outcome, str):
            return outcome
        last = outcome
        log.warning("cdn upload attempt %d/%d failed: %s", attempt, attempts, outcome)
    raise MediaError(f"CDN upload failed after {attempts} attempts: {last}") from last


# --- download -----------------------------------------------------------------------------------


async def download(
    session: aiohttp.ClientSession,
    url: str,
    sink: Sink,
    *,
    key: bytes | None,
    max_bytes: int,
    timeout: float,
    label: str = "cdn download",
) -> tuple[int, str | None]:
    """GET ``url``, decrypt with ``key`` (``None``: plain bytes) into ``sink``.

    Returns ``(plaintext bytes written, Content-Type)``. More than ``max_bytes`` of plaintext
    raises :class:`MediaTooLargeError` as soon as the count passes the cap.
    """
    wire_limit = padded_size(max_bytes) if key is not None else max_bytes
    decryptor = EcbDecryptor(key) if key is not None else None
    written = 0

    async def emit(piece: bytes) -> None:
        nonlocal written
        written += len(piece)
        if written > max_bytes:
            raise MediaTooLargeError(written, max_bytes)
        if piece:
            await sink(piece)

    try:
        async with session.get(url, timeout=_timeout(timeout)) as resp:
            if not 200 <= resp.status < 300:
                body = await resp.content.read(500)
                raise HttpStatusError(label, resp.status, body.decode("utf-8", "replace"))
            content_type = resp.headers.get("Content-Type")
            if resp.content_length is not None and resp.content_length > wire_limit:
                raise MediaTooLargeError(resp.content_length, max_bytes)
            received = 0
            async for chunk in resp.content.iter_chunked(CHUNK_SIZE):
                received += len(chunk)
                if received > wire_limit:
                    raise MediaTooLargeError(received, max_bytes)
                await emit(decryptor.update(chunk) if decryptor is not None else chunk)
    except TimeoutError as exc:
        raise RequestTimeoutError(f"{label} timed out: {_bounds(timeout)}") from exc
    except aiohttp.ClientError as exc:
        raise NetworkError(f"{label} failed: {exc.__class__.__name__}: {exc}") from exc
    if decryptor is not None:
        await emit(decryptor.finalize())
    return written, content_type
