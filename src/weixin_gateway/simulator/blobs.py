"""The CDN's storage: pending uploads, and blobs spooled to a temporary directory.

Uploads stream through :class:`UploadSpool`, which writes the ciphertext to disk while it
decrypts and hashes it, so a large upload never sits in memory. Downloads are served from the
files. The directory belongs to the simulator and is removed on close.
"""

from __future__ import annotations

import hashlib
import itertools
import os
import shutil
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import BinaryIO

from weixin_gateway.errors import MediaError
from weixin_gateway.ilink.crypto import EcbDecryptor, EcbEncryptor, decrypt_ecb

from ._ids import IdSource

__all__ = ["Blob", "BlobStore", "PendingUpload", "UploadSpool"]


@dataclass(frozen=True, slots=True)
class PendingUpload:
    """What ``getuploadurl`` promised: the CDN checks the upload against it."""

    upload_param: str
    download_param: str
    filekey: str
    aes_key: bytes = field(repr=False)
    media_type: int
    rawsize: int
    rawfilemd5: str
    filesize: int
    to_user_id: str
    bot_id: str


@dataclass(frozen=True, slots=True)
class Blob:
    """Bytes the CDN can serve under ``encrypt_query_param`` = ``param``."""

    param: str
    path: Path
    #: Bytes on disk (ciphertext, or plaintext when ``key`` is ``None``).
    size: int
    rawsize: int
    md5: str
    key: bytes | None = field(repr=False)
    bot_id: str | None


#: Upload slots kept for ``getuploadurl`` answers (a retried upload reuses its slot).
MAX_PENDING_UPLOADS = 10_000


class BlobStore:
    """Pending uploads and stored blobs, by their opaque parameters."""

    def __init__(self, directory: Path, ids: IdSource) -> None:
        self.directory = directory
        self._ids = ids
        self._pending: dict[str, PendingUpload] = {}
        self._blobs: dict[str, Blob] = {}
        self._names = itertools.count(1)

    def register_upload(
        self,
        *,
        filekey: str,
        aes_key: bytes,
        media_type: int,
        rawsize: int,
        rawfilemd5: str,
        filesize: int,
        to_user_id: str,
        bot_id: str,
    ) -> PendingUpload:
        pending = PendingUpload(
            upload_param=self._ids.cdn_param(),
            download_param=self._ids.cdn_param(),
            filekey=filekey,
            aes_key=aes_key,
            media_type=media_type,
            rawsize=rawsize,
            rawfilemd5=rawfilemd5.lower(),
            filesize=filesize,
            to_user_id=to_user_id,
            bot_id=bot_id,
        )
        self._pending[pending.upload_param] = pending
        while len(self._pending) > MAX_PENDING_UPLOADS:  # oldest first: dicts keep order
            del self._pending[next(iter(self._pending))]
        return pending

    def pending(self, upload_param: str) -> PendingUpload | None:
        return self._pending.get(upload_param)

    def blob(self, param: str) -> Blob | None:
        return self._blobs.get(param)

    def _new_path(self) -> Path:
        return self.directory / f"{next(self._names)}.bin"

    def begin_upload(self, pending: PendingUpload) -> UploadSpool:
        return UploadSpool(self, pending, self._new_path())

    def add(self, blob: Blob) -> Blob:
        self._blobs[blob.param] = blob
        return blob

    def store(self, chunks: Iterable[bytes], *, key: bytes | None, bot_id: str | None) -> Blob:
        """Store plaintext ``chunks``, encrypted with ``key`` (or as they are when ``None``)."""
        path = self._new_path()
        md5 = hashlib.md5(usedforsecurity=False)
        rawsize = 0
        size = 0
        encryptor = EcbEncryptor(key) if key is not None else None
        try:
            with path.open("wb") as out:
                for chunk in chunks:
                    md5.update(chunk)
                    rawsize += len(chunk)
                    data = encryptor.update(chunk) if encryptor is not None else chunk
                    out.write(data)
                    size += len(data)
                if encryptor is not None:
                    tail = encryptor.finalize()
                    out.write(tail)
                    size += len(tail)
        except BaseException:
            path.unlink(missing_ok=True)
            raise
        blob = Blob(self._ids.cdn_param(), path, size, rawsize, md5.hexdigest(), key, bot_id)
        return self.add(blob)

    def read_plaintext(self, param: str, key: bytes | None) -> bytes:
        """Download ``param`` and decrypt it with ``key`` as a receiving client would."""
        blob = self._blobs.get(param)
        if blob is None:
            raise MediaError("unknown encrypt_query_param")
        data = blob.path.read_bytes()
        return data if key is None else decrypt_ecb(key, data)

    def close(self) -> None:
        shutil.rmtree(self.directory, ignore_errors=True)
        self._pending.clear()
        self._blobs.clear()


class UploadSpool:
    """One CDN upload in flight: checks the length, decrypts, hashes and writes as it goes."""

    def __init__(self, store: BlobStore, pending: PendingUpload, path: Path) -> None:
        self._store = store
        self._pending = pending
        self._path = path
        self._part = path.with_suffix(".part")
        self._out: BinaryIO = self._part.open("wb")
        self._decryptor = EcbDecryptor(pending.aes_key)
        self._md5 = hashlib.md5(usedforsecurity=False)
        self._received = 0
        self._rawsize = 0

    def update(self, chunk: bytes) -> None:
        self._received += len(chunk)
        if self._received > self._pending.filesize:
            raise MediaError(
                f"body is longer than filesize {self._pending.filesize} from getuploadurl"
            )
        self._out.write(chunk)
        plain = self._decryptor.update(chunk)
        self._md5.update(plain)
        self._rawsize += len(plain)

    def finish(self) -> Blob:
        """Check the whole upload against ``getuploadurl`` and keep it; raise on a mismatch."""
        pending = self._pending
        if self._received != pending.filesize:
            raise MediaError(
                f"body length {self._received} does not equal filesize {pending.filesize}"
            )
        try:
            plain = self._decryptor.finalize()
        except MediaError as exc:
            raise MediaError(f"cannot decrypt the upload with the aeskey given: {exc}") from exc
        self._md5.update(plain)
        self._rawsize += len(plain)
        if self._rawsize != pending.rawsize:
            raise MediaError(
                f"decrypted size {self._rawsize} does not equal rawsize {pending.rawsize}"
            )
        if self._md5.hexdigest() != pending.rawfilemd5:
            raise MediaError("md5 of the decrypted upload does not equal rawfilemd5")
        self._out.close()
        os.replace(self._part, self._path)
        blob = Blob(
            pending.download_param,
            self._path,
            self._received,
            pending.rawsize,
            pending.rawfilemd5,
            pending.aes_key,
            pending.bot_id,
        )
        return self._store.add(blob)

    def abort(self) -> None:
        """Drop a refused or interrupted upload."""
        self._out.close()
        self._part.unlink(missing_ok=True)
