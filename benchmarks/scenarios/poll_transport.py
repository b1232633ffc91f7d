"""poll-transport: the CPU one long-poll request costs the client, aiohttp against the kept-alive
connection that ``getupdates`` uses (``weixin_gateway.ilink.keepalive``).

Why it matters: every account re-sends its long poll after each reply, at least once per 35 s
hold, so 10,000 idle accounts make ~286 polls a second and a busy gateway one per message; the
client's cost per poll is most of an idle gateway's CPU. aiohttp is the project's HTTP client (a
decided choice); this scenario is the measurement behind taking this one request off it.

The server is the sink upstream (an aiohttp app in its own process) answering a small JSON
reply at once. The driver sends the same ``getupdates``-shaped POST (same headers and body
size) ``N`` times from 50 concurrent loops, once through an aiohttp session configured as the
gateway's (``open_session``) and once through one :class:`KeepAliveConnection` per loop, on
uvloop as ``serve`` runs, and reads its own process CPU time (user + system) around each run.

A third row parks 10,000 kept-alive long polls on a second sink that holds each for 35 s, as an
idle gateway's accounts are, and measures the CPU per re-arm: the transport's share of the
idle-scale figure, with no SDK and no gateway around it.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Awaitable, Callable

from benchmarks.procs import ProcGroup, wait_until_up
from benchmarks.results import ScenarioResult
from benchmarks.scenarios import RunContext
from benchmarks.stack import start_sink
from weixin_gateway.gateway.http import HttpClientConfig, open_session
from weixin_gateway.ilink.keepalive import KeepAliveConnection

__all__ = ["TITLE", "run"]

TITLE = "Long-poll transport: client CPU per getupdates request, aiohttp vs kept-alive connection"
LOOPS = 50
BODY = json.dumps({"get_updates_buf": "x" * 120, "base_info": {"channel_version": "2.4.9"}})
HEADERS = {
    "Content-Type": "application/json",
    "AuthorizationType": "ilink_bot_token",
    "X-WECHAT-UIN": "MTIzNDU2Nzg5",
    "iLink-App-Id": "bot",
    "iLink-App-ClientVersion": "132105",
    "Authorization": "Bearer 0123456789abcdef@im.bot:0123456789abcdef0123456789",
}

Send = Callable[[int], Awaitable[bytes]]


async def _measure(send: Send, total: int) -> tuple[float, float]:
    """(µs of this process's CPU per request, requests per second) for ``total`` requests."""
    per_loop = total // LOOPS

    async def loop_(index: int, count: int) -> None:
        for _ in range(count):
            await send(index)

    await asyncio.gather(*(loop_(i, 5) for i in range(LOOPS)))  # warm-up: connections
    cpu, wall = time.process_time(), time.perf_counter()
    await asyncio.gather(*(loop_(i, per_loop) for i in range(LOOPS)))
    cpu, wall = time.process_time() - cpu, time.perf_counter() - wall
    done = per_loop * LOOPS
    return cpu / done * 1e6, done / wall


def _check(status: int) -> None:
    if status != 200:
        raise RuntimeError(f"the sink answered HTTP {status}")


async def _aiohttp(url: str, total: int) -> tuple[float, float]:
    session = open_session(HttpClientConfig(limit=0))
    body = BODY.encode()

    async def send(_: int) -> bytes:
        async with session.post(url, data=body, headers=HEADERS, allow_redirects=False) as reply:
            reply.raise_for_status()
            return await reply.read()

    try:
        return await _measure(send, total)
    finally:
        await session.close()


async def _kept_alive(url: str, total: int) -> tuple[float, float]:
    connections = [KeepAliveConnection(max_body=1 << 20) for _ in range(LOOPS)]
    body = BODY.encode()

    async def send(index: int) -> bytes:
        status, reply = await connections[index].post(url, HEADERS, body, timeout=30)
        _check(status)
        return reply

    try:
        return await _measure(send, total)
    finally:
        for connection in connections:
            await connection.close()


async def _parked(url: str, count: int, hold_s: float) -> tuple[float, float, float]:
    """``count`` kept-alive long polls against a server holding each ``hold_s``, as an idle
    gateway's accounts are: (µs CPU per re-arm, re-arms per second, CPU % of one core) over one
    hold, after every poll has been re-armed at least once. The polls start spread over a
    hold, as accounts registered one after another are."""
    body = BODY.encode()
    done = 0

    async def poll(index: int) -> None:
        nonlocal done
        await asyncio.sleep(index * hold_s / count)
        connection = KeepAliveConnection(max_body=1 << 20)
        try:
            while True:
                status, _ = await connection.post(url, HEADERS, body, timeout=hold_s + 30)
                _check(status)
                done += 1
        finally:
            await connection.close()

    tasks = [asyncio.create_task(poll(i)) for i in range(count)]
    try:
        await asyncio.sleep(hold_s * 2.2)
        cpu, wall, before = time.process_time(), time.perf_counter(), done
        await asyncio.sleep(hold_s)
        cpu, wall = time.process_time() - cpu, time.perf_counter() - wall
        rearms = done - before
    finally:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
    return cpu / max(rearms, 1) * 1e6, rearms / wall, 100 * cpu / wall


async def run(ctx: RunContext) -> ScenarioResult:
    import uvloop

    total = 500 if ctx.tiny else 20_000
    result = ScenarioResult(
        scenario="poll-transport",
        title=TITLE,
        size=ctx.size,
        columns=["transport", "requests", "µs CPU/request", "requests/s", "CPU vs aiohttp"],
    )
    with ProcGroup(ctx.work_dir) as group:
        sink, base = start_sink(group)
        await wait_until_up(sink, base + "/stats")
        url = base + "/msg/text"  # answers {"type": "text", ...} at once
        figures: dict[str, tuple[float, float]] = {}
        for name, measure in (("aiohttp", _aiohttp), ("kept-alive", _kept_alive)):
            # on uvloop, as `weixin-gateway serve` runs; in a thread so this loop stays free
            figures[name] = await asyncio.to_thread(uvloop.run, measure(url, total))
        parked_count, hold_s = (20, 1.0) if ctx.tiny else (10_000, 35.0)
        holder, holder_base = start_sink(group, delay_ms=hold_s * 1000, name="sink-hold")
        await wait_until_up(holder, holder_base + "/stats")
        parked = await asyncio.to_thread(
            uvloop.run, _parked(holder_base + "/msg/text", parked_count, hold_s)
        )
    base_cpu = figures["aiohttp"][0]
    for name, (cpu_us, rate) in figures.items():
        result.rows.append(
            {
                "transport": name,
                "requests": total // LOOPS * LOOPS,
                "µs CPU/request": round(cpu_us, 1),
                "requests/s": round(rate),
                "CPU vs aiohttp": f"{cpu_us / base_cpu:.2f}×",
            }
        )
    parked_us, parked_rate, parked_percent = parked
    result.rows.append(
        {
            "transport": f"kept-alive, {parked_count:,} parked polls",
            "requests": round(parked_rate * hold_s),
            "µs CPU/request": round(parked_us, 1),
            "requests/s": round(parked_rate, 1),
            "CPU vs aiohttp": f"{parked_us / base_cpu:.2f}×",
        }
    )
    result.data = {name: {"cpu_us": c, "rate": r} for name, (c, r) in figures.items()}
    result.data["parked"] = {
        "polls": parked_count,
        "hold_s": hold_s,
        "cpu_us_per_rearm": round(parked_us, 1),
        "rearms_per_s": round(parked_rate, 1),
        "cpu_percent": round(parked_percent, 2),
    }
    result.notes += [
        f"{LOOPS} concurrent loops; the driver's own process CPU (user + system) per request, "
        "against the sink answering a small JSON reply at once (its CPU is not counted).",
        f"Parked: {parked_count:,} kept-alive loops, started spread over one hold, against a "
        f"second sink that answers each request after {hold_s:g} s, as the simulator holds an "
        "idle getupdates; CPU per re-arm over one hold. This is the transport alone, no SDK and "
        f"no gateway: {parked_percent:.1f} % of one core, the floor under idle-scale's "
        "gateway figure (each re-arm is its own wake-up of the event loop and its own "
        "system calls, where the back-to-back rows above share them).",
    ]
    return result
