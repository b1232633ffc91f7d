"""Opening an inbound request: query signature, encryption mode, body (official-account.md §1, §2).

This is the transport-free core of go-wx-gateway's signature middleware and push handler:

* :func:`verify_request` is the middleware (missing arguments, ``timeout`` window, signature);
* :func:`verify_url` answers the GET verification (the echostr is plaintext in every mode);
* :func:`open_push` turns a POST body into the verified field dict: plaintext when
  ``encrypt_type`` is absent **or** ``raw`` (go-wx-gateway refused ``raw``, defect D10);
  ``aes`` (safe and compat mode alike) checks ``msg_signature`` and decrypts, and only the
  decrypted content is used; anything else is :class:`UnsupportedEncryptionError`.
* :func:`seal_response` encrypts a passive reply for an encrypted request, but always leaves the
  no-reply answers ``success`` and ``""`` in plaintext (defect D25).

Channels-shop (``is-channels-ec``) services accept JSON bodies as well as XML (defect D27).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Literal, cast
from urllib.parse import unquote_plus

from weixin_gateway.mp.crypto import MsgCrypto
from weixin_gateway.mp.errors import (
    MissingSignatureError,
    PayloadError,
    PayloadTooLargeError,
    UnsupportedEncryptionError,
)
from weixin_gateway.mp.gojson import JsonObject, parse_json_object
from weixin_gateway.mp.signature import check_timestamp, check_url_signature
from weixin_gateway.mp.xml import parse_xml

__all__ = [
    "DEFAULT_MAX_BODY",
    "NO_REPLY",
    "OpenedPush",
    "PushQuery",
    "open_push",
    "seal_response",
    "verify_request",
    "verify_url",
]

DEFAULT_MAX_BODY = 64 * 1024
NO_REPLY = "success"


_QUERY_NAMES = frozenset(
    {"signature", "timestamp", "nonce", "encrypt_type", "msg_signature", "openid", "echostr"}
)


@dataclass(frozen=True, slots=True)
class PushQuery:
    """The query parameters WeChat signs a request with (§1.2)."""

    signature: str = ""
    timestamp: str = ""
    nonce: str = ""
    encrypt_type: str = ""
    msg_signature: str = ""
    openid: str = ""
    echostr: str | None = None

    @classmethod
    def from_mapping(cls, query: Mapping[str, str]) -> PushQuery:
        """Take the known parameters from a query mapping; others are ignored."""
        return cls(
            signature=query.get("signature", ""),
            timestamp=query.get("timestamp", ""),
            nonce=query.get("nonce", ""),
            encrypt_type=query.get("encrypt_type", ""),
            msg_signature=query.get("msg_signature", ""),
            openid=query.get("openid", ""),
            echostr=query.get("echostr"),
        )

    @classmethod
    def from_query_string(cls, query_string: bytes | str) -> PushQuery:
        """Take the known parameters from a raw query string (as ASGI's ``query_string``).

        The same result as :meth:`from_mapping` over ``parse_qsl(..., keep_blank_values=True)``
        with the last value of a repeated name winning (Starlette's ``QueryParams``), but only
        the names read here are decoded.
        """
        text = query_string.decode("latin-1") if isinstance(query_string, bytes) else query_string
        found: dict[str, str] = {}
        for pair in text.split("&"):
            name, _, value = pair.partition("=")
            if "%" in name or "+" in name:
                name = unquote_plus(name)
            if name in _QUERY_NAMES:
                found[name] = unquote_plus(value) if "%" in value or "+" in value else value
        return cls.from_mapping(found)

    @property
    def encrypted(self) -> bool:
        """``True`` for ``aes``; ``False`` when absent or ``raw``; otherwise an error."""
        if self.encrypt_type in ("", "raw"):
            return False
        if self.encrypt_type == "aes":
            return True
        raise UnsupportedEncryptionError("unsupported encrypt_type")


def verify_request(query: PushQuery, *, token: str, now: float, timeout_s: int = 0) -> None:
    """go-wx-gateway's signature middleware: arguments, timestamp window, then ``signature``."""
    if not query.signature or not query.timestamp or not query.nonce:
        raise MissingSignatureError("signature, timestamp and nonce are required")
    check_timestamp(query.timestamp, now=now, window_s=timeout_s)
    check_url_signature(token, query.timestamp, query.nonce, query.signature)


def verify_url(query: PushQuery, *, token: str, now: float, timeout_s: int = 0) -> str | None:
    """The GET verification: the plaintext ``echostr`` to answer, or ``None`` when absent."""
    verify_request(query, token=token, now=now, timeout_s=timeout_s)
    return query.echostr


@dataclass(frozen=True, slots=True)
class OpenedPush:
    """A verified push body: its fields, whether it came encrypted, and its format."""

    fields: JsonObject
    encrypted: bool
    format: Literal["xml", "json"]


def _is_json(body: bytes, allow_json: bool) -> bool:
    return allow_json and body.lstrip()[:1] == b"{"


def _parse_body(body: bytes, *, max_size: int, allow_json: bool) -> tuple[JsonObject, bool]:
    if _is_json(body, allow_json):
        return parse_json_object(body, max_size=max_size), True
    # an XML dict is a JSON object of strings, dicts and lists; dict invariance needs the cast
    return cast(JsonObject, parse_xml(body, max_size=max_size)), False


def open_push(
    body: bytes,
    query: PushQuery,
    *,
    token: str,
    crypto: MsgCrypto | None,
    now: float,
    timeout_s: int = 0,
    max_size: int = DEFAULT_MAX_BODY,
    channels_ec: bool = False,
    require_encryption: bool = False,
) -> OpenedPush:
    """Verify and open a POSTed push; see the module docstring for the modes.

    Raises a :class:`~weixin_gateway.mp.errors.SignatureError` (bad or stale signature), an
    :class:`UnsupportedEncryptionError`, a :class:`~weixin_gateway.mp.errors.DecryptError` or a
    :class:`PayloadError` (malformed, oversized, or ``Encrypt`` missing).

    A plaintext body is covered by no signature (``signature`` signs only the token, timestamp
    and nonce), so a service in safe mode can set ``require_encryption`` to refuse it.
    """
    verify_request(query, token=token, now=now, timeout_s=timeout_s)
    encrypted = query.encrypted
    if require_encryption and not encrypted:
        raise UnsupportedEncryptionError("this service accepts only encrypted pushes")
    if len(body) > max_size:
        raise PayloadTooLargeError(len(body), max_size)
    outer, is_json = _parse_body(body, max_size=max_size, allow_json=channels_ec)
    if not encrypted:
        return OpenedPush(outer, False, "json" if is_json else "xml")
    if crypto is None:
        raise UnsupportedEncryptionError("encrypted push, but no aes-key is configured")
    encrypt = outer.get("Encrypt")
    if not isinstance(encrypt, str) or not encrypt:
        raise PayloadError("Encrypt not found")
    plain = crypto.open(
        encrypt,
        msg_signature=query.msg_signature,
        timestamp=query.timestamp,
        nonce=query.nonce,
        max_size=max_size,
    )
    try:
        plain.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise PayloadError("decrypted message is not UTF-8") from exc
    inner, inner_json = _parse_body(plain, max_size=max_size, allow_json=channels_ec)
    return OpenedPush(inner, True, "json" if inner_json else "xml")


def seal_response(
    reply: str, *, crypto: MsgCrypto | None, encrypted: bool, timestamp: str, nonce: str
) -> str:
    """The body to answer a push with: ``reply`` sealed when the request was encrypted.

    ``success`` and the empty body always go back in plaintext (defect D25).
    """
    if not encrypted or crypto is None or reply in (NO_REPLY, ""):
        return reply
    return crypto.seal(reply, timestamp=timestamp, nonce=nonce)
