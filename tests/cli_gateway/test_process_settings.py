"""Process-wide settings of ``serve`` and ``simulator`` (``cli/_process.py``).

They raise their soft open-file limit to the hard limit at start-up: each parked long poll is a
socket on both sides, and many systems start with a soft limit of 1,024 (so ~1,000 accounts)
while allowing far more. And they tune the garbage collector for thousands of parked polls."""

from __future__ import annotations

import asyncio
import os
import resource
import socket
import subprocess
import sys
from pathlib import Path

import aiohttp
import pytest

from tests.service.harness import eventually
from weixin_gateway.cli._process import YOUNG_GC_THRESHOLD

linux_only = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc")

LOW = 256


def _hard_limit() -> int:
    return resource.getrlimit(resource.RLIMIT_NOFILE)[1]


def _low_soft_limit() -> None:  # runs in the child before exec
    resource.setrlimit(resource.RLIMIT_NOFILE, (LOW, _hard_limit()))


def _soft_limit_of(pid: int) -> int:
    for line in Path(f"/proc/{pid}/limits").read_text().splitlines():
        if line.startswith("Max open files"):
            return int(line.split()[3])
    raise AssertionError("no open-files line")


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


async def _answers(url: str) -> bool:
    try:
        async with aiohttp.ClientSession() as http, http.get(url) as response:
            return response.status < 500
    except aiohttp.ClientError:
        return False


async def _run_until_up(argv: list[str], url: str, env: dict[str, str]) -> int:
    """Start the command with a soft limit of 256; its soft limit once it answers ``url``."""
    process = await asyncio.create_subprocess_exec(
        *argv,
        env={**os.environ, **env},
        stdout=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.DEVNULL,
        preexec_fn=_low_soft_limit,
    )
    try:
        await eventually(lambda: _answers(url), timeout=30, interval=0.1)
        return _soft_limit_of(process.pid)
    finally:
        process.terminate()
        await process.wait()


@linux_only
@pytest.mark.skipif(_hard_limit() <= LOW, reason="the hard limit leaves nothing to raise")
async def test_simulator_raises_its_soft_limit() -> None:
    port = _free_port()
    soft = await _run_until_up(
        [sys.executable, "-m", "weixin_gateway", "simulator", "--port", str(port), "--no-bot"],
        f"http://127.0.0.1:{port}/_sim/config",
        {},
    )
    assert soft == _hard_limit()


@linux_only
@pytest.mark.skipif(_hard_limit() <= LOW, reason="the hard limit leaves nothing to raise")
async def test_gateway_raises_its_soft_limit(tmp_path: Path) -> None:
    port = _free_port()
    env = {
        "PORT": str(port),
        "WEIXIN_GATEWAY_DATA_DIR": str(tmp_path / "data"),
        "WEIXIN_GATEWAY_ILINK_BASE_URL": "http://127.0.0.1:9",
        "UPSTREAM_BASE_URL": "http://127.0.0.1:9",
    }
    soft = await _run_until_up(
        [sys.executable, "-m", "weixin_gateway", "serve"], f"http://127.0.0.1:{port}/health", env
    )
    assert soft == _hard_limit()


def test_garbage_collector_tuning() -> None:
    # in a child: freezing and re-tuning the collector of the test process would leak into
    # every later test
    code = (
        "import gc; from weixin_gateway.cli._process import tune_garbage_collector as tune; "
        "before = gc.get_threshold(); tune(); "
        "print(before[1:] == gc.get_threshold()[1:], gc.get_threshold()[0], gc.get_freeze_count())"
    )
    out = subprocess.run(  # noqa: S603 - our own interpreter
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=60
    ).stdout.split()
    assert out[:2] == ["True", str(YOUNG_GC_THRESHOLD)]
    assert int(out[2]) > 10_000  # what start-up built (here: the imports) is frozen
