"""The Official Account (公众号) branch of the exception tree.

Every error of the ``mp`` protocol layer is an :class:`MpError`, itself a
:class:`weixin_gateway.errors.WeixinError`::

    MpError
    ├── SignatureError             signature / msg_signature / JS-SDK signature does not match
    │   ├── MissingSignatureError  signature, timestamp or nonce missing or empty
    │   └── TimestampError         timestamp not an integer, or outside the allowed window
    ├── UnsupportedEncryptionError ``encrypt_type`` is neither absent, ``raw`` nor ``aes``
    ├── DecryptError               the ``Encrypt`` payload is not a valid WXBizMsgCrypt ciphertext
    │   └── AppIdMismatchError     it decrypted, but was made for another AppID
    ├── PayloadError               the body (XML or JSON) is malformed or lacks a required field
    │   ├── PayloadTooLargeError   over the size cap
    │   └── XmlError               not well-formed, DOCTYPE/entities, root is not ``<xml>``
    ├── ReplyError                 the upstream reply JSON cannot become a passive reply
    ├── MpConfigError              the gateway configuration is broken (names the key path)
    ├── WeChatApiError             a WeChat API answered a non-zero ``errcode`` (also an ApiError)
    └── ApiDiscontinuedError       the API no longer works on WeChat's side; nothing was sent

The messages are short and never quote secrets. They may name *why* (for the log), but an HTTP
layer must answer every :class:`DecryptError` with one fixed body: distinct answers for distinct
padding failures would make a padding oracle.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Final

from weixin_gateway.errors import ApiError, WeixinError

__all__ = [
    "TOKEN_ERRCODES",
    "ApiDiscontinuedError",
    "AppIdMismatchError",
    "DecryptError",
    "MissingSignatureError",
    "MpConfigError",
    "MpError",
    "PayloadError",
    "PayloadTooLargeError",
    "ReplyError",
    "SignatureError",
    "TimestampError",
    "UnsupportedEncryptionError",
    "WeChatApiError",
    "XmlError",
]


class MpError(WeixinError):
    """Root of every Official Account protocol error."""


class SignatureError(MpError):
    """A signature does not match (go-wx-gateway answers 400 ``invalid signanure``)."""


class MissingSignatureError(SignatureError):
    """``signature``, ``timestamp`` or ``nonce`` is missing or empty (``argument expected``)."""


class TimestampError(SignatureError):
    """The timestamp is not an integer, or lies outside the allowed window."""

    def __init__(self, reason: str, *, expired: bool = False) -> None:
        self.expired = expired
        super().__init__(reason)


class UnsupportedEncryptionError(MpError):
    """``encrypt_type`` is something other than absent, ``raw`` or ``aes``."""


class DecryptError(MpError):
    """The ``Encrypt`` payload is not a valid ciphertext for this account."""


class AppIdMismatchError(DecryptError):
    """The payload decrypted, but the AppID inside is not ours (go-wx-gateway defect D9)."""


class PayloadError(MpError):
    """The push body is malformed or lacks a field the gateway needs."""


class PayloadTooLargeError(PayloadError):
    """The body exceeds the configured size cap."""

    def __init__(self, size: int, limit: int) -> None:
        self.size = size
        self.limit = limit
        super().__init__(f"body is {size} bytes, over the limit of {limit} bytes")


class XmlError(PayloadError):
    """Not well-formed XML, a forbidden construct (DOCTYPE, entity), or a root other than xml."""


class ReplyError(MpError):
    """The upstream's reply JSON cannot be turned into a passive reply."""


class MpConfigError(MpError):
    """The configuration is broken; every problem names its key path."""

    def __init__(self, problems: str | Sequence[str], *, source: str | None = None) -> None:
        self.problems: tuple[str, ...] = (
            (problems,) if isinstance(problems, str) else tuple(problems)
        )
        self.source = source
        prefix = f"{source}: " if source else ""
        if len(self.problems) == 1:
            message = prefix + self.problems[0]
        else:
            message = f"{prefix}{len(self.problems)} problems:\n" + "\n".join(
                f"  {problem}" for problem in self.problems
            )
        super().__init__(message)


#: errcodes meaning the access_token was dead: invalid/not latest, malformed, expired.
TOKEN_ERRCODES: Final = frozenset({40001, 40014, 42001})


class WeChatApiError(ApiError, MpError):
    """WeChat answered HTTP 200 with a non-zero ``errcode`` (§5.13).

    Both an :class:`~weixin_gateway.errors.ApiError` (the server refused; not a network error)
    and an :class:`~weixin_gateway.mp.errors.MpError`. ``errcode`` and ``errmsg`` are WeChat's;
    ``endpoint`` is the API path without host or query, so no credential can leak through it.
    """

    def __init__(self, endpoint: str, *, errcode: int, errmsg: str | None = None) -> None:
        super().__init__(endpoint, errcode=errcode, errmsg=errmsg)

    @property
    def token_invalid(self) -> bool:
        """Whether the errcode says the access_token was dead (40001 / 40014 / 42001)."""
        return self.errcode in TOKEN_ERRCODES

    def _describe(self) -> str:
        return f"{self.endpoint}: errcode {self.errcode}: {self.errmsg or '(no errmsg)'}"


class ApiDiscontinuedError(MpError):
    """The API no longer does its job on WeChat's side; nothing was sent."""

    def __init__(self, api: str, detail: str) -> None:
        self.api = api
        super().__init__(f"{api}: {detail}")
