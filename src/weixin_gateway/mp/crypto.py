"""WXBizMsgCrypt-compatible message encryption (official-account.md §2).

* AESKey = base64-decode(EncodingAESKey + "=") → 32 bytes; AES-256-CBC with IV = AESKey[:16].
* Plaintext = random16 ‖ uint32 big-endian len(msg) ‖ msg ‖ AppID, PKCS#7-padded to a multiple
  of **32** bytes (so 1..32 bytes of padding; an aligned buffer gets a whole block of 0x20).
* ``Encrypt`` = standard base64 of the ciphertext.

:func:`decrypt_message` performs every check of §2.4: strict base64, a non-empty ciphertext that
is a whole number of AES blocks and within the size cap, padding value 1..32 with all padding
bytes equal, a length field that fits, and a trailing AppID equal to ours (compared in constant
time; go-wx-gateway never checked it, defect D9). Any failure is a :class:`DecryptError`; never a
crash with a stack trace (defect D4).

:class:`MsgCrypto` ties the key to the token and AppID of one account, checks ``msg_signature``
before decrypting, and seals replies into the §2.3 envelope. Its random source is injectable so
that the §7 vectors reproduce; by default it is :func:`secrets.token_bytes` (defect D31).
"""

from __future__ import annotations

import base64
import binascii
import functools
import hmac
import re
import secrets
import struct
from collections.abc import Callable

from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

from weixin_gateway.mp.errors import AppIdMismatchError, DecryptError, MpConfigError
from weixin_gateway.mp.signature import check_msg_signature, msg_signature
from weixin_gateway.mp.xml import Plain, build_xml

__all__ = [
    "BLOCK_SIZE",
    "DEFAULT_MAX_CIPHERTEXT",
    "ENCODING_AES_KEY_LENGTH",
    "MsgCrypto",
    "RandomSource",
    "decrypt_message",
    "encrypt_message",
    "parse_encoding_aes_key",
    "pkcs7_pad",
    "pkcs7_unpad",
]

BLOCK_SIZE = 32
ENCODING_AES_KEY_LENGTH = 43
DEFAULT_MAX_CIPHERTEXT = 1024 * 1024
_AES_BLOCK = 16
_HEADER = 20  # random16 + uint32 length
_KEY_CHARS = re.compile(r"[A-Za-z0-9]{43}")

RandomSource = Callable[[int], bytes]


def parse_encoding_aes_key(encoding_aes_key: str) -> bytes:
    """The 32-byte AESKey of an EncodingAESKey (43 characters of ``[A-Za-z0-9]``).

    Raises :class:`MpConfigError` (without echoing the key) when it is malformed.
    """
    if len(encoding_aes_key) != ENCODING_AES_KEY_LENGTH:
        raise MpConfigError(
            f"must be {ENCODING_AES_KEY_LENGTH} characters, got {len(encoding_aes_key)}"
        )
    if not _KEY_CHARS.fullmatch(encoding_aes_key):
        raise MpConfigError("must contain only the characters A-Z, a-z and 0-9")
    key = base64.b64decode(encoding_aes_key + "=")
    if len(key) != 32:  # pragma: no cover - 43 base64 characters always give 32 bytes
        raise MpConfigError("does not decode to 32 bytes")
    return key


def pkcs7_pad(data: bytes, block_size: int = BLOCK_SIZE) -> bytes:
    """PKCS#7 padding to a multiple of ``block_size`` (WeChat uses 32)."""
    n = block_size - len(data) % block_size
    return data + bytes([n]) * n


def pkcs7_unpad(data: bytes, block_size: int = BLOCK_SIZE) -> bytes:
    """Remove PKCS#7 padding, refusing anything but 1..``block_size`` equal bytes."""
    if not data:
        raise DecryptError("empty plaintext")
    n = data[-1]
    if not 1 <= n <= block_size or n > len(data):
        raise DecryptError("bad padding")
    if not hmac.compare_digest(data[-n:], bytes([n]) * n):
        raise DecryptError("bad padding")
    return data[:-n]


@functools.lru_cache(maxsize=64)
def _cipher(aes_key: bytes) -> Cipher[modes.CBC]:
    """The AES-256-CBC cipher of ``aes_key``, built once per key (it is immutable; each
    operation gets its own context from ``encryptor()``/``decryptor()``)."""
    if len(aes_key) != 32:
        raise ValueError("the AES key must be 32 bytes")
    return Cipher(algorithms.AES(aes_key), modes.CBC(aes_key[:_AES_BLOCK]))


def encrypt_message(aes_key: bytes, app_id: str, msg: bytes, *, random16: bytes) -> str:
    """``Encrypt`` for ``msg``: base64 of AES-256-CBC(pad32(random16 ‖ len ‖ msg ‖ AppID))."""
    if len(random16) != 16:
        raise ValueError("random16 must be 16 bytes")
    plain = random16 + struct.pack(">I", len(msg)) + msg + app_id.encode()
    encryptor = _cipher(aes_key).encryptor()
    ciphertext = encryptor.update(pkcs7_pad(plain)) + encryptor.finalize()
    return base64.b64encode(ciphertext).decode("ascii")


def decrypt_message(
    aes_key: bytes, app_id: str, encrypt: str, *, max_size: int = DEFAULT_MAX_CIPHERTEXT
) -> bytes:
    """The ``msg`` bytes inside ``encrypt``, after every check of §2.4 (see the module doc)."""
    if len(encrypt) > (max_size + 2) // 3 * 4:
        raise DecryptError("ciphertext over the size cap")
    try:
        ciphertext = base64.b64decode(encrypt.encode("ascii"), validate=True)
    except (binascii.Error, ValueError, UnicodeError) as exc:
        raise DecryptError("Encrypt is not valid base64") from exc
    if not ciphertext or len(ciphertext) % _AES_BLOCK:
        raise DecryptError("ciphertext is not a whole number of AES blocks")
    if len(ciphertext) > max_size:
        raise DecryptError("ciphertext over the size cap")
    decryptor = _cipher(aes_key).decryptor()
    content = pkcs7_unpad(decryptor.update(ciphertext) + decryptor.finalize())
    if len(content) < _HEADER:
        raise DecryptError("plaintext too short")
    (msg_len,) = struct.unpack(">I", content[16:_HEADER])
    if _HEADER + msg_len > len(content):
        raise DecryptError("length field out of bounds")
    msg = content[_HEADER : _HEADER + msg_len]
    if not hmac.compare_digest(content[_HEADER + msg_len :], app_id.encode()):
        raise AppIdMismatchError("payload was encrypted for another AppID")
    return msg


class MsgCrypto:
    """The message crypto of one account: token, AESKey and AppID together."""

    __slots__ = ("_key", "_random", "_token", "app_id")

    def __init__(
        self,
        *,
        token: str,
        encoding_aes_key: str,
        app_id: str,
        random: RandomSource = secrets.token_bytes,
    ) -> None:
        if not app_id:
            raise MpConfigError("an AppID is required for encrypted mode")
        self._token = token
        self._key = parse_encoding_aes_key(encoding_aes_key)
        self._random = random
        self.app_id = app_id

    def __repr__(self) -> str:
        return f"MsgCrypto(app_id={self.app_id!r}, token='***', encoding_aes_key='***')"

    def encrypt(self, msg: str | bytes) -> str:
        """``Encrypt`` for ``msg`` with a fresh random prefix."""
        data = msg.encode() if isinstance(msg, str) else msg
        return encrypt_message(self._key, self.app_id, data, random16=self._random(16))

    def decrypt(self, encrypt: str, *, max_size: int = DEFAULT_MAX_CIPHERTEXT) -> bytes:
        """The ``msg`` bytes inside ``encrypt`` (no signature check; see :meth:`open`)."""
        return decrypt_message(self._key, self.app_id, encrypt, max_size=max_size)

    def signature(self, timestamp: str, nonce: str, encrypt: str) -> str:
        """``msg_signature`` over ``encrypt`` with this account's token."""
        return msg_signature(self._token, timestamp, nonce, encrypt)

    def open(
        self,
        encrypt: str,
        *,
        msg_signature: str,
        timestamp: str,
        nonce: str,
        max_size: int = DEFAULT_MAX_CIPHERTEXT,
    ) -> bytes:
        """Verify ``msg_signature`` (constant time) and only then decrypt ``encrypt``."""
        check_msg_signature(self._token, timestamp, nonce, encrypt, msg_signature)
        return self.decrypt(encrypt, max_size=max_size)

    def seal(self, reply: str, *, timestamp: str | int, nonce: str) -> str:
        """The §2.3 reply envelope: ``Encrypt``, ``MsgSignature``, ``TimeStamp``, ``Nonce``."""
        ts = str(timestamp)
        encrypt = self.encrypt(reply)
        return build_xml(
            {
                "Encrypt": encrypt,
                "MsgSignature": self.signature(ts, nonce, encrypt),
                "TimeStamp": Plain(ts),
                "Nonce": nonce,
            }
        )
