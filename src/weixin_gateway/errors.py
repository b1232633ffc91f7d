"""The one exception tree of weixin-gateway.

Every error this package raises on purpose is a :class:`WeixinError`. The tree separates *where* a
failure happened, so that retry loops can retry exactly what is safe to retry::

    WeixinError
    ├── TransportError            the exchange failed below the application envelope
    │   ├── NetworkError          could not connect, connection reset, DNS, TLS ...
    │   │   └── RequestTimeoutError   no complete answer within the (finite) timeout
    │   └── HttpStatusError       the server answered with a non-2xx HTTP status
    ├── DecodeError               the reply arrived but could not be decoded (not JSON, wrong shape)
    ├── ApiError                  HTTP 200, but ``ret``/``errcode`` inside the body is not 0
    │   ├── SessionExpiredError   -14: the bot token is stale; log in again
    │   └── SendRejectedError     -2 on ``sendmessage``: reply window, message budget, context token
    ├── MediaError                media could not be prepared, uploaded or decrypted
    │   └── MediaTooLargeError    over the configured size cap
    ├── LoginError                a QR login ended without a usable bot
    ├── LeaseTimeoutError         a store lease stayed held by another holder too long
    │                             (also a TimeoutError)
    └── MissingExtraError         an optional dependency (an "extra") is not installed

Network failures and undecodable replies are never subclasses of :class:`ApiError`: a server that
refused a request must not be retried like a dropped connection.
"""

from __future__ import annotations

__all__ = [
    "ApiError",
    "DecodeError",
    "HttpStatusError",
    "LeaseTimeoutError",
    "LoginError",
    "MediaError",
    "MediaTooLargeError",
    "MissingExtraError",
    "NetworkError",
    "RequestTimeoutError",
    "SendRejectedError",
    "SessionExpiredError",
    "TransportError",
    "WeixinError",
]


class WeixinError(Exception):
    """Root of every error raised by weixin-gateway."""


class TransportError(WeixinError):
    """The HTTP exchange itself failed; nothing can be said about the server's decision."""


class NetworkError(TransportError):
    """The request could not be completed on the network (connect, reset, DNS, TLS)."""


class RequestTimeoutError(NetworkError):
    """No complete answer arrived within the request's timeout."""


class HttpStatusError(TransportError):
    """The server answered with a non-2xx HTTP status."""

    def __init__(self, label: str, status: int, body: str = "") -> None:
        self.label = label
        self.status = status
        self.body = body[:500]
        super().__init__(
            f"{label} HTTP {status}: {self.body}" if self.body else f"{label} {status}"
        )


class DecodeError(WeixinError):
    """A reply arrived but could not be decoded into the expected shape."""


class ApiError(WeixinError):
    """The server answered HTTP 200 with a non-zero ``ret`` or ``errcode``."""

    def __init__(
        self,
        endpoint: str,
        *,
        ret: int | None = None,
        errcode: int | None = None,
        errmsg: str | None = None,
    ) -> None:
        self.endpoint = endpoint
        self.ret = ret
        self.errcode = errcode
        self.errmsg = errmsg or ""
        super().__init__(self._describe())

    @property
    def code(self) -> int:
        """The error code, whichever of ``ret`` and ``errcode`` carried it."""
        if self.ret not in (None, 0):
            assert self.ret is not None
            return self.ret
        return self.errcode or 0

    def _describe(self) -> str:
        return (
            f"{self.endpoint} ret={self.ret} errcode={self.errcode} "
            f"errmsg={self.errmsg or '(none)'}"
        )


class SessionExpiredError(ApiError):
    """``-14``: the bot token is stale (session timeout, or the bot was bound elsewhere)."""


SEND_REJECTED_CAUSES = (
    "the 24 h reply window since the user's last message has closed",
    "the bot already sent about 10 messages for one inbound message",
    "the context_token is missing, stale or altered",
    "too many media sends in a row",
)


class SendRejectedError(ApiError):
    """``-2`` on ``sendmessage``. WeChat does not say why; these are the known causes."""

    likely_causes = SEND_REJECTED_CAUSES

    def _describe(self) -> str:
        causes = "; ".join(self.likely_causes)
        return f"{super()._describe()} — send rejected; likely causes: {causes}"


class MediaError(WeixinError):
    """Media could not be read, uploaded, downloaded or decrypted."""


class MediaTooLargeError(MediaError):
    """The media exceeds the configured size cap."""

    def __init__(self, size: int, limit: int) -> None:
        self.size = size
        self.limit = limit
        super().__init__(f"media is {size} bytes, over the limit of {limit} bytes")


class LoginError(WeixinError):
    """A QR login ended without a usable bot (expired too often, blocked, timed out)."""


class LeaseTimeoutError(WeixinError, TimeoutError):
    """A lease stayed held by someone else for longer than the caller would wait."""

    def __init__(self, name: str, timeout_s: float) -> None:
        self.name = name
        self.timeout_s = timeout_s
        super().__init__(f"lease {name!r} still held by another holder after {timeout_s:g} s")


class MissingExtraError(WeixinError):
    """An optional dependency is missing; the message names the extra to install."""

    def __init__(self, feature: str, extra: str, module: str) -> None:
        self.feature = feature
        self.extra = extra
        self.module = module
        super().__init__(
            f"{feature} needs the optional dependency {module!r}: "
            f"pip install 'weixin-gateway[{extra}]'"
        )
