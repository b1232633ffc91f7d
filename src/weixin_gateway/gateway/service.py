"""The iLink gateway service: accounts, their pollers, storage, delivery, logins and sends.

:class:`IlinkGateway` wires the pieces below it together and is what the REST API and the CLI
drive. Life of an inbound message:

1. The account's :class:`~.poller.AccountPoller` receives it from ``getupdates``.
2. :meth:`IlinkGateway._store_batch` stores the batch and the new cursor in one transaction
   (re-deliveries dropped) — nothing is delivered before that commit.
3. Media is downloaded in the background (:class:`~weixin_gateway.delivery.media_in.InboundMedia`),
   one message at a time per account; the event waits (``ready = false``) and then carries the
   saved files, or the download error.
4. callback mode: the :class:`~weixin_gateway.delivery.callback.CallbackDispatcher` posts it;
   inbox mode: workers list, claim, complete or fail it.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import uuid
from collections.abc import Awaitable, Callable, Sequence
from pathlib import Path
from typing import Any

from weixin_gateway._clock import Clock, SystemClock
from weixin_gateway.delivery.callback import CallbackConfig, CallbackDispatcher
from weixin_gateway.delivery.events import Attachment, content_fingerprint, message_text
from weixin_gateway.delivery.media_in import InboundMedia
from weixin_gateway.errors import SessionExpiredError
from weixin_gateway.gateway.http import HttpClientConfig, open_session
from weixin_gateway.gateway.leadership import Leadership
from weixin_gateway.gateway.logins import LoginSession, LoginSessions
from weixin_gateway.gateway.metrics import GatewayMetrics
from weixin_gateway.gateway.outbound import Outbound, SendPart
from weixin_gateway.gateway.poller import AccountPoller
from weixin_gateway.gateway.send_request import parts_of
from weixin_gateway.gateway.settings import GatewaySettings
from weixin_gateway.ilink.api import ILinkConfig
from weixin_gateway.ilink.client import PollResult, WeixinClient
from weixin_gateway.ilink.login import LoginResult
from weixin_gateway.ilink.media import pick_media_item
from weixin_gateway.ilink.protocol import Timeouts
from weixin_gateway.ilink.wire import MessageType, WeixinMessage, dump_wire
from weixin_gateway.store import (
    AccountRecord,
    AccountStore,
    EventRecord,
    EventStore,
    Leases,
    NewEvent,
    SendTaskRecord,
    SendTaskStore,
    create_engine,
    dispose_engine,
    upgrade,
)

__all__ = ["AccountExpiredError", "IlinkGateway", "StandbyError", "UnknownAccountError"]

log = logging.getLogger(__name__)

#: A long-polling inbox request looks at the database at least this often (other gateways of
#: the same database store messages without waking this process).
INBOX_RECHECK_S = 1.0

#: Added to the server's long-poll hold (``longpolling_timeout_ms``, 35 s) to get the read
#: timeout of ``getupdates``. Without it a server answering at the end of its hold races the
#: client's timer: when the timer wins, the connection is closed and the next poll opens a new
#: one (a TLS handshake against WeChat) — every 35 s per account once the loop is busy.
LONG_POLL_MARGIN_S = 5.0
#: One config for every account's client (the clients hold a reference, not a copy).
ILINK_CONFIG = ILinkConfig(timeouts=Timeouts(long_poll_margin=LONG_POLL_MARGIN_S))


class UnknownAccountError(LookupError):
    """No account has this id (the API answers 404 ``unknown account_id``)."""


class AccountExpiredError(RuntimeError):
    """The account's session expired (-14); it must log in again (the API answers 409)."""


class StandbyError(RuntimeError):
    """Only the gateway holding the leader lease polls; this one stands by."""


class IlinkGateway:
    """One gateway process: ``async with IlinkGateway(settings) as gateway: ...``."""

    def __init__(self, settings: GatewaySettings, *, clock: Clock | None = None) -> None:
        self.settings = settings
        self.clock: Clock = clock or SystemClock()
        self.metrics = GatewayMetrics()
        self.polling_enabled = False
        self.last_started_at: float | None = None
        self.last_finished_at: float | None = None
        self.last_error = ""
        self.last_results: list[dict[str, Any]] = []
        self._pollers: dict[str, AccountPoller] = {}
        self._clients: dict[str, WeixinClient] = {}
        self._media_queues: dict[str, asyncio.Queue[EventRecord]] = {}
        self._media_workers: dict[str, asyncio.Task[None]] = {}
        self._send_workers: dict[tuple[str, str], asyncio.Task[None]] = {}
        self._send_queues: dict[tuple[str, str], asyncio.Queue[SendTaskRecord]] = {}
        self._known_tasks: set[str] = set()
        #: per account, the cursor the store holds with no poll error recorded: an empty poll
        #: that leaves it so has nothing to write (see :meth:`_store_batch`)
        self._stored_cursors: dict[str, str] = {}
        # the accounts table as of the last full sync_pollers, and how many pollers it left
        self._synced: tuple[tuple[int, float, float], int] | None = None
        self._inbox_changed = asyncio.Event()
        self._started = False

    def __repr__(self) -> str:
        return f"IlinkGateway(mode={self.settings.delivery_mode!r})"

    # --- lifecycle ----------------------------------------------------------------------------

    async def __aenter__(self) -> IlinkGateway:
        await self.start()
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.close()

    async def start(self) -> None:
        settings = self.settings
        data_dir = Path(settings.data_dir)
        await asyncio.to_thread(data_dir.mkdir, parents=True, exist_ok=True)
        self.engine = create_engine(settings.database_url_or_default)
        await upgrade(self.engine)
        self.accounts = AccountStore(self.engine, clock=self.clock)
        self.events = EventStore(self.engine, clock=self.clock)
        self.send_tasks = SendTaskStore(self.engine, clock=self.clock)
        self.http = open_session(HttpClientConfig(limit=200))
        self.media_in = InboundMedia(
            settings.inbound_path, max_bytes=settings.media_max_bytes, transcode_voice=True
        )
        self.outbound = Outbound(
            media_dirs=settings.media_dirs_or_default,
            media_max_bytes=settings.media_max_bytes,
            fetch_timeout_s=settings.media_fetch_timeout_ms / 1000,
            text_chunk_limit=settings.text_chunk_limit,
            fetch_session=self.http,
        )
        self.logins = LoginSessions(
            self.http,
            default_base_url=settings.ilink_base_url,
            ttl_s=settings.login_session_ttl_ms / 1000,
            on_confirmed=self._login_confirmed,
            clock=self.clock,
        )
        self.dispatcher: CallbackDispatcher | None = None
        self.polling_enabled = settings.auto_start
        self.leadership = Leadership(
            Leases(self.engine, clock=self.clock),
            ttl_s=settings.leader_lease_ms / 1000,
            on_gain=self._lead,
            on_loss=self._stand_by,
            on_renewed=self.sync_with_store,
        )
        self._started = True
        await self.leadership.start()
        await self.refresh_gauges()

    @property
    def is_leader(self) -> bool:
        """Whether this process polls and delivers (see :mod:`.leadership`)."""
        return self.leadership.is_leader

    async def _lead(self) -> None:
        """Leader lease gained: deliver what is pending, resume downloads and sends, poll."""
        settings = self.settings
        adopted = await self.events.adopt_mode(settings.delivery_mode)
        if adopted:
            log.info("%d undelivered events now use %s mode", adopted, settings.delivery_mode)
        if settings.delivery_mode == "callback":
            self.dispatcher = self._new_dispatcher()
            resumed = await self.dispatcher.start()
            if resumed:
                log.info("resuming delivery of %d pending events", resumed)
        for record in await self.events.unready():
            self._queue_media(record)
        for task in await self.send_tasks.recover():
            self._queue_send(task)
        if self.polling_enabled:
            await self.start_polling()

    async def _stand_by(self) -> None:
        """Leader lease lost (or closing): stop polling, delivering, downloading and running
        async sends here (what was running is marked interrupted by the next leader)."""
        await self._stop_pollers()
        if self.dispatcher is not None:
            await self.dispatcher.close()
            self.dispatcher = None
        workers = [*self._media_workers.values(), *self._send_workers.values()]
        for task in workers:
            task.cancel()
        await asyncio.gather(*workers, return_exceptions=True)
        self._media_workers.clear()
        self._media_queues.clear()
        self._send_workers.clear()
        self._send_queues.clear()
        self._known_tasks.clear()

    async def sync_with_store(self) -> None:
        """On the leader, after each lease renewal: pick up what other gateways of the same
        database changed — accounts (registered, replaced, expired, removed), events made
        pending again, async sends queued through their APIs."""
        if not self.is_leader:
            return
        await self.sync_pollers()
        if self.dispatcher is not None:
            await self.dispatcher.start()
        for task in await self.send_tasks.queued():
            self._queue_send(task)

    def _new_dispatcher(self) -> CallbackDispatcher:
        settings = self.settings
        return CallbackDispatcher(
            self.events,
            CallbackConfig(
                url=settings.upstream_base_url.rstrip("/") + settings.upstream_events_path,
                secret=settings.upstream_shared_secret.get_secret_value(),
                timeout_s=settings.callback_timeout_ms / 1000,
                max_attempts=settings.retry_max_attempts,
                retry_base_s=settings.retry_base_ms / 1000,
                retry_max_s=settings.retry_max_ms / 1000,
            ),
            clock=self.clock,
            observer=self._delivery_observed,
        )

    async def close(self) -> None:
        if not self._started:
            return
        self._started = False
        await self.leadership.close()
        await self.logins.close()
        workers = list(self._send_workers.values())
        for task in workers:
            task.cancel()
        await asyncio.gather(*workers, return_exceptions=True)
        for client in self._clients.values():
            await client.close()
        self._clients.clear()
        await self.http.close()
        await dispose_engine(self.engine)

    # --- accounts -----------------------------------------------------------------------------

    async def account(self, account_id: str) -> AccountRecord:
        record = await self.accounts.get(account_id)
        if record is None:
            raise UnknownAccountError(account_id)
        return record

    def poller_of(self, account_id: str) -> AccountPoller | None:
        return self._pollers.get(account_id)

    async def register(
        self,
        *,
        account_id: str,
        api_base_url: str,
        bot_token: str,
        wechat_uin: str = "",
        cdn_base_url: str = "",
        bot_id: str = "",
        owner_user_id: str = "",
    ) -> AccountRecord:
        """Save an account (new, or replacing one) and poll it if polling is on."""
        await self._drop_runtime(account_id)
        record = await self.accounts.save(
            account_id=account_id,
            api_base_url=api_base_url.rstrip("/"),
            bot_token=bot_token,
            cdn_base_url=cdn_base_url.rstrip("/"),
            bot_id=bot_id,
            wechat_uin=wechat_uin,
            owner_user_id=owner_user_id,
        )
        if self.polling_enabled:
            self._start_poller(record)
        return record  # the accounts gauge is counted when /metrics is read

    async def remove(self, account_id: str) -> AccountRecord | None:
        await self._drop_runtime(account_id)
        return await self.accounts.delete(account_id)

    async def _drop_runtime(self, account_id: str) -> None:
        clients: list[WeixinClient] = []
        poller = self._pollers.pop(account_id, None)
        if poller is not None:
            await poller.stop()
            clients.append(poller.client)  # may be older than the one client_for holds now
        self._stored_cursors.pop(account_id, None)
        client = self._clients.pop(account_id, None)
        if client is not None and client not in clients:
            clients.append(client)
        for one in clients:
            await one.close()

    def client_for(self, record: AccountRecord) -> WeixinClient:
        """The account's client (one per account, rebuilt when its credentials change)."""
        client = self._clients.get(record.account_id)
        if client is not None and (
            client.api.token != record.bot_token or client.api.base_url != record.api_base_url
        ):
            client = None  # built from an older record (e.g. before a new login)
        if client is None:
            client = WeixinClient(
                record.api_base_url,
                record.bot_token,
                cdn_base_url=record.cdn_base_url or self.settings.cdn_base_url,
                session=self.http,
                config=ILINK_CONFIG,
                clock=self.clock,
                text_chunk_limit=self.settings.text_chunk_limit,
                media_max_bytes=self.settings.media_max_bytes,
                cursor=record.cursor,
            )
            self._clients[record.account_id] = client
        return client

    async def _login_confirmed(self, session: LoginSession, result: LoginResult) -> str:
        """A QR login finished: save (or revive) the account; return its id.

        Without an ``account_id`` asked for at start, a login of a bot we already have (same
        bot id), or a new login by the owner of an ``expired`` account, revives that account:
        it becomes ``active`` again with a fresh cursor, under its old id.
        """
        account_id = session.account_id
        if not session.account_id_requested:
            existing = await self.accounts.find_by_bot_id(
                result.account_id
            ) or await self.accounts.find_expired_by_owner(result.user_id or "")
            if existing is not None:
                account_id = existing.account_id
        await self.register(
            account_id=account_id,
            # a login started for a given host keeps it; otherwise the host WeChat named
            api_base_url=session.api_base_url
            if session.api_base_url_requested
            else result.base_url or session.api_base_url,
            bot_token=result.bot_token,
            wechat_uin=result.user_id or "",
            bot_id=result.account_id,
            owner_user_id=result.user_id or "",
        )
        return account_id

    # --- polling ------------------------------------------------------------------------------

    async def start_polling(self) -> None:
        """Poll every active account (and every account added later); on the leader only."""
        self.polling_enabled = True
        self.last_started_at = self.clock.time()
        if self.is_leader:
            for record in await self.accounts.all():
                if record.session_state == "active":
                    self._start_poller(record)
        await self.refresh_gauges()

    async def stop_polling(self) -> None:
        self.polling_enabled = False
        await self._stop_pollers()

    async def sync_pollers(self) -> None:
        """Match the pollers to the accounts in the database (another gateway of the same
        database may have registered, replaced, expired or removed one)."""
        if not self.is_leader:
            return
        fingerprint = await self.accounts.fingerprint()
        if self.polling_enabled and self._synced == (fingerprint, len(self._pollers)):
            # nothing changed since the last full sync (a poller that ends forgets it): skip
            # reading every account
            return
        self._synced = None
        records = {r.account_id: r for r in await self.accounts.all()}
        stale = [
            account_id
            for account_id, poller in self._pollers.items()
            if (record := records.get(account_id)) is None
            or record.session_state != "active"
            or record.bot_token != poller.client.api.token
            or not poller.running
        ]
        await asyncio.gather(*(self._drop_runtime(account_id) for account_id in stale))
        if self.polling_enabled:
            for record in records.values():
                self._start_poller(record)
            unchanged = await self.accounts.fingerprint() == fingerprint  # while reading
            if unchanged and all(poller.running for poller in self._pollers.values()):
                self._synced = (fingerprint, len(self._pollers))
        self.metrics.pollers_running.set(len(self._pollers))

    async def _stop_pollers(self) -> None:
        pollers = list(self._pollers.values())
        self._pollers.clear()
        self._synced = None
        await asyncio.gather(*(p.stop() for p in pollers))
        self.last_finished_at = self.clock.time()
        self.metrics.pollers_running.set(0)

    def _start_poller(self, record: AccountRecord) -> None:
        if not self.is_leader:
            return
        existing = self._pollers.get(record.account_id)
        if (existing is not None and existing.running) or record.session_state != "active":
            return
        if not record.last_error:
            self._stored_cursors[record.account_id] = record.cursor
        poller = self._new_poller(record)
        self._pollers[record.account_id] = poller
        poller.start()
        self.metrics.pollers_running.set(len(self._pollers))

    def _new_poller(self, record: AccountRecord) -> AccountPoller:
        account_id = record.account_id

        async def on_batch(result: PollResult) -> int:
            return await self._store_batch(account_id, result)

        async def on_expired(exc: SessionExpiredError) -> None:
            await self._expired(account_id, exc)

        async def on_error(error: str) -> None:
            self.metrics.polls["error"].inc()
            self._stored_cursors.pop(account_id, None)  # the next poll clears the error
            await self.accounts.record_poll(account_id, error=error)

        return AccountPoller(
            account_id,
            self.client_for(record),
            on_batch=on_batch,
            on_expired=on_expired,
            on_error=on_error,
            on_end=self._poller_ended,
            clock=self.clock,
        )

    def _poller_ended(self) -> None:
        self._synced = None  # the next sync looks at every account again

    async def poll_once(self, account_id: str) -> dict[str, Any]:
        """One poll of one account now (``POST /accounts/{id}/poll-once``)."""
        record = await self.account(account_id)
        if not self.is_leader:
            raise StandbyError("this gateway stands by; the one holding the leader lease polls")
        running = self._pollers.get(account_id)
        if running is not None and running.running:
            # its poller holds the long poll already; a second one would race it for the cursor
            return {
                "account_id": account_id,
                "forwarded": 0,
                "cursor": running.client.cursor,
                "skipped": "polling",
            }
        poller = self._new_poller(record)
        try:
            forwarded = await poller.poll_once()
        except SessionExpiredError as exc:
            await self._expired(account_id, exc)
            raise
        return {
            "account_id": account_id,
            "forwarded": forwarded,
            "cursor": poller.client.cursor,
        }

    async def run_once(self) -> list[dict[str, Any]]:
        """One poll of every active account that has no running poller (``/poll/run-once``),
        all at once (each may be held for the long-poll time)."""
        self.last_started_at = self.clock.time()
        records = [r for r in await self.accounts.all() if r.session_state == "active"]
        results = list(await asyncio.gather(*(self._poll_one(r.account_id) for r in records)))
        self.last_finished_at = self.clock.time()
        self.last_results = results
        errors = [r["error"] for r in results if "error" in r]
        self.last_error = errors[-1] if errors else ""
        return results

    async def _poll_one(self, account_id: str) -> dict[str, Any]:
        try:
            return await self.poll_once(account_id)
        except Exception as exc:
            return {"account_id": account_id, "forwarded": 0, "error": str(exc)}

    async def _expired(self, account_id: str, exc: SessionExpiredError) -> None:
        log.warning("account %s: session expired (-14); log in again to resume", account_id)
        self.metrics.polls["expired"].inc()
        self._stored_cursors.pop(account_id, None)
        await self.accounts.mark_expired(account_id, "session expired (-14): log in again")
        poller = self._pollers.pop(account_id, None)
        if poller is not None:
            await poller.stop()  # from the poller's own loop: it ends by itself
        self.metrics.pollers_running.set(len(self._pollers))

    # --- storing what arrives -----------------------------------------------------------------

    async def _store_batch(self, account_id: str, result: PollResult) -> int:
        """Store a poll's messages and cursor; the number of new events.

        An idle poll (no message, the cursor the store already holds, no error to clear) writes
        nothing: with 10,000 accounts that was a transaction every 3.5 ms for no change
        (``benchmarks/scenarios/idle.py``). The time of the last poll is the poller's own
        (:class:`~.poller.PollStatus`); the store keeps the time of the last poll that changed
        something.
        """
        if not result.msgs and self._stored_cursors.get(account_id) == result.cursor:
            self.metrics.polls["empty"].inc()
            return 0
        self._stored_cursors.pop(account_id, None)  # unknown until the write commits
        incoming = [self._new_event(msg) for msg in result.msgs if _is_inbound(msg)]
        stored = await self.events.ingest(
            account_id,
            incoming,
            result.cursor,
            mode=self.settings.delivery_mode,
            dedup_window_s=self.settings.dedup_window_ms / 1000,
        )
        self._stored_cursors[account_id] = result.cursor
        self.metrics.polls["ok" if result.msgs else "empty"].inc()
        self.metrics.messages_in_total.inc(len(stored.stored))
        if stored.duplicates_by_id:
            self.metrics.duplicates_dropped_total.labels(reason="message_id").inc(
                stored.duplicates_by_id
            )
        if stored.duplicates_by_content:
            self.metrics.duplicates_dropped_total.labels(reason="content").inc(
                stored.duplicates_by_content
            )
        for record in stored.stored:
            if self.settings.verbose_updates:
                log.info("account %s: message %s from %s", account_id, record.id, record.user_id)
            if not record.ready:
                self._queue_media(record)
            if self.dispatcher is not None:
                self.dispatcher.enqueue(record)
        if stored.stored:
            self._announce_inbox()
        return len(stored.stored)

    def _new_event(self, msg: WeixinMessage) -> NewEvent:
        has_media = pick_media_item(msg) is not None
        user_id = _storable(msg.from_user_id or "")
        return NewEvent(
            message_id=str(msg.message_id) if msg.message_id is not None else None,
            fingerprint=content_fingerprint(msg),
            create_time_ms=msg.create_time_ms,
            chat_id=user_id,
            user_id=user_id,
            text=_storable(message_text(msg, [])),
            context_token=_storable(msg.context_token or ""),
            raw=dump_wire(msg),  # JSON escapes a NUL
            ready=not has_media,
        )

    def _queue_media(self, record: EventRecord) -> None:
        queue = self._media_queues.get(record.account_id)
        if queue is None:
            queue = self._media_queues[record.account_id] = asyncio.Queue()
            self._media_workers[record.account_id] = asyncio.get_running_loop().create_task(
                self._media_worker(record.account_id, queue), name=f"media {record.account_id}"
            )
        queue.put_nowait(record)

    async def _media_worker(self, account_id: str, queue: asyncio.Queue[EventRecord]) -> None:
        while True:
            record = await queue.get()
            try:
                await self._save_media(record)
            except asyncio.CancelledError:
                raise
            except Exception:  # not a download error (those end up in the event)
                log.exception("saving the media of %s failed", record.id)

    async def _save_media(self, record: EventRecord) -> None:
        msg = WeixinMessage.model_validate(record.raw)
        attachments: list[Attachment] = []
        account = await self.accounts.get(record.account_id)
        if account is not None:
            attachments = await self.media_in.save_all(self.client_for(account), msg)
        described = [a.to_json() for a in attachments]
        text = _storable(message_text(msg, attachments))
        delay = 0.5
        while True:  # the files are saved: only the store may fail now; never download twice
            try:
                await self.events.set_media(record.seq, described, text)
                break
            except Exception as exc:
                log.warning("recording the media of %s failed (%s); retrying", record.id, exc)
                await asyncio.sleep(delay)
                delay = min(delay * 2, 30.0)
        if self.dispatcher is not None:
            self.dispatcher.wake(record.account_id, record.chat_id)
        self._announce_inbox()

    # --- inbox --------------------------------------------------------------------------------

    def _announce_inbox(self) -> None:
        self._inbox_changed.set()
        self._inbox_changed = asyncio.Event()

    async def inbox_long_poll(
        self, fetch: Callable[[], Awaitable[list[EventRecord]]], wait_s: float
    ) -> list[EventRecord]:
        """``fetch()`` until it finds something or ``wait_s`` has passed (``?wait=``).

        A message stored here wakes the waiter at once; one stored by another gateway of the
        same database is seen within :data:`INBOX_RECHECK_S`. The wake-up is taken before each
        fetch, so a message stored in between is never missed.
        """
        loop = asyncio.get_running_loop()
        deadline = loop.time() + wait_s
        while True:
            changed = self._inbox_changed
            records = await fetch()
            remaining = deadline - loop.time()
            if records or remaining <= 0:
                return records
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(min(remaining, INBOX_RECHECK_S)):
                    await changed.wait()

    def _delivery_observed(self, outcome: str, latency: float | None) -> None:
        self.metrics.deliveries_total.labels(mode="callback", outcome=outcome).inc()
        if latency is not None:
            self.metrics.delivery_latency_seconds.observe(latency)

    async def redeliver(
        self, *, ids: Sequence[str] = (), account_id: str | None = None, all_dead: bool = False
    ) -> list[EventRecord]:
        """Put dead events back to ``pending`` and deliver them again."""
        records = await self.events.redeliver(ids=ids, account_id=account_id, all_dead=all_dead)
        for record in records:
            if self.dispatcher is not None and record.mode == "callback":
                self.dispatcher.enqueue(record)
        if records:
            self._announce_inbox()
        return records

    # --- sending ------------------------------------------------------------------------------

    async def send(
        self,
        *,
        account_id: str,
        to_user_id: str,
        context_token: str | None,
        parts: Sequence[SendPart],
    ) -> list[dict[str, object]]:
        """Send every part in order (see :class:`~.outbound.Outbound`).

        The conversation's lock is taken first, so requests to one user go out in the order
        they got here, whatever their checks and lookups cost.
        """
        started = self.clock.monotonic()
        try:
            async with self.outbound.conversation_lock(account_id, to_user_id):
                record = await self.account(account_id)
                if record.session_state == "expired":
                    raise AccountExpiredError(account_id)
                token = context_token or await self.accounts.context_token(account_id, to_user_id)
                results = await self.outbound.send(
                    self.client_for(record),
                    account_id=account_id,
                    to_user_id=to_user_id,
                    context_token=token,
                    parts=parts,
                    locked=True,
                )
        except Exception:
            self.metrics.sends_total.labels(outcome="error").inc()
            raise
        self.metrics.sends_total.labels(outcome="ok").inc()
        self.metrics.send_latency_seconds.observe(self.clock.monotonic() - started)
        return results

    async def submit_send(
        self, request: dict[str, Any], parts: Sequence[SendPart]
    ) -> SendTaskRecord:
        """Queue a send (``POST /send/async``); tasks to one user run one after another.

        The items are checked first, so a bad one is refused now rather than failing later.
        """
        await self.account(str(request["account_id"]))
        await self.outbound.check(parts)
        task = await self.send_tasks.create(
            f"send-{uuid.uuid4().hex[:20]}",
            account_id=str(request["account_id"]),
            to_user_id=str(request["to_user_id"]),
            request=request,
        )
        if self.is_leader:  # otherwise the leader picks it up at its next lease renewal
            self._queue_send(task)
        return task

    def _queue_send(self, task: SendTaskRecord) -> None:
        if task.id in self._known_tasks:
            return
        self._known_tasks.add(task.id)
        key = (task.account_id, task.to_user_id)
        queue = self._send_queues.get(key)
        if queue is None:
            queue = self._send_queues[key] = asyncio.Queue()
            self._send_workers[key] = asyncio.get_running_loop().create_task(
                self._send_worker(key, queue), name=f"send {key[0]}/{key[1]}"
            )
        queue.put_nowait(task)

    async def _send_worker(
        self, key: tuple[str, str], queue: asyncio.Queue[SendTaskRecord]
    ) -> None:
        try:
            while not queue.empty():
                task = queue.get_nowait()
                try:
                    await self._run_task(task)
                finally:
                    self._known_tasks.discard(task.id)
        finally:
            self._send_queues.pop(key, None)
            self._send_workers.pop(key, None)

    async def _run_task(self, task: SendTaskRecord) -> None:
        try:
            await self.send_tasks.set_status(task.id, "running")
        except Exception as exc:  # still queued: the next sync picks it up again
            log.warning("could not start send task %s (%s)", task.id, exc)
            return
        try:
            results = await self.send(
                account_id=task.account_id,
                to_user_id=task.to_user_id,
                context_token=task.request.get("context_token") or None,
                parts=parts_of(task.request),
            )
        except Exception as exc:
            outcome: dict[str, Any] = {
                "error": str(exc) or type(exc).__name__,
                "error_status": _http_status_of(exc),
            }
            status = "failed"
        else:
            outcome = {"results": results}
            status = "succeeded"
        delay = 0.5
        while True:  # what was sent is sent: record it, however long the store takes
            try:
                await self.send_tasks.set_status(task.id, status, **outcome)
                return
            except Exception as exc:
                log.warning("recording send task %s failed (%s); retrying", task.id, exc)
                await asyncio.sleep(delay)
                delay = min(delay * 2, 30.0)

    # --- gauges -------------------------------------------------------------------------------

    async def refresh_gauges(self) -> None:
        """Count the accounts by state into the ``accounts`` gauge: at start-up and whenever
        ``/metrics`` is read, not on each change (a count of the whole table for each of
        10,000 registrations made registering slower the more accounts there were)."""
        counts = await self.accounts.count_by_state()
        self.metrics.set_accounts(counts.get("active", 0), counts.get("expired", 0))


def _storable(text: str) -> str:
    """``text`` without NUL characters, which PostgreSQL's TEXT cannot hold (one such message
    would otherwise fail its whole batch, again and again)."""
    return text.replace("\x00", "\ufffd")


def _http_status_of(exc: Exception) -> int:
    """The status the API would have answered for a send that failed with ``exc``."""
    if isinstance(exc, UnknownAccountError):
        return 404
    if isinstance(exc, AccountExpiredError):
        return 409
    status = getattr(exc, "status", 502)
    return status if isinstance(status, int) else 502


def _is_inbound(msg: WeixinMessage) -> bool:
    """A message from a user (bots' own messages are not events)."""
    return msg.message_type != MessageType.BOT and bool(msg.from_user_id)
