"""The README's echo bot, run exactly as documented: simulator and bot as separate processes."""

from __future__ import annotations

import asyncio
import os
import re
import socket
import sys
from collections.abc import AsyncIterator
from pathlib import Path

import aiohttp
import pytest

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE = ROOT / "examples" / "echo_bot.py"


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


async def _stop(proc: asyncio.subprocess.Process) -> None:
    if proc.returncode is None:
        proc.terminate()
        try:
            await asyncio.wait_for(proc.wait(), 10)
        except TimeoutError:
            proc.kill()
            await proc.wait()


@pytest.fixture
async def simulator() -> AsyncIterator[tuple[str, dict[str, str]]]:
    port = _free_port()
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-c", "from weixin_gateway.cli import main; main()",
        "simulator", "--port", str(port), "--bot-token", "demo-bot-token",
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
    )  # fmt: skip
    assert proc.stdout is not None
    printed: dict[str, str] = {}
    try:
        async with asyncio.timeout(20):
            while "bot_token" not in printed:
                line = (await proc.stdout.readline()).decode()
                assert line, "simulator exited before printing its bot"
                if m := re.match(r"(\w[\w ]*?):\s+(\S+)$", line.strip()):
                    printed[m.group(1)] = m.group(2)
        yield f"http://127.0.0.1:{port}", printed
    finally:
        await _stop(proc)


async def test_echo_bot_from_the_readme(simulator: tuple[str, dict[str, str]]) -> None:
    base_url, printed = simulator
    assert printed["bot_token"] == "demo-bot-token"
    assert printed["API base URL"] == base_url
    env = {
        **os.environ,
        "WEIXIN_BOT_TOKEN": "demo-bot-token",
        "WEIXIN_BASE_URL": base_url,
        "WEIXIN_CDN_BASE_URL": base_url + "/c2c",
    }
    bot = await asyncio.create_subprocess_exec(
        sys.executable, str(EXAMPLE), env=env, stderr=asyncio.subprocess.PIPE
    )
    try:
        async with aiohttp.ClientSession() as http:
            say = {"bot_id": printed["bot_id"], "from_user_id": printed["user_id"], "text": "hello"}
            async with http.post(base_url + "/_sim/messages", json=say) as resp:
                assert resp.status == 200, await resp.text()
            sent: list[dict[str, object]] = []
            async with asyncio.timeout(20):
                while not sent:
                    await asyncio.sleep(0.1)
                    async with http.get(f"{base_url}/_sim/bots/{printed['bot_id']}/sent") as resp:
                        sent = (await resp.json())["messages"]
        [reply] = sent
        assert reply["to_user_id"] == printed["user_id"]
        assert reply["items"] == [{"type": "text", "text": "Echo: hello"}]
        assert bot.returncode is None, "the bot exited early"
    finally:
        await _stop(bot)
