"""``weixin-gateway demo``: simulator, gateway and echo agent in one process, run as a user would.

Every test runs the command as a subprocess (``python -m weixin_gateway demo``) on free ports,
with ``TMPDIR`` pointed at a directory of the test's own so that what the demo leaves behind in
the temporary directory can be checked.
"""

from __future__ import annotations

import asyncio
import json
import os
import re
import shlex
import signal
import socket
import sys
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import aiohttp
import pytest

from weixin_gateway.cli.demo import echo_text
from weixin_gateway.delivery.events import ATTACHMENTS_LABEL

FREE_PORTS = ("--port", "0", "--sim-port", "0", "--agent-port", "0")
ONCE_TIMEOUT_S = 60
STOP_TIMEOUT_S = 15


def _env(tmpdir: Path) -> dict[str, str]:
    tmpdir.mkdir(exist_ok=True)
    return {**os.environ, "TMPDIR": str(tmpdir), "PYTHONUNBUFFERED": "1"}


async def _run(
    *args: str, env: dict[str, str], timeout: float = ONCE_TIMEOUT_S
) -> tuple[int, str, str]:
    """Run ``weixin-gateway demo ARGS`` to the end: (exit code, stdout, stderr)."""
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "weixin_gateway", "demo", *args,
        env=env, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    try:
        async with asyncio.timeout(timeout):
            out, err = await proc.communicate()
    finally:
        if proc.returncode is None:
            proc.kill()
            await proc.wait()
    assert proc.returncode is not None
    return proc.returncode, out.decode(), err.decode()


class Demo:
    """A long-running demo process whose stdout is read line by line."""

    def __init__(self, proc: asyncio.subprocess.Process) -> None:
        self.proc = proc
        self.lines: list[str] = []

    async def read_until(self, pattern: str, *, timeout: float = 20) -> re.Match[str]:
        """Read stdout until a line matches ``pattern``; the match."""
        assert self.proc.stdout is not None
        async with asyncio.timeout(timeout):
            while True:
                for line in self.lines:
                    if match := re.search(pattern, line):
                        return match
                raw = await self.proc.stdout.readline()
                if not raw:
                    stderr = await self._stderr()
                    raise AssertionError(f"the demo exited: {self.lines}\n{stderr}")
                self.lines.append(raw.decode().rstrip("\n"))

    def find(self, pattern: str) -> re.Match[str]:
        for line in self.lines:
            if match := re.search(pattern, line):
                return match
        raise AssertionError(f"no line matches {pattern!r}: {self.lines}")

    async def _stderr(self) -> str:
        assert self.proc.stderr is not None
        return (await self.proc.stderr.read()).decode()

    async def stop(self, sig: int = signal.SIGINT) -> tuple[int, str, str]:
        """Send ``sig``; (exit code, the rest of stdout, stderr) once it exits."""
        self.proc.send_signal(sig)
        async with asyncio.timeout(STOP_TIMEOUT_S):
            out, err = await self.proc.communicate()
        assert self.proc.returncode is not None
        return self.proc.returncode, out.decode(), err.decode()


@pytest.fixture
async def demo(tmp_path: Path) -> AsyncIterator[Demo]:
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "weixin_gateway", "demo", *FREE_PORTS,
        env=_env(tmp_path / "tmp"), stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    try:
        yield Demo(proc)
    finally:
        if proc.returncode is None:
            proc.kill()
            await proc.wait()


@pytest.fixture
def busy_port() -> Iterator[int]:
    """A port on 127.0.0.1 that something is listening on."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen()
        port: int = sock.getsockname()[1]
        yield port


async def test_once_prints_the_echo_and_exits_0(tmp_path: Path) -> None:
    code, out, err = await _run("--once", "hi there", *FREE_PORTS, env=_env(tmp_path / "tmp"))
    assert code == 0, out + err
    assert "echo: hi there" in out
    assert re.search(r"user → agent: hi there$", out, re.MULTILINE), out
    assert re.search(r"agent → user: echo: hi there  \(.* ms at the agent", out), out
    assert "the user received: echo: hi there" in out
    assert "Traceback" not in err
    assert list((tmp_path / "tmp").iterdir()) == []  # the temporary data dir is gone


async def test_runs_until_sigint_and_echoes_what_the_user_sends(demo: Demo) -> None:
    await demo.read_until(r"Waiting for messages")
    sim = demo.find(r"^simulator\s+(http://127\.0\.0\.1:\d+)").group(1)
    bot_id = demo.find(r"^\s+bot_id\s+(\S+@im\.bot)").group(1)
    user_id = demo.find(r"^\s+user_id\s+(\S+@im\.wechat)").group(1)
    gateway = demo.find(r"^gateway\s+(http://127\.0\.0\.1:\d+)").group(1)
    assert f"{gateway}/docs" in demo.find(r"^gateway").string
    curls = [line.strip() for line in demo.lines if line.strip().startswith("curl ")]
    send = shlex.split(curls[0])  # the printed command, as a shell would split it
    assert send[:5] == ["curl", "-s", "-X", "POST", f"{sim}/_sim/messages"]
    say = json.loads(send[send.index("-d") + 1])
    assert say == {"bot_id": bot_id, "from_user_id": user_id, "text": "hello agent"}
    assert curls[1] == f"curl -s {sim}/_sim/bots/{bot_id}/sent"

    async with aiohttp.ClientSession() as http:
        async with http.get(f"{gateway}/accounts/demo") as response:
            assert response.status == 200, await response.text()
        say["text"] = "hello over http"
        async with http.post(f"{sim}/_sim/messages", json=say) as response:
            assert response.status == 200, await response.text()
        texts: list[str] = []
        async with asyncio.timeout(15):
            while "echo: hello over http" not in texts:
                await asyncio.sleep(0.05)
                async with http.get(f"{sim}/_sim/bots/{bot_id}/sent") as response:
                    sent = await response.json()
                texts = [
                    item["text"]
                    for message in sent["messages"]
                    if message["to_user_id"] == user_id
                    for item in message["items"]
                    if item["type"] == "text"
                ]

    await demo.read_until(r"^user → agent: hello over http$")
    line = await demo.read_until(r"^agent → user: echo: hello over http  \((.*)\)$")
    assert re.fullmatch(r"[\d.]+ ms at the agent, [\d.]+ ms since the user sent it", line.group(1))

    code, out, err = await demo.stop(signal.SIGINT)
    assert code == 0, err
    assert "Traceback" not in err, err
    assert "demo stopped" in out


async def test_sigterm_stops_cleanly_too(demo: Demo, tmp_path: Path) -> None:
    await demo.read_until(r"Waiting for messages")
    code, _, err = await demo.stop(signal.SIGTERM)
    assert code == 0, err
    assert "Traceback" not in err, err
    assert list((tmp_path / "tmp").iterdir()) == []


async def test_data_dir_keeps_the_store_across_runs(tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    env = _env(tmp_path / "tmp")
    for text in ("first run", "second run"):  # a new simulator reuses its message IDs
        code, out, err = await _run(
            "--once", text, "--data-dir", str(data_dir), *FREE_PORTS, env=env
        )
        assert code == 0, out + err
        assert f"the user received: echo: {text}" in out
        assert str(data_dir) in out
    assert (data_dir / "weixin-gateway.db").is_file()
    assert list((tmp_path / "tmp").iterdir()) == []  # no temporary data dir, nothing else


@pytest.mark.parametrize("option", ["--port", "--sim-port", "--agent-port"])
async def test_a_busy_port_is_a_clear_error(option: str, busy_port: int, tmp_path: Path) -> None:
    ports = dict(zip(FREE_PORTS[::2], FREE_PORTS[1::2], strict=True))
    ports[option] = str(busy_port)
    args = [part for pair in ports.items() for part in pair]
    code, out, err = await _run("--once", "hi", *args, env=_env(tmp_path / "tmp"), timeout=30)
    assert code == 1, out + err
    assert f"port {busy_port} on 127.0.0.1 is already in use" in err
    assert option in err
    assert "Traceback" not in err
    assert list((tmp_path / "tmp").iterdir()) == []


def test_the_echo_describes_media_instead_of_listing_paths() -> None:
    event = {
        "type": "message",
        "text": f"look\n\n{ATTACHMENTS_LABEL}\n- image: /in/a.png\n- file: /in/b",
        "attachments": [
            {"kind": "image", "path": "/data/inbound/a.png", "filename": "a.png", "size": 2048},
            {
                "kind": "file",
                "path": "/data/inbound/b",
                "filename": "weixin-inbound-0123456789abcdef0123456789abcdef-report.pdf",
                "size": 300,
            },
            {"kind": "video", "path": "", "filename": "", "size": 0, "error": "download failed"},
        ],
    }
    assert echo_text(event) == (
        "echo: look [image 2.0 KB, file report.pdf 300 B, video (not received: download failed)]"
    )
    assert echo_text({"type": "message", "text": "", "attachments": []}) == (
        "echo: (an empty message)"
    )
