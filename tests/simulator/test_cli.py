"""The standalone ``simulator`` command: starts, prints its URLs and a curl example, stops."""

from __future__ import annotations

import asyncio
import json
import re
import signal
import sys

import aiohttp

SCRIPT = "from weixin_gateway.cli.simulator import simulator; simulator()"


async def test_standalone_command_serves_until_sigterm() -> None:
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-c",
        SCRIPT,
        "--port",
        "0",
        "--hold-seconds",
        "0.2",
        "--bot-token",
        "e06c1ceea05e@im.bot:0600cafe",
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    try:
        assert proc.stdout is not None
        lines: list[str] = []
        async with asyncio.timeout(15):
            while not any(line.startswith("Control API") for line in lines):
                raw = await proc.stdout.readline()
                assert raw, f"simulator exited early: {lines}"
                lines.append(raw.decode().rstrip("\n"))
        output = "\n".join(lines)
        api = re.search(r"API base URL: (http://127\.0\.0\.1:\d+)", output)
        assert api is not None, output
        base = api.group(1)
        assert f"CDN base URL: {base}/c2c" in output
        assert "bot_id:       e06c1ceea05e@im.bot" in output
        assert "bot_token:    e06c1ceea05e@im.bot:0600cafe" in output
        curls = [line.strip() for line in lines if line.strip().startswith("curl")]
        assert len(curls) == 2
        assert f"{base}/_sim/messages" in curls[0]
        assert curls[1] == f"curl -s {base}/_sim/bots/e06c1ceea05e@im.bot/sent"

        user = re.search(r"user_id:\s+(\S+)", output)
        assert user is not None
        async with aiohttp.ClientSession() as http:
            body = {"bot_id": "e06c1ceea05e@im.bot", "from_user_id": user.group(1), "text": "hi"}
            async with http.post(f"{base}/_sim/messages", json=body) as resp:
                assert resp.status == 200
            async with http.post(
                f"{base}/ilink/bot/getupdates",
                json={"get_updates_buf": ""},
                headers={"Authorization": "Bearer e06c1ceea05e@im.bot:0600cafe"},
            ) as resp:
                answer = json.loads(await resp.text())
        assert answer["msgs"][0]["item_list"][0]["text_item"]["text"] == "hi"
    finally:
        if proc.returncode is None:
            proc.send_signal(signal.SIGTERM)
        async with asyncio.timeout(10):
            await proc.wait()
    assert proc.returncode == 0
