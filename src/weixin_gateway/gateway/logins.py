"""QR login sessions of the gateway service (``/login/qr/*``), kept in memory.

A session is created by ``start``: it asks the iLink QR host for a code and follows its status
in the background (:class:`~weixin_gateway.ilink.login.QrLogin`). Its ``state`` uses seed 000's
words: ``pending`` → ``scaned`` → ``completed``; or ``expired`` (the QR codes ran out, or the
session outlived ``WEIXIN_GATEWAY_LOGIN_SESSION_TTL_MS``), ``cancelled``, ``failed``; plus
``need_verifycode`` when the phone shows a pair code (``POST /login/qr/verify-code``). When the
login is confirmed, ``on_confirmed`` saves the account and the session reports its id.
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

import aiohttp

from weixin_gateway._clock import Clock, SystemClock
from weixin_gateway.errors import LoginError, WeixinError
from weixin_gateway.ilink.api import ILinkApi
from weixin_gateway.ilink.login import AlreadyBoundError, LoginResult, QrLogin
from weixin_gateway.ilink.wire import QrStatus

__all__ = ["FINAL_STATES", "LoginSession", "LoginSessions"]

log = logging.getLogger(__name__)

FINAL_STATES = frozenset({"completed", "expired", "cancelled", "failed"})
_STATE_OF = {
    QrStatus.WAIT: "pending",
    QrStatus.SCANED: "scaned",
    QrStatus.SCANED_BUT_REDIRECT: "scaned",
    QrStatus.NEED_VERIFYCODE: "need_verifycode",
    QrStatus.VERIFY_CODE_BLOCKED: "pending",
    QrStatus.EXPIRED: "pending",  # a fresh QR code was made
}
_MESSAGES = {
    "pending": "等待扫码。",
    "scaned": "已扫码,请在微信中确认。",
    "need_verifycode": "请输入手机上显示的配对码。",
    "completed": "微信登录成功。",
    "expired": "二维码已过期,请重新开始登录。",
    "cancelled": "登录已取消。",
}

ConfirmedHandler = Callable[["LoginSession", LoginResult], Awaitable[str]]


@dataclass(slots=True, eq=False)
class LoginSession:
    session_id: str
    account_id: str
    api_base_url: str
    created_at: float
    account_id_requested: bool = False
    api_base_url_requested: bool = False
    state: str = "pending"
    message: str = _MESSAGES["pending"]
    qrcode: str = ""
    qrcode_url: str = ""
    error: str = ""
    bot_id: str = ""
    login: QrLogin | None = field(default=None, repr=False)
    task: asyncio.Task[None] | None = field(default=None, repr=False)

    @property
    def final(self) -> bool:
        return self.state in FINAL_STATES

    def finish(self, state: str, message: str = "") -> None:
        self.state = state
        self.message = message or _MESSAGES.get(state, "")


class LoginSessions:
    """The login sessions of one gateway."""

    def __init__(
        self,
        session: aiohttp.ClientSession,
        *,
        default_base_url: str,
        ttl_s: float,
        on_confirmed: ConfirmedHandler,
        clock: Clock | None = None,
        max_sessions: int = 100,
    ) -> None:
        self.http = session
        self.default_base_url = default_base_url
        self.ttl_s = ttl_s
        self.on_confirmed = on_confirmed
        self.clock: Clock = clock or SystemClock()
        self.max_sessions = max_sessions
        self._sessions: dict[str, LoginSession] = {}

    async def start(self, account_id: str | None, api_base_url: str | None) -> LoginSession:
        """Create a QR code and follow it in the background."""
        self._forget_old()
        if sum(not s.final for s in self._sessions.values()) >= self.max_sessions:
            raise LoginError(f"too many login sessions in progress (at most {self.max_sessions})")
        base_url = (api_base_url or self.default_base_url).rstrip("/")
        session = LoginSession(
            session_id=f"sess-{uuid.uuid4().hex[:20]}",
            account_id=account_id or f"wx-{uuid.uuid4().hex[:12]}",
            api_base_url=base_url,
            created_at=self.clock.time(),
            account_id_requested=account_id is not None,
            api_base_url_requested=api_base_url is not None,
        )
        api = ILinkApi(base_url, None, session=self.http)
        login = QrLogin(api, clock=self.clock)
        await login.start()
        session.login = login
        session.qrcode = login.qrcode or ""
        session.qrcode_url = login.qrcode_url or ""
        self._sessions[session.session_id] = session
        session.task = asyncio.get_running_loop().create_task(
            self._follow(session, login), name=f"login {session.session_id}"
        )
        return session

    def get(self, session_id: str) -> LoginSession | None:
        session = self._sessions.get(session_id)
        if session is not None and not session.final and self._too_old(session):
            self._stop(session, "expired")
        return session

    def cancel(self, session_id: str) -> LoginSession | None:
        session = self._sessions.get(session_id)
        if session is not None and not session.final:
            self._stop(session, "cancelled")
        return session

    def submit_verify_code(self, session_id: str, code: str) -> LoginSession | None:
        """Hand the pair code to the login and poll again at once (the status call in flight
        may be held for many seconds and does not carry it)."""
        session = self.get(session_id)
        if session is not None and session.login is not None and not session.final:
            session.login.submit_verify_code(code)
            if session.task is not None:
                session.task.cancel()
            session.task = asyncio.get_running_loop().create_task(
                self._follow(session, session.login), name=f"login {session.session_id}"
            )
        return session

    async def complete(self, session: LoginSession, result: LoginResult) -> None:
        """Finish ``session`` with a login result obtained elsewhere (``/login/qr/complete``)."""
        if not session.final:
            self._stop(session, "pending")
        await self._confirmed(session, result)

    async def close(self) -> None:
        tasks = [s.task for s in self._sessions.values() if s.task is not None]
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)

    # --- internals ----------------------------------------------------------------------------

    def _too_old(self, session: LoginSession) -> bool:
        return self.clock.time() - session.created_at > self.ttl_s

    def _forget_old(self) -> None:
        for session_id, session in list(self._sessions.items()):
            if self._too_old(session):
                if not session.final:
                    self._stop(session, "expired")
                if self.clock.time() - session.created_at > 2 * self.ttl_s:
                    del self._sessions[session_id]

    def _stop(self, session: LoginSession, state: str) -> None:
        if session.task is not None and session.task is not asyncio.current_task():
            session.task.cancel()
        session.finish(state)

    async def _follow(self, session: LoginSession, login: QrLogin) -> None:
        try:
            while not session.final:
                if self._too_old(session):
                    session.finish("expired")
                    return
                status = await login.poll()
                session.qrcode = login.qrcode or session.qrcode
                session.qrcode_url = login.qrcode_url or session.qrcode_url
                if status == QrStatus.CONFIRMED and login.result is not None:
                    await self._confirmed(session, login.result)
                    return
                state = _STATE_OF.get(status, session.state)
                if state != session.state:
                    session.finish(state)
                if status in (QrStatus.WAIT, QrStatus.SCANED, QrStatus.NEED_VERIFYCODE):
                    await asyncio.sleep(0.2)  # the status call long-polls; never spin
        except AlreadyBoundError:
            session.finish("failed", "这个机器人已经连接到本网关,无需重新登录。")
        except LoginError as exc:
            expired = "QR code" in str(exc)
            session.finish("expired" if expired else "failed", str(exc))
        except WeixinError as exc:
            session.finish("failed", f"login failed: {exc}")
        except Exception:  # never leave a session hanging in a non-final state
            log.exception("login session %s failed", session.session_id)
            session.finish("failed", "login failed: internal error (see the gateway log)")

    async def _confirmed(self, session: LoginSession, result: LoginResult) -> None:
        session.bot_id = result.account_id
        try:
            session.account_id = await self.on_confirmed(session, result)
        except Exception as exc:  # the message may not repeat the error: it can hold the token
            log.error(
                "saving the account of login %s failed (%s)", session.session_id, type(exc).__name__
            )
            session.finish("failed", "could not save the account (see the gateway log); try again")
            return
        session.finish("completed")
