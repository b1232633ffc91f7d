"""The callback signature: an HMAC-SHA256 over the timestamp and the raw body.

Every callback POST carries three headers::

    X-Weixin-Gateway-Event-Id:  <event_id>
    X-Weixin-Gateway-Timestamp: <unix seconds>
    X-Weixin-Gateway-Signature: t=<unix seconds>,v1=<hex>

where ``<hex>`` is ``HMAC-SHA256(key=secret as UTF-8, msg=b"<t>." + raw body)`` in lowercase hex.
Verify it on the **raw** request bytes (before any JSON parsing), in constant time, and refuse
timestamps more than a few minutes away from your clock (replays). With the Python standard
library only:

.. code-block:: python

    import hashlib
    import hmac
    import time


    def verify_weixin_gateway_signature(
        secret: str, body: bytes, header: str, tolerance_s: int = 300
    ) -> bool:
        # header: the X-Weixin-Gateway-Signature value; body: the raw request bytes
        try:
            fields = dict(part.strip().split("=", 1) for part in header.split(","))
            timestamp = int(fields["t"])
        except (KeyError, ValueError):
            return False
        if abs(time.time() - timestamp) > tolerance_s:
            return False
        expected = hmac.new(
            secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256
        ).hexdigest()
        return hmac.compare_digest(expected.encode(), fields.get("v1", "").encode())

:func:`sign` and :func:`verify` are this module's own implementation of the same scheme
(:func:`verify` also accepts several ``v1=`` values, e.g. during a secret rotation, and never
raises). An empty secret is refused by both: it would sign nothing worth checking.
"""

from __future__ import annotations

import hashlib
import hmac
import time

__all__ = [
    "DEFAULT_TOLERANCE_S",
    "EVENT_ID_HEADER",
    "SIGNATURE_HEADER",
    "TIMESTAMP_HEADER",
    "sign",
    "verify",
]

SIGNATURE_HEADER = "X-Weixin-Gateway-Signature"
EVENT_ID_HEADER = "X-Weixin-Gateway-Event-Id"
TIMESTAMP_HEADER = "X-Weixin-Gateway-Timestamp"

#: How far (seconds) a signature's timestamp may be from the verifier's clock.
DEFAULT_TOLERANCE_S = 300

_HEX = frozenset("0123456789abcdef")


def _digest(secret: str, body: bytes, timestamp: int) -> str:
    message = f"{timestamp}.".encode() + body
    return hmac.new(secret.encode(), message, hashlib.sha256).hexdigest()


def sign(secret: str, body: bytes, timestamp: int) -> str:
    """The signature header value for ``body`` at ``timestamp``: ``t=<ts>,v1=<hex>``.

    Raises ``ValueError`` for an empty secret.
    """
    if not secret:
        raise ValueError("the signing secret must not be empty")
    return f"t={int(timestamp)},v1={_digest(secret, body, int(timestamp))}"


def _parse(header: str) -> tuple[int, list[str]] | None:
    timestamp: int | None = None
    signatures: list[str] = []
    for part in header.split(","):
        key, sep, value = part.strip().partition("=")
        if not sep:
            return None
        value = value.strip()
        if key == "t":
            if timestamp is not None or not (value.isascii() and value.isdigit()):
                return None
            timestamp = int(value)
        elif key == "v1":
            if len(value) != 64 or not set(value) <= _HEX:
                return None
            signatures.append(value)
        # other schemes (v0, v2 ...) are ignored, as a future version may add them
    if timestamp is None or not signatures:
        return None
    return timestamp, signatures


def verify(
    secret: str,
    body: bytes,
    header: str,
    *,
    now: float | None = None,
    tolerance_s: int = DEFAULT_TOLERANCE_S,
) -> bool:
    """True if ``header`` is a valid signature of ``body`` by ``secret``, made within
    ``tolerance_s`` seconds of ``now`` (default: the current time).

    Malformed headers, an empty secret, a body that is not bytes and timestamps out of tolerance
    give False; this never raises.
    """
    try:
        if not secret or not isinstance(header, str) or not isinstance(body, bytes | bytearray):
            return False
        parsed = _parse(header)
        if parsed is None:
            return False
        timestamp, signatures = parsed
        current = time.time() if now is None else float(now)
        if not abs(current - timestamp) <= tolerance_s:  # written so that NaN fails too
            return False
        expected = _digest(secret, bytes(body), timestamp).encode()
        matches = [hmac.compare_digest(expected, candidate.encode()) for candidate in signatures]
        return any(matches)
    except (TypeError, ValueError, OverflowError, UnicodeError):
        return False
