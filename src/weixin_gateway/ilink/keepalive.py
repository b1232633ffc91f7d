"""The ``getupdates`` long poll over one kept-alive HTTP/1.1 connection per account.

Every account re-sends its long poll each time the server answers, at least once per hold
(35 s), so a gateway with 10,000 accounts makes about 286 of them a second while nothing
happens, and one per message while messages flow. aiohttp builds a request object, headers
multidict, timer handles, a response object and a stream reader for each: about 265 µs of CPU
per request on the benchmark machine, against about 70 µs for the same exchange on a bare
asyncio protocol (``benchmarks/README.md``). That difference was most of an idle gateway's CPU,
so this one request, always the same shape to the same host, takes the short path:

* one connection per :class:`KeepAliveConnection` (``max_idle`` for a webhook), opened on
  first use and reused while the server keeps it open; a request made while the kept ones are
  out gets a connection of its own;
* the request is written in one piece (request line, headers, body);
* the reply is parsed here: status line, headers, and a body framed by ``Content-Length``, by
  ``Transfer-Encoding: chunked`` or by the end of the connection; no content coding is asked
  for (no ``Accept-Encoding``), so none is decoded;
* a connection the server closed is noticed when it closes (the next poll opens a new one);
  a request that fails is not sent again here: the poller's backoff decides, as with aiohttp;
* every failure is a :class:`ConnectionFailed` or :class:`TimeoutError`, and the connection it
  happened on is dropped;
* deadlines are not one loop timer each: a request joins the bucket of its deadline, rounded up
  to :data:`DEADLINE_RESOLUTION_S`, and one timer per bucket fails whatever is still out when
  it fires. A timer each cost an idle gateway a timer-heap insert and removal per re-arm
  among 10,000 others (about 4 % of its CPU); a deadline is now honoured up to 0.1 s late,
  never early.

The gateway's callback deliveries take the same path (one small POST per event, always to the
same upstream). Everything else (messages, uploads, QR login, the CDN, media fetches, the
Official Account gateway) stays on aiohttp.
"""

from __future__ import annotations

import asyncio
import functools
import math
import ssl
import weakref
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Final, cast
from urllib.parse import urlsplit

__all__ = ["ConnectionFailed", "KeepAliveConnection", "ReplyTooLarge"]

#: The longest status line plus headers accepted.
MAX_HEAD_BYTES: Final = 64 * 1024
#: Deadlines are kept in buckets this wide (seconds): a request times out at most this late.
DEADLINE_RESOLUTION_S: Final = 0.1
_CRLF: Final = b"\r\n"


class ConnectionFailed(Exception):
    """The exchange could not be completed: connect, TLS, reset, or a malformed reply."""


class ReplyTooLarge(ConnectionFailed):
    """The reply body is over the limit given to :class:`KeepAliveConnection`; ``status`` is
    the reply's HTTP status (a caller that needs only the status may still use it)."""

    def __init__(self, message: str, status: int) -> None:
        super().__init__(message)
        self.status = status


@dataclass(frozen=True, slots=True)
class _Origin:
    scheme: str
    host: str
    port: int
    host_header: str


@functools.lru_cache(maxsize=256)
def _split(url: str) -> tuple[_Origin, str]:
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ConnectionFailed(f"not an http(s) URL: {parts.scheme}://{parts.hostname or ''}")
    default_port = 443 if parts.scheme == "https" else 80
    try:
        port = parts.port or default_port
    except ValueError as exc:
        raise ConnectionFailed(f"bad port in URL: {exc}") from None
    target = parts.path or "/"
    if parts.query:
        target += "?" + parts.query
    netloc = parts.netloc.rpartition("@")[2]  # never send userinfo
    return _Origin(parts.scheme, parts.hostname, port, netloc), target


@functools.lru_cache(maxsize=1)
def _default_tls() -> ssl.SSLContext:
    return ssl.create_default_context()


class _Reply(asyncio.Protocol):
    """One connection; parses the reply to the request in flight."""

    def __init__(self, max_body: int, loop: asyncio.AbstractEventLoop) -> None:
        self.max_body = max_body
        #: the transport's loop, kept: on Python 3.11 every ``get_running_loop()`` is a
        #: ``getpid()`` system call, 8 % of an idle gateway's CPU with 10,000 long polls
        self.loop = loop
        self.deadlines = _deadlines_of(loop)
        self.transport: asyncio.Transport | None = None
        self.closed = False
        #: the bucket of the exchange in flight in :class:`_Deadlines` (None: none)
        self.deadline_slot: int | None = None
        self.deadline = 0.0
        self._buffer = bytearray()
        self._waiter: asyncio.Future[tuple[int, bytes]] | None = None
        self._reset()

    def _reset(self) -> None:
        self._status = 0
        self._length: int | None = None  # Content-Length; None: chunked or until close
        self._chunked = False
        self._in_body = False
        self._body = bytearray()
        self._chunk_left = -1  # chunked: bytes left of the current chunk (-1: size line next)
        self.reusable = False

    # --- asyncio.Protocol ---------------------------------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # uvloop's transports implement asyncio.Transport without subclassing it
        self.transport = cast(asyncio.Transport, transport)

    def data_received(self, data: bytes) -> None:
        if self._waiter is None or self._waiter.done():
            self.abort()  # bytes nobody asked for: the connection can't be trusted any more
            return
        self._buffer += data
        try:
            self._parse()
        except ConnectionFailed as exc:
            self._fail(exc)

    def eof_received(self) -> bool:
        return False  # close the transport; connection_lost follows

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        waiter = self._waiter
        if waiter is None or waiter.done():
            return
        if self._in_body and self._length is None and not self._chunked:
            self._finish(reusable=False)  # the body ran until the server closed
            return
        reason = f"{type(exc).__name__}: {exc}" if exc else "server closed the connection"
        self._fail(ConnectionFailed(reason))

    # --- the exchange -------------------------------------------------------------------------

    def start(self, request: bytes) -> asyncio.Future[tuple[int, bytes]]:
        assert self.transport is not None
        self._reset()
        self._buffer.clear()
        self._waiter = self.loop.create_future()
        self.transport.write(request)
        return self._waiter

    def time_out(self) -> None:
        """The exchange's deadline passed: fail it with :class:`TimeoutError`, drop the
        connection."""
        if self._waiter is not None and not self._waiter.done():
            self._waiter.set_exception(TimeoutError())
        self.abort()

    def abort(self) -> None:
        self.closed = True
        if self.transport is not None:
            self.transport.abort()

    def _fail(self, exc: ConnectionFailed) -> None:
        self.reusable = False
        if self._waiter is not None and not self._waiter.done():
            self._waiter.set_exception(exc)
        self.abort()

    def _finish(self, *, reusable: bool) -> None:
        self.reusable = reusable and not self.closed and not self._buffer
        if self._waiter is not None and not self._waiter.done():
            self._waiter.set_result((self._status, bytes(self._body)))
        self._body = bytearray()  # not kept while the connection waits for the next request

    def _parse(self) -> None:
        while not self._in_body:
            end = self._buffer.find(b"\r\n\r\n")
            if end < 0:
                if len(self._buffer) > MAX_HEAD_BYTES:
                    raise ConnectionFailed("reply headers are too long")
                return
            head = bytes(self._buffer[:end])
            del self._buffer[: end + 4]
            if self._read_head(head):
                self._in_body = True
        if self._chunked:
            self._parse_chunks()
        elif self._length is not None:
            if len(self._buffer) >= self._length:
                self._body += self._buffer[: self._length]
                del self._buffer[: self._length]
                self._finish(reusable=self.reusable)
        else:
            self._take(len(self._buffer))  # until the server closes

    def _read_head(self, head: bytes) -> bool:
        """Status line and headers; False for an interim (1xx) reply, which is skipped."""
        lines = head.split(_CRLF)
        version, _, rest = lines[0].partition(b" ")
        status_text = rest[:3]
        if not version.startswith(b"HTTP/1.") or not status_text.isdigit():
            raise ConnectionFailed(f"not an HTTP/1.x reply: {lines[0][:80]!r}")
        status = int(status_text)
        if 100 <= status < 200:
            return False
        self._status = status
        keep_alive = version == b"HTTP/1.1"
        length: int | None = None
        for line in lines[1:]:
            name, sep, value = line.partition(b":")
            if not sep:
                raise ConnectionFailed("malformed reply header")
            name = name.strip().lower()
            value = value.strip()
            if name == b"content-length":
                if not value.isdigit():
                    raise ConnectionFailed("malformed Content-Length")
                length = int(value)
            elif name == b"transfer-encoding":
                if value.lower().split(b",")[-1].strip() != b"chunked":
                    raise ConnectionFailed(f"unsupported Transfer-Encoding {value[:40]!r}")
                self._chunked = True
            elif name == b"connection":
                tokens = {t.strip() for t in value.lower().split(b",")}
                if b"close" in tokens:
                    keep_alive = False
                elif b"keep-alive" in tokens:
                    keep_alive = True
        if status in (204, 304):
            length = 0
        if self._chunked:
            length = None
        elif length is None:
            keep_alive = False  # framed by the end of the connection
        if length is not None and length > self.max_body:
            raise ReplyTooLarge(f"reply of {length} bytes is over {self.max_body}", status)
        self._length = length
        self.reusable = keep_alive
        return True

    def _take(self, count: int) -> None:
        if len(self._body) + count > self.max_body:
            raise ReplyTooLarge(f"reply is over {self.max_body} bytes", self._status)
        self._body += self._buffer[:count]
        del self._buffer[:count]

    def _parse_chunks(self) -> None:
        while True:
            if self._chunk_left == -1:  # a chunk-size line
                end = self._buffer.find(_CRLF)
                if end < 0:
                    if len(self._buffer) > 1024:
                        raise ConnectionFailed("malformed chunk size")
                    return
                size_text = bytes(self._buffer[:end]).split(b";", 1)[0].strip()
                try:
                    size = int(size_text, 16)
                except ValueError:
                    raise ConnectionFailed("malformed chunk size") from None
                del self._buffer[: end + 2]
                if size == 0:
                    self._chunk_left = -2  # the trailer section follows
                else:
                    self._chunk_left = size
            if self._chunk_left == -2:  # trailers, up to an empty line
                end = self._buffer.find(_CRLF)
                if end < 0:
                    return
                del self._buffer[: end + 2]
                if end == 0:
                    self._finish(reusable=self.reusable)
                    return
                continue
            if len(self._buffer) < self._chunk_left + 2:
                take = min(len(self._buffer), self._chunk_left)
                self._take(take)
                self._chunk_left -= take
                return
            self._take(self._chunk_left)
            if self._buffer[:2] != _CRLF:
                raise ConnectionFailed("malformed chunk")
            del self._buffer[:2]
            self._chunk_left = -1


class _Deadlines:
    """The deadlines of one loop's exchanges, in buckets of :data:`DEADLINE_RESOLUTION_S`.

    Each bucket has one timer, set when the bucket is opened; when it fires, every reply
    still in the bucket whose deadline has passed times out. (No reference to the loop is
    kept here: the loop is the key this object is kept under, weakly.)
    """

    def __init__(self) -> None:
        self.buckets: dict[int, set[_Reply]] = {}

    def add(self, reply: _Reply, deadline: float, *, after: int | None = None) -> None:
        slot = math.ceil(deadline / DEADLINE_RESOLUTION_S)
        if after is not None and slot <= after:
            slot = after + 1  # never back into a bucket whose timer has fired
        bucket = self.buckets.get(slot)
        if bucket is None:
            bucket = self.buckets[slot] = set()
            reply.loop.call_at(slot * DEADLINE_RESOLUTION_S, self._expire, slot)
        bucket.add(reply)
        reply.deadline = deadline
        reply.deadline_slot = slot

    def remove(self, reply: _Reply) -> None:
        slot, reply.deadline_slot = reply.deadline_slot, None
        if slot is not None:
            bucket = self.buckets.get(slot)
            if bucket is not None:
                bucket.discard(reply)

    def _expire(self, slot: int) -> None:
        bucket = self.buckets.pop(slot, None)
        for reply in bucket or ():
            reply.deadline_slot = None
            if reply.deadline <= reply.loop.time():
                reply.time_out()
            else:  # the loop's timer fired a little early: keep it for the next bucket
                self.add(reply, reply.deadline, after=slot)


_deadlines: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, _Deadlines] = (
    weakref.WeakKeyDictionary()
)


def _deadlines_of(loop: asyncio.AbstractEventLoop) -> _Deadlines:
    deadlines = _deadlines.get(loop)
    if deadlines is None:
        deadlines = _deadlines[loop] = _Deadlines()
    return deadlines


class KeepAliveConnection:
    """POST requests over kept-alive connections (see the module docstring).

    ``tls`` is the context for ``https`` URLs (default: the system's trust store, verified).
    Replies over ``max_body`` bytes fail with :class:`ReplyTooLarge`. Up to ``max_idle``
    connections are kept open between requests (one for a long poll; as many as requests run
    at once for a webhook).
    """

    def __init__(
        self, *, tls: ssl.SSLContext | None = None, max_body: int, max_idle: int = 1
    ) -> None:
        if max_idle < 1:
            raise ValueError("max_idle must be at least 1")
        self._tls = tls
        self.max_body = max_body
        self.max_idle = max_idle
        self._idle: list[tuple[_Origin, _Reply]] = []
        self._busy: set[_Reply] = set()

    def __repr__(self) -> str:
        return f"KeepAliveConnection({len(self._idle)} idle, {len(self._busy)} busy)"

    async def post(
        self, url: str, headers: Mapping[str, str], body: bytes, *, timeout: float
    ) -> tuple[int, bytes]:
        """``(status, body)`` of one POST; the whole exchange, connect included, within
        ``timeout`` seconds (else :class:`TimeoutError`)."""
        origin, target = _split(url)
        request = _request_bytes(origin, target, headers, body)
        reply = self._take_idle(origin)
        if reply is None:
            loop = asyncio.get_running_loop()
            deadline = loop.time() + timeout
            async with asyncio.timeout_at(deadline):
                reply = await self._connect(origin, loop)
        else:  # the deadline on the reply's loop instead of asyncio.timeout: no loop lookups
            deadline = reply.loop.time() + timeout
        return await self._exchange(origin, reply, request, deadline)

    async def close(self) -> None:
        """Close every connection (a request still out fails)."""
        idle, self._idle = self._idle, []
        for _, reply in idle:
            reply.abort()
        for reply in list(self._busy):
            reply.abort()
        self._busy.clear()

    def _take_idle(self, origin: _Origin) -> _Reply | None:
        while self._idle:
            kept_for, reply = self._idle.pop()
            if (kept_for is origin or kept_for == origin) and not reply.closed:
                return reply
            reply.abort()
        return None

    async def _connect(self, origin: _Origin, loop: asyncio.AbstractEventLoop) -> _Reply:
        tls = (self._tls or _default_tls()) if origin.scheme == "https" else None
        try:
            _, reply = await loop.create_connection(
                lambda: _Reply(self.max_body, loop),
                origin.host,
                origin.port,
                ssl=tls,
                server_hostname=origin.host if tls is not None else None,
            )
        except (OSError, ssl.SSLError) as exc:
            raise ConnectionFailed(f"cannot connect: {type(exc).__name__}: {exc}") from exc
        return reply

    async def _exchange(
        self, origin: _Origin, reply: _Reply, request: bytes, deadline: float
    ) -> tuple[int, bytes]:
        self._busy.add(reply)
        deadlines = reply.deadlines
        deadlines.add(reply, deadline)
        try:
            result = await reply.start(request)
        except BaseException:
            reply.abort()
            raise
        finally:
            deadlines.remove(reply)
            self._busy.discard(reply)
        if reply.reusable and len(self._idle) < self.max_idle:
            self._idle.append((origin, reply))
        else:
            reply.abort()
        return result


def _request_bytes(origin: _Origin, target: str, headers: Mapping[str, str], body: bytes) -> bytes:
    fields = "".join([f"{name}: {value}\r\n" for name, value in headers.items()])
    if fields.count("\n") != len(headers) or fields.count("\r") != len(headers):
        bad = next(n for n, v in headers.items() if {"\r", "\n"} & set(n + v))
        raise ConnectionFailed(f"header {bad!r} contains a line break")
    head = (
        f"POST {target} HTTP/1.1\r\nHost: {origin.host_header}\r\n{fields}"
        f"Accept: */*\r\nContent-Length: {len(body)}\r\n\r\n"
    )
    try:
        return head.encode("latin-1") + body
    except UnicodeEncodeError:
        raise ConnectionFailed("a header value is not Latin-1") from None
