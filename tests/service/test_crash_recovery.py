"""A gateway killed with SIGKILL mid-stream and restarted: nothing lost, nothing delivered under
two event ids. The gateway runs as a real ``weixin-gateway serve`` process; the simulator and the
upstream run in the test."""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import sys
from collections import defaultdict
from pathlib import Path

import aiohttp
import pytest

from tests.service.harness import RecordingUpstream, eventually
from weixin_gateway.simulator import Simulator, SimulatorConfig

pytestmark = pytest.mark.slow

MESSAGES = 60


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


async def _start_gateway(env: dict[str, str]) -> asyncio.subprocess.Process:
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "weixin_gateway",
        "serve",
        env={**os.environ, **env},
        stdout=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.PIPE,
    )
    url = f"http://127.0.0.1:{env['PORT']}/health"

    async def healthy() -> bool:
        try:
            async with aiohttp.ClientSession() as http, http.get(url) as response:
                return response.status == 200
        except aiohttp.ClientError:
            return False

    await eventually(healthy, timeout=20, interval=0.1)
    return process


async def test_killed_gateway_loses_nothing(tmp_path: Path, database_url: str) -> None:
    upstream = RecordingUpstream()
    await upstream.start()
    async with Simulator(config=SimulatorConfig(hold_seconds=1)) as sim:
        bot = sim.create_bot()
        env = {
            "PORT": str(_free_port()),
            "WEIXIN_GATEWAY_DATA_DIR": str(tmp_path / "data"),
            "WEIXIN_GATEWAY_DATABASE_URL": database_url,
            "UPSTREAM_BASE_URL": upstream.base_url,
            "WEIXIN_GATEWAY_ILINK_BASE_URL": sim.base_url,
            "WEIXIN_GATEWAY_CDN_BASE_URL": sim.cdn_base_url,
            "WEIXIN_GATEWAY_RETRY_BASE_MS": "50",
            "WEIXIN_GATEWAY_RETRY_MAX_MS": "200",
            "WEIXIN_GATEWAY_LOG_LEVEL": "warning",
            "WEIXIN_GATEWAY_LEADER_LEASE_MS": "2000",
        }
        gateway = await _start_gateway(env)
        try:
            async with aiohttp.ClientSession() as http:
                register = {
                    "account_id": "crash",
                    "api_base_url": sim.base_url,
                    "bot_token": bot.bot_token,
                }
                base = f"http://127.0.0.1:{env['PORT']}"
                async with http.post(f"{base}/accounts/register", json=register) as response:
                    assert response.status == 200
            users = [sim.create_user().user_id for _ in range(3)]
            sent: list[str] = []
            for i in range(MESSAGES):
                text = f"m{i:03d}"
                sim.inject_message(bot.bot_id, from_user_id=users[i % 3], text=text)
                sent.append(text)
                if i == MESSAGES // 2:
                    await eventually(lambda: len(upstream.events) >= 5, timeout=20)
                    gateway.send_signal(signal.SIGKILL)
                    await gateway.wait()
                    gateway = await _start_gateway(env)
                await asyncio.sleep(0.005)
            await eventually(lambda: {e["text"] for e in upstream.events} >= set(sent), timeout=30)
        finally:
            if gateway.returncode is None:
                gateway.send_signal(signal.SIGTERM)
                try:
                    async with asyncio.timeout(15):
                        await gateway.wait()
                except TimeoutError:
                    gateway.kill()
                    await gateway.wait()
            await upstream.close()
    ids_of: dict[object, set[object]] = defaultdict(set)
    for event in upstream.events:
        ids_of[event["raw"]["message_id"]].add(event["event_id"])
    assert len(ids_of) == MESSAGES
    assert all(len(ids) == 1 for ids in ids_of.values()), "a message got two event ids"
    for user in users:
        texts = [e["text"] for e in upstream.events if e["user_id"] == user]
        first_seen = list(dict.fromkeys(texts))
        assert first_seen == sorted(first_seen), "a conversation's order was broken"
