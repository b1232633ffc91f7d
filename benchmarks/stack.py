"""The processes of the iLink scenarios: simulator, gateway (``weixin-gateway serve``) and sink.

:func:`ilink_stack` starts all three on free ports of 127.0.0.1, creates the simulated bots and
users through the simulator's control API, registers each bot with the gateway as an account, and
waits until every account's poller is running. The database is SQLite in the run's directory, or
a fresh PostgreSQL database (dropped afterwards) when ``postgres=True``.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import Any

import aiohttp

from benchmarks.procs import (
    HOST,
    Proc,
    ProcGroup,
    free_port,
    gateway_command,
    python_module,
    wait_until_up,
)

__all__ = [
    "DRIVER_KEEPALIVE_S",
    "IlinkStack",
    "StackOptions",
    "bounded_gather",
    "fresh_postgres_database",
    "ilink_stack",
    "start_sink",
]

#: The driver closes its idle connections after this long (uvicorn closes them after 5 s).
DRIVER_KEEPALIVE_S = 2.0

PG_ADMIN_DSN = os.environ.get("BENCH_PG_DSN", "postgresql://postgres@127.0.0.1:5432/postgres")
CALLBACK_PATH = "/callback/weixin-gateway"


@dataclass
class StackOptions:
    accounts: int = 1
    users: int = 1
    mode: str = "callback"
    postgres: bool = False
    sink_delay_ms: float = 0.0
    hold_seconds: float = 30.0
    gateway_env: dict[str, str] = field(default_factory=dict)
    start_polling: bool = True


@dataclass
class IlinkStack:
    group: ProcGroup
    sim: Proc
    gateway: Proc
    sink: Proc
    sim_url: str
    gateway_url: str
    sink_url: str
    #: (account_id, bot_id) per registered account
    accounts: list[tuple[str, str]]
    users: list[str]
    database: str
    http: aiohttp.ClientSession

    async def sim_call(self, method: str, path: str, body: object = None) -> Any:
        return await _call(self.http, method, self.sim_url + path, body)

    async def gateway_call(self, method: str, path: str, body: object = None) -> Any:
        return await _call(self.http, method, self.gateway_url + path, body)

    async def sink_stats(self) -> dict[str, Any]:
        result: dict[str, Any] = await _call(self.http, "GET", self.sink_url + "/stats")
        return result

    async def reset_sink(self) -> None:
        await _call(self.http, "POST", self.sink_url + "/reset")

    async def held_polls(self) -> int:
        """The getupdates long-polls the simulator is holding right now."""
        stats = await self.sim_call("GET", "/_sim/stats")
        return int(stats["held_polls"])

    async def wait_parked(self, expected: int, timeout: float = 60.0, slack: int = 0) -> int:
        """Wait until at least ``expected - slack`` pollers are parked in a long-poll (with
        thousands, a few are always between two polls); how many are."""
        deadline = time.monotonic() + timeout
        while True:
            held = await self.held_polls()
            if held >= expected - slack:
                return held
            if not self.gateway.alive():
                raise RuntimeError(f"gateway died:\n{self.gateway.log_tail()}")
            if time.monotonic() > deadline:
                raise RuntimeError(f"only {held} of {expected} long-polls held")
            await asyncio.sleep(0.05)

    async def inject(self, bot_id: str, user_id: str, text: str) -> None:
        await self.sim_call(
            "POST", "/_sim/messages", {"bot_id": bot_id, "from_user_id": user_id, "text": text}
        )


async def _call(http: aiohttp.ClientSession, method: str, url: str, body: object = None) -> Any:
    async with http.request(method, url, json=body) as response:
        data = await response.json(content_type=None)
        if response.status >= 400:
            raise RuntimeError(f"{method} {url} -> {response.status}: {data}")
        return data


async def bounded_gather(
    jobs: list[Callable[[], Awaitable[Any]]], concurrency: int = 32
) -> list[Any]:
    """Run the jobs with at most ``concurrency`` at once; results in order."""
    gate = asyncio.Semaphore(concurrency)

    async def one(job: Callable[[], Awaitable[Any]]) -> Any:
        async with gate:
            return await job()

    return list(await asyncio.gather(*(one(job) for job in jobs)))


@contextlib.asynccontextmanager
async def fresh_postgres_database() -> AsyncIterator[str]:
    """A new empty PostgreSQL database for one run; its SQLAlchemy URL. Dropped afterwards."""
    import asyncpg  # type: ignore[import-untyped]

    name = f"wxbench_{uuid.uuid4().hex[:12]}"
    admin = await asyncpg.connect(PG_ADMIN_DSN)
    try:
        await admin.execute(f'CREATE DATABASE "{name}"')
    finally:
        await admin.close()
    host_part = PG_ADMIN_DSN.split("://", 1)[1].rsplit("/", 1)[0]
    try:
        yield f"postgresql+asyncpg://{host_part}/{name}"
    finally:
        admin = await asyncpg.connect(PG_ADMIN_DSN)
        try:
            await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        finally:
            await admin.close()


def start_sink(group: ProcGroup, delay_ms: float = 0.0, name: str = "sink") -> tuple[Proc, str]:
    port = free_port()
    proc = group.start(
        name, python_module("benchmarks.sink", "--port", str(port), "--delay-ms", str(delay_ms))
    )
    return proc, f"http://{HOST}:{port}"


def gateway_env(
    work_dir: Path,
    *,
    port: int,
    sim_url: str,
    sink_url: str,
    mode: str,
    database_url: str,
    extra: dict[str, str],
) -> dict[str, str]:
    env = {
        "PORT": str(port),
        "HOST": HOST,
        "WEIXIN_GATEWAY_DATA_DIR": str(work_dir / "gateway-data"),
        "WEIXIN_GATEWAY_ILINK_BASE_URL": sim_url,
        "WEIXIN_GATEWAY_CDN_BASE_URL": sim_url + "/c2c",
        "UPSTREAM_BASE_URL": sink_url,
        "UPSTREAM_EVENTS_PATH": CALLBACK_PATH,
        "WEIXIN_GATEWAY_DELIVERY_MODE": mode,
        "WEIXIN_GATEWAY_LOG_LEVEL": "warning",
        "WEIXIN_GATEWAY_MEDIA_DIRS": str(work_dir),
    }
    if database_url:
        env["WEIXIN_GATEWAY_DATABASE_URL"] = database_url
    env.update(extra)
    return env


@contextlib.asynccontextmanager
async def ilink_stack(work_dir: Path, opts: StackOptions) -> AsyncIterator[IlinkStack]:
    async with contextlib.AsyncExitStack() as stack:
        database_url = ""
        if opts.postgres:
            database_url = await stack.enter_async_context(fresh_postgres_database())
        group = stack.enter_context(ProcGroup(work_dir))
        http = await stack.enter_async_context(
            # idle connections are dropped before uvicorn closes them (5 s): reusing
            # one the server is closing at that moment fails with "Server disconnected"
            aiohttp.ClientSession(
                connector=aiohttp.TCPConnector(limit=256, keepalive_timeout=DRIVER_KEEPALIVE_S)
            )
        )
        sim_port, gw_port = free_port(), free_port()
        sim = group.start(
            "simulator",
            gateway_command(
                "simulator", "--port", str(sim_port), "--hold-seconds", str(opts.hold_seconds)
            ),
        )
        sink, sink_url = start_sink(group, opts.sink_delay_ms)
        sim_url = f"http://{HOST}:{sim_port}"
        await wait_until_up(sim, sim_url + "/_sim/config")
        await wait_until_up(sink, sink_url + "/stats")
        await _call(
            http,
            "POST",
            sim_url + "/_sim/config",
            {"max_replies_per_inbound": None, "retention": 1_000_000},
        )
        users = await bounded_gather(
            [
                partial(_call, http, "POST", sim_url + "/_sim/users", {"name": f"user {i}"})
                for i in range(opts.users)
            ]
        )
        bots = await bounded_gather(
            [
                partial(
                    _call,
                    http,
                    "POST",
                    sim_url + "/_sim/bots",
                    {"owner_user_id": users[i % len(users)]["user_id"]},
                )
                for i in range(opts.accounts)
            ]
        )
        gateway = group.start(
            "gateway",
            gateway_command("serve"),
            env=gateway_env(
                work_dir,
                port=gw_port,
                sim_url=sim_url,
                sink_url=sink_url,
                mode=opts.mode,
                database_url=database_url,
                extra={
                    "WEIXIN_GATEWAY_AUTO_START": "true" if opts.start_polling else "false",
                    **opts.gateway_env,
                },
            ),
        )
        gateway_url = f"http://{HOST}:{gw_port}"
        await wait_until_up(gateway, gateway_url + "/health", timeout=60)
        accounts = [(f"acct{i:05d}", bot["bot_id"]) for i, bot in enumerate(bots)]
        await bounded_gather(
            [
                partial(
                    _call,
                    http,
                    "POST",
                    gateway_url + "/accounts/register",
                    {"account_id": account_id, "bot_token": bot["bot_token"]},
                )
                for (account_id, _), bot in zip(accounts, bots, strict=True)
            ],
            concurrency=16,
        )
        yield IlinkStack(
            group=group,
            sim=sim,
            gateway=gateway,
            sink=sink,
            sim_url=sim_url,
            gateway_url=gateway_url,
            sink_url=sink_url,
            accounts=accounts,
            users=[u["user_id"] for u in users],
            database="postgresql" if opts.postgres else "sqlite",
            http=http,
        )
