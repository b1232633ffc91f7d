"""Identity APIs: access tokens, users, QR codes and web authorization (OAuth2).

Checklist §2–§4; official-account.md §5.1–§5.5.
"""

from __future__ import annotations

import dataclasses
import html
import re
from urllib.parse import urlsplit

from aiohttp import web

from ._api_base import Answer, ApiBase, Call, ok, redirect, str_field
from ._errcodes import WeChatApiError
from .pusher import with_query
from .state import AppState, UserState

__all__ = ["IdentityApi"]

#: A 1×1 JPEG: what ``showqrcode`` answers for a live ticket.
_JPEG = bytes.fromhex(
    "ffd8ffe000104a46494600010100000100010000ffdb004300080606070605080707070909080a0c140d0c0b"
    "0b0c1912130f141d1a1f1e1d1a1c1c20242e2720222c231c1c2837292c30313434341f27393d38323c2e3334"
    "32ffc0000b080001000101011100ffc4001f0000010501010101010100000000000000000102030405060708"
    "090a0bffc400b5100002010303020403050504040000017d01020300041105122131410613516107227114"
    "328191a1082342b1c11552d1f02433627282090a161718191a25262728292a3435363738393a434445464748"
    "494a535455565758595a636465666768696a737475767778797a838485868788898a92939495969798999a"
    "a2a3a4a5a6a7a8a9aab2b3b4b5b6b7b8b9bac2c3c4c5c6c7c8c9cad2d3d4d5d6d7d8d9dae1e2e3e4e5e6e7"
    "e8e9eaf1f2f3f4f5f6f7f8f9faffda0008010100003f00fbd3ffd9"
)
_STATE = re.compile(r"[A-Za-z0-9]{0,128}")
_QR_ACTIONS = ("QR_SCENE", "QR_STR_SCENE", "QR_LIMIT_SCENE", "QR_LIMIT_STR_SCENE")
_MAX_QR_EXPIRE = 2_592_000
_MAX_PERMANENT_QR = 100_000
_LANGS = ("zh_CN", "zh_TW", "en")


class IdentityApi(ApiBase):
    """``/cgi-bin/token``, ``stable_token``, ``user/info``, ``qrcode/create``, ``showqrcode``,
    ``/connect/oauth2/authorize`` and ``/sns/*``."""

    # --- access tokens --------------------------------------------------------------------------

    async def token(self, call: Call) -> Answer:
        sim = self._sim
        q = call.query
        if q.get("grant_type") != "client_credential":
            raise WeChatApiError(40002)
        app = self.credentials(call, q.get("appid"), q.get("secret"))
        now = sim.now()
        sim.quotas.hit(
            app.appid,
            "token",
            now,
            daily=app.config.token_daily_quota,
            minute=app.config.token_minute_quota,
        )
        config = sim.config
        issued = sim.token_book.issue_classic(
            app.appid, now, ttl=config.token_ttl_s, grace=config.token_grace_s
        )
        return {"access_token": issued.token, "expires_in": config.token_ttl_s}

    async def stable_token(self, call: Call) -> Answer:
        sim = self._sim
        content_type = call.request.content_type
        if content_type in ("application/x-www-form-urlencoded", "multipart/form-data"):
            raise WeChatApiError(47001)
        data = call.json()
        if data.get("grant_type") != "client_credential":
            raise WeChatApiError(40002)
        app = self.credentials(call, str_field(data, "appid"), str_field(data, "secret"))
        force = data.get("force_refresh", False)
        if not isinstance(force, bool):
            raise WeChatApiError(47001)
        now = sim.now()
        config = app.config
        sim.quotas.hit(
            app.appid,
            "stable_token",
            now,
            daily=config.stable_daily_quota,
            minute=config.stable_minute_quota,
        )
        if force:
            today = sim.quotas.day(now)
            done_today = [t for t in app.force_refreshes if sim.quotas.day(t) == today]
            too_soon = bool(app.force_refreshes) and (
                now - app.force_refreshes[-1] < config.force_refresh_interval_s
            )
            if len(done_today) >= config.force_refresh_daily or too_soon:
                raise WeChatApiError(sim.config.force_refresh_errcode)
            app.force_refreshes.append(now)
        issued = sim.token_book.issue_stable(
            app.appid,
            now,
            ttl=sim.config.token_ttl_s,
            roll=sim.config.stable_roll_s,
            force=force,
        )
        return {"access_token": issued.token, "expires_in": int(issued.expires_at - now)}

    # --- users ---------------------------------------------------------------------------------

    def _user_info(self, user: UserState, lang: str | None) -> dict[str, object]:
        if lang is not None and lang not in _LANGS:
            raise WeChatApiError(40097, "lang")
        if not user.subscribed:
            return {"subscribe": 0, "openid": user.openid, "tagid_list": []}
        info: dict[str, object] = {"subscribe": 1, "openid": user.openid}
        if self._sim.config.user_info_legacy:
            info.update(
                nickname=user.nickname,
                sex=0,
                language=user.language,
                city="",
                province="",
                country="",
                headimgurl=user.headimgurl,
            )
        else:
            info["language"] = user.language
        info["subscribe_time"] = user.subscribe_time
        if user.unionid:
            info["unionid"] = user.unionid
        info.update(
            remark=user.remark,
            groupid=user.groupid,
            tagid_list=list(user.tagid_list),
            subscribe_scene=user.subscribe_scene,
            qr_scene=user.qr_scene,
            qr_scene_str=user.qr_scene_str,
        )
        return info

    async def user_info(self, call: Call) -> Answer:
        app = self.auth(call, "user_info")
        openid = call.query.get("openid")
        if not openid:
            raise WeChatApiError(41009)
        return self._user_info(self.real_user(app, openid), call.query.get("lang"))

    async def user_info_batchget(self, call: Call) -> Answer:
        app = self.auth(call, "user_info_batchget")
        entries = call.json().get("user_list")
        if not isinstance(entries, list) or not all(isinstance(e, dict) for e in entries):
            raise WeChatApiError(47001)
        if not 1 <= len(entries) <= 100:
            raise WeChatApiError(47003, "user_list must hold 1..100 entries")
        infos = [
            self._user_info(self.real_user(app, e.get("openid")), str_field(e, "lang"))
            for e in entries
        ]
        return {"user_info_list": infos}

    # --- QR codes ---------------------------------------------------------------------------

    async def qrcode_create(self, call: Call) -> Answer:
        sim = self._sim
        app = self.auth(call, "qrcode_create")
        data = call.json()
        bad = sim.config.qr_invalid_errcode
        action = data.get("action_name")
        if action not in _QR_ACTIONS:
            raise WeChatApiError(bad, "action_name")
        permanent = action.startswith("QR_LIMIT_")
        info = data.get("action_info")
        scene_obj = info.get("scene") if isinstance(info, dict) else None
        if not isinstance(scene_obj, dict):
            raise WeChatApiError(bad, "action_info.scene")
        scene: int | str
        if action.endswith("STR_SCENE"):
            value = scene_obj.get("scene_str")
            if not isinstance(value, str) or not 1 <= len(value) <= 64:
                raise WeChatApiError(bad, "scene_str must be 1..64 characters")
            scene = value
        else:
            number = scene_obj.get("scene_id")
            if not isinstance(number, int) or isinstance(number, bool):
                raise WeChatApiError(bad, "scene_id")
            if permanent and not 1 <= number <= _MAX_PERMANENT_QR:
                raise WeChatApiError(bad, "scene_id must be 1..100000")
            if not permanent and (number == 0 or not -(2**31) <= number < 2**31):
                raise WeChatApiError(bad, "scene_id must be a non-zero 32-bit integer")
            scene = number
        expire = 60
        if not permanent:
            raw = data.get("expire_seconds", 60)
            if not isinstance(raw, int) or isinstance(raw, bool) or not 1 <= raw <= _MAX_QR_EXPIRE:
                raise WeChatApiError(bad, "expire_seconds must be 1..2592000")
            expire = raw
        elif sum(code.permanent for code in app.qrcodes.values()) >= _MAX_PERMANENT_QR:
            raise WeChatApiError(bad, "too many permanent QR codes")
        code = sim._new_qrcode(app, scene, permanent=permanent, expire_seconds=expire)
        if permanent:
            return {"ticket": code.ticket, "url": code.url}
        return {"ticket": code.ticket, "expire_seconds": expire, "url": code.url}

    async def showqrcode(self, call: Call) -> Answer:
        ticket = call.query.get("ticket", "")
        now = self._sim.now()
        for app in self._sim._apps.values():
            code = app.qrcodes.get(ticket)
            if code is not None:
                call.appid = app.appid
                if code.expires_at is None or now < code.expires_at:
                    return web.Response(body=_JPEG, content_type="image/jpeg")
        return web.Response(status=404, text="", content_type="text/html")

    # --- web authorization ----------------------------------------------------------------------

    def _oauth_page(self, errcode: int, message: str) -> web.Response:
        page = (
            "<!DOCTYPE html><html><head><meta charset='utf-8'><title>微信网页授权</title></head>"
            f"<body><h2>Oops! Something went wrong:(</h2><p class='errcode'>{errcode}</p>"
            f"<p>{html.escape(message)}</p></body></html>"
        )
        return web.Response(
            text=page, content_type="text/html", headers={"X-Sim-Errcode": str(errcode)}
        )

    async def oauth_authorize(self, call: Call) -> Answer:
        sim = self._sim
        q = call.query
        appid = q.get("appid")
        if not appid or appid not in sim._apps:
            return self._oauth_page(10012, "appid 参数错误")
        app = sim._apps[appid]
        call.appid = appid
        redirect_uri = q.get("redirect_uri")
        if not redirect_uri:
            return self._oauth_page(10011, "redirect_uri 参数错误")
        scope = q.get("scope")
        if not scope:
            return self._oauth_page(10010, "scope 参数错误")
        if scope not in ("snsapi_base", "snsapi_userinfo"):
            return self._oauth_page(10005, "此公众号并没有这些scope的权限")
        parts = urlsplit(redirect_uri)
        domains = app.config.oauth_domains
        if parts.scheme not in ("http", "https") or (
            domains is not None and (parts.hostname or "") not in domains
        ):
            return self._oauth_page(10003, "redirect_uri 域名与后台配置不一致")
        state = q.get("state", "")
        if not _STATE.fullmatch(state):
            return self._oauth_page(10013, "state 参数错误")
        if q.get("sim_refuse") == "1":
            return redirect(with_query(redirect_uri, {"state": state}))
        code = sim.issue_oauth_code(
            appid,
            q.get("sim_openid") or None,
            scope=scope,
            redirect_uri=redirect_uri,
            state=state,
            snapshot=q.get("sim_snapshot") == "1",
        )
        return redirect(with_query(redirect_uri, {"code": code.code, "state": state}))

    def _sns_app(self, call: Call) -> AppState:
        q = call.query
        app = self.app_for(q.get("appid"))
        call.appid = app.appid
        return app

    def _web_grant(
        self, app: AppState, openid: str, scope: str, *, refresh: str | None = None
    ) -> dict[str, object]:
        sim = self._sim
        now = sim.now()
        token = sim.token_book.issue_web(app.appid, openid, scope, now, ttl=sim.config.token_ttl_s)
        if refresh is None:
            refresh = sim.ids.refresh_token()
            app.refresh_tokens[refresh] = (openid, scope, now + sim.config.refresh_token_ttl_s)
        return {
            "access_token": token.token,
            "expires_in": sim.config.token_ttl_s,
            "refresh_token": refresh,
            "openid": openid,
            "scope": scope,
        }

    async def sns_access_token(self, call: Call) -> Answer:
        sim = self._sim
        q = call.query
        app = self._sns_app(call)
        secret = q.get("secret")
        if not secret:
            raise WeChatApiError(41004)
        if secret != app.config.secret:
            raise WeChatApiError(40001 if sim.config.legacy_bad_secret_errcode else 40125)
        if q.get("grant_type") != "authorization_code":
            raise WeChatApiError(40002)
        value = q.get("code")
        if not value:
            raise WeChatApiError(41008)
        code = app.codes.get(value)
        now = sim.now()
        if code is None:
            raise WeChatApiError(40029)
        if code.used_at is not None:
            raise WeChatApiError(40163)
        if now >= code.expires_at:
            raise WeChatApiError(40029)
        app.codes[value] = dataclasses.replace(code, used_at=now)
        answer = self._web_grant(app, code.openid, code.scope)
        if code.snapshot:
            answer["is_snapshotuser"] = 1
        user = app.users.get(code.openid)
        if code.scope == "snsapi_userinfo" and user is not None and user.unionid:
            answer["unionid"] = user.unionid
        return answer

    async def sns_refresh_token(self, call: Call) -> Answer:
        app = self._sns_app(call)
        q = call.query
        if q.get("grant_type") != "refresh_token":
            raise WeChatApiError(40002)
        value = q.get("refresh_token")
        if not value:
            raise WeChatApiError(41003)
        entry = app.refresh_tokens.get(value)
        if entry is None:
            raise WeChatApiError(40030)
        openid, scope, expires_at = entry
        if self._sim.now() >= expires_at:
            raise WeChatApiError(42002)
        return self._web_grant(app, openid, scope, refresh=value)

    async def sns_userinfo(self, call: Call) -> Answer:
        sim = self._sim
        q = call.query
        token = sim.token_book.check(q.get("access_token"), sim.now(), kinds=("web",))
        call.appid = token.appid
        if token.scope != "snsapi_userinfo":
            raise WeChatApiError(48001)
        if q.get("openid") != token.openid:
            raise WeChatApiError(40003)
        lang = q.get("lang")
        if lang is not None and lang not in _LANGS:
            raise WeChatApiError(40097, "lang")
        app = sim._apps[token.appid]
        user = app.user(token.openid)
        info: dict[str, object] = {
            "openid": user.openid,
            "nickname": "微信用户" if user.snapshot else user.nickname,
            "sex": 0,
            "language": "",
            "city": "",
            "province": "",
            "country": "",
            "headimgurl": user.headimgurl,
            "privilege": [],
        }
        if user.unionid:
            info["unionid"] = user.unionid
        if user.snapshot:
            info["is_snapshotuser"] = 1
        return info

    async def sns_auth(self, call: Call) -> Answer:
        sim = self._sim
        q = call.query
        value = q.get("access_token")
        if not value:
            raise WeChatApiError(41001)
        try:
            token = sim.token_book.check(value, sim.now(), kinds=("web",))
        except WeChatApiError as exc:
            if exc.errcode in (40014, 42001):
                raise
            raise WeChatApiError(40003) from exc
        call.appid = token.appid
        if q.get("openid") != token.openid:
            raise WeChatApiError(40003)
        return ok()
