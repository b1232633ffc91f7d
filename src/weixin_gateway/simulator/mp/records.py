"""What the Official Account simulator hands back to tests: frozen snapshots.

Tokens, tickets, codes, secrets and raw bodies are kept out of ``repr()``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Literal

from weixin_gateway.mp.xml import XmlDict

__all__ = [
    "AfterSaleOrder",
    "ApiCall",
    "BrowseHit",
    "BrowseResult",
    "CustomMessage",
    "IssuedToken",
    "JsSdkCheck",
    "MediaItem",
    "MpUser",
    "OAuthCode",
    "PushAttempt",
    "PushReply",
    "PushResult",
    "PushVerdict",
    "QrCode",
    "ShopOrder",
    "SubscribeMessage",
    "TemplateMessage",
    "TokenKind",
    "TranscriptEntry",
    "TranscriptSource",
    "UrlVerification",
    "WindowGrant",
]

TokenKind = Literal["classic", "stable", "web"]


@dataclass(frozen=True, slots=True)
class IssuedToken:
    """An access token the simulator gave out: classic, stable, or a web (OAuth) token."""

    token: str = field(repr=False)
    appid: str
    kind: TokenKind
    issued_at: float
    expires_at: float
    #: From this moment on the token answers 40001 (``None``: not invalidated).
    invalidated_at: float | None = None
    #: Web tokens: the user and scope they were issued for.
    openid: str | None = None
    scope: str | None = None

    def state(self, now: float) -> Literal["valid", "invalidated", "expired"]:
        invalidated = self.invalidated_at
        if invalidated is not None and now >= invalidated and invalidated < self.expires_at:
            return "invalidated"
        if now >= self.expires_at:
            return "expired"
        return "valid"


@dataclass(frozen=True, slots=True)
class ApiCall:
    """One request the simulated WeChat API received, and what it answered."""

    seq: int
    time: float
    method: str
    path: str
    route: str
    query: Mapping[str, str] = field(repr=False)
    body: bytes = field(repr=False)
    #: The ``access_token`` query parameter, if any.
    access_token: str | None = field(repr=False)
    appid: str | None
    status: int
    #: ``errcode`` of a JSON answer (0 for a success without one; ``None``: not JSON).
    errcode: int | None
    fault: str | None = None


@dataclass(frozen=True, slots=True)
class WindowGrant:
    """A customer-service window opened by a user action (official-account.md §5.8)."""

    trigger: Literal["message", "menu", "subscribe", "scan"]
    #: Messages allowed (``None``: unlimited).
    quota: int | None
    used: int
    granted_at: float
    expires_at: float

    def open(self, now: float) -> bool:
        return now < self.expires_at

    def left(self) -> int | None:
        return None if self.quota is None else max(0, self.quota - self.used)


@dataclass(frozen=True, slots=True)
class MpUser:
    """A follower (or former follower, or a web-authorization visitor) of one account."""

    appid: str
    openid: str
    unionid: str | None
    subscribed: bool
    subscribe_time: int
    subscribe_scene: str
    qr_scene: int
    qr_scene_str: str
    tagid_list: tuple[int, ...]
    remark: str
    groupid: int
    language: str
    nickname: str
    headimgurl: str
    #: The user blocked the account: template messages finish ``failed:user block``.
    blocked: bool
    #: A virtual snapshot-page account (``is_snapshotuser``).
    snapshot: bool
    windows: tuple[WindowGrant, ...]
    #: One-time subscription-notice quota per template id.
    subscriptions: Mapping[str, int]


@dataclass(frozen=True, slots=True)
class TemplateMessage:
    appid: str
    openid: str
    template_id: str
    msgid: int
    data: Mapping[str, object]
    url: str | None
    miniprogram: Mapping[str, object] | None
    client_msg_id: str | None
    time: float


@dataclass(frozen=True, slots=True)
class SubscribeMessage:
    appid: str
    openid: str
    template_id: str
    msgid: int
    data: Mapping[str, object]
    page: str | None
    miniprogram: Mapping[str, object] | None
    time: float


@dataclass(frozen=True, slots=True)
class CustomMessage:
    appid: str
    openid: str
    msgtype: str
    #: The request body as sent.
    body: Mapping[str, object]
    kf_account: str | None
    #: The window the message was counted against (``None``: rules off).
    window: str | None
    time: float
    seq: int


TranscriptSource = Literal["user", "passive_reply", "custom", "template", "subscribe", "notice"]


@dataclass(frozen=True, slots=True)
class TranscriptEntry:
    """One line of what a user saw in the chat: their own messages, replies, notices."""

    seq: int
    time: float
    appid: str
    openid: str
    source: TranscriptSource
    msg_type: str
    content: Mapping[str, object]


@dataclass(frozen=True, slots=True)
class OAuthCode:
    code: str = field(repr=False)
    appid: str
    openid: str
    scope: str
    state: str
    redirect_uri: str
    issued_at: float
    expires_at: float
    used_at: float | None = None
    snapshot: bool = False


@dataclass(frozen=True, slots=True)
class QrCode:
    ticket: str
    appid: str
    action_name: str
    scene_id: int | None
    scene_str: str | None
    #: Temporary codes only.
    expire_seconds: int | None
    url: str
    created_at: float
    expires_at: float | None

    @property
    def scene(self) -> str:
        return self.scene_str if self.scene_str is not None else str(self.scene_id)

    @property
    def permanent(self) -> bool:
        return self.expires_at is None


@dataclass(frozen=True, slots=True)
class MediaItem:
    media_id: str
    appid: str
    type: str
    size: int
    filename: str
    content_type: str
    created_at: float
    expires_at: float
    data: bytes = field(repr=False)


@dataclass(frozen=True, slots=True)
class ShopOrder:
    appid: str
    order_id: int
    openid: str
    status: int
    create_time: int
    update_time: int
    product_id: int
    sku_id: int
    price: int


@dataclass(frozen=True, slots=True)
class AfterSaleOrder:
    appid: str
    after_sale_order_id: int
    order_id: int
    openid: str
    status: str
    type: str
    create_time: int
    update_time: int
    amount: int


@dataclass(frozen=True, slots=True)
class JsSdkCheck:
    """What ``wx.config`` would say about a JS-SDK signature."""

    ok: bool
    #: ``ok``, ``invalid signature`` or ``stale ticket``.
    reason: str
    #: The signature was made over the URL *with* its ``#fragment`` (go-wx-gateway defect D19).
    signed_with_fragment: bool
    #: The ticket the signature matched, if any (redacted in ``repr``).
    ticket: str | None = field(default=None, repr=False)


@dataclass(frozen=True, slots=True)
class UrlVerification:
    """The GET URL verification: passes when the answer is 200 and exactly ``echostr``."""

    ok: bool
    status: int | None
    body: str
    echostr: str
    url: str
    error: str | None = None


@dataclass(frozen=True, slots=True)
class PushAttempt:
    """One HTTP delivery of a push. Times are real seconds (they wait on a socket)."""

    number: int
    #: When the attempt started, counted from the start of the push.
    started_after_s: float
    duration_s: float
    #: HTTP status, ``None`` when no answer came (timeout, refused, reset).
    status: int | None
    body: str = field(repr=False)
    #: ``timeout``, ``connection error: …`` or ``HTTP <status>`` for a failed attempt.
    error: str | None
    timestamp: str
    nonce: str
    query: Mapping[str, str] = field(repr=False)


@dataclass(frozen=True, slots=True)
class PushReply:
    """A valid passive reply, decrypted when it came encrypted."""

    msg_type: str
    fields: XmlDict
    encrypted: bool
    xml: str = field(repr=False)


PushVerdict = Literal["reply", "no_reply", "invalid", "failed"]


@dataclass(frozen=True, slots=True)
class PushResult:
    """The whole story of one push: attempts, the reply and the verdict.

    * ``reply`` — a valid passive reply (in :attr:`reply`);
    * ``no_reply`` — ``success`` or an empty body;
    * ``invalid`` — a response came but is not a valid reply (:attr:`error` says why); no retry;
    * ``failed`` — every attempt timed out, failed to connect or got a non-200 status.
    """

    id: int
    appid: str
    openid: str
    url: str
    mode: str
    shop: bool
    msg_type: str
    event: str | None
    msg_id: int | None
    create_time: int
    #: The plaintext message (XML, or JSON for shop events).
    message: str = field(repr=False)
    #: The POST body as sent (the same for every attempt).
    body: str = field(repr=False)
    attempts: tuple[PushAttempt, ...]
    verdict: PushVerdict
    reply: PushReply | None
    error: str | None
    #: The user was shown 「该公众号暂时无法提供服务，请稍后再试」.
    notice: bool

    @property
    def delivered(self) -> bool:
        return self.verdict in ("reply", "no_reply")


@dataclass(frozen=True, slots=True)
class BrowseHit:
    """One GET the simulated browser made to the gateway's ``redirect_uri``."""

    url: str = field(repr=False)
    status: int | None
    headers: Mapping[str, str]
    body: str = field(repr=False)
    error: str | None = None


@dataclass(frozen=True, slots=True)
class BrowseResult:
    """A web authorization as a browser lives it: the code, and the redirect(s) it followed."""

    code: str | None = field(repr=False)
    location: str = field(repr=False)
    hits: tuple[BrowseHit, ...]
