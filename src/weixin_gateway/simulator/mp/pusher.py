"""Delivering one push like WeChat does: a deadline per attempt, retries, optional overlap.

The body is built once and sent unchanged by every attempt (same MsgId, CreateTime and
ciphertext); only the query string may change between attempts (fresh ``timestamp``/``nonce``).
Attempt timings are real seconds: they wait on a socket. Delays between shop-event retries go
through the injected clock's ``sleep`` (a :class:`~weixin_gateway._clock.FakeClock` makes them
instant).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

import aiohttp

from .records import PushAttempt

__all__ = ["Delivery", "QueryMaker", "deliver", "with_query"]

#: Builds the query string of attempt ``n`` (0-based): (query, timestamp, nonce).
QueryMaker = Callable[[int], tuple[dict[str, str], str, str]]
#: Whether an answered attempt ends the delivery (status, body).
Finality = Callable[[int, bytes], bool]


def with_query(url: str, query: Mapping[str, str]) -> str:
    """``url`` with ``query`` appended to whatever query string it already has."""
    parts = urlsplit(url)
    pairs = [*parse_qsl(parts.query, keep_blank_values=True), *query.items()]
    return urlunsplit(parts._replace(query=urlencode(pairs)))


class _ReplyTooLarge(Exception):
    pass


@dataclass(frozen=True, slots=True)
class Delivery:
    """All attempts, in the order they started, and the one whose answer counts."""

    attempts: tuple[PushAttempt, ...]
    final: PushAttempt | None
    final_body: bytes


async def _attempt(
    session: aiohttp.ClientSession,
    *,
    number: int,
    url: str,
    body: bytes,
    headers: Mapping[str, str],
    query: dict[str, str],
    timestamp: str,
    nonce: str,
    timeout_s: float,
    max_reply: int,
    origin: float,
) -> tuple[PushAttempt, bytes]:
    started = time.perf_counter()
    status: int | None = None
    data = b""
    error: str | None = None
    try:
        async with asyncio.timeout(timeout_s):
            async with session.post(with_query(url, query), data=body, headers=headers) as resp:
                status = resp.status
                chunks: list[bytes] = []
                size = 0
                async for chunk in resp.content.iter_chunked(1 << 16):
                    size += len(chunk)
                    if size > max_reply:
                        raise _ReplyTooLarge
                    chunks.append(chunk)
                data = b"".join(chunks)
    except TimeoutError:
        status, error = None, "timeout"
    except _ReplyTooLarge:
        error = f"reply over {max_reply} bytes"
    except aiohttp.ClientError as exc:
        status, error = None, f"connection error: {type(exc).__name__}"
    if error is None and status != 200:
        error = f"HTTP {status}"
    attempt = PushAttempt(
        number=number,
        started_after_s=started - origin,
        duration_s=time.perf_counter() - started,
        status=status,
        body=data.decode("utf-8", "replace"),
        error=error,
        timestamp=timestamp,
        nonce=nonce,
        query=query,
    )
    return attempt, data


async def deliver(
    session: aiohttp.ClientSession,
    *,
    url: str,
    body: bytes,
    headers: Mapping[str, str],
    make_query: QueryMaker,
    attempts: int,
    timeout_s: float,
    max_reply: int,
    is_final: Finality,
    overlap_after_s: float | None = None,
    schedule: Sequence[float] = (),
    sleep: Callable[[float], Awaitable[None]] | None = None,
) -> Delivery:
    """Send ``body`` up to ``attempts`` times until an answer ``is_final``.

    Sequential by default: the next attempt starts when the previous one failed, after
    ``schedule[i]`` seconds of ``sleep`` when a schedule is given. With ``overlap_after_s`` the
    next attempt starts that long after the previous one even if it is still waiting, and every
    attempt in flight is awaited; the first final answer to *arrive* counts.
    """
    origin = time.perf_counter()
    done: list[tuple[PushAttempt, bytes]] = []
    pending: set[asyncio.Task[tuple[PushAttempt, bytes]]] = set()
    final: tuple[PushAttempt, bytes] | None = None

    def collect(tasks: set[asyncio.Task[tuple[PushAttempt, bytes]]]) -> None:
        nonlocal final
        for task in sorted(tasks, key=lambda t: t.result()[0].started_after_s):
            attempt, data = task.result()
            done.append((attempt, data))
            if final is None and attempt.status is not None and is_final(attempt.status, data):
                final = (attempt, data)

    try:
        for index in range(attempts):
            if index > 0:
                deadline = time.perf_counter() + (overlap_after_s or 0.0)
                while pending and final is None:
                    wait_s = None if overlap_after_s is None else deadline - time.perf_counter()
                    if wait_s is not None and wait_s <= 0:
                        break
                    finished, pending = await asyncio.wait(
                        pending, timeout=wait_s, return_when=asyncio.FIRST_COMPLETED
                    )
                    collect(finished)
                if final is not None:
                    break
                if index - 1 < len(schedule) and sleep is not None:
                    await sleep(schedule[index - 1])
            query, timestamp, nonce = make_query(index)
            pending.add(
                asyncio.create_task(
                    _attempt(
                        session,
                        number=index + 1,
                        url=url,
                        body=body,
                        headers=headers,
                        query=query,
                        timestamp=timestamp,
                        nonce=nonce,
                        timeout_s=timeout_s,
                        max_reply=max_reply,
                        origin=origin,
                    )
                )
            )
        while pending:
            finished, pending = await asyncio.wait(pending, return_when=asyncio.FIRST_COMPLETED)
            collect(finished)
    finally:
        for task in pending:
            task.cancel()
    ordered = tuple(sorted((a for a, _ in done), key=lambda a: a.number))
    if final is None:
        return Delivery(ordered, None, b"")
    return Delivery(ordered, final[0], final[1])
