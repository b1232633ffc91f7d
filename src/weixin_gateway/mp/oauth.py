"""Web authorisation (网页授权, OAuth2) of an Official Account (official-account.md §5.5).

* :func:`authorize_url` builds the URL a browser is sent to (``…#wechat_redirect``).
* :class:`OAuthApi` (``client.oauth``) exchanges the ``code`` WeChat redirects back with,
  refreshes a web token, checks one, and reads ``sns/userinfo``.

A code is single-use and lives 5 minutes, and WeChat clients sometimes follow the redirect twice:
the second exchange then fails with 40163 ``code been used`` (defect D26). :meth:`OAuthApi.
exchange_code` therefore remembers each code's answer for ``code_ttl_s`` (300 s) and lets
concurrent exchanges of one code share a single call, so the repeat is answered from memory.

Web access tokens are not the global access_token: nothing here touches the token store, and no
call is retried. Tokens and the AppSecret never appear in a ``repr`` or a log line.
"""

from __future__ import annotations

import asyncio
import logging
from collections import OrderedDict
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Final, Literal
from urllib.parse import quote, urlencode

from weixin_gateway._clock import Clock, SystemClock
from weixin_gateway.errors import ApiError, DecodeError
from weixin_gateway.mp.config import Secret
from weixin_gateway.mp.gojson import JsonObject

if TYPE_CHECKING:
    from weixin_gateway.mp.client import MpTransport

__all__ = [
    "DEFAULT_OPEN_BASE_URL",
    "OAuthApi",
    "OAuthScope",
    "OAuthToken",
    "authorize_url",
]

log = logging.getLogger(__name__)

DEFAULT_OPEN_BASE_URL: Final = "https://open.weixin.qq.com"
DEFAULT_CODE_TTL_S: Final = 300.0
MAX_CACHED_CODES: Final = 10_000
MAX_STATE_BYTES: Final = 128

OAuthScope = Literal["snsapi_base", "snsapi_userinfo"]


def authorize_url(
    app_id: str,
    redirect_uri: str,
    *,
    scope: OAuthScope = "snsapi_base",
    state: str = "",
    force_popup: bool = False,
    open_base_url: str = DEFAULT_OPEN_BASE_URL,
) -> str:
    """The authorize URL of §5.5, parameters in WeChat's order, ending in ``#wechat_redirect``."""
    if len(state.encode()) > MAX_STATE_BYTES:
        raise ValueError(f"state is limited to {MAX_STATE_BYTES} bytes")
    params = [
        ("appid", app_id),
        ("redirect_uri", redirect_uri),
        ("response_type", "code"),
        ("scope", scope),
        ("state", state),
    ]
    if force_popup:
        params.append(("forcePopup", "true"))
    query = urlencode(params, quote_via=quote, safe="")
    return f"{open_base_url.rstrip('/')}/connect/oauth2/authorize?{query}#wechat_redirect"


@dataclass(frozen=True, slots=True)
class OAuthToken:
    """The answer of ``sns/oauth2/access_token`` (or ``sns/oauth2/refresh_token``).

    ``access_token`` is a *web* token for ``sns/userinfo``; it lives ``expires_in`` (7200) s,
    ``refresh_token`` 30 days. ``obtained_at`` is the Unix time of the answer.
    """

    access_token: str = field(repr=False)
    expires_in: int
    refresh_token: str = field(repr=False)
    openid: str
    scope: str
    obtained_at: float
    unionid: str | None = None
    is_snapshotuser: bool = False

    @property
    def expires_at(self) -> float:
        return self.obtained_at + self.expires_in

    @property
    def scopes(self) -> frozenset[str]:
        """The granted scopes (WeChat joins several with commas)."""
        return frozenset(part for part in self.scope.split(",") if part)


@dataclass(slots=True)
class _Pending:
    lock: asyncio.Lock = field(default_factory=asyncio.Lock)
    users: int = 0


def _str_field(label: str, data: JsonObject, key: str, *, required: bool = True) -> str:
    value = data.get(key)
    if isinstance(value, str) and (value or not required):
        return value
    if value is None and not required:
        return ""
    raise DecodeError(f"{label}: reply lacks a string {key!r}")


def _int_field(label: str, data: JsonObject, key: str, default: int | None = None) -> int:
    value = data.get(key)
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    if value is None and default is not None:
        return default
    raise DecodeError(f"{label}: reply lacks an integer {key!r}")


class OAuthApi:
    """``client.oauth``: web authorisation for one app."""

    def __init__(
        self,
        transport: MpTransport,
        *,
        app_id: str,
        app_secret: Secret,
        clock: Clock | None = None,
        code_ttl_s: float = DEFAULT_CODE_TTL_S,
        open_base_url: str = DEFAULT_OPEN_BASE_URL,
        max_cached_codes: int = MAX_CACHED_CODES,
    ) -> None:
        if code_ttl_s < 0 or max_cached_codes < 1:
            raise ValueError("code_ttl_s must be >= 0 and max_cached_codes >= 1")
        self._transport = transport
        self.app_id = app_id
        self._secret = app_secret
        self._clock: Clock = clock or SystemClock()
        self.code_ttl_s = code_ttl_s
        self.open_base_url = open_base_url.rstrip("/")
        self._max_cached = max_cached_codes
        self._answers: OrderedDict[str, tuple[float, OAuthToken]] = OrderedDict()
        self._pending: dict[str, _Pending] = {}
        self.exchange_count = 0
        """How many code exchanges actually reached WeChat (cache hits excluded)."""

    def __repr__(self) -> str:
        return f"OAuthApi(app_id={self.app_id!r}, cached_codes={len(self._answers)})"

    def authorize_url(
        self,
        redirect_uri: str,
        *,
        scope: OAuthScope = "snsapi_base",
        state: str = "",
        force_popup: bool = False,
    ) -> str:
        """The URL to send the browser to; WeChat redirects to ``redirect_uri?code=…&state=…``."""
        return authorize_url(
            self.app_id,
            redirect_uri,
            scope=scope,
            state=state,
            force_popup=force_popup,
            open_base_url=self.open_base_url,
        )

    # --- code exchange with the double-redirect cache -------------------------------------------

    def _cached(self, code: str) -> OAuthToken | None:
        now = self._clock.time()
        while self._answers:  # drop expired answers, oldest first
            oldest_code, (stored_at, _) = next(iter(self._answers.items()))
            if now - stored_at < self.code_ttl_s:
                break
            del self._answers[oldest_code]
        hit = self._answers.get(code)
        return hit[1] if hit is not None else None

    def _remember(self, code: str, token: OAuthToken) -> None:
        if self.code_ttl_s <= 0:
            return
        self._answers[code] = (self._clock.time(), token)
        self._answers.move_to_end(code)
        while len(self._answers) > self._max_cached:
            self._answers.popitem(last=False)

    async def exchange_code(self, code: str) -> OAuthToken:
        """Exchange ``code`` (``sns/oauth2/access_token``); a repeat within the TTL is free.

        Concurrent exchanges of one code share one call. Errors are not cached: WeChat's answer
        for a bad code (40029) or a code used elsewhere (40163) is raised as
        :class:`~weixin_gateway.mp.client.WeChatApiError`.
        """
        if not code:
            raise ValueError("code must not be empty")
        hit = self._cached(code)
        if hit is not None:
            log.debug("oauth code answered from the cache (app %s)", self.app_id)
            return hit
        pending = self._pending.setdefault(code, _Pending())
        pending.users += 1
        try:
            async with pending.lock:
                hit = self._cached(code)
                if hit is not None:
                    return hit
                token = await self._exchange(code)
                self._remember(code, token)
                return token
        finally:
            pending.users -= 1
            if pending.users == 0:
                self._pending.pop(code, None)

    async def _exchange(self, code: str) -> OAuthToken:
        self.exchange_count += 1
        label = "sns/oauth2/access_token"
        data = await self._transport.call(
            label,
            "GET",
            "/sns/oauth2/access_token",
            params={
                "appid": self.app_id,
                "secret": self._secret.reveal(),
                "code": code,
                "grant_type": "authorization_code",
            },
        )
        return self._token(label, data)

    def forget_code(self, code: str) -> None:
        """Drop a cached answer (e.g. once the caller has consumed it for good)."""
        self._answers.pop(code, None)

    # --- other sns calls ------------------------------------------------------------------------

    async def refresh(self, refresh_token: str) -> OAuthToken:
        """A new web token from a refresh token (``sns/oauth2/refresh_token``; 42002 = dead)."""
        label = "sns/oauth2/refresh_token"
        data = await self._transport.call(
            label,
            "GET",
            "/sns/oauth2/refresh_token",
            params={
                "appid": self.app_id,
                "grant_type": "refresh_token",
                "refresh_token": refresh_token,
            },
        )
        return self._token(label, data)

    async def check(self, access_token: str, openid: str) -> bool:
        """Whether a web token is still valid for ``openid`` (``sns/auth``)."""
        try:
            await self._transport.call(
                "sns/auth",
                "GET",
                "/sns/auth",
                params={"access_token": access_token, "openid": openid},
            )
        except ApiError:
            return False
        return True

    async def userinfo(self, access_token: str, openid: str, *, lang: str = "zh_CN") -> JsonObject:
        """``sns/userinfo`` with a web token (scope ``snsapi_userinfo``; otherwise 48001)."""
        return await self._transport.call(
            "sns/userinfo",
            "GET",
            "/sns/userinfo",
            params={"access_token": access_token, "openid": openid, "lang": lang},
        )

    def _token(self, label: str, data: JsonObject) -> OAuthToken:
        unionid = data.get("unionid")
        snapshot = data.get("is_snapshotuser")
        return OAuthToken(
            access_token=_str_field(label, data, "access_token"),
            expires_in=_int_field(label, data, "expires_in", default=7200),
            refresh_token=_str_field(label, data, "refresh_token", required=False),
            openid=_str_field(label, data, "openid"),
            scope=_str_field(label, data, "scope", required=False),
            obtained_at=self._clock.time(),
            unionid=unionid if isinstance(unionid, str) and unionid else None,
            is_snapshotuser=snapshot in (1, True, "1"),
        )
