"""The public names are a promise: adding or removing one must be a deliberate change here."""

from __future__ import annotations

import weixin_gateway
import weixin_gateway.ilink

TOP_LEVEL = {
    "ApiError", "DecodeError", "HttpStatusError", "ILinkApi", "ILinkConfig", "LoginError",
    "LoginResult", "MediaError", "MediaTooLargeError", "MissingExtraError", "NetworkError",
    "RequestTimeoutError", "SendRejectedError", "SessionExpiredError", "TransportError",
    "WeixinClient", "WeixinError", "WeixinMessage", "__version__", "login_with_qr",
}  # fmt: skip

ILINK = {
    "CDN_BASE_URL", "DEFAULT_BASE_URL", "AlreadyBoundError", "CDNMedia", "ILinkApi",
    "ILinkConfig", "LoginResult", "MediaSendResult", "MediaType", "MessageItem",
    "MessageItemType", "MessageState", "MessageType", "PollResult", "QrLogin", "SendResult",
    "Timeouts", "TypingStatus", "WeixinClient", "WeixinMessage", "filter_markdown",
    "login_with_qr", "pick_media_item", "silk_to_wav", "split_text",
}  # fmt: skip


def test_top_level_all_is_pinned() -> None:
    assert set(weixin_gateway.__all__) == TOP_LEVEL
    for name in TOP_LEVEL:
        assert hasattr(weixin_gateway, name), name


def test_ilink_all_is_pinned() -> None:
    assert set(weixin_gateway.ilink.__all__) == ILINK
    for name in ILINK:
        assert hasattr(weixin_gateway.ilink, name), name
