"""One account's polling loop: long-poll ``getupdates`` continuously, hand each answer on.

Every active account has its own :class:`AccountPoller`, all running at once: a message waits
for nothing but the network (the Node gateway polled accounts one after another with a 5 s
pause). The poller owns no storage: ``on_batch`` stores the messages together with the new
cursor; if that fails the poller rewinds to the cursor it had and asks again, so nothing is
skipped. ``-14`` calls ``on_expired`` and ends the loop. Failures back off like the official
client: 2 s, and 30 s after 3 in a row. ``notify_start`` / ``notify_stop`` are sent when the
loop starts and stops, as the official client does; ``on_end`` is called when the loop ends,
however it ends.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from weixin_gateway._backoff import PollBackoffConfig, poll_failure_delay
from weixin_gateway._clock import Clock, SystemClock
from weixin_gateway.errors import SessionExpiredError, WeixinError
from weixin_gateway.ilink.client import PollResult, WeixinClient

__all__ = ["AccountPoller", "PollStatus"]

log = logging.getLogger(__name__)

#: notify_start / notify_stop are courtesy calls: stopping many pollers never waits long on them.
NOTIFY_TIMEOUT_S = 2.0
#: Shared by every poller that is given none (it is frozen).
DEFAULT_BACKOFF = PollBackoffConfig()

BatchHandler = Callable[[PollResult], Awaitable[int]]
ExpiredHandler = Callable[[SessionExpiredError], Awaitable[None]]
ErrorHandler = Callable[[str], Awaitable[None]]


@dataclass(slots=True)
class PollStatus:
    """What ``/accounts`` shows of a poller."""

    running: bool = False
    last_error: str = ""
    last_forwarded: int = 0
    last_poll_finished_at: float | None = None
    polls: int = 0


class AccountPoller:
    """Polls one account until stopped, expired or cancelled."""

    def __init__(
        self,
        account_id: str,
        client: WeixinClient,
        *,
        on_batch: BatchHandler,
        on_expired: ExpiredHandler,
        on_error: ErrorHandler,
        on_end: Callable[[], None] | None = None,
        backoff: PollBackoffConfig | None = None,
        clock: Clock | None = None,
    ) -> None:
        self.account_id = account_id
        self.on_end = on_end
        self.client = client
        self.on_batch = on_batch
        self.on_expired = on_expired
        self.on_error = on_error
        self.backoff = backoff or DEFAULT_BACKOFF
        self.clock: Clock = clock or SystemClock()
        self.status = PollStatus()
        self._task: asyncio.Task[None] | None = None
        # held while a batch is stored and handed on: stop() never cancels in the middle
        self._storing = asyncio.Lock()

    def __repr__(self) -> str:
        return f"AccountPoller({self.account_id!r}, running={self.running})"

    @property
    def running(self) -> bool:
        return self._task is not None and not self._task.done()

    def start(self) -> None:
        if self.running:
            return
        self.status.running = True
        self._task = asyncio.get_running_loop().create_task(
            self._run(), name=f"poll {self.account_id}"
        )

    async def stop(self) -> None:
        """Stop polling (an in-flight long poll is abandoned; the cursor is already stored)."""
        task = self._task
        if task is None or task is asyncio.current_task():
            return  # called from the loop itself (e.g. on -14): it returns on its own
        async with self._storing:  # a batch being stored is finished and handed on first
            task.cancel()
        await asyncio.gather(task, return_exceptions=True)
        self._task = None
        self.status.running = False
        await self._notify("notify_stop")

    async def poll_once(self) -> int:
        """One poll (the loop's step, or ``poll-once``); the number of messages stored.

        If storing the batch fails, the client goes back to the cursor it sent, so the same
        messages are asked for again.
        """
        sent = self.client.cursor
        result = await self.client.poll()
        async with self._storing:
            try:
                stored = await self.on_batch(result)
            except Exception as exc:
                self.client.cursor = sent
                raise WeixinError(f"could not store the messages: {exc}") from exc
        self.status.polls += 1
        self.status.last_error = ""
        self.status.last_poll_finished_at = self.clock.time()
        if stored:
            self.status.last_forwarded = stored
        return stored

    async def _run(self) -> None:
        await self._notify("notify_start")
        failures = 0
        try:
            while True:
                try:
                    await self.poll_once()
                    failures = 0
                except SessionExpiredError as exc:
                    self.status.last_error = "session expired (-14): log in again"
                    try:
                        await self.on_expired(exc)
                    except Exception as handler_error:  # e.g. the store is down: ask again
                        log.warning(
                            "could not mark %s expired (%s); retrying",
                            self.account_id,
                            type(handler_error).__name__,
                        )
                        await self.clock.sleep(self.backoff.short)
                        continue
                    return
                except Exception as exc:  # network, store, or anything unforeseen: back off
                    failures += 1
                    delay, failures = poll_failure_delay(self.backoff, failures)
                    self.status.last_error = str(exc)
                    log.warning(
                        "polling %s failed (%s); retrying in %.0f s", self.account_id, exc, delay
                    )
                    await self._report(str(exc))
                    await self.clock.sleep(delay)
        finally:
            self.status.running = False
            if self.on_end is not None:
                self.on_end()

    async def _report(self, error: str) -> None:
        try:
            await self.on_error(error)
        except Exception as exc:  # the store is down too: the log has it
            log.debug("could not record the poll error of %s: %s", self.account_id, exc)

    async def _notify(self, which: str) -> None:
        try:
            async with asyncio.timeout(NOTIFY_TIMEOUT_S):
                if which == "notify_start":
                    await self.client.api.notify_start()
                else:
                    await self.client.api.notify_stop()
        except Exception as exc:  # a courtesy call; never let it stop the poller
            log.debug("%s for %s failed: %s", which, self.account_id, exc)
