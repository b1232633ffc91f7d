"""QR-code login, as the official client runs it (ilink.md §4.3).

Two shapes of the same state machine:

* :class:`QrLogin` — step by step (``start()``, then ``poll()`` once at a time), for services that
  answer a REST call per step;
* :func:`login_with_qr` — the whole loop with callbacks, 1 s between polls and an 8-minute
  deadline, returning a :class:`LoginResult`.

Rules kept from 2.4.9: the QR is created on the fixed host; ``scaned_but_redirect`` switches only
the *polling* host (keeping the scheme of the current one); ``expired`` and
``verify_code_blocked`` create a new QR, at most 3 QR codes in all; ``need_verifycode`` asks for
the pair code and polls again at once; any network, HTTP or decoding error counts as ``wait``;
``binded_redirect`` means this bot is already bound to this client (:class:`AlreadyBoundError`).
"""

from __future__ import annotations

import inspect
import logging
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass, field
from urllib.parse import urlsplit

from weixin_gateway._clock import Clock, SystemClock
from weixin_gateway.errors import DecodeError, LoginError, TransportError

from .api import ILinkApi, ILinkConfig, redact_token
from .protocol import DEFAULT_BASE_URL
from .wire import QrStatus, QrStatusResponse

__all__ = [
    "AlreadyBoundError",
    "LoginResult",
    "QrLogin",
    "login_with_qr",
]

log = logging.getLogger(__name__)

DEFAULT_LOGIN_TIMEOUT = 480.0
QR_TTL = 300.0
MAX_QRCODES = 3
POLL_INTERVAL = 1.0


class AlreadyBoundError(LoginError):
    """``binded_redirect``: this bot is already bound to this client; keep the saved token."""


@dataclass(frozen=True, slots=True)
class LoginResult:
    """What a confirmed login yields (the same four fields as seeds 002/004)."""

    bot_token: str = field(repr=False)
    account_id: str
    base_url: str
    user_id: str | None = None

    @property
    def token(self) -> str:
        return self.bot_token


@dataclass(slots=True)
class _Attempt:
    qrcode: str
    url: str
    started: float
    scanned: bool = False


class QrLogin:
    """One QR login, advanced one status poll at a time.

    ``api`` is an :class:`ILinkApi` on the fixed QR host (no token needed). ``local_tokens`` are
    bot tokens this client already holds, newest first, so the server can answer
    ``binded_redirect`` for a bot that is already here.
    """

    def __init__(
        self,
        api: ILinkApi,
        *,
        local_tokens: Iterable[str] = (),
        max_qrcodes: int = MAX_QRCODES,
        qr_ttl: float = QR_TTL,
        clock: Clock | None = None,
    ) -> None:
        self.api = api
        self.local_tokens = list(local_tokens)
        self.max_qrcodes = max_qrcodes
        self.qr_ttl = qr_ttl
        self.clock = clock or SystemClock()
        self.poll_base_url = api.base_url
        self.qr_count = 0
        self.status: str = QrStatus.WAIT
        self.verify_code: str | None = None
        self.verify_code_rejected = False
        self.result: LoginResult | None = None
        self._attempt: _Attempt | None = None

    @property
    def qrcode(self) -> str | None:
        return self._attempt.qrcode if self._attempt else None

    @property
    def qrcode_url(self) -> str | None:
        """The string to render as a QR code (``qrcode_img_content``: a URL, not an image)."""
        return self._attempt.url if self._attempt else None

    @property
    def needs_verify_code(self) -> bool:
        return self.status == QrStatus.NEED_VERIFYCODE and self.verify_code is None

    async def start(self) -> str:
        """Create the first QR code; return its URL."""
        await self._new_qrcode()
        assert self._attempt is not None
        return self._attempt.url

    async def _new_qrcode(self) -> None:
        if self.qr_count >= self.max_qrcodes:
            raise LoginError("QR code expired too many times; login stopped, try again later")
        reply = await self.api.get_bot_qrcode(self.local_tokens)
        self.qr_count += 1
        self._attempt = _Attempt(
            reply.qrcode or "", reply.qrcode_img_content or "", self.clock.monotonic()
        )
        self.status = QrStatus.WAIT

    def submit_verify_code(self, code: str) -> None:
        """Give the pair code the phone shows; the next :meth:`poll` sends it."""
        self.verify_code = code.strip()

    async def poll(self) -> str:
        """Poll the status once and act on it; return the status seen.

        Raises :class:`LoginError` when the login cannot go on (too many QR codes, confirmed
        without a bot id), :class:`AlreadyBoundError` on ``binded_redirect``. On ``confirmed``
        :attr:`result` is set. ``expired`` and ``verify_code_blocked`` refresh the QR code before
        returning, so :attr:`qrcode_url` may change after a call.
        """
        attempt = self._attempt
        if attempt is None:
            raise LoginError("call start() before poll()")
        if self.clock.monotonic() - attempt.started > self.qr_ttl:
            await self._refresh("QR code older than its TTL")
            return QrStatus.EXPIRED
        sent_code = self.verify_code
        try:
            reply = await self.api.get_qrcode_status(
                attempt.qrcode, verify_code=sent_code, base_url=self.poll_base_url
            )
        except (TransportError, DecodeError) as exc:
            log.debug("qr status poll failed (%s); counting it as wait", exc)
            reply = QrStatusResponse(status=QrStatus.WAIT)
        return await self._act(attempt, reply, sent_code)

    async def _act(
        self, attempt: _Attempt, reply: QrStatusResponse, sent_code: str | None = None
    ) -> str:
        status = reply.status or QrStatus.WAIT
        self.status = status
        if status == QrStatus.SCANED:
            attempt.scanned = True
            if self.verify_code == sent_code:
                self.verify_code = None
            self.verify_code_rejected = False
        elif status == QrStatus.NEED_VERIFYCODE:
            # only the code this poll carried was judged; one given while it was held stays
            if sent_code is not None:
                self.verify_code_rejected = True
                if self.verify_code == sent_code:
                    self.verify_code = None
        elif status == QrStatus.EXPIRED:
            await self._refresh("QR code expired")
        elif status == QrStatus.VERIFY_CODE_BLOCKED:
            self.verify_code = None
            await self._refresh("too many wrong pair codes")
        elif status == QrStatus.SCANED_BUT_REDIRECT:
            if reply.redirect_host:
                scheme = urlsplit(self.poll_base_url).scheme or "https"
                self.poll_base_url = f"{scheme}://{reply.redirect_host}"
        elif status == QrStatus.BINDED_REDIRECT:
            raise AlreadyBoundError("this bot is already connected to this client")
        elif status == QrStatus.CONFIRMED:
            if not reply.ilink_bot_id or not reply.bot_token:
                raise LoginError("login failed: the server returned no ilink_bot_id / bot_token")
            self.result = LoginResult(
                bot_token=reply.bot_token,
                account_id=reply.ilink_bot_id,
                base_url=(reply.baseurl or DEFAULT_BASE_URL).rstrip("/"),
                user_id=reply.ilink_user_id,
            )
            log.info(
                "login confirmed for %s (token %s)",
                reply.ilink_bot_id,
                redact_token(reply.bot_token),
            )
        return status

    async def _refresh(self, why: str) -> None:
        if self.qr_count >= self.max_qrcodes:
            self._attempt = None
            raise LoginError(f"{why}; no QR codes left ({self.max_qrcodes} used), try again later")
        log.info("%s; creating QR code %d of %d", why, self.qr_count + 1, self.max_qrcodes)
        await self._new_qrcode()


StatusCallback = Callable[[str], Awaitable[None] | None]
QrCallback = Callable[[str], Awaitable[None] | None]
VerifyCodeCallback = Callable[[bool], Awaitable[str] | str]


async def _maybe_await(value: Awaitable[object] | object) -> object:
    if inspect.isawaitable(value):
        return await value
    return value


async def login_with_qr(
    *,
    base_url: str = DEFAULT_BASE_URL,
    api: ILinkApi | None = None,
    on_qrcode: QrCallback | None = None,
    on_status: StatusCallback | None = None,
    on_verify_code: VerifyCodeCallback | None = None,
    local_tokens: Iterable[str] = (),
    timeout: float = DEFAULT_LOGIN_TIMEOUT,
    poll_interval: float = POLL_INTERVAL,
    max_qrcodes: int = MAX_QRCODES,
    config: ILinkConfig | None = None,
    clock: Clock | None = None,
) -> LoginResult:
    """Run a whole QR login and return the confirmed bot.

    ``on_qrcode(url)`` is called for the first QR code and for each refresh; ``on_status(status)``
    on every change of status; ``on_verify_code(retry)`` when the phone shows a pair code (``retry``
    is true when the previous code was wrong) and must return the code the user typed. Any of them
    may be a coroutine function. Raises :class:`LoginError` on timeout (default 8 minutes) or when
    the QR expired too often, and :class:`AlreadyBoundError` on ``binded_redirect``.
    """
    clock = clock or SystemClock()
    owned = api is None
    qr_api = api or ILinkApi(base_url, config=config)
    try:
        login = QrLogin(qr_api, local_tokens=local_tokens, max_qrcodes=max_qrcodes, clock=clock)
        deadline = clock.monotonic() + max(1.0, timeout)
        shown = await login.start()
        if on_qrcode:
            await _maybe_await(on_qrcode(shown))
        last_status: str | None = None
        while True:
            if clock.monotonic() >= deadline:
                raise LoginError(f"login timed out after {timeout:g} s")
            status = await login.poll()
            if status != last_status and on_status:
                await _maybe_await(on_status(status))
            last_status = status
            if login.result is not None:
                return login.result
            if login.qrcode_url and login.qrcode_url != shown:
                shown = login.qrcode_url
                if on_qrcode:
                    await _maybe_await(on_qrcode(shown))
            if login.needs_verify_code:
                if on_verify_code is None:
                    raise LoginError("the server asks for a pair code but no on_verify_code given")
                code = await _maybe_await(on_verify_code(login.verify_code_rejected))
                login.submit_verify_code(str(code))
                continue
            await clock.sleep(poll_interval)
    finally:
        if owned:
            await qr_api.close()
