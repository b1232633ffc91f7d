"""Two OS processes sharing one database: both migrate it at once, and refresh a token only once."""

from __future__ import annotations

from pathlib import Path

from tests._children import run_together
from weixin_gateway.mp.tokens import ACCESS_TOKEN
from weixin_gateway.store import SqlTokenStore, create_engine

# Run in a child process: wait for the start signal, migrate, then need the access_token.
CHILD = """
import asyncio, os
from weixin_gateway.mp.tokens import ACCESS_TOKEN, TokenManager
from weixin_gateway.store import SqlTokenStore, create_engine, upgrade

async def fetch(*, force: bool) -> tuple[str, float]:
    with open(os.environ["COUNT_FILE"], "a") as f:  # one line per call to "WeChat"
        f.write(f"{os.getpid()}\\n")
    await asyncio.sleep(0.3)  # a slow token endpoint: the two refreshes would overlap
    return f"token-of-{os.getpid()}", 7200.0

async def main() -> None:
    await wait_for_start()
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
    count_file = tmp_path / "calls"
    env = {"COUNT_FILE": str(count_file), "DATABASE_URL": database_url}
    tokens = await run_together(CHILD, env, tmp_path, timeout=30)
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
