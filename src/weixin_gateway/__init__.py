"""weixin-gateway: make an agent reachable from WeChat.

The most used names are re-exported here; everything else lives in its subpackage
(``weixin_gateway.ilink``, ``weixin_gateway.mp``, ``weixin_gateway.simulator``).
"""

from __future__ import annotations

__version__ = "0.1.0"

from weixin_gateway.errors import (
    ApiError,
    DecodeError,
    HttpStatusError,
    LoginError,
    MediaError,
    MediaTooLargeError,
    MissingExtraError,
    NetworkError,
    RequestTimeoutError,
    SendRejectedError,
    SessionExpiredError,
    TransportError,
    WeixinError,
)
from weixin_gateway.ilink import (
    ILinkApi,
    ILinkConfig,
    LoginResult,
    WeixinClient,
    WeixinMessage,
    login_with_qr,
)

__all__ = [
    "ApiError",
    "DecodeError",
    "HttpStatusError",
    "ILinkApi",
    "ILinkConfig",
    "LoginError",
    "LoginResult",
    "MediaError",
    "MediaTooLargeError",
    "MissingExtraError",
    "NetworkError",
    "RequestTimeoutError",
    "SendRejectedError",
    "SessionExpiredError",
    "TransportError",
    "WeixinClient",
    "WeixinError",
    "WeixinMessage",
    "__version__",
    "login_with_qr",
]
