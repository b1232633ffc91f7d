"""What the simulator hands back to tests: frozen snapshots of its world and of what it heard.

Secrets (bot tokens, context tokens, keys, raw request headers and bodies) are kept out of
``repr()``.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Literal

__all__ = [
    "InjectedMessage",
    "Notification",
    "QrSession",
    "RecordedRequest",
    "SentItem",
    "SentMessage",
    "SimBot",
    "SimUser",
    "TypingEvent",
]


@dataclass(frozen=True, slots=True)
class SimUser:
    """A WeChat user (``…@im.wechat``)."""

    user_id: str
    name: str | None = None


@dataclass(frozen=True, slots=True)
class SimBot:
    """A logged-in bot account: what a client needs to talk to this simulator as that bot."""

    bot_id: str
    bot_token: str = field(repr=False)
    #: The WeChat user who owns (logged in) the bot.
    user_id: str
    base_url: str
    cdn_base_url: str
    expired: bool = False


@dataclass(frozen=True, slots=True)
class InjectedMessage:
    """An inbound message queued for a bot."""

    bot_id: str
    message_id: int
    context_token: str = field(repr=False)
    seq: int
    from_user_id: str


ItemKind = Literal[
    "text", "image", "voice", "file", "video", "tool_call_start", "tool_call_result", "unknown"
]


@dataclass(frozen=True, slots=True)
class SentItem:
    """One item of a message a bot sent, with its media downloaded and decrypted."""

    type: ItemKind
    text: str | None = None
    file_name: str | None = None
    #: Plaintext size of the media.
    size: int | None = None
    #: Decrypted media bytes.
    data: bytes | None = field(default=None, repr=False)
    #: Why the media could not be fetched or decrypted (unknown param, wrong key ...).
    error: str | None = None
    tool_name: str | None = None
    tool_call_id: str | None = None
    status: str | None = None
    #: The item exactly as it was sent.
    raw: Mapping[str, object] = field(default_factory=dict, repr=False)


@dataclass(frozen=True, slots=True)
class SentMessage:
    """A message a bot sent with ``sendmessage`` and the simulator accepted."""

    bot_id: str
    to_user_id: str
    client_id: str | None
    context_token: str | None = field(repr=False)
    run_id: str | None
    message_id: int
    items: tuple[SentItem, ...]
    time: float
    #: ``msg`` exactly as it was sent.
    raw: Mapping[str, object] = field(default_factory=dict, repr=False)

    @property
    def text(self) -> str:
        """The text of the first text item, or ``""``."""
        return next((item.text for item in self.items if item.text is not None), "")


@dataclass(frozen=True, slots=True)
class TypingEvent:
    """A ``sendtyping`` call with a valid ticket."""

    bot_id: str
    user_id: str
    #: 1 = typing, 2 = cancel.
    status: int
    time: float


@dataclass(frozen=True, slots=True)
class Notification:
    """A ``msg/notifystart`` or ``msg/notifystop`` call."""

    bot_id: str
    kind: Literal["start", "stop"]
    time: float


@dataclass(frozen=True, slots=True)
class QrSession:
    """A QR login session as it stands."""

    qrcode: str
    status: str
    qrcode_img_content: str
    created_at: float
    bot_type: str | None
    #: ``local_token_list`` sent when the QR code was created (tokens hidden from repr).
    local_tokens: tuple[str, ...] = field(repr=False)
    user_id: str | None
    bot_id: str | None
    redirect_host: str | None
    verify_code: str | None = field(repr=False)
    wrong_codes: int


@dataclass(frozen=True, slots=True)
class RecordedRequest:
    """One iLink or CDN request exactly as it arrived."""

    #: Route name: ``getupdates``, ``sendmessage``, ``get_bot_qrcode``, ``cdn_upload`` ...
    route: str
    method: str
    path: str
    query_string: str
    query: tuple[tuple[str, str], ...]
    #: Header names in the case and order the client sent them.
    headers: tuple[tuple[str, str], ...] = field(repr=False)
    #: The raw body (``cdn_upload`` bodies are not kept: see ``body_size``).
    body: bytes = field(repr=False)
    body_size: int
    #: The ``Host`` header.
    host: str | None
    time: float
    #: The bot the ``Authorization`` token (or the CDN parameter) belongs to, if any.
    bot_id: str | None

    def header(self, name: str) -> str | None:
        """The first header called ``name`` (case-insensitive)."""
        lowered = name.lower()
        return next((v for k, v in self.headers if k.lower() == lowered), None)

    def header_names(self) -> tuple[str, ...]:
        return tuple(k for k, _ in self.headers)

    def json(self) -> object:
        """The body parsed as JSON (big integers exact)."""
        return json.loads(self.body) if self.body else None

    def query_param(self, name: str) -> str | None:
        return next((v for k, v in self.query if k == name), None)
