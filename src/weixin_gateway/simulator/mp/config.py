"""Switches of the Official Account simulator: one :class:`MpSimulatorConfig`, one
:class:`AppConfig` per account.

Both are frozen dataclasses. Every field can be changed while the simulator runs, from Python
(``wx.configure(...)``, ``wx.update_app(appid, ...)``) or over HTTP with a partial JSON object
(``POST /_sim/mp/config``, ``POST /_sim/mp/apps/<appid>``); unknown names and wrong types are
refused with an error that names the field.
"""

from __future__ import annotations

import dataclasses
import re
import types
import typing
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal, TypeVar, get_args, get_origin, get_type_hints

from weixin_gateway.mp.crypto import ENCODING_AES_KEY_LENGTH
from weixin_gateway.simulator._errors import SimulatorError

__all__ = [
    "DEFAULT_SHOP_SCHEDULE",
    "AppConfig",
    "Mode",
    "MpSimulatorConfig",
    "ShopFormat",
    "ShortUrlMode",
    "config_to_json",
    "update_config",
]

Mode = Literal["plain", "compat", "safe"]
ShopFormat = Literal["json", "xml"]
ShortUrlMode = Literal["echo", "unsupported", "legacy"]

#: Delays before the 2nd … 10th push of a shop event (official-account.md §3.4).
DEFAULT_SHOP_SCHEDULE: tuple[float, ...] = (0, 0, 10, 60, 300, 1800, 3600, 3600, 3600)

_APPID = re.compile(r"wx[0-9a-f]{16}")
_GH_ID = re.compile(r"gh_[0-9a-f]{12}")
_AES_KEY = re.compile(r"[A-Za-z0-9]{43}")


@dataclass(frozen=True, slots=True)
class MpSimulatorConfig:
    """How the simulated WeChat side behaves. Times are seconds on the injected clock unless
    the name says otherwise; push deadlines are real time (they wait on a socket)."""

    #: Seed of the RNG behind every nonce, random16, MsgId, token, ticket, code and rid.
    seed: int | None = None

    # --- push client (WeChat → gateway) ---
    #: Real-time deadline of one push attempt (WeChat: 5 s).
    push_timeout_s: float = 5.0
    #: Attempts in all for an Official Account push (the original + retries).
    push_attempts: int = 3
    #: Retries carry a fresh ``timestamp``/``nonce`` (and so new signatures); off = same query.
    push_resign_retries: bool = True
    #: Start the next attempt this long (real s) after the previous one *without* abandoning it;
    #: ``None`` = the next attempt starts only when the previous one failed.
    push_overlap_after_s: float | None = None
    #: Send ``encrypt_type=raw`` on plaintext pushes (documented as plaintext).
    push_encrypt_type_raw: bool = False
    #: Largest reply body read from the gateway.
    push_max_reply_bytes: int = 1 << 20
    #: Pushes of a Channels-shop event in all.
    shop_push_attempts: int = 10
    #: Delays (simulated clock) before each retry of a shop event.
    shop_retry_schedule_s: tuple[float, ...] = DEFAULT_SHOP_SCHEDULE
    #: After template/bizsend, push TEMPLATESENDJOBFINISH / subscribe_msg_sent_event to the
    #: app's ``push_url`` (when it has one).
    auto_job_events: bool = True
    #: ``Status`` of TEMPLATESENDJOBFINISH for users who did not block the account.
    template_job_status: str = "success"
    #: Check that media IDs of passive replies exist and are not expired.
    validate_reply_media: bool = True

    # --- API answers ---
    #: ``user/info`` answers the pre-2021 shape (nickname, sex, headimgurl ...).
    user_info_legacy: bool = False
    #: ``shorturl``: ``echo`` the long URL, ``unsupported`` (45103) or a ``legacy`` fake link.
    shorturl_mode: ShortUrlMode = "echo"
    #: A wrong secret gets the legacy 40001 instead of 40125.
    legacy_bad_secret_errcode: bool = False
    #: ``custom/send`` needs an open customer-service window (45015).
    enforce_custom_window: bool = True
    #: ``custom/send`` counts against the window's quota (45047).
    enforce_custom_quota: bool = True
    #: Longest ``text.content`` of ``custom/send`` in UTF-8 bytes (45002).
    custom_text_limit_bytes: int = 2048
    #: errcode for a bad ``qrcode/create`` argument (the real one is undocumented).
    qr_invalid_errcode: int = 40035
    #: errcode when ``force_refresh`` comes too often (undocumented; 45009 or 45011).
    force_refresh_errcode: int = 45009
    #: errcode for an unknown shop order or after-sale order (unverified).
    shop_not_found_errcode: int = 100002

    # --- lifetimes ---
    token_ttl_s: int = 7200
    #: How long the previous classic token keeps working after a new one is issued.
    token_grace_s: float = 300.0
    #: A stable token is rolled when fewer than this many seconds remain.
    stable_roll_s: float = 300.0
    oauth_code_ttl_s: float = 300.0
    refresh_token_ttl_s: float = 30 * 86400.0
    media_ttl_s: float = 3 * 86400.0
    ticket_ttl_s: int = 7200

    # --- media limits ---
    image_max_bytes: int = 10 << 20
    voice_max_bytes: int = 2 << 20
    video_max_bytes: int = 10 << 20
    thumb_max_bytes: int = 64 << 10

    # --- recording ---
    record_calls: bool = True
    max_records: int = 10_000
    record_body_limit: int = 64 << 10

    def __post_init__(self) -> None:
        _check_positive(self, ("push_timeout_s", "push_attempts", "shop_push_attempts"))
        _check_positive(self, ("token_ttl_s", "ticket_ttl_s", "max_records"))
        _check_non_negative(
            self,
            (
                "token_grace_s",
                "stable_roll_s",
                "oauth_code_ttl_s",
                "refresh_token_ttl_s",
                "media_ttl_s",
                "custom_text_limit_bytes",
                "record_body_limit",
                "image_max_bytes",
                "voice_max_bytes",
                "video_max_bytes",
                "thumb_max_bytes",
            ),
        )
        if self.push_overlap_after_s is not None and self.push_overlap_after_s < 0:
            raise SimulatorError(
                "push_overlap_after_s must not be negative", field="push_overlap_after_s"
            )
        if any(delay < 0 for delay in self.shop_retry_schedule_s):
            raise SimulatorError(
                "shop_retry_schedule_s must not hold negative delays",
                field="shop_retry_schedule_s",
            )

    def replace(self, **changes: object) -> MpSimulatorConfig:
        """A copy with ``changes`` applied, type-checked like the JSON form."""
        return update_config(self, changes)


@dataclass(frozen=True, slots=True)
class AppConfig:
    """One Official Account (or Channels shop) as WeChat knows it.

    Secrets (``secret``, ``token``, ``encoding_aes_key``) never appear in ``repr()``.
    """

    appid: str
    secret: str = field(repr=False)
    token: str = field(repr=False)
    encoding_aes_key: str = field(repr=False)
    gh_id: str
    #: Message encryption mode of the server configuration.
    mode: Mode = "plain"
    #: The gateway's service URL pushes go to (``None``: give ``url=`` to each push).
    push_url: str | None = None
    #: A Channels shop (``is-channels-ec``): shop APIs allowed, shop events pushed.
    is_shop: bool = False
    #: Shop events as JSON (default) or XML.
    shop_format: ShopFormat = "json"
    #: Callers allowed on the token endpoints (``None``: the allowlist is off).
    ip_allowlist: tuple[str, ...] | None = None
    #: The token endpoints answer 89503 (risky IP, the admin must confirm).
    ip_risk: bool = False
    #: The AppSecret is frozen (40243).
    frozen_secret: bool = False
    #: ``message/template/send`` is supported (off: 45109).
    template_api: bool = True
    #: Hosts a web-authorization ``redirect_uri`` may use (``None``: any host).
    oauth_domains: tuple[str, ...] | None = None
    #: Users get a ``unionid`` (the account is bound to an Open Platform account).
    unionid: bool = True
    #: ``/cgi-bin/token`` calls per day (45009).
    token_daily_quota: int = 2000
    #: ``/cgi-bin/token`` calls per minute (45011; ``None``: no throttle).
    token_minute_quota: int | None = None
    stable_daily_quota: int = 500_000
    stable_minute_quota: int = 10_000
    #: ``force_refresh`` calls per day, and the shortest interval between two.
    force_refresh_daily: int = 20
    force_refresh_interval_s: float = 30.0
    #: Calls per day of each other API (45009); ``api_quotas`` overrides it per route name.
    api_daily_quota: int = 100_000
    #: Calls per minute of each other API (45011; ``None``: no throttle).
    api_minute_quota: int | None = None
    #: Per-route daily quotas, e.g. ``{"template_send": 3, "getticket": 10}``.
    api_quotas: dict[str, int] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if not _APPID.fullmatch(self.appid):
            raise SimulatorError("appid must be 'wx' + 16 lowercase hex digits", field="appid")
        if not self.secret:
            raise SimulatorError("secret must not be empty", field="secret")
        if not 3 <= len(self.token) <= 32 or not self.token.isalnum() or not self.token.isascii():
            raise SimulatorError("token must be 3..32 ASCII letters or digits", field="token")
        if not _AES_KEY.fullmatch(self.encoding_aes_key):
            raise SimulatorError(
                f"encoding_aes_key must be {ENCODING_AES_KEY_LENGTH} characters of [A-Za-z0-9]",
                field="encoding_aes_key",
            )
        if not _GH_ID.fullmatch(self.gh_id):
            raise SimulatorError("gh_id must be 'gh_' + 12 lowercase hex digits", field="gh_id")
        if self.push_url is not None and not self.push_url.startswith(("http://", "https://")):
            raise SimulatorError("push_url must be an http(s) URL", field="push_url")
        _check_non_negative(
            self,
            (
                "token_daily_quota",
                "stable_daily_quota",
                "stable_minute_quota",
                "force_refresh_daily",
                "force_refresh_interval_s",
                "api_daily_quota",
            ),
        )
        for name, value in self.api_quotas.items():
            if value < 0:
                raise SimulatorError("quotas must not be negative", field=f"api_quotas.{name}")

    def replace(self, **changes: object) -> AppConfig:
        return update_config(self, changes)


# --- JSON form ------------------------------------------------------------------------------------

_C = TypeVar("_C", MpSimulatorConfig, AppConfig)


def _check_positive(obj: object, names: tuple[str, ...]) -> None:
    for name in names:
        if getattr(obj, name) <= 0:
            raise SimulatorError(f"{name} must be positive", field=name)


def _check_non_negative(obj: object, names: tuple[str, ...]) -> None:
    for name in names:
        if getattr(obj, name) < 0:
            raise SimulatorError(f"{name} must not be negative", field=name)


def _coerce(name: str, hint: Any, value: object) -> object:
    """``value`` checked against a field's type hint (JSON in, Python out)."""
    origin = get_origin(hint)
    if isinstance(hint, types.UnionType) or origin is typing.Union:
        if value is None and type(None) in get_args(hint):
            return None
        for option in get_args(hint):
            if option is type(None):
                continue
            try:
                return _coerce(name, option, value)
            except SimulatorError:
                continue
        raise SimulatorError(f"{name} has the wrong type", field=name)
    if origin is Literal:
        if value in get_args(hint):
            return value
        choices = ", ".join(repr(v) for v in get_args(hint))
        raise SimulatorError(f"{name} must be one of {choices}", field=name)
    if origin is tuple:
        (item_type, _) = get_args(hint)
        if not isinstance(value, list | tuple):
            raise SimulatorError(f"{name} must be a list", field=name)
        return tuple(_coerce(f"{name}[{i}]", item_type, v) for i, v in enumerate(value))
    if origin is dict:
        _, value_type = get_args(hint)
        if not isinstance(value, dict):
            raise SimulatorError(f"{name} must be an object", field=name)
        return {str(k): _coerce(f"{name}.{k}", value_type, v) for k, v in value.items()}
    if hint is bool:
        if isinstance(value, bool):
            return value
        raise SimulatorError(f"{name} must be true or false", field=name)
    if hint is int:
        if isinstance(value, int) and not isinstance(value, bool):
            return value
        raise SimulatorError(f"{name} must be an integer", field=name)
    if hint is float:
        if isinstance(value, int | float) and not isinstance(value, bool):
            return float(value)
        raise SimulatorError(f"{name} must be a number", field=name)
    if hint is str:
        if isinstance(value, str):
            return value
        raise SimulatorError(f"{name} must be a string", field=name)
    raise SimulatorError(f"{name} cannot be set", field=name)  # pragma: no cover


def update_config(
    base: _C, data: Mapping[str, object], *, frozen: frozenset[str] = frozenset()
) -> _C:
    """``base`` with the fields in ``data`` replaced; unknown names and wrong types refused."""
    hints = get_type_hints(type(base))
    changes: dict[str, object] = {}
    for name, value in data.items():
        if name not in hints or name in frozen:
            raise SimulatorError(f"unknown or read-only field {name!r}", field=name)
        changes[name] = _coerce(name, hints[name], value)
    return dataclasses.replace(base, **changes)  # type: ignore[arg-type]


def config_to_json(config: MpSimulatorConfig | AppConfig) -> dict[str, object]:
    data = dataclasses.asdict(config)
    return {k: list(v) if isinstance(v, tuple) else v for k, v in data.items()}
