"""QR login sessions: the status machine of ilink.md §4, driven from the control API.

``get_qrcode_status`` is a long poll: it answers at once when the status changed since the last
answer (or is final), else it waits for a change up to ``qr_hold_seconds`` and then answers the
status as it stands. ``scaned_but_redirect`` is answered once, then the session goes back to the
status it had. A QR code older than ``qr_ttl_seconds`` (by the injected clock) is ``expired``.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable

from weixin_gateway._clock import Clock
from weixin_gateway.ilink.wire import QrStatus

from ._errors import SimulatorError, SimulatorNotFoundError
from ._ids import IdSource
from ._waiters import Waiters
from .records import QrSession

__all__ = ["QrBook", "QrState"]

FINAL_STATUSES = frozenset(
    {QrStatus.CONFIRMED, QrStatus.EXPIRED, QrStatus.BINDED_REDIRECT, QrStatus.VERIFY_CODE_BLOCKED}
)
IMG_URL = "https://liteapp.weixin.qq.com/q/{code}?qrcode={qrcode}&bot_type={bot_type}"


class QrState:
    """One QR login session."""

    def __init__(
        self,
        qrcode: str,
        img: str,
        *,
        created_at: float,
        bot_type: str | None,
        local_tokens: tuple[str, ...],
    ) -> None:
        self.qrcode = qrcode
        self.img = img
        self.created_at = created_at
        self.bot_type = bot_type
        self.local_tokens = local_tokens
        self.status: str = QrStatus.WAIT
        self.user_id: str | None = None
        self.bot_id: str | None = None
        self.bot_token: str | None = None
        self.baseurl: str | None = None
        self.redirect_host: str | None = None
        self.verify_code: str | None = None
        self.wrong_codes = 0
        self._resume: str = QrStatus.WAIT
        self._version = 0
        self._answered = 0
        self.waiters = Waiters()

    @property
    def final(self) -> bool:
        return self.status in FINAL_STATUSES

    def _set(self, status: str) -> None:
        self.status = status
        self._version += 1
        self.waiters.wake()

    def _require_open(self) -> None:
        if self.final:
            raise SimulatorError(
                f"QR session {self.qrcode} is already {self.status}", field="qrcode"
            )

    # --- control-side transitions -------------------------------------------------------------

    def scan(self, user_id: str) -> None:
        self._require_open()
        self.user_id = user_id
        self.verify_code = None
        self._set(QrStatus.SCANED)

    def require_code(self, code: str) -> None:
        self._require_open()
        self.verify_code = code
        self.wrong_codes = 0
        self._set(QrStatus.NEED_VERIFYCODE)

    def redirect(self, host: str) -> None:
        self._require_open()
        if self.status != QrStatus.SCANED_BUT_REDIRECT:
            self._resume = self.status
        self.redirect_host = host
        self._set(QrStatus.SCANED_BUT_REDIRECT)

    def end(self, status: str) -> None:
        """Move to a final status without a bot (``expired``, ``binded_redirect``)."""
        self._require_open()
        self._set(status)

    def check_confirmable(self) -> None:
        self._require_open()
        if self.status == QrStatus.NEED_VERIFYCODE:
            raise SimulatorError(
                f"QR session {self.qrcode} is waiting for verify code; send it first",
                field="qrcode",
            )

    def confirm(self, *, user_id: str, bot_id: str, bot_token: str, baseurl: str) -> None:
        self.check_confirmable()
        self.user_id = user_id
        self.bot_id = bot_id
        self.bot_token = bot_token
        self.baseurl = baseurl
        self._set(QrStatus.CONFIRMED)

    # --- poll side ----------------------------------------------------------------------------

    def expire_if_old(self, now: float, ttl: float) -> None:
        if not self.final and now - self.created_at > ttl:
            self._set(QrStatus.EXPIRED)

    def enter_code(self, code: str, attempts: int) -> None:
        """A poll carried ``verify_code``: accept it, or count a wrong one."""
        if code == self.verify_code:
            self.verify_code = None
            self._set(QrStatus.SCANED)
            return
        self.wrong_codes += 1
        self._set(
            QrStatus.VERIFY_CODE_BLOCKED
            if self.wrong_codes >= attempts
            else QrStatus.NEED_VERIFYCODE
        )

    @property
    def changed(self) -> bool:
        """The status changed since the last answer."""
        return self._version != self._answered

    def answer(self) -> dict[str, object]:
        body: dict[str, object] = {"ret": 0, "status": self.status}
        if self.status == QrStatus.CONFIRMED:
            body.update(
                bot_token=self.bot_token,
                ilink_bot_id=self.bot_id,
                baseurl=self.baseurl,
                ilink_user_id=self.user_id,
            )
        elif self.status == QrStatus.SCANED_BUT_REDIRECT:
            body["redirect_host"] = self.redirect_host
            self.status = self._resume  # one-shot; no version bump, so the next poll waits
        self._answered = self._version
        return body

    def snapshot(self) -> QrSession:
        return QrSession(
            qrcode=self.qrcode,
            status=self.status,
            qrcode_img_content=self.img,
            created_at=self.created_at,
            bot_type=self.bot_type,
            local_tokens=self.local_tokens,
            user_id=self.user_id,
            bot_id=self.bot_id,
            redirect_host=self.redirect_host,
            verify_code=self.verify_code,
            wrong_codes=self.wrong_codes,
        )


#: QR sessions kept; older ones are forgotten (and answer ``expired``, like an unknown one).
MAX_QR_SESSIONS = 10_000


class QrBook:
    """Every QR session of one simulator."""

    def __init__(self, ids: IdSource, clock: Clock) -> None:
        self._ids = ids
        self._clock = clock
        self.sessions: dict[str, QrState] = {}

    def create(self, *, bot_type: str | None, local_tokens: tuple[str, ...]) -> QrState:
        qrcode = self._ids.qrcode()
        img = IMG_URL.format(
            code=self._ids.qr_short_code(), qrcode=qrcode, bot_type=bot_type or "3"
        )
        state = QrState(
            qrcode,
            img,
            created_at=self._clock.time(),
            bot_type=bot_type,
            local_tokens=local_tokens,
        )
        self.sessions[qrcode] = state
        while len(self.sessions) > MAX_QR_SESSIONS:  # get_bot_qrcode needs no token
            del self.sessions[next(iter(self.sessions))]
        return state

    def get(self, qrcode: str) -> QrState:
        state = self.sessions.get(qrcode)
        if state is None:
            raise SimulatorNotFoundError(f"unknown qrcode {qrcode!r}", field="qrcode")
        return state

    async def poll(
        self,
        state: QrState,
        *,
        verify_code: str | None,
        hold: float,
        ttl: float,
        attempts: int,
        closing: Callable[[], bool],
    ) -> dict[str, object]:
        """One ``get_qrcode_status`` answer (see the module docstring)."""
        state.expire_if_old(self._clock.time(), ttl)
        if verify_code is not None and state.status == QrStatus.NEED_VERIFYCODE:
            state.enter_code(verify_code, attempts)
            return state.answer()
        loop = asyncio.get_running_loop()
        deadline = loop.time() + hold
        timed_out = False
        while not (timed_out or state.final or state.changed or closing()):
            timed_out = not await state.waiters.wait(deadline - loop.time())
        state.expire_if_old(self._clock.time(), ttl)
        return state.answer()

    def wake_all(self) -> None:
        for state in self.sessions.values():
            state.waiters.wake()
