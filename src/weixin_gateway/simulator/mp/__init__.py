"""The Official Account (公众号) side of the simulator: WeChat's API server, push client and a
``/_sim/mp/`` control API, on loopback.

Depends only on the Official Account protocol modules (:mod:`weixin_gateway.mp.signature`,
``.crypto``, ``.xml``, ``.envelope``, ``.push``, ``.reply``, ``.errors``), the clock and the error
tree. See ``docs/simulator-official-account.md``.
"""

from __future__ import annotations

from weixin_gateway.simulator._errors import SimulatorError, SimulatorNotFoundError

from . import messages
from .config import AppConfig, Mode, MpSimulatorConfig, ShopFormat, ShortUrlMode
from .faults import ApiFault, ApiFaultKind, ApiFaultPlan
from .messages import PushSpec, ShopEvent
from .records import (
    AfterSaleOrder,
    ApiCall,
    BrowseHit,
    BrowseResult,
    CustomMessage,
    IssuedToken,
    JsSdkCheck,
    MediaItem,
    MpUser,
    OAuthCode,
    PushAttempt,
    PushReply,
    PushResult,
    QrCode,
    ShopOrder,
    SubscribeMessage,
    TemplateMessage,
    TranscriptEntry,
    UrlVerification,
    WindowGrant,
)
from .server import NOTICE, OfficialAccountSimulator, PushOptions, ShopPushOptions

__all__ = [
    "NOTICE",
    "AfterSaleOrder",
    "ApiCall",
    "ApiFault",
    "ApiFaultKind",
    "ApiFaultPlan",
    "AppConfig",
    "BrowseHit",
    "BrowseResult",
    "CustomMessage",
    "IssuedToken",
    "JsSdkCheck",
    "MediaItem",
    "Mode",
    "MpSimulatorConfig",
    "MpUser",
    "OAuthCode",
    "OfficialAccountSimulator",
    "PushAttempt",
    "PushOptions",
    "PushReply",
    "PushResult",
    "PushSpec",
    "QrCode",
    "ShopEvent",
    "ShopFormat",
    "ShopOrder",
    "ShopPushOptions",
    "ShortUrlMode",
    "SimulatorError",
    "SimulatorNotFoundError",
    "SubscribeMessage",
    "TemplateMessage",
    "TranscriptEntry",
    "UrlVerification",
    "WindowGrant",
    "messages",
]
