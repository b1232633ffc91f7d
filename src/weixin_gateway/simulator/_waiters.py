"""One future per waiting long poll, woken together: the cheap way to hold thousands of polls."""

from __future__ import annotations

import asyncio

__all__ = ["Waiters"]


class Waiters:
    """Long polls parked on one thing (a bot's mailbox, a QR session) until :meth:`wake`."""

    __slots__ = ("_futures",)

    def __init__(self) -> None:
        self._futures: set[asyncio.Future[None]] = set()

    def __len__(self) -> int:
        return len(self._futures)

    async def wait(self, timeout: float) -> bool:
        """Wait at most ``timeout`` seconds; ``True`` if woken, ``False`` if the time ran out."""
        if timeout <= 0:
            return False
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._futures.add(future)
        try:
            async with asyncio.timeout(timeout):
                await future
        except TimeoutError:
            return False
        finally:
            self._futures.discard(future)
        return True

    def wake(self) -> None:
        """Release every poll waiting now."""
        if not self._futures:
            return
        futures, self._futures = self._futures, set()
        for future in futures:
            if not future.done():
                future.set_result(None)
