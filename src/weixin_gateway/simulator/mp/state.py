"""The simulated WeChat world of Official Accounts: apps, users, windows, quotas, stores."""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass, field
from typing import Literal

from weixin_gateway.mp.crypto import MsgCrypto
from weixin_gateway.simulator._errors import SimulatorError, SimulatorNotFoundError

from ._errcodes import WeChatApiError
from ._ids import MpIds
from .config import AppConfig
from .records import (
    AfterSaleOrder,
    MediaItem,
    MpUser,
    OAuthCode,
    QrCode,
    ShopOrder,
    WindowGrant,
)

__all__ = ["WINDOW_RULES", "AppState", "Quotas", "Trigger", "UserState"]

Trigger = Literal["message", "menu", "subscribe", "scan"]

#: Customer-service window per trigger: (messages, seconds) — official-account.md §5.8.
WINDOW_RULES: dict[Trigger, tuple[int, float]] = {
    "message": (5, 48 * 3600.0),
    "menu": (3, 60.0),
    "subscribe": (3, 60.0),
    "scan": (3, 60.0),
}
_BEIJING = 8 * 3600


@dataclass(slots=True)
class UserState:
    appid: str
    openid: str
    unionid: str | None = None
    subscribed: bool = True
    subscribe_time: int = 0
    subscribe_scene: str = "ADD_SCENE_SEARCH"
    qr_scene: int = 0
    qr_scene_str: str = ""
    tagid_list: list[int] = field(default_factory=list)
    remark: str = ""
    groupid: int = 0
    language: str = "zh_CN"
    nickname: str = ""
    headimgurl: str = ""
    blocked: bool = False
    snapshot: bool = False
    windows: dict[Trigger, WindowGrant] = field(default_factory=dict)
    subscriptions: dict[str, int] = field(default_factory=dict)

    def snapshot_record(self) -> MpUser:
        return MpUser(
            appid=self.appid,
            openid=self.openid,
            unionid=self.unionid,
            subscribed=self.subscribed,
            subscribe_time=self.subscribe_time,
            subscribe_scene=self.subscribe_scene,
            qr_scene=self.qr_scene,
            qr_scene_str=self.qr_scene_str,
            tagid_list=tuple(self.tagid_list),
            remark=self.remark,
            groupid=self.groupid,
            language=self.language,
            nickname=self.nickname,
            headimgurl=self.headimgurl,
            blocked=self.blocked,
            snapshot=self.snapshot,
            windows=tuple(self.windows.values()),
            subscriptions=dict(self.subscriptions),
        )

    # --- customer-service window ------------------------------------------------------------

    def grant(self, trigger: Trigger, now: float) -> WindowGrant:
        """A user action (re)opens the window of its trigger with a full quota."""
        quota, ttl = WINDOW_RULES[trigger]
        grant = WindowGrant(trigger, quota, 0, now, now + ttl)
        self.windows[trigger] = grant
        return grant

    def consume(self, now: float, *, enforce_window: bool, enforce_quota: bool) -> str | None:
        """Count one customer-service message; 45015 / 45047 when the rules refuse it.

        The open window that closes first and still has quota pays. Returns its trigger, or
        ``None`` when the window rule is off.
        """
        if not self.subscribed:
            raise WeChatApiError(45015)
        if not enforce_window:
            return None
        open_grants = sorted(
            (g for g in self.windows.values() if g.open(now)), key=lambda g: g.expires_at
        )
        if not open_grants:
            raise WeChatApiError(45015)
        if not enforce_quota:
            return open_grants[0].trigger
        for grant in open_grants:
            left = grant.left()
            if left is None or left > 0:
                self.windows[grant.trigger] = dataclasses.replace(grant, used=grant.used + 1)
                return grant.trigger
        raise WeChatApiError(45047)


@dataclass(slots=True)
class AppState:
    """One account and everything WeChat keeps for it."""

    config: AppConfig
    ids: MpIds
    crypto: MsgCrypto = field(init=False)
    system_openid: str = field(init=False)
    users: dict[str, UserState] = field(default_factory=dict)
    #: template_id -> banned, for ``template/send``.
    templates: dict[str, bool] = field(default_factory=dict)
    #: template ids known to ``subscribe/bizsend``.
    subscribe_templates: set[str] = field(default_factory=set)
    #: ``client_msg_id`` -> msgid of ``template/send``.
    client_msg_ids: dict[str, int] = field(default_factory=dict)
    qrcodes: dict[str, QrCode] = field(default_factory=dict)
    #: permanent scene -> ticket (the same scene gives the same code).
    permanent_scenes: dict[str, str] = field(default_factory=dict)
    codes: dict[str, OAuthCode] = field(default_factory=dict)
    #: refresh_token -> (openid, scope, expires_at)
    refresh_tokens: dict[str, tuple[str, str, float]] = field(default_factory=dict)
    media: dict[str, MediaItem] = field(default_factory=dict)
    #: type ("jsapi", "wx_card") -> [(ticket, expires_at)], newest last.
    tickets: dict[str, list[tuple[str, float]]] = field(default_factory=dict)
    orders: dict[int, ShopOrder] = field(default_factory=dict)
    aftersales: dict[int, AfterSaleOrder] = field(default_factory=dict)
    force_refreshes: list[float] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.rebuild()
        self.system_openid = self.ids.openid()

    def rebuild(self) -> None:
        self.crypto = MsgCrypto(
            token=self.config.token,
            encoding_aes_key=self.config.encoding_aes_key,
            app_id=self.config.appid,
            random=self.ids.bytes,
        )

    @property
    def appid(self) -> str:
        return self.config.appid

    def user(self, openid: str | None) -> UserState:
        """A user of this app, or 40003 (the WeChat answer for an unknown or foreign openid)."""
        user = self.users.get(openid or "")
        if user is None:
            raise WeChatApiError(40003)
        return user

    def find_user(self, openid: str) -> UserState:
        """A user of this app for the Python/control API (404 naming ``openid``)."""
        user = self.users.get(openid)
        if user is None:
            raise SimulatorNotFoundError(f"no user {openid!r} in app {self.appid}", field="openid")
        return user

    def add_user(
        self,
        now: float,
        openid: str | None = None,
        *,
        subscribed: bool = True,
        unionid: str | None = None,
        nickname: str | None = None,
    ) -> UserState:
        if openid is not None and openid in self.users:
            return self.users[openid]
        if openid is not None and not 1 <= len(openid) <= 64:
            raise SimulatorError("openid must be 1..64 characters", field="openid")
        value = openid or self.ids.openid()
        user = UserState(
            appid=self.appid,
            openid=value,
            unionid=unionid or (self.ids.unionid() if self.config.unionid else None),
            subscribed=subscribed,
            subscribe_time=int(now) if subscribed else 0,
            nickname=nickname if nickname is not None else f"user-{value[-6:]}",
            headimgurl=f"https://thirdwx.qlogo.cn/mmopen/vi_32/{value}/132",
        )
        self.users[value] = user
        return user

    def live_media(self, media_id: str, now: float) -> MediaItem | None:
        item = self.media.get(media_id)
        if item is None or now >= item.expires_at:
            return None
        return item


class Quotas:
    """Call counters per (app, route) and day / minute on the simulated clock."""

    def __init__(self) -> None:
        self._days: dict[tuple[str, str, int], int] = {}
        self._minutes: dict[tuple[str, str, int], int] = {}

    def clear(self) -> None:
        self._days.clear()
        self._minutes.clear()

    @staticmethod
    def day(now: float) -> int:
        """The day number in Beijing time (WeChat resets quotas at midnight there)."""
        return math.floor((now + _BEIJING) / 86400)

    def hit(
        self, appid: str, route: str, now: float, *, daily: int | None, minute: int | None
    ) -> None:
        """Count one call, or raise 45009 / 45011 when a limit is reached."""
        day_key = (appid, route, self.day(now))
        minute_key = (appid, route, math.floor(now / 60))
        if daily is not None and self._days.get(day_key, 0) >= daily:
            raise WeChatApiError(45009)
        if minute is not None and self._minutes.get(minute_key, 0) >= minute:
            raise WeChatApiError(45011)
        self._days[day_key] = self._days.get(day_key, 0) + 1
        self._minutes[minute_key] = self._minutes.get(minute_key, 0) + 1

    def used(self, appid: str, route: str, now: float) -> int:
        return self._days.get((appid, route, self.day(now)), 0)
