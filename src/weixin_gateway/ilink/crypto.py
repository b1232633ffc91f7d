"""AES-128-ECB with PKCS#7, as the iLink CDN uses it (ilink.md §10-§11, ilink-vectors.md §10).

One-shot helpers for small payloads, and :class:`EcbEncryptor` / :class:`EcbDecryptor` for
streaming large files in bounded memory. Key parsing accepts both ``aes_key`` encodings seen on
the wire: base64 of the 16 raw bytes and base64 of the 32 hex characters.
"""

from __future__ import annotations

import base64
import binascii
import secrets
import string

from cryptography.hazmat.primitives import padding
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

from weixin_gateway.errors import MediaError

__all__ = [
    "BLOCK",
    "EcbDecryptor",
    "EcbEncryptor",
    "aes_key_b64_hex",
    "aes_key_b64_raw",
    "decrypt_ecb",
    "encrypt_ecb",
    "new_aes_key",
    "padded_size",
    "parse_aes_key",
    "parse_hex_key",
]

BLOCK = 16
_HEX = frozenset(string.hexdigits.encode())


def padded_size(rawsize: int) -> int:
    """Ciphertext size for ``rawsize`` plaintext bytes: ``ceil((n + 1) / 16) * 16``."""
    if rawsize < 0:
        raise ValueError("rawsize must not be negative")
    return (rawsize // BLOCK + 1) * BLOCK


def new_aes_key() -> bytes:
    """16 random bytes."""
    return secrets.token_bytes(BLOCK)


def aes_key_b64_hex(key: bytes) -> str:
    """The encoding the official client sends: base64 of the 32 lowercase hex characters."""
    return base64.b64encode(key.hex().encode()).decode()


def aes_key_b64_raw(key: bytes) -> str:
    """Base64 of the 16 raw key bytes (seen on inbound images)."""
    return base64.b64encode(key).decode()


def parse_hex_key(hex_key: str) -> bytes:
    """A 32-character hex key (``image_item.aeskey``, ``getuploadurl.aeskey``) as bytes."""
    try:
        key = bytes.fromhex(hex_key.strip())
    except ValueError as exc:
        raise MediaError("AES key is not hex") from exc
    if len(key) != BLOCK:
        raise MediaError(f"AES key must be 16 bytes, got {len(key)}")
    return key


def parse_aes_key(aes_key: str) -> bytes:
    """Decode ``CDNMedia.aes_key``: 16 raw bytes, or 32 hex digits, both base64-encoded."""
    try:
        raw = base64.b64decode(aes_key.strip(), validate=True)
    except (binascii.Error, ValueError) as exc:
        raise MediaError("aes_key is not valid base64") from exc
    if len(raw) == BLOCK:
        return raw
    if len(raw) == 2 * BLOCK and all(b in _HEX for b in raw):
        return bytes.fromhex(raw.decode())
    raise MediaError(f"aes_key decodes to {len(raw)} bytes; expected 16 raw or 32 hex")


def _cipher(key: bytes) -> Cipher[modes.ECB]:
    if len(key) != BLOCK:
        raise MediaError(f"AES-128 key must be 16 bytes, got {len(key)}")
    return Cipher(algorithms.AES(key), modes.ECB())  # noqa: S305 - ECB is the CDN's protocol


class EcbEncryptor:
    """Streaming AES-128-ECB + PKCS#7 encryption: ``update()`` chunks, then ``finalize()``."""

    def __init__(self, key: bytes) -> None:
        self._enc = _cipher(key).encryptor()
        self._pad = padding.PKCS7(128).padder()

    def update(self, chunk: bytes) -> bytes:
        return self._enc.update(self._pad.update(chunk))

    def finalize(self) -> bytes:
        return self._enc.update(self._pad.finalize()) + self._enc.finalize()


class EcbDecryptor:
    """Streaming AES-128-ECB decryption that checks and strips PKCS#7 padding at the end."""

    def __init__(self, key: bytes) -> None:
        self._dec = _cipher(key).decryptor()
        self._unpad = padding.PKCS7(128).unpadder()
        self._seen = 0

    def update(self, chunk: bytes) -> bytes:
        self._seen += len(chunk)
        return self._unpad.update(self._dec.update(chunk))

    def finalize(self) -> bytes:
        if self._seen == 0 or self._seen % BLOCK:
            raise MediaError(f"ciphertext length {self._seen} is not a positive multiple of 16")
        try:
            return self._unpad.update(self._dec.finalize()) + self._unpad.finalize()
        except ValueError as exc:
            raise MediaError("bad PKCS#7 padding (wrong key or corrupt data)") from exc


def encrypt_ecb(key: bytes, plaintext: bytes) -> bytes:
    enc = EcbEncryptor(key)
    return enc.update(plaintext) + enc.finalize()


def decrypt_ecb(key: bytes, ciphertext: bytes) -> bytes:
    dec = EcbDecryptor(key)
    return dec.update(ciphertext) + dec.finalize()
