"""``weixin-gateway mp`` in a subprocess: go-wx-gateway's file unchanged, a redacted start-up log
(D5), the health check served, and a broken file refused with exit status 2 naming the key."""

from __future__ import annotations

import asyncio
import json
import os
import re
import signal
import socket
import sys
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from tests.mp_gateway.conftest import service_conf
from weixin_gateway.simulator.mp import AppConfig, OfficialAccountSimulator

pytestmark = pytest.mark.slow


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _conf(
    wx: OfficialAccountSimulator, app: AppConfig, port: int, **service: Any
) -> dict[str, Any]:
    return {
        "listen-host": "127.0.0.1",
        "listen-port": port,
        "services": [
            {**service_conf(app, proxy=""), "注意": "comment keys are ignored", **service}
        ],
        "token-cache-dir": "",
        "common-endpoints": {"health-check": "/health", "wx-qr的参数说明": "s=..."},
        "dont-append-userinfo": False,
        "api-base-url": wx.api_base_url,
    }


async def _run(
    *args: str, env: dict[str, str] | None = None, timeout_s: float = 15.0
) -> tuple[int, str, str]:
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "weixin_gateway.cli.mp",
        *args,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        env={**os.environ, **(env or {})},
    )
    async with asyncio.timeout(timeout_s):
        out, err = await proc.communicate()
    assert proc.returncode is not None
    return proc.returncode, out.decode(), err.decode()


async def test_mp_command_serves_with_a_redacted_startup_log(
    wx: OfficialAccountSimulator, tmp_path: Path
) -> None:
    app = wx.create_app(mode="safe")
    conf = tmp_path / "wx-gateway-conf.json"
    conf.write_text(json.dumps(_conf(wx, app, 0), ensure_ascii=False))  # port 0: a free one

    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "weixin_gateway.cli.mp",
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        env={**os.environ, "CONF_FILE": str(conf)},
    )
    assert proc.stderr is not None
    early: list[bytes] = []
    try:
        async with asyncio.timeout(30):  # generous: the suite may share the machine
            while True:
                line = await proc.stderr.readline()
                assert line, "the gateway exited before listening"
                early.append(line)
                found = re.search(rb"listening on 127\.0\.0\.1:(\d+)", line)
                if found:
                    port = int(found.group(1))
                    break
        async with (
            aiohttp.ClientSession() as session,
            session.get(f"http://127.0.0.1:{port}/health") as resp,
        ):
            assert (resp.status, await resp.text()) == (200, "OK\n")
        wx.update_app(app.appid, push_url=f"http://127.0.0.1:{port}/wx")
        user = wx.add_user(app.appid)
        result = await wx.user_says(app.appid, user.openid, "echo from a subprocess")
        assert result.verdict == "reply", result.error
        assert result.reply is not None
        assert result.reply.fields["Content"] == "echo from a subprocess"
    finally:
        if proc.returncode is None:
            proc.send_signal(signal.SIGTERM)
        async with asyncio.timeout(15):
            out_b, rest = await proc.communicate()
    err_b = b"".join(early) + rest
    out, err = out_b.decode(), err_b.decode()
    assert "configuration: " in out
    config_line = next(line for line in out.splitlines() if line.startswith("configuration: "))
    printed = json.loads(config_line.removeprefix("configuration: "))
    assert printed["services"][0]["wx-params"] == {
        "token": "***",
        "app-id": app.appid,
        "app-secret": "***",
        "aes-key": "***",
    }
    for secret in (app.secret, app.encoding_aes_key, app.token):
        assert secret not in out
        assert secret not in err
    assert "注意" in err
    assert "unknown key" in err
    assert "Traceback" not in err


@pytest.mark.parametrize("via_env", [False, True])
async def test_a_broken_config_exits_2_naming_the_key(
    wx: OfficialAccountSimulator, tmp_path: Path, via_env: bool
) -> None:
    app = wx.create_app(mode="safe")
    conf = _conf(wx, app, _free_port())
    conf["services"][0]["wx-params"]["aes-key"] = "too-short-" + app.encoding_aes_key[:5]
    conf["services"][0]["workerNum"] = 0
    path = tmp_path / "broken.json"
    path.write_text(json.dumps(conf, ensure_ascii=False))
    if via_env:
        code, out, err = await _run(env={"CONF_FILE": str(path)})
    else:
        code, out, err = await _run("--config", str(path))
    assert code == 2
    assert "services[0].wx-params.aes-key" in err
    assert "services[0].workerNum" in err
    assert "Traceback" not in err
    assert "Traceback" not in out
    assert app.secret not in err + out
    assert app.encoding_aes_key[:5] not in err + out


async def test_no_config_and_unreadable_json_exit_2(tmp_path: Path) -> None:
    env = {"CONF_FILE": ""}
    code, _, err = await _run(env=env)
    assert code == 2
    assert "CONF_FILE" in err
    bad = tmp_path / "bad.json"
    bad.write_text('{"services": [},')
    code, _, err = await _run("--config", str(bad), env=env)
    assert code == 2
    assert "not valid JSON" in err
    assert "Traceback" not in err
