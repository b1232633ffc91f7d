"""Resources owned by ``async with``: the one place that spells out the protocol."""

from __future__ import annotations

from types import TracebackType
from typing import Self

__all__ = ["Closeable", "Service"]


class Closeable:
    """``async with obj:`` closes ``obj`` on the way out; subclasses implement :meth:`close`."""

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.close()

    async def close(self) -> None:
        raise NotImplementedError


class Service(Closeable):
    """``async with obj:`` starts ``obj`` on the way in and closes it on the way out."""

    async def __aenter__(self) -> Self:
        await self.start()
        return self

    async def start(self) -> None:
        raise NotImplementedError
