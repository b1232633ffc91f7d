"""The :class:`Simulator`: a local iLink server + CDN + control API, and its Python API.

::

    async with Simulator(config=SimulatorConfig(hold_seconds=1)) as sim:
        bot = sim.create_bot()
        sim.inject_message(bot.bot_id, text="hi bot")
        ...  # point a client at sim.base_url / sim.cdn_base_url with bot.bot_token
        assert sim.sent(bot.bot_id)[0].text == "hello"

Every Python method has a twin in the JSON control API under ``/_sim/`` (see
``docs/simulator.md``). The injected ``clock`` stamps records and measures the reply window and
the QR TTL; holds, latency faults and delayed re-deliveries use real time.
"""

from __future__ import annotations

import asyncio
import logging
import tempfile
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Protocol

from aiohttp import web

from weixin_gateway._clock import Clock, SystemClock
from weixin_gateway._resource import Service
from weixin_gateway.ilink.wire import (
    MessageState,
    MessageType,
    QrStatus,
    WeixinMessage,
)

from ._errors import SimulatorError, SimulatorNotFoundError
from ._http import serve
from ._ids import IdSource
from .blobs import BlobStore
from .cdn import CDN_PREFIX, CdnRoutes
from .config import SimulatorConfig, config_from_json
from .control import ControlRoutes
from .faults import Fault, FaultBook, FaultPlan
from .ilink_routes import ILinkRoutes
from .inbound import ItemSpec, QuoteSpec, TextSpec, build_items
from .mailbox import StoredMessage
from .middleware import plumbing
from .outbound import sent_message
from .qr import QrBook, QrState
from .recorder import Recorder
from .records import (
    InjectedMessage,
    Notification,
    QrSession,
    RecordedRequest,
    SentMessage,
    SimBot,
    SimUser,
    TypingEvent,
)
from .state import BotState, World

__all__ = ["Simulator"]

log = logging.getLogger(__name__)

_MAX_BODY = 512 << 20


class Mountable(Protocol):
    """Another simulator served from this one's port (the Official Account side)."""

    def mount(self, router: web.UrlDispatcher) -> None: ...

    async def start(self, *, base_url: str | None = None) -> None: ...

    async def close(self) -> None: ...


class Simulator(Service):
    """A faithful local iLink server with its CDN, driven from tests or over HTTP.

    Bind with ``async with`` (or :meth:`start` / :meth:`close`). ``port=0`` picks a free port.
    """

    def __init__(
        self,
        config: SimulatorConfig | None = None,
        *,
        clock: Clock | None = None,
        host: str = "127.0.0.1",
        port: int = 0,
        public_base_url: str | None = None,
        mounts: Sequence[Mountable] = (),
    ) -> None:
        self._config = config or SimulatorConfig()
        self._mounts = tuple(mounts)
        self.clock: Clock = clock or SystemClock()
        self.ids = IdSource()
        self.world = World(self.ids)
        self.qr = QrBook(self.ids, self.clock)
        self.fault_book = FaultBook()
        self.recorder = Recorder()
        self._host = host
        self._port = port
        self._public_base_url = public_base_url.rstrip("/") if public_base_url else None
        self._blobs: BlobStore | None = None
        self._runner: web.AppRunner | None = None
        self._base_url: str | None = None
        self._closing = False
        #: ``getupdates`` requests being held right now (waiting for a message or the timeout).
        self.held_polls = 0
        self._tasks: set[asyncio.Task[None]] = set()
        self._cdn = CdnRoutes(self)

    # --- lifecycle ------------------------------------------------------------------------------

    async def start(self) -> None:
        """Bind and serve."""
        if self._runner is not None:
            raise RuntimeError("simulator already started")
        self._blobs = BlobStore(Path(tempfile.mkdtemp(prefix="weixin-sim-")), self.ids)
        app = web.Application(middlewares=[plumbing(self, self._cdn)], client_max_size=_MAX_BODY)
        ILinkRoutes(self).register(app.router)
        self._cdn.register(app.router)
        ControlRoutes(self).register(app.router)
        for mounted in self._mounts:
            mounted.mount(app.router)
        try:
            runner, base_url = await serve(app, self._host, self._port)
        except BaseException:
            self._blobs.close()
            raise
        self._runner = runner
        self._port = int(runner.addresses[0][1])
        self._base_url = self._public_base_url or base_url
        for mounted in self._mounts:
            await mounted.start(base_url=self._base_url)
        log.info("iLink simulator listening on %s", self._base_url)

    async def close(self) -> None:
        """Answer held polls, stop serving and delete the CDN's files."""
        if self._closing:
            return
        self._closing = True
        tasks = list(self._tasks)
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        for bot in self.world.bots.values():
            bot.mailbox.waiters.wake()
        self.qr.wake_all()
        for mounted in self._mounts:
            await mounted.close()
        if self._runner is not None:
            await self._runner.cleanup()
        if self._blobs is not None:
            self._blobs.close()

    @property
    def closing(self) -> bool:
        return self._closing

    @property
    def host(self) -> str:
        return self._host

    @property
    def port(self) -> int:
        return self._port

    @property
    def base_url(self) -> str:
        """The iLink API base URL (``http://127.0.0.1:<port>``)."""
        if self._base_url is None:
            raise RuntimeError("simulator not started")
        return self._base_url

    @property
    def cdn_base_url(self) -> str:
        """The CDN base URL: ``base_url + "/c2c"``."""
        return self.base_url + CDN_PREFIX

    @property
    def blob_store(self) -> BlobStore:
        if self._blobs is None:
            raise RuntimeError("simulator not started")
        return self._blobs

    # --- config ---------------------------------------------------------------------------------

    @property
    def config(self) -> SimulatorConfig:
        return self._config

    def configure(
        self, changes: Mapping[str, object] | None = None, /, **kwargs: object
    ) -> SimulatorConfig:
        """Change switches at runtime: ``sim.configure(reply_window_seconds=None)``.

        ``changes`` (a mapping, e.g. parsed JSON) and keyword arguments are merged.
        """
        self._config = config_from_json(self._config, {**(changes or {}), **kwargs})
        return self._config

    # --- HTTP plumbing: recording, faults, errors ---------------------------------------------

    # --- users and bots -------------------------------------------------------------------------

    def create_user(self, name: str | None = None, *, user_id: str | None = None) -> SimUser:
        """A WeChat user (``…@im.wechat``); an existing ``user_id`` is returned as it is."""
        return self.world.add_user(name, user_id)

    def users(self) -> tuple[SimUser, ...]:
        return tuple(self.world.users.values())

    def _bot_record(self, bot: BotState) -> SimBot:
        return SimBot(
            bot_id=bot.bot_id,
            bot_token=bot.token,
            user_id=bot.owner,
            base_url=self.base_url,
            cdn_base_url=self.cdn_base_url,
            expired=bot.expired,
        )

    def create_bot(
        self,
        owner_user_id: str | None = None,
        *,
        bot_id: str | None = None,
        bot_token: str | None = None,
    ) -> SimBot:
        """An already logged-in bot; its owner is created when not given (or not known yet)."""
        owner = self.world.add_user(user_id=owner_user_id)
        bot = self.world.add_bot(owner.user_id, bot_id=bot_id, token=bot_token)
        return self._bot_record(bot)

    def bots(self) -> tuple[SimBot, ...]:
        return tuple(self._bot_record(b) for b in self.world.bots.values())

    def bot(self, bot_id: str) -> SimBot:
        return self._bot_record(self.world.bot(bot_id))

    def expire_bot(self, bot_id: str) -> SimBot:
        """Revoke the bot's token: later calls get -14, a held poll answers -14 at once."""
        bot = self.world.bot(bot_id)
        self.world.expire(bot)
        return self._bot_record(bot)

    def typing_ticket(self, bot_id: str, user_id: str) -> str:
        """The ``typing_ticket`` ``getconfig`` gives this bot for this user."""
        return self.ids.typing_ticket(self.world.bot(bot_id).bot_id, user_id)

    # --- inbound messages -----------------------------------------------------------------------

    def inject_message(
        self,
        bot_id: str,
        *,
        from_user_id: str | None = None,
        text: str | None = None,
        items: Sequence[ItemSpec] = (),
        ref_msg: QuoteSpec | None = None,
    ) -> InjectedMessage:
        """Queue a message from a user (default: the bot's owner) to a bot.

        ``text`` becomes a first text item, followed by ``items``. Media are encrypted and put on
        the CDN. Every message gets a fresh ``context_token`` that reopens the reply window.
        """
        bot = self.world.bot(bot_id)
        if text is None and not items:
            raise SimulatorError("a message needs text or items", field="text")
        user = self.world.add_user(user_id=from_user_id or bot.owner)
        message_id = self.ids.message_id()
        now = self.clock.time()
        now_ms = int(now * 1000)
        specs: list[ItemSpec] = [TextSpec(text)] if text is not None else []
        specs.extend(items)
        item_list = build_items(
            specs,
            ref_msg,
            blobs=self.blob_store,
            download_base=self.cdn_base_url if self._config.inbound_full_url else None,
            bot_id=bot.bot_id,
            msg_id=message_id,
            now_ms=now_ms,
            index_base=-1 if text is not None else 0,
        )
        message = WeixinMessage(
            seq=bot.mailbox.next_seq(),
            message_id=message_id,
            from_user_id=user.user_id,
            to_user_id=bot.bot_id,
            client_id="",
            create_time_ms=now_ms,
            update_time_ms=now_ms,
            session_id="",
            group_id="",
            message_type=MessageType.USER,
            message_state=MessageState.FINISH,
            item_list=item_list,
            context_token=self.ids.context_token(),
        )
        stored = self.world.deliver(bot, message, retention=self._config.retention, received_at=now)
        plan = self.fault_book.take_duplicate(bot.bot_id)
        if plan is not None:
            self._schedule_duplicate(bot, stored, plan.delay_ms)
        assert message.context_token is not None
        return InjectedMessage(
            bot.bot_id, message_id, message.context_token, stored.seq, user.user_id
        )

    def _schedule_duplicate(self, bot: BotState, stored: StoredMessage, delay_ms: int) -> None:
        if delay_ms <= 0:
            self._redeliver(bot, stored)
            return

        async def later() -> None:
            await asyncio.sleep(delay_ms / 1000)
            self._redeliver(bot, stored)

        task = asyncio.get_running_loop().create_task(later())
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    def _redeliver(self, bot: BotState, stored: StoredMessage) -> None:
        if self._closing:
            return
        new_id = self.ids.message_id()
        original = stored.message
        items = [item.model_copy(update={"msg_id": new_id}) for item in original.item_list or ()]
        copy = original.model_copy(
            update={"seq": bot.mailbox.next_seq(), "message_id": new_id, "item_list": items}
        )
        self.world.deliver(bot, copy, retention=self._config.retention, received_at=None)
        log.info("re-delivered message %s of bot %s as %s", stored.message_id, bot.bot_id, new_id)

    # --- what bots did --------------------------------------------------------------------------

    def sent(self, bot_id: str) -> tuple[SentMessage, ...]:
        """Messages the bot sent and the simulator accepted, oldest first, media decrypted."""
        return tuple(sent_message(o, self.blob_store) for o in self.world.bot(bot_id).sent)

    def typing(self, bot_id: str) -> tuple[TypingEvent, ...]:
        return tuple(self.world.bot(bot_id).typing)

    def notifications(self, bot_id: str) -> tuple[Notification, ...]:
        return tuple(self.world.bot(bot_id).notifications)

    # --- QR login -------------------------------------------------------------------------------

    def qr_sessions(self) -> tuple[QrSession, ...]:
        """Every QR session, oldest first (find the one a client created here)."""
        return tuple(s.snapshot() for s in self.qr.sessions.values())

    def qr_session(self, qrcode: str) -> QrSession:
        return self.qr.get(qrcode).snapshot()

    def _bound_bot(self, state: QrState, user_id: str) -> BotState | None:
        for token in state.local_tokens:
            bot = self.world.bot_for_token(token)
            if bot is not None and not bot.expired and bot.owner == user_id:
                return bot
        return None

    def scan(self, qrcode: str, user_id: str | None = None) -> QrSession:
        """A user scans: the next poll answers ``scaned``.

        When ``local_token_list`` held a live token of a bot this user already owns, the
        session goes to ``binded_redirect`` instead, as the real server does.
        """
        state = self.qr.get(qrcode)
        user = self.world.add_user(user_id=user_id)
        state.scan(user.user_id)
        if self._bound_bot(state, user.user_id) is not None:
            state.end(QrStatus.BINDED_REDIRECT)
        return state.snapshot()

    def confirm(self, qrcode: str) -> QrSession:
        """The user confirms: a new bot; the next poll answers ``confirmed`` with its token."""
        state = self.qr.get(qrcode)
        state.check_confirmable()
        user_id = state.user_id or self.world.add_user().user_id
        bot = self.world.add_bot(user_id)
        if self._config.expire_replaced_bots:
            for other in self.world.bots.values():
                if other is not bot and other.owner == user_id and not other.expired:
                    self.world.expire(other)
        state.confirm(
            user_id=user_id, bot_id=bot.bot_id, bot_token=bot.token, baseurl=self.base_url
        )
        return state.snapshot()

    def require_verify_code(self, qrcode: str, code: str) -> QrSession:
        """Polls answer ``need_verifycode`` until a poll carries ``verify_code=<code>``."""
        if not code:
            raise SimulatorError("code must not be empty", field="code")
        state = self.qr.get(qrcode)
        state.require_code(code)
        return state.snapshot()

    def redirect(self, qrcode: str, host: str) -> QrSession:
        """The next poll answers ``scaned_but_redirect`` with ``redirect_host = host``."""
        if not host:
            raise SimulatorError("host must not be empty", field="host")
        state = self.qr.get(qrcode)
        state.redirect(host)
        return state.snapshot()

    def expire_qr(self, qrcode: str) -> QrSession:
        state = self.qr.get(qrcode)
        state.end(QrStatus.EXPIRED)
        return state.snapshot()

    def bind_qr(self, qrcode: str) -> QrSession:
        """The next poll answers ``binded_redirect``."""
        state = self.qr.get(qrcode)
        state.end(QrStatus.BINDED_REDIRECT)
        return state.snapshot()

    # --- requests and faults ------------------------------------------------------------------

    @property
    def requests(self) -> tuple[RecordedRequest, ...]:
        """Every iLink and CDN request recorded so far, oldest first."""
        return self.recorder.list()

    def clear_requests(self) -> None:
        self.recorder.clear()

    def add_fault(self, plan: FaultPlan) -> Fault[FaultPlan]:
        """Activate a fault plan. A ``duplicate`` of a given ``message_id`` fires at once."""
        if plan.kind == "duplicate" and plan.message_id is not None:
            found = self.world.message(plan.message_id)
            if found is None:
                raise SimulatorNotFoundError(
                    f"no retained message {plan.message_id}", field="message_id"
                )
            bot, stored = found
            if plan.bot_id is not None and plan.bot_id != bot.bot_id:
                raise SimulatorError("message_id belongs to another bot", field="bot_id")
            for _ in range(plan.count or 1):
                self._schedule_duplicate(bot, stored, plan.delay_ms)
            return Fault(0, plan, 0, plan.count or 1)
        return self.fault_book.add(plan)

    def faults(self) -> tuple[Fault[FaultPlan], ...]:
        return self.fault_book.list()

    def remove_fault(self, fault_id: int) -> None:
        self.fault_book.remove(fault_id)

    def clear_faults(self) -> None:
        self.fault_book.clear()
