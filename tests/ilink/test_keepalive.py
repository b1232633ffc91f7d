"""The long poll's kept-alive HTTP/1.1 connection, against real servers on loopback: a scripted
raw server for the framing cases, the simulator for the iLink exchange."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from weixin_gateway.errors import DecodeError, HttpStatusError, NetworkError
from weixin_gateway.ilink.api import ILinkApi
from weixin_gateway.ilink.keepalive import (
    DEADLINE_RESOLUTION_S,
    ConnectionFailed,
    KeepAliveConnection,
    ReplyTooLarge,
    _Deadlines,
    _deadlines_of,
    _Reply,
)
from weixin_gateway.simulator import Simulator
from weixin_gateway.simulator.faults import FaultPlan

Script = Callable[[int], list[bytes]]
"""For the n-th request the server gets (0-based): the pieces to write back, in order;
an empty list closes the connection without a reply."""


def ok(body: bytes, *extra: str) -> list[bytes]:
    head = "HTTP/1.1 200 OK\r\n" + "".join(f"{h}\r\n" for h in extra)
    return [f"{head}Content-Length: {len(body)}\r\n\r\n".encode() + body]


@dataclass
class RawServer:
    """Answers each request by ``script``; counts connections and keeps the requests."""

    script: Script
    connections: int = 0
    requests: list[bytes] = field(default_factory=list)
    hold_s: float = 0.0
    close_after_reply: bool = False
    url: str = ""
    server: asyncio.Server | None = None

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        try:
            while True:
                head = await reader.readuntil(b"\r\n\r\n")
                length = 0
                for line in head.split(b"\r\n"):
                    if line.lower().startswith(b"content-length:"):
                        length = int(line.split(b":", 1)[1])
                request = head + await reader.readexactly(length)
                index = len(self.requests)
                self.requests.append(request)
                if self.hold_s:
                    await asyncio.sleep(self.hold_s)
                pieces = self.script(index)
                if not pieces:
                    break
                for piece in pieces:
                    writer.write(piece)
                    await writer.drain()
                if self.close_after_reply:
                    break
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        finally:
            writer.close()

    async def __aenter__(self) -> RawServer:
        self.server = await asyncio.start_server(self._serve, "127.0.0.1", 0)
        port = self.server.sockets[0].getsockname()[1]
        self.url = f"http://127.0.0.1:{port}/ilink/bot/getupdates"
        return self

    async def __aexit__(self, *exc: object) -> None:
        assert self.server is not None
        self.server.close()


@pytest.fixture
async def conn() -> AsyncIterator[KeepAliveConnection]:
    connection = KeepAliveConnection(max_body=1024)
    yield connection
    await connection.close()


HEADERS = {"Content-Type": "application/json", "AuthorizationType": "ilink_bot_token"}


async def test_one_connection_serves_many_polls(conn: KeepAliveConnection) -> None:
    async with RawServer(lambda n: ok(b'{"n":%d}' % n)) as server:
        for n in range(5):
            assert await conn.post(server.url, HEADERS, b"{}", timeout=5) == (200, b'{"n":%d}' % n)
    assert server.connections == 1
    first = server.requests[0]
    assert first.startswith(b"POST /ilink/bot/getupdates HTTP/1.1\r\n")
    assert f"Host: {server.url.split('/')[2]}".encode() in first
    assert b"Content-Length: 2\r\n" in first
    assert b"AuthorizationType: ilink_bot_token" in first
    assert first.endswith(b"\r\n\r\n{}")


async def test_connection_close_means_a_new_connection(conn: KeepAliveConnection) -> None:
    async with RawServer(lambda n: ok(b"{}", "Connection: close")) as server:
        for _ in range(3):
            assert await conn.post(server.url, HEADERS, b"", timeout=5) == (200, b"{}")
    assert server.connections == 3


async def test_http_10_is_not_kept(conn: KeepAliveConnection) -> None:
    async with RawServer(lambda n: [b"HTTP/1.0 200 OK\r\nContent-Length: 2\r\n\r\n{}"]) as server:
        for _ in range(2):
            assert await conn.post(server.url, HEADERS, b"", timeout=5) == (200, b"{}")
    assert server.connections == 2


async def test_body_until_close(conn: KeepAliveConnection) -> None:
    async with RawServer(
        lambda n: [b"HTTP/1.1 200 OK\r\n\r\n", b'{"a":', b"1}"], close_after_reply=True
    ) as server:
        assert await conn.post(server.url, HEADERS, b"", timeout=5) == (200, b'{"a":1}')
        assert await conn.post(server.url, HEADERS, b"", timeout=5) == (200, b'{"a":1}')
    assert server.connections == 2


async def test_interim_reply_is_skipped(conn: KeepAliveConnection) -> None:
    async with RawServer(lambda n: [b"HTTP/1.1 100 Continue\r\n\r\n", *ok(b"{}")]) as server:
        assert await conn.post(server.url, HEADERS, b"", timeout=5) == (200, b"{}")


async def test_non_2xx_status_and_body_come_back(conn: KeepAliveConnection) -> None:
    reply = [b"HTTP/1.1 502 Bad Gateway\r\nContent-Length: 5\r\n\r\noops!"]
    async with RawServer(lambda n: reply) as server:
        assert await conn.post(server.url, HEADERS, b"", timeout=5) == (502, b"oops!")


@pytest.mark.parametrize(
    "reply",
    [
        b"HTTP/1.1 200 OK\r\nContent-Length: 2000\r\n\r\n",
        b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n7d0\r\n" + b"x" * 2000,
    ],
    ids=["content-length", "chunked"],
)
async def test_reply_over_the_limit(conn: KeepAliveConnection, reply: bytes) -> None:
    async with RawServer(lambda n: [reply]) as server:
        with pytest.raises(ReplyTooLarge):
            await conn.post(server.url, HEADERS, b"", timeout=5)


@pytest.mark.parametrize(
    "reply",
    [
        b"SSH-2.0-OpenSSH\r\n\r\n",
        b"HTTP/1.1 200 OK\r\nContent-Length: x\r\n\r\n",
        b"HTTP/1.1 200 OK\r\nno colon here\r\n\r\n",
        b"HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip\r\n\r\n",
        b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n",
        b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nabXX",
    ],
)
async def test_malformed_replies_fail_cleanly(conn: KeepAliveConnection, reply: bytes) -> None:
    async with RawServer(lambda n: [reply] if n == 0 else ok(b"{}")) as server:
        with pytest.raises(ConnectionFailed):
            await conn.post(server.url, HEADERS, b"", timeout=5)
        assert await conn.post(server.url, HEADERS, b"", timeout=5) == (200, b"{}")
    assert server.connections == 2  # the broken connection was dropped


async def test_dropped_connection_fails_and_the_next_poll_reconnects(
    conn: KeepAliveConnection,
) -> None:
    async with RawServer(lambda n: [] if n == 1 else ok(b"{}")) as server:
        assert await conn.post(server.url, HEADERS, b"", timeout=5) == (200, b"{}")
        with pytest.raises(ConnectionFailed, match="closed"):
            await conn.post(server.url, HEADERS, b"", timeout=5)
        assert await conn.post(server.url, HEADERS, b"", timeout=5) == (200, b"{}")
    assert server.connections == 2


async def test_cut_mid_body_fails(conn: KeepAliveConnection) -> None:
    reply = [b"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\n{}"]
    async with RawServer(lambda n: reply, close_after_reply=True) as server:
        with pytest.raises(ConnectionFailed):
            await conn.post(server.url, HEADERS, b"", timeout=5)


async def test_timeout_drops_the_connection(conn: KeepAliveConnection) -> None:
    async with RawServer(lambda n: ok(b"{}")) as server:
        server.hold_s = 0.5
        with pytest.raises(TimeoutError):
            await conn.post(server.url, HEADERS, b"", timeout=0.1)
        server.hold_s = 0
        await asyncio.sleep(0.5)  # the held reply would have arrived by now on the old one
        assert await conn.post(server.url, HEADERS, b"", timeout=5) == (200, b"{}")
    assert server.connections == 2


async def test_deadlines_share_buckets_and_never_fire_early() -> None:
    """Requests on many connections with different deadlines, against a server that holds each
    0.5 s: each one shorter than the hold fails, never before its own deadline and at most one
    bucket late; the longer ones get their reply; no deadline is left behind."""
    timeouts = [0.12, 0.15, 0.15, 0.21, 0.3, 2.0, 2.0, 5.0]
    connections = [KeepAliveConnection(max_body=1024) for _ in timeouts]
    loop = asyncio.get_running_loop()

    async def timed(connection: KeepAliveConnection, timeout: float) -> tuple[str, float]:
        began = loop.time()
        try:
            await connection.post(server.url, HEADERS, b"", timeout=timeout)
        except TimeoutError:
            return "timeout", loop.time() - began
        return "reply", loop.time() - began

    try:
        async with RawServer(lambda n: ok(b"{}"), hold_s=0.5) as server:
            outcomes = await asyncio.gather(
                *(timed(c, t) for c, t in zip(connections, timeouts, strict=True))
            )
    finally:
        for connection in connections:
            await connection.close()
    for timeout, (outcome, took) in zip(timeouts, outcomes, strict=True):
        if timeout < 0.5:
            assert outcome == "timeout"
            assert timeout <= took < timeout + DEADLINE_RESOLUTION_S + 0.4  # + a busy machine
        else:
            assert outcome == "reply"
    deadlines = _deadlines_of(loop)
    assert not any(deadlines.buckets.values())  # finished ones were taken out at once
    await asyncio.sleep(DEADLINE_RESOLUTION_S * 2)
    assert not any(deadlines.buckets.values())


async def test_a_bucket_timer_that_fires_early_moves_its_deadline_on() -> None:
    """If a bucket's timer fires before a deadline in it has passed, that deadline goes to a
    later bucket (never back into the one that fired) and still times out there."""
    loop = asyncio.get_running_loop()
    deadlines = _Deadlines()
    reply = _Reply(1024, loop)
    deadlines.add(reply, loop.time() + 0.05)
    fired = reply.deadline_slot
    assert fired is not None
    deadlines._expire(fired)  # as if the loop ran the bucket's timer now, 50 ms early
    assert not reply.closed
    assert reply.deadline_slot is not None
    assert reply.deadline_slot > fired
    await asyncio.sleep(0.05 + 2 * DEADLINE_RESOLUTION_S)
    assert reply.closed  # timed out in its new bucket
    assert not any(deadlines.buckets.values())


async def test_timeout_on_a_kept_connection(conn: KeepAliveConnection) -> None:
    """The deadline of a request on a reused connection fails that request only, and a
    cancelled request leaves no deadline behind."""
    async with RawServer(lambda n: ok(b"{}")) as server:
        assert await conn.post(server.url, HEADERS, b"", timeout=5) == (200, b"{}")
        server.hold_s = 0.5
        with pytest.raises(TimeoutError):
            await conn.post(server.url, HEADERS, b"", timeout=0.1)
        server.hold_s = 0.2
        task = asyncio.create_task(conn.post(server.url, HEADERS, b"", timeout=0.3))
        await asyncio.sleep(0.05)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        server.hold_s = 0
        await asyncio.sleep(0.5)  # past both deadlines: nothing fires late
        assert await conn.post(server.url, HEADERS, b"", timeout=5) == (200, b"{}")
        assert await conn.post(server.url, HEADERS, b"", timeout=5) == (200, b"{}")
    assert server.connections == 3  # timed out, cancelled, then one kept for the last two


async def test_polls_at_once_get_a_connection_each(conn: KeepAliveConnection) -> None:
    async with RawServer(lambda n: ok(b"{}")) as server:
        server.hold_s = 0.1
        results = await asyncio.gather(
            *(conn.post(server.url, HEADERS, b"", timeout=5) for _ in range(3))
        )
        assert results == [(200, b"{}")] * 3
        assert server.connections == 3
        await conn.post(server.url, HEADERS, b"", timeout=5)
    assert server.connections == 3  # one of them was kept


async def test_connection_refused_and_bad_urls(conn: KeepAliveConnection) -> None:
    async with RawServer(lambda n: ok(b"{}")) as server:
        url = server.url
    with pytest.raises(ConnectionFailed, match="cannot connect"):
        await conn.post(url, HEADERS, b"", timeout=5)
    with pytest.raises(ConnectionFailed):
        await conn.post("ftp://127.0.0.1/x", HEADERS, b"", timeout=5)
    with pytest.raises(ConnectionFailed, match="line break"):
        await conn.post(url, {"X-Evil": "a\r\nInjected: 1"}, b"", timeout=5)
    for evil in ({"X-Evil": "a\nb"}, {"X-Evil\r": "a"}, {"A": "1", "X-Evil": "a\rb"}):
        with pytest.raises(ConnectionFailed, match="X-Evil"):
            await conn.post(url, evil, b"", timeout=5)


@settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    body=st.binary(min_size=0, max_size=300),
    chunk_sizes=st.lists(st.integers(min_value=1, max_value=64), min_size=1, max_size=10),
    splits=st.lists(st.integers(min_value=1, max_value=40), min_size=1, max_size=30),
)
async def test_any_framing_and_any_split_give_the_same_body(
    body: bytes, chunk_sizes: list[int], splits: list[int]
) -> None:
    """Chunked with extensions and trailers, cut into arbitrary TCP writes: same bytes out."""
    encoded = bytearray(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n")
    position, turn = 0, 0
    while position < len(body):
        size = chunk_sizes[turn % len(chunk_sizes)]
        piece = body[position : position + size]
        encoded += b"%x;ext=1\r\n" % len(piece) + piece + b"\r\n"
        position += size
        turn += 1
    encoded += b"0\r\nX-Trailer: yes\r\n\r\n"
    pieces, start, turn = [], 0, 0
    while start < len(encoded):
        step = splits[turn % len(splits)]
        pieces.append(bytes(encoded[start : start + step]))
        start += step
        turn += 1
    connection = KeepAliveConnection(max_body=1024)
    try:
        async with RawServer(lambda n: pieces) as server:
            for _ in range(2):  # and the connection is still good for the next reply
                assert await connection.post(server.url, HEADERS, b"", timeout=5) == (200, body)
        assert server.connections == 1
    finally:
        await connection.close()


# --- through ILinkApi, against the simulator -----------------------------------------------------


async def test_getupdates_runs_on_one_kept_connection(sim: Simulator) -> None:
    bot = sim.create_bot()
    async with ILinkApi(sim.base_url, bot.bot_token) as api:
        sim.inject_message(bot.bot_id, text="one")
        first = await api.getupdates("")
        assert [m.text for m in first.msgs] == ["one"]
        sim.inject_message(bot.bot_id, text="two")
        second = await api.getupdates(first.get_updates_buf)
        assert [m.text for m in second.msgs] == ["two"]
        assert api._long_poll is not None
        assert len(api._long_poll._idle) == 1
        assert api._poll_session is None  # no aiohttp pool was made for the polls


async def test_getupdates_failures_map_to_sdk_errors(sim: Simulator) -> None:
    bot = sim.create_bot()
    async with ILinkApi(sim.base_url, bot.bot_token) as api:
        sim.add_fault(FaultPlan(kind="status", route="getupdates", status=503, count=1))
        with pytest.raises(HttpStatusError) as raised:
            await api.getupdates("")
        assert raised.value.status == 503
        sim.add_fault(FaultPlan(kind="garbage", route="getupdates", count=1))
        with pytest.raises(DecodeError):
            await api.getupdates("")
        sim.add_fault(FaultPlan(kind="drop", route="getupdates", count=1))
        with pytest.raises(NetworkError):
            await api.getupdates("")
        sim.inject_message(bot.bot_id, text="fine again")
        assert [m.text for m in (await api.getupdates("")).msgs] == ["fine again"]


def test_works_on_uvloop() -> None:
    """The gateway runs on uvloop, whose transports are not asyncio.Transport subclasses."""
    uvloop = pytest.importorskip("uvloop")

    async def scenario() -> tuple[int, bytes]:
        connection = KeepAliveConnection(max_body=1024)
        try:
            async with RawServer(lambda n: ok(b"{}")) as server:
                await connection.post(server.url, HEADERS, b"", timeout=5)
                return await connection.post(server.url, HEADERS, b"", timeout=5)
        finally:
            await connection.close()

    assert uvloop.run(scenario()) == (200, b"{}")


async def test_a_pool_keeps_up_to_max_idle_connections() -> None:
    pool = KeepAliveConnection(max_body=1024, max_idle=2)
    try:
        async with RawServer(lambda n: ok(b"{}")) as server:
            server.hold_s = 0.1
            for _ in range(2):
                await asyncio.gather(
                    *(pool.post(server.url, HEADERS, b"", timeout=5) for _ in range(4))
                )
            # 4 at once twice: 4 opened first, 2 kept, so 2 more opened the second time
            assert server.connections == 6
    finally:
        await pool.close()
    with pytest.raises(ValueError, match="max_idle"):
        KeepAliveConnection(max_body=1, max_idle=0)


async def test_too_large_reply_still_tells_its_status(conn: KeepAliveConnection) -> None:
    reply = [b"HTTP/1.1 201 Created\r\nContent-Length: 5000\r\n\r\n"]
    async with RawServer(lambda n: reply) as server:
        with pytest.raises(ReplyTooLarge) as raised:
            await conn.post(server.url, HEADERS, b"", timeout=5)
    assert raised.value.status == 201
