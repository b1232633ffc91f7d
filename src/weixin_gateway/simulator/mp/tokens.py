"""Access tokens as WeChat hands them out and checks them (official-account.md §5.1, §5.2, §5.5).

* **classic** (``/cgi-bin/token``): every call issues a new token; the previous one keeps working
  for ``token_grace_s`` more seconds, every older one dies at once — at any moment only the
  newest token and one grace-period token are valid.
* **stable** (``/cgi-bin/stable_token``): a separate pool. Normal calls return the current token
  while more than ``stable_roll_s`` seconds remain, then a new one (the old one lives on until its
  own expiry); ``force_refresh`` kills the current one at once.
* **web** (``/sns/oauth2/access_token``): per user, never accepted by ``/cgi-bin`` APIs.

Every rule reads the simulated clock passed in as ``now``.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Iterable

from ._errcodes import WeChatApiError
from ._ids import MpIds
from .records import IssuedToken, TokenKind

__all__ = ["TOKEN_FORMAT", "TokenBook"]

#: What an access token looks like; anything else is "malformed" (40014).
TOKEN_FORMAT = re.compile(r"[A-Za-z0-9_\-]{32,512}")


class TokenBook:
    """Every token issued, by value; the newest classic and current stable token per app."""

    def __init__(self, ids: MpIds) -> None:
        self._ids = ids
        self.tokens: dict[str, IssuedToken] = {}
        self._latest_classic: dict[str, str] = {}
        self._current_stable: dict[str, str] = {}

    def clear(self) -> None:
        self.tokens.clear()
        self._latest_classic.clear()
        self._current_stable.clear()

    def _new(
        self,
        appid: str,
        kind: TokenKind,
        now: float,
        ttl: float,
        *,
        openid: str | None = None,
        scope: str | None = None,
    ) -> IssuedToken:
        token = IssuedToken(
            self._ids.access_token(), appid, kind, now, now + ttl, openid=openid, scope=scope
        )
        self.tokens[token.token] = token
        return token

    def _invalidate(self, value: str, at: float) -> None:
        token = self.tokens[value]
        if token.invalidated_at is None or token.invalidated_at > at:
            self.tokens[value] = dataclasses.replace(token, invalidated_at=at)

    def issue_classic(self, appid: str, now: float, *, ttl: float, grace: float) -> IssuedToken:
        """A new classic token; the previous newest gets ``grace`` seconds, older ones die."""
        previous = self._latest_classic.get(appid)
        for value, token in list(self.tokens.items()):
            if token.appid == appid and token.kind == "classic":
                self._invalidate(value, now + grace if value == previous else now)
        token = self._new(appid, "classic", now, ttl)
        self._latest_classic[appid] = token.token
        return token

    def current_stable(self, appid: str, now: float) -> IssuedToken | None:
        value = self._current_stable.get(appid)
        if value is None:
            return None
        token = self.tokens[value]
        return token if token.state(now) == "valid" else None

    def issue_stable(
        self, appid: str, now: float, *, ttl: float, roll: float, force: bool
    ) -> IssuedToken:
        """The stable token to answer with (see the module docstring)."""
        current = self.current_stable(appid, now)
        if force:
            for value, token in list(self.tokens.items()):
                if token.appid == appid and token.kind == "stable":
                    self._invalidate(value, now)
        elif current is not None and current.expires_at - now > roll:
            return current
        token = self._new(appid, "stable", now, ttl)
        self._current_stable[appid] = token.token
        return token

    def issue_web(
        self, appid: str, openid: str, scope: str, now: float, *, ttl: float
    ) -> IssuedToken:
        return self._new(appid, "web", now, ttl, openid=openid, scope=scope)

    def check(self, value: str | None, now: float, *, kinds: Iterable[TokenKind]) -> IssuedToken:
        """The token behind ``value``, or the WeChat error for it (41001/40014/40001/42001)."""
        if not value:
            raise WeChatApiError(41001)
        if not TOKEN_FORMAT.fullmatch(value):
            raise WeChatApiError(40014)
        token = self.tokens.get(value)
        if token is None or token.kind not in tuple(kinds):
            raise WeChatApiError(40001)
        state = token.state(now)
        if state == "invalidated":
            raise WeChatApiError(40001)
        if state == "expired":
            raise WeChatApiError(42001)
        return token

    def invalidate_all(self, appid: str, now: float) -> int:
        """Kill every classic and stable token of ``appid`` (a console secret reset, or another
        process refreshing). Returns how many were still valid."""
        killed = 0
        for value, token in list(self.tokens.items()):
            if token.appid == appid and token.kind != "web":
                killed += token.state(now) == "valid"
                self._invalidate(value, now)
        return killed

    def expire_now(self, value: str, now: float) -> IssuedToken | None:
        """Make ``value`` expired (42001 from now on); ``None`` when unknown."""
        token = self.tokens.get(value)
        if token is None:
            return None
        token = dataclasses.replace(token, expires_at=min(token.expires_at, now))
        self.tokens[value] = token
        return token

    def list(self, appid: str | None = None) -> tuple[IssuedToken, ...]:
        return tuple(t for t in self.tokens.values() if appid is None or t.appid == appid)
