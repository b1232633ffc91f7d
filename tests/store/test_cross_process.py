"""Two OS processes sharing one database: both migrate it at once, and refresh a token only once."""

from __future__ import annotations

import asyncio
import os
import sys
from pathlib import Path

from weixin_gateway.mp.tokens import ACCESS_TOKEN
from weixin_gateway.store import SqlTokenStore, create_engine

# Run in a child process: wait for the start signal, migrate, then need the access_token.
CHILD = """
import asyncio, os, sys, time
from pathlib import Path
from weixin_gateway.mp.tokens import ACCESS_TOKEN, TokenManager
from weixin_gateway.store import SqlTokenStore, create_engine, upgrade

async def fetch(*, force: bool) -> tuple[str, float]:
    with open(os.environ["COUNT_FILE"], "a") as f:  # one line per call to "WeChat"
        f.write(f"{os.getpid()}\\n")
    await asyncio.sleep(0.3)  # a slow token endpoint: the two refreshes would overlap
    return f"token-of-{os.getpid()}", 7200.0

async def main() -> None:
    go = Path(os.environ["GO_FILE"])
    deadline = time.monotonic() + 20
    while not go.exists():
        if time.monotonic() > deadline:
            sys.exit("no start signal")
        await asyncio.sleep(0.005)
    engine = create_engine(os.environ["DATABASE_URL"])
    try:
        await upgrade(engine)
        store = SqlTokenStore(engine, lock_poll_s=0.01)
        manager = TokenManager("wx-shared", ACCESS_TOKEN, fetch, store=store)
        print(await manager.get(), flush=True)
    finally:
        await engine.dispose()

asyncio.run(main())
"""


async def test_two_processes_share_one_refresh(database_url: str, tmp_path: Path) -> None:
    go, count_file = tmp_path / "go", tmp_path / "calls"
    env = {
        **os.environ,
        "GO_FILE": str(go),
        "COUNT_FILE": str(count_file),
        "DATABASE_URL": database_url,
    }
    procs = [
        await asyncio.create_subprocess_exec(
            sys.executable,
            "-c",
            CHILD,
            env=env,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
        )
        for _ in range(2)
    ]
    try:
        await asyncio.sleep(0.8)  # let both interpreters import and start polling
        go.touch()
        async with asyncio.timeout(30):
            outputs = await asyncio.gather(*(p.communicate() for p in procs))
    finally:
        for p in procs:
            if p.returncode is None:
                p.kill()
                await p.wait()
    for p, (_, err) in zip(procs, outputs, strict=True):
        assert p.returncode == 0, err.decode()
    tokens = [out.decode().strip() for out, _ in outputs]
    calls = count_file.read_text().split()
    assert len(calls) == 1  # one refresh between the two processes
    assert tokens == [f"token-of-{calls[0]}"] * 2
    engine = create_engine(database_url)
    try:
        stored = await SqlTokenStore(engine).get("wx-shared", ACCESS_TOKEN)
    finally:
        await engine.dispose()
    assert stored is not None
    assert stored.value == tokens[0]
