"""The async iLink Bot SDK: wire types, crypto, the low-level API, QR login, the client."""

from .api import ILinkApi, ILinkConfig
from .chunking import split_text
from .client import MediaSendResult, PollResult, SendResult, WeixinClient
from .login import AlreadyBoundError, LoginResult, QrLogin, login_with_qr
from .markdown import filter_markdown
from .media import pick_media_item
from .protocol import CDN_BASE_URL, DEFAULT_BASE_URL, Timeouts
from .voice import silk_to_wav
from .wire import (
    CDNMedia,
    MediaType,
    MessageItem,
    MessageItemType,
    MessageState,
    MessageType,
    TypingStatus,
    WeixinMessage,
)

__all__ = [
    "CDN_BASE_URL",
    "DEFAULT_BASE_URL",
    "AlreadyBoundError",
    "CDNMedia",
    "ILinkApi",
    "ILinkConfig",
    "LoginResult",
    "MediaSendResult",
    "MediaType",
    "MessageItem",
    "MessageItemType",
    "MessageState",
    "MessageType",
    "PollResult",
    "QrLogin",
    "SendResult",
    "Timeouts",
    "TypingStatus",
    "WeixinClient",
    "WeixinMessage",
    "filter_markdown",
    "login_with_qr",
    "pick_media_item",
    "silk_to_wav",
    "split_text",
]
