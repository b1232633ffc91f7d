"""Official Account signatures (official-account.md §1, §5.9): URL, msg_signature and JS-SDK.

All three are SHA-1 hex digests; every comparison is constant time (:func:`hmac.compare_digest`).
The timestamp check of go-wx-gateway's ``timeout`` is here too, made two-sided (defect D22).
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
import string

from weixin_gateway.mp.errors import MissingSignatureError, SignatureError, TimestampError

__all__ = [
    "check_jsapi_signature",
    "check_msg_signature",
    "check_timestamp",
    "check_url_signature",
    "digests_equal",
    "jsapi_signature",
    "jsapi_string1",
    "msg_signature",
    "new_nonce",
    "parse_go_int",
    "strip_fragment",
    "url_signature",
]

_NONCE_ALPHABET = string.ascii_letters + string.digits
_GO_INT = re.compile(r"[+-]?[0-9]+")
_INT64_MIN, _INT64_MAX = -(2**63), 2**63 - 1


def _sha1_sorted(*parts: str) -> str:
    return hashlib.sha1("".join(sorted(parts)).encode()).hexdigest()  # noqa: S324 - protocol


def digests_equal(expected: str, received: str) -> bool:
    """Constant-time comparison of two hex digests (any text, compared as UTF-8 bytes)."""
    return hmac.compare_digest(expected.encode(), received.encode())


def url_signature(token: str, timestamp: str, nonce: str) -> str:
    """``signature``: SHA-1 hex of the sorted concatenation of token, timestamp and nonce (§1.3)."""
    return _sha1_sorted(token, timestamp, nonce)


def msg_signature(token: str, timestamp: str, nonce: str, encrypt: str) -> str:
    """``msg_signature``: the same over four strings, the fourth being ``Encrypt`` as received."""
    return _sha1_sorted(token, timestamp, nonce, encrypt)


def check_url_signature(token: str, timestamp: str, nonce: str, signature: str) -> None:
    """Raise unless ``signature`` is right; missing or empty arguments raise first (§6.2)."""
    if not signature or not timestamp or not nonce:
        raise MissingSignatureError("signature, timestamp and nonce are required")
    if not digests_equal(url_signature(token, timestamp, nonce), signature):
        raise SignatureError("signature does not match")


def check_msg_signature(
    token: str, timestamp: str, nonce: str, encrypt: str, signature: str
) -> None:
    """Raise unless ``msg_signature`` covers ``encrypt``; check this before any decryption."""
    if not signature or not timestamp or not nonce:
        raise MissingSignatureError("msg_signature, timestamp and nonce are required")
    if not digests_equal(msg_signature(token, timestamp, nonce, encrypt), signature):
        raise SignatureError("msg_signature does not match")


def parse_go_int(text: str) -> int | None:
    """Parse like Go's ``strconv.Atoi``: ``[+-]?[0-9]+``, clamped to int64; else ``None``."""
    if not _GO_INT.fullmatch(text):
        return None
    negative = text.startswith("-")
    digits = text.lstrip("+-").lstrip("0") or "0"
    if len(digits) > 19:  # beyond int64 whatever the digits; and int() refuses >4300 digits
        return _INT64_MIN if negative else _INT64_MAX
    value = -int(digits) if negative else int(digits)
    return max(_INT64_MIN, min(_INT64_MAX, value))


def check_timestamp(timestamp: str, *, now: float, window_s: int) -> int | None:
    """Check that ``timestamp`` lies within ``window_s`` seconds of ``now``, either way.

    ``window_s`` is go-wx-gateway's per-service ``timeout``; 0 turns the check off (and the
    timestamp is then not even parsed, as there). go-wx-gateway accepts any future timestamp
    (defect D22); here a timestamp more than ``window_s`` ahead is refused too. Returns the
    parsed timestamp, or ``None`` when the check is off.
    """
    if window_s < 0:
        raise ValueError("window_s must not be negative")
    if window_s == 0:
        return None
    value = parse_go_int(timestamp)
    if value is None:
        raise TimestampError("invalid timestamp")
    if value + window_s < now:
        raise TimestampError("signature expired", expired=True)
    if value - window_s > now:
        raise TimestampError("timestamp is in the future")
    return value


def strip_fragment(url: str) -> str:
    """The page URL as JS-SDK signs it: ``#`` and everything after it removed (defect D19)."""
    return url.split("#", 1)[0]


def jsapi_string1(*, jsapi_ticket: str, noncestr: str, timestamp: int | str, url: str) -> str:
    """``string1`` of §5.9: the four keys in ASCII order as ``key=value`` joined by ``&``.

    Values are used raw (no URL escaping); the URL loses its fragment.
    """
    return (
        f"jsapi_ticket={jsapi_ticket}&noncestr={noncestr}"
        f"&timestamp={timestamp}&url={strip_fragment(url)}"
    )


def jsapi_signature(*, jsapi_ticket: str, noncestr: str, timestamp: int | str, url: str) -> str:
    """The ``signature`` a page passes to ``wx.config``: SHA-1 hex of :func:`jsapi_string1`."""
    string1 = jsapi_string1(
        jsapi_ticket=jsapi_ticket, noncestr=noncestr, timestamp=timestamp, url=url
    )
    return hashlib.sha1(string1.encode()).hexdigest()  # noqa: S324 - protocol


def check_jsapi_signature(
    signature: str, *, jsapi_ticket: str, noncestr: str, timestamp: int | str, url: str
) -> None:
    """Raise :class:`SignatureError` unless ``signature`` is the JS-SDK signature of the page."""
    expected = jsapi_signature(
        jsapi_ticket=jsapi_ticket, noncestr=noncestr, timestamp=timestamp, url=url
    )
    if not digests_equal(expected, signature):
        raise SignatureError("JS-SDK signature does not match")


def new_nonce(length: int = 16) -> str:
    """A nonce of ``[0-9A-Za-z]`` from :mod:`secrets` (go-wx-api used ``math/rand``, D31)."""
    return "".join(secrets.choice(_NONCE_ALPHABET) for _ in range(length))
