"""What every simulated WeChat API handler shares: the request, the answers, the checks.

:class:`ApiBase` holds the checks in WeChat's order — the appid/secret/IP checks of the token
endpoints (:meth:`ApiBase.credentials`) and the access-token check plus quota of every protected
API (:meth:`ApiBase.auth`).
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from aiohttp import web

from ._errcodes import WeChatApiError
from .state import AppState, UserState

if TYPE_CHECKING:
    from .server import OfficialAccountSimulator

__all__ = [
    "JSON_TYPE",
    "Answer",
    "ApiBase",
    "Call",
    "Handler",
    "json_answer",
    "ok",
    "redirect",
    "str_field",
]

#: WeChat's Content-Type for JSON answers.
JSON_TYPE = "application/json; encoding=utf-8"


@dataclass(slots=True)
class Call:
    """One API request being served."""

    request: web.Request
    body: bytes
    appid: str | None = None

    @property
    def query(self) -> Mapping[str, str]:
        return self.request.query

    def json(self) -> dict[str, Any]:
        """The body as a JSON object (integers exact), or 47001 ``data format error``."""
        try:
            data = json.loads(self.body.decode("utf-8"))
        except (UnicodeDecodeError, ValueError) as exc:
            raise WeChatApiError(47001) from exc
        if not isinstance(data, dict):
            raise WeChatApiError(47001)
        return data


Answer = Mapping[str, object] | web.StreamResponse
Handler = Callable[[Call], Awaitable[Answer]]


def json_answer(data: Mapping[str, object], *, status: int = 200) -> web.Response:
    body = json.dumps(data, ensure_ascii=False, separators=(",", ":")).encode()
    return web.Response(body=body, status=status, headers={"Content-Type": JSON_TYPE})


def redirect(location: str) -> web.Response:
    return web.Response(status=302, headers={"Location": location})


def ok(**fields: object) -> dict[str, object]:
    return {"errcode": 0, "errmsg": "ok", **fields}


def str_field(data: Mapping[str, object], key: str) -> str | None:
    value = data.get(key)
    return value if isinstance(value, str) else None


class ApiBase:
    """The simulator and the shared checks; the handler classes build on it."""

    def __init__(self, sim: OfficialAccountSimulator) -> None:
        self._sim = sim

    def app_for(self, appid: str | None, *, missing: int = 41002, unknown: int = 40013) -> AppState:
        if not appid:
            raise WeChatApiError(missing)
        state = self._sim._apps.get(appid)
        if state is None:
            raise WeChatApiError(unknown)
        return state

    def credentials(self, call: Call, appid: str | None, secret: str | None) -> AppState:
        """appid, secret, frozen secret and IP checks of the token endpoints (§5.1 order)."""
        app = self.app_for(appid)
        call.appid = app.appid
        if not secret:
            raise WeChatApiError(41004)
        if secret != app.config.secret:
            raise WeChatApiError(40001 if self._sim.config.legacy_bad_secret_errcode else 40125)
        if app.config.frozen_secret:
            raise WeChatApiError(40243)
        ip = call.request.remote or ""
        allow = app.config.ip_allowlist
        if allow is not None and ip not in allow:
            message = f"invalid ip {ip} ipv6 ::ffff:{ip}, not in whitelist"
            raise WeChatApiError(40164, errmsg=message)
        if app.config.ip_risk:
            raise WeChatApiError(89503)
        return app

    def auth(self, call: Call, route: str) -> AppState:
        """The access-token check of every protected ``/cgi-bin`` API, then the API quota."""
        sim = self._sim
        value = call.query.get("access_token")
        known = sim.token_book.tokens.get(value or "")
        if known is not None:
            call.appid = known.appid  # recorded even when the token is refused
        token = sim.token_book.check(value, sim.now(), kinds=("classic", "stable"))
        app = sim._apps.get(token.appid)
        if app is None:  # pragma: no cover - tokens die with their app on reset
            raise WeChatApiError(40001)
        call.appid = app.appid
        config = app.config
        daily = config.api_quotas.get(route, config.api_daily_quota)
        sim.quotas.hit(app.appid, route, sim.now(), daily=daily, minute=config.api_minute_quota)
        return app

    @staticmethod
    def real_user(app: AppState, openid: object) -> UserState:
        user = app.user(openid if isinstance(openid, str) else None)
        if user.snapshot:
            raise WeChatApiError(40003)
        return user
