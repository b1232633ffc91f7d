"""Every remote command (``cli/remote.py``) against a real gateway and the simulator.

The gateway runs on the test's event loop (``GatewayHarness``, SQLite). A command runs either
with click's ``CliRunner`` in a worker thread (:func:`run`) or as a ``python -m weixin_gateway``
subprocess (:func:`run_process`, :func:`spawn`), so it never blocks that loop. ``login`` runs as
a subprocess driven through the simulator's QR controls, as a user at a terminal would.
"""

from __future__ import annotations

import asyncio
import json
import os
import re
import signal
import socket
import sys
from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from tests.service.harness import GatewayHarness, eventually
from weixin_gateway.cli import cli
from weixin_gateway.simulator import Simulator, SimulatorConfig, generated_bytes

URL_ENV = "WEIXIN_GATEWAY_URL"
TOKEN_ENV = "WEIXIN_GATEWAY_API_TOKEN"
#: Variables of the outer environment that must not leak into a command under test.
_CLEARED = (URL_ENV, TOKEN_ENV, "WEIXIN_BOT_TOKEN", "PORT")
UNREACHABLE = "cannot reach the gateway at {}: is 'weixin-gateway serve' running?"
QR_BLOCKS = ("█", "▀", "▄")


@dataclass(frozen=True)
class Ran:
    code: int
    out: str
    err: str

    def json(self) -> Any:
        assert self.code == 0, self
        return json.loads(self.out)

    def ok(self) -> str:
        assert self.code == 0, self
        return self.out


async def run(
    url: str | None,
    *args: str,
    env: Mapping[str, str | None] | None = None,
    input: str | None = None,
    timeout: float = 30,
) -> Ran:
    """``weixin-gateway *args`` with ``CliRunner``, in a thread (the gateway keeps running)."""
    environ: dict[str, str | None] = dict.fromkeys(_CLEARED)
    environ[URL_ENV] = url
    environ.update(env or {})
    runner = CliRunner()
    result = await asyncio.wait_for(
        asyncio.to_thread(
            runner.invoke, cli, list(args), input=input, env=environ, catch_exceptions=False
        ),
        timeout,
    )
    return Ran(result.exit_code, result.stdout, result.stderr)


def _process_env(url: str | None, env: Mapping[str, str] | None) -> dict[str, str]:
    environ = {k: v for k, v in os.environ.items() if k not in _CLEARED}
    environ.update(PYTHONUNBUFFERED="1", PYTHONIOENCODING="utf-8")
    if url is not None:
        environ[URL_ENV] = url
    environ.update(env or {})
    return environ


async def spawn(
    url: str | None, *args: str, env: Mapping[str, str] | None = None
) -> asyncio.subprocess.Process:
    """``python -m weixin_gateway *args`` with pipes for stdin, stdout and stderr."""
    return await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "weixin_gateway",
        *args,
        env=_process_env(url, env),
        stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )


async def run_process(
    url: str | None, *args: str, env: Mapping[str, str] | None = None, timeout: float = 30
) -> Ran:
    proc = await spawn(url, *args, env=env)
    try:
        out, err = await asyncio.wait_for(proc.communicate(), timeout)
    finally:
        await _kill(proc)
    assert proc.returncode is not None
    return Ran(proc.returncode, out.decode(), err.decode())


async def _kill(proc: asyncio.subprocess.Process) -> None:
    if proc.returncode is None:
        proc.kill()
        await proc.wait()


async def read_until(proc: asyncio.subprocess.Process, pattern: str, seen: list[str]) -> str:
    """Read stdout lines (kept in ``seen``) until one matches ``pattern``; return it."""
    assert proc.stdout is not None
    async with asyncio.timeout(20):
        while True:
            raw = await proc.stdout.readline()
            assert raw, f"the command ended before printing {pattern!r}: {seen}"
            line = raw.decode().rstrip("\n")
            seen.append(line)
            if re.search(pattern, line):
                return line


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@pytest.fixture
async def inbox_gateway(tmp_path: Path) -> AsyncIterator[GatewayHarness]:
    async with GatewayHarness(tmp_path / "data", mode="inbox") as h:
        await h.register()
        yield h


@pytest.fixture
async def gateway(tmp_path: Path) -> AsyncIterator[GatewayHarness]:
    async with GatewayHarness(tmp_path / "data") as h:
        yield h


async def _pending(h: GatewayHarness, n: int) -> list[dict[str, Any]]:
    """Wait until ``n`` messages are pending in the inbox; return them."""

    async def check() -> list[dict[str, Any]] | None:
        _, body = await h.call("GET", "/inbox/messages?status=pending")
        messages: list[dict[str, Any]] = body["messages"]
        return messages if len(messages) >= n else None

    found: list[dict[str, Any]] = await eventually(check)
    return found


# --- the command set -----------------------------------------------------------------------------

SEED_COMMANDS = [
    "health",
    "accounts",
    "accounts:show",
    "accounts:remove",
    "login:start",
    "login:status",
    "login:watch",
    "login:cancel",
    "poll:status",
    "poll:start",
    "poll:stop",
    "inbox:list",
    "inbox:show",
    "inbox:claim",
    "inbox:complete",
    "inbox:fail",
    "typing:send",
    "typing:cancel",
]
OUR_COMMANDS = [
    "accounts:register",
    "login",
    "send",
    "send:status",
    "inbox:claim-batch",
    "inbox:complete-batch",
    "inbox:fail-batch",
    "deliveries:list",
    "deliveries:redeliver",
]


async def test_every_seed_command_and_ours_is_listed() -> None:
    listing = (await run(None, "--help")).ok()
    for name in SEED_COMMANDS + OUR_COMMANDS:
        assert re.search(rf"^  {re.escape(name)}\s", listing, re.MULTILINE), name
    for name in ("inbox:list", "send", "login"):
        help_text = (await run(None, name, "--help")).ok()
        for shared in ("--gateway-url", "--api-token", "--json", URL_ENV):
            assert shared in help_text, (name, shared)


# --- health, polling, accounts -------------------------------------------------------------------


async def test_health_and_polling(inbox_gateway: GatewayHarness) -> None:
    h = inbox_gateway
    out = (await run(h.base_url, "health")).ok()
    assert f"ok at {h.base_url}" in out
    assert "inbox" in out
    assert "1 active, 0 expired" in out
    answer = (await run(h.base_url, "health", "--json")).json()
    assert answer["ok"] is True
    assert answer["delivery_mode"] == "inbox"
    assert answer["accounts"] == {"active": 1, "expired": 0}

    answer = (await run(h.base_url, "poll:stop", "--json")).json()
    assert answer["polling"]["running"] is False
    assert "polling: stopped" in (await run(h.base_url, "poll:status")).ok()
    assert "polling: running" in (await run(h.base_url, "poll:start")).ok()
    answer = (await run(h.base_url, "poll:status", "--json")).json()
    assert answer["polling"]["running"] is True
    assert answer["delivery_mode"] == "inbox"
    assert "last_results" in answer["polling"]


async def test_account_commands(gateway: GatewayHarness) -> None:
    h = gateway
    assert "no accounts" in (await run(h.base_url, "accounts")).ok()
    bot = h.sim.create_bot()
    registered = await run(
        h.base_url,
        "accounts:register",
        "--account-id",
        "wx-cli",
        "--api-base-url",
        h.sim.base_url,
        "--wechat-uin",
        bot.user_id,
        "--bot-id",
        bot.bot_id,
        "--json",
        env={"WEIXIN_BOT_TOKEN": bot.bot_token},
    )
    answer = registered.json()
    assert answer["account"]["account_id"] == "wx-cli"
    assert answer["account"]["status"]["session_state"] == "active"
    assert bot.bot_token not in registered.out

    table = (await run(h.base_url, "accounts")).ok()
    assert re.search(r"wx-cli\s+active\s+yes\s+" + re.escape(bot.user_id), table), table
    answer = (await run(h.base_url, "accounts", "--json")).json()
    assert [a["account_id"] for a in answer["accounts"]] == ["wx-cli"]

    shown = (await run(h.base_url, "accounts:show", "--account-id", "wx-cli")).ok()
    for value in ("wx-cli", bot.bot_id, bot.user_id, h.sim.base_url):
        assert value in shown
    answer = (await run(h.base_url, "accounts:show", "--account-id", "wx-cli", "--json")).json()
    assert answer["account"]["bot_id"] == bot.bot_id

    removed = await run(h.base_url, "accounts:remove", "--account-id", "wx-cli")
    assert removed.ok().strip() == "removed account wx-cli"
    missing = await run(h.base_url, "accounts:show", "--account-id", "wx-cli")
    assert missing.code == 1
    assert "unknown account_id" in missing.err
    assert missing.out == ""

    answer = (
        await run(
            h.base_url,
            "accounts:register",
            "--account-id",
            "wx-flag",
            "--bot-token",
            bot.bot_token,
            "--api-base-url",
            h.sim.base_url,
            "--json",
        )
    ).json()
    assert answer["account"]["account_id"] == "wx-flag"
    refused = await run(
        h.base_url,
        "accounts:register",
        "--account-id",
        "x",
        "--bot-token",
        "t",
        "--api-base-url",
        "ftp://nowhere",
    )
    assert refused.code == 1
    assert refused.err.startswith("Error: api_base_url ")


# --- inbox and deliveries ------------------------------------------------------------------------


async def test_inbox_commands(inbox_gateway: GatewayHarness) -> None:
    h = inbox_gateway
    url = h.base_url
    assert h.bot is not None
    h.sim.inject_message(h.bot.bot_id, text="first message")
    h.sim.inject_message(h.bot.bot_id, text="第二条消息")
    await _pending(h, 2)

    listed = await run(url, "inbox:list", "--status", "pending", "--limit", "10", "--json")
    assert "第二条消息" in listed.out  # UTF-8, not \\u escapes
    messages = listed.json()["messages"]
    assert [m["text"] for m in messages] == ["first message", "第二条消息"]
    first, second = (m["id"] for m in messages)
    table = (await run(url, "inbox:list", "--account-id", "wx-test")).ok()
    for value in (first, second, "pending", "first message", "第二条消息", h.bot.user_id):
        assert value in table
    other = await run(url, "inbox:list", "--account-id", "wx-other", "--json")
    assert other.json()["messages"] == []
    assert "no messages" in (await run(url, "inbox:list", "--account-id", "wx-other")).ok()

    shown = (await run(url, "inbox:show", "--message-id", first)).ok()
    assert "first message" in shown
    assert h.bot.user_id in shown
    answer = (await run(url, "inbox:show", "--message-id", first, "--json")).json()
    assert answer["message"]["id"] == first
    assert answer["message"]["context_token"]

    claimed = await run(
        url,
        "inbox:claim",
        "--message-id",
        first,
        "--worker-id",
        "w1",
        "--lease-ms",
        "60000",
        "--json",
    )
    message = claimed.json()["message"]
    assert message["status"] == "claimed"
    assert message["claim"]["worker_id"] == "w1"
    taken = await run(url, "inbox:claim", "--message-id", first, "--worker-id", "w2")
    assert taken.code == 1
    assert f"message {first} is claimed by worker 'w1'" in taken.err

    done = await run(
        url,
        "inbox:complete",
        "--message-id",
        first,
        "--worker-id",
        "w1",
        "--completion-note",
        "reply sent",
    )
    assert "completed" in done.ok()
    assert "reply sent" in done.out

    batch = (await run(url, "inbox:claim-batch", "--worker-id", "w3", "--json")).json()
    assert [m["id"] for m in batch["messages"]] == [second]
    assert "no messages claimed" in (await run(url, "inbox:claim-batch", "--worker-id", "w3")).ok()
    wrong_worker = await run(
        url, "inbox:fail", "--message-id", second, "--error", "x", "--worker-id", "w1"
    )
    assert wrong_worker.code == 1
    assert "claimed by worker 'w3'" in wrong_worker.err
    failed = await run(
        url,
        "inbox:fail",
        "--message-id",
        second,
        "--error",
        "temporary failure",
        "--worker-id",
        "w3",
        "--json",
    )
    assert failed.json()["message"]["status"] == "failed"
    assert failed.json()["message"]["error"] == "temporary failure"

    everything = (await run(url, "inbox:list", "--status", "all", "--json")).json()
    assert {m["id"]: m["status"] for m in everything["messages"]} == {
        first: "completed",
        second: "failed",
    }
    unknown = await run(url, "inbox:show", "--message-id", "msg-nope")
    assert unknown.code == 1
    assert "unknown message_id" in unknown.err


async def test_inbox_batch_settle_commands(inbox_gateway: GatewayHarness) -> None:
    h = inbox_gateway
    url = h.base_url
    assert h.bot is not None
    for text in ("one", "two", "three"):
        h.sim.inject_message(h.bot.bot_id, text=text)
    await _pending(h, 3)
    batch = (await run(url, "inbox:claim-batch", "--worker-id", "w1", "--json")).json()
    one, two, three = (m["id"] for m in batch["messages"])

    done = await run(
        url, "inbox:complete-batch", one, two, "--worker-id", "w1", "--note", "replied"
    )
    out = done.ok()
    assert "2 of 2 message(s) settled" in out
    assert re.search(rf"^ *{one} +completed ", out, re.MULTILINE), out
    assert re.search(rf"^ *{two} +completed ", out, re.MULTILINE), out

    refused = await run(
        url, "inbox:fail-batch", three, "msg-nope", "--worker-id", "w2", "--error", "x", "--json"
    )
    assert refused.code == 1, refused
    results = json.loads(refused.out)["results"]
    assert [(r["message_id"], r["status"]) for r in results] == [(three, 409), ("msg-nope", 404)]
    assert results[0]["holder"] == "w1"
    assert refused.err.startswith(
        f"Error: 2 of 2 message(s) not settled (first: message {three} is claimed by worker 'w1')"
    )

    failed = await run(url, "inbox:fail-batch", three, "--worker-id", "w1", "--error", "boom")
    assert re.search(rf"^ *{three} +failed +1$", failed.ok(), re.MULTILINE), failed
    mixed = await run(url, "inbox:complete-batch", three, one)
    assert mixed.code == 1, mixed
    assert "1 of 2 message(s) settled" in mixed.out
    assert f"message {one} is completed" in mixed.out  # the table's error column
    assert "refused" in mixed.out
    assert "Error: 1 of 2 message(s) not settled" in mixed.err

    everything = (await run(url, "inbox:list", "--status", "all", "--json")).json()
    assert [(m["status"], m["completion_note"]) for m in everything["messages"]] == [
        ("completed", "replied"),
        ("completed", "replied"),
        ("completed", ""),
    ]


async def test_claim_batch_waits_for_a_message(inbox_gateway: GatewayHarness) -> None:
    h = inbox_gateway
    assert h.bot is not None
    waiting = asyncio.create_task(
        run(h.base_url, "inbox:claim-batch", "--worker-id", "w", "--wait", "15", "--json")
    )
    await asyncio.sleep(0.5)
    assert not waiting.done()
    h.sim.inject_message(h.bot.bot_id, text="worth the wait")
    answer = (await waiting).json()
    assert [m["text"] for m in answer["messages"]] == ["worth the wait"]
    listed = await run(h.base_url, "inbox:list", "--status", "claimed", "--wait", "1", "--json")
    assert [m["text"] for m in listed.json()["messages"]] == ["worth the wait"]


async def test_delivery_commands(tmp_path: Path) -> None:
    async with GatewayHarness(tmp_path / "data", mode="inbox", inbox_max_attempts=1) as h:
        await h.register()
        assert h.bot is not None
        url = h.base_url
        h.sim.inject_message(h.bot.bot_id, text="doomed")
        [message] = await _pending(h, 1)

        async def kill() -> None:
            (await run(url, "inbox:claim", "--message-id", message["id"], "--worker-id", "w")).ok()
            dead = await run(url, "inbox:fail", "--message-id", message["id"], "--error", "boom")
            assert "dead" in dead.ok()

        assert "no dead events" in (await run(url, "deliveries:list")).ok()
        await kill()
        events = (await run(url, "deliveries:list", "--status", "dead", "--json")).json()
        [event] = events["events"]
        assert event["id"] == message["id"]
        assert event["status"] == "dead"
        table = (await run(url, "deliveries:list", "--account-id", "wx-test")).ok()
        for value in (message["id"], "dead", "boom", "doomed"):
            assert value in table
        elsewhere = await run(url, "deliveries:list", "--account-id", "wx-other", "--json")
        assert elsewhere.json()["events"] == []

        again = await run(url, "deliveries:redeliver", "--event-id", event["event_id"], "--json")
        assert again.json()["redelivered"] == [event["event_id"]]
        pending = (await run(url, "deliveries:list", "--status", "pending", "--json")).json()
        assert [e["id"] for e in pending["events"]] == [message["id"]]

        await kill()
        everything = (await run(url, "deliveries:redeliver", "--all")).ok()
        assert "redelivered 1 event(s)" in everything
        assert event["event_id"] in everything
        nothing = await run(url, "deliveries:redeliver", "--all", "--json")
        assert nothing.json()["redelivered"] == []


# --- typing and sending --------------------------------------------------------------------------


async def test_typing_and_send_commands(
    gateway: GatewayHarness, monkeypatch: pytest.MonkeyPatch
) -> None:
    h = gateway
    url = h.base_url
    await h.register()
    assert h.bot is not None
    bot, user = h.bot.bot_id, h.bot.user_id
    h.sim.inject_message(bot, text="hello")
    [event] = await h.upstream.wait_events(1)
    to = ("--account-id", "wx-test", "--to-user-id", user)

    typing = await run(url, "typing:send", *to)
    assert typing.ok().strip() == f"typing indicator shown to {user}"
    answer = (await run(url, "typing:cancel", *to, "--json")).json()
    assert answer["typing"] == {"account_id": "wx-test", "to_user_id": user, "status": "cancel"}
    assert [e.status for e in h.sim.typing(bot)] == [1, 2]

    sent = await run(url, "send", *to, "--text", "hello from the cli")
    assert f"sent to {user} from wx-test" in sent.ok()
    assert "text in 1 message(s)" in sent.out
    assert h.sim.sent(bot)[-1].text == "hello from the cli"
    answer = (
        await run(
            url, "send", *to, "--context-token", event["context_token"], "--text", "again", "--json"
        )
    ).json()
    assert answer["results"][0]["type"] == "text"
    assert h.sim.sent(bot)[-1].text == "again"

    # a relative path is sent as an absolute one; the type comes from the extension
    monkeypatch.chdir(h.data_dir)
    (h.data_dir / "notes.txt").write_text("a file for you")
    picture = generated_bytes("image", 3000, 1)
    (h.data_dir / "picture.png").write_bytes(picture)
    answer = (await run(url, "send", *to, "--file", "notes.txt", "--json")).json()
    [result] = answer["results"]
    assert (result["file_type"], result["kind"], result["file_name"]) == (4, "file", "notes.txt")
    [item] = h.sim.sent(bot)[-1].items
    assert (item.type, item.data) == ("file", b"a file for you")
    image = await run(url, "send", *to, "--file", "picture.png")
    assert "image picture.png (3000 bytes)" in image.ok()
    [item] = h.sim.sent(bot)[-1].items
    assert (item.type, item.data) == ("image", picture)
    as_file = (
        await run(url, "send", *to, "--file", "picture.png", "--file-type", "4", "--json")
    ).json()
    assert as_file["results"][0]["kind"] == "file"

    outside = await run(url, "send", *to, "--file", str(tmp_outside(h)))
    assert outside.code == 1
    assert outside.err.startswith("Error: ")
    nobody = await run(
        url, "send", "--account-id", "wx-nobody", "--to-user-id", user, "--text", "x"
    )
    assert nobody.code == 1
    assert "unknown account: wx-nobody" in nobody.err


def tmp_outside(h: GatewayHarness) -> Path:
    """A file outside the gateway's media directories."""
    path = h.data_dir.parent / "outside.txt"
    path.write_text("not allowed")
    return path


async def test_send_status(gateway: GatewayHarness) -> None:
    h = gateway
    await h.register()
    assert h.bot is not None
    h.sim.inject_message(h.bot.bot_id, text="hello")
    await h.upstream.wait_events(1)
    body = {
        "account_id": "wx-test",
        "to_user_id": h.bot.user_id,
        "items": [{"type": "text", "text": "queued reply"}],
    }
    status, answer = await h.call("POST", "/send/async", body=body)
    assert status == 202, answer
    task_id = answer["task"]["id"]

    async def finished() -> dict[str, Any] | None:
        task = (await run(h.base_url, "send:status", "--task-id", task_id, "--json")).json()
        return task if task["task"]["status"] not in ("queued", "running") else None

    task = (await eventually(finished))["task"]
    assert task["status"] == "succeeded", task
    assert h.sim.sent(h.bot.bot_id)[-1].text == "queued reply"
    shown = (await run(h.base_url, "send:status", "--task-id", task_id)).ok()
    for value in (task_id, "succeeded", h.bot.user_id, "text in 1 message(s)"):
        assert value in shown
    unknown = await run(h.base_url, "send:status", "--task-id", "task-nope")
    assert unknown.code == 1
    assert "unknown task_id" in unknown.err


# --- the token, an absent gateway, bad usage -----------------------------------------------------


async def test_api_token(tmp_path: Path) -> None:
    async with GatewayHarness(tmp_path / "data", api_token="s3cret") as h:
        refused = await run(h.base_url, "accounts")
        assert refused.code == 1
        assert "missing or wrong bearer token" in refused.err
        wrong = await run(h.base_url, "accounts", "--api-token", "guess")
        assert wrong.code == 1
        assert "missing or wrong bearer token" in wrong.err
        assert (await run(h.base_url, "accounts", "--api-token", "s3cret", "--json")).json()["ok"]
        assert (await run(h.base_url, "health", "--json")).json()["ok"]  # /health is open
        from_env = await run_process(h.base_url, "accounts", "--json", env={TOKEN_ENV: "s3cret"})
        assert from_env.json() == {"ok": True, "accounts": []}


async def test_gateway_not_running() -> None:
    port = _free_port()
    url = f"http://127.0.0.1:{port}"
    ran = await run_process(url, "accounts")
    assert ran.code == 1
    assert ran.err.strip() == "Error: " + UNREACHABLE.format(url)
    assert ran.out == ""
    by_port = await run(None, "inbox:list", env={"PORT": str(port)})
    assert by_port.code == 1
    assert UNREACHABLE.format(url) in by_port.err
    by_option = await run("http://127.0.0.1:1", "health", "--gateway-url", url + "/")
    assert UNREACHABLE.format(url) in by_option.err


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["inbox:show"], "Missing option '--message-id'"),
        (["inbox:claim", "--message-id", "m"], "Missing option '--worker-id'"),
        (["inbox:fail", "--message-id", "m"], "Missing option '--error'"),
        (["inbox:complete-batch", "--worker-id", "w"], "Missing argument 'ID...'"),
        (["inbox:fail-batch", *(f"m{n}" for n in range(501))], "at most 500 message ids"),
        (["accounts:show"], "Missing option '--account-id'"),
        (["login:watch"], "Missing option '--session-id'"),
        (["send:status"], "Missing option '--task-id'"),
        (["typing:send", "--account-id", "a"], "Missing option '--to-user-id'"),
        (["accounts:register", "--account-id", "a"], "Missing option '--bot-token'"),
        (["send", "--account-id", "a", "--to-user-id", "u"], "exactly one of --text and --file"),
        (
            ["send", "--account-id", "a", "--to-user-id", "u", "--text", "t", "--file", "f"],
            "exactly one of --text and --file",
        ),
        (
            ["send", "--account-id", "a", "--to-user-id", "u", "--text", "t", "--as-voice"],
            "--file-type and --as-voice go with --file",
        ),
        (
            ["send", "--account-id", "a", "--to-user-id", "u", "--file", "f", "--file-type", "5"],
            "--file-type",
        ),
        (["deliveries:redeliver"], "give --event-id (one or more) or --all"),
        (["deliveries:redeliver", "--all", "--event-id", "e"], "or --all"),
        (["inbox:list", "--status", "lost"], "--status"),
        (["inbox:claim", "--message-id", "m", "--worker-id", "w", "--lease-ms", "5"], "lease"),
        (["health", "--gateway-url", "ftp://host"], "must be an http:// or https:// URL"),
    ],
)
async def test_bad_usage_exits_2(args: list[str], message: str) -> None:
    ran = await run("http://127.0.0.1:1", *args)
    assert ran.code == 2, ran
    assert message in ran.err
    assert ran.out == ""


async def test_bad_port_is_bad_usage() -> None:
    ran = await run(None, "health", env={"PORT": "eighty"})
    assert ran.code == 2
    assert "PORT: must be between 1 and 65535" in ran.err


# --- login ---------------------------------------------------------------------------------------


async def _session_line(proc: asyncio.subprocess.Process, seen: list[str]) -> str:
    line = await read_until(proc, r"^session sess-", seen)
    return line.split()[1]


async def test_login_end_to_end(gateway: GatewayHarness) -> None:
    h = gateway
    proc = await spawn(h.base_url, "login", "--account-id", "wx-scanned")
    seen: list[str] = []
    try:
        session_id = await _session_line(proc, seen)
        assert any(block in line for line in seen for block in QR_BLOCKS), seen
        [qr] = h.sim.qr_sessions()
        assert any(qr.qrcode_img_content in line for line in seen)
        await read_until(proc, r"^login pending", seen)
        h.sim.scan(qr.qrcode)
        await read_until(proc, r"^login scaned", seen)
        h.sim.confirm(qr.qrcode)
        await read_until(proc, r"^login completed", seen)
        async with asyncio.timeout(20):
            rest, err = await proc.communicate()
    finally:
        await _kill(proc)
    assert proc.returncode == 0, err.decode()
    assert rest.decode().strip() == "logged in: account wx-scanned"
    _, answer = await h.call("GET", f"/login/qr/status?session_id={session_id}")
    assert answer["session"]["state"] == "completed"
    accounts = (await run(h.base_url, "accounts", "--json")).json()["accounts"]
    assert [(a["account_id"], a["status"]["session_state"]) for a in accounts] == [
        ("wx-scanned", "active")
    ]
    assert "wx-scanned" in (await run(h.base_url, "accounts")).ok()


async def test_login_asks_for_the_pair_code_and_redraws_a_new_qr(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    config = SimulatorConfig(hold_seconds=1.0, qr_hold_seconds=0.5)
    async with Simulator(config=config) as sim, GatewayHarness(tmp_path / "data", sim=sim) as h:
        submitted: list[tuple[str, str]] = []
        submit = h.gateway.logins.submit_verify_code

        def spy(session_id: str, code: str) -> Any:
            submitted.append((session_id, code))
            return submit(session_id, code)

        monkeypatch.setattr(h.gateway.logins, "submit_verify_code", spy)
        proc = await spawn(h.base_url, "login", "--account-id", "wx-paired")
        seen: list[str] = []
        try:
            session_id = await _session_line(proc, seen)
            [qr] = sim.qr_sessions()
            sim.scan(qr.qrcode)
            sim.require_verify_code(qr.qrcode, "4321")
            await read_until(proc, r"^login need_verifycode", seen)
            assert proc.stdin is not None
            proc.stdin.write(b"\n4321\n")  # an empty line is asked again
            await proc.stdin.drain()
            await eventually(lambda: submitted)
            assert submitted == [(session_id, "4321")]
            # the QR code runs out: the gateway makes a new one, the command draws it
            sim.expire_qr(qr.qrcode)
            await _session_line(proc, seen)
            new_qr = sim.qr_sessions()[-1]
            assert new_qr.qrcode != qr.qrcode
            assert new_qr.qrcode_img_content in seen[-2]
            sim.scan(new_qr.qrcode)
            sim.confirm(new_qr.qrcode)
            async with asyncio.timeout(20):
                rest, err = await proc.communicate()
        finally:
            await _kill(proc)
        assert proc.returncode == 0, (seen, err.decode())
        assert "logged in: account wx-paired" in rest.decode()
        assert submitted == [(session_id, "4321")]  # asked once per request for a code
        assert [a.account_id for a in await h.gateway.accounts.all()] == ["wx-paired"]


async def test_login_ctrl_c_cancels_the_session(gateway: GatewayHarness) -> None:
    h = gateway
    proc = await spawn(h.base_url, "login")
    seen: list[str] = []
    try:
        session_id = await _session_line(proc, seen)
        await read_until(proc, r"^login pending", seen)
        proc.send_signal(signal.SIGINT)
        async with asyncio.timeout(20):
            _, err = await proc.communicate()
    finally:
        await _kill(proc)
    assert proc.returncode == 130
    assert f"login session {session_id} cancelled" in err.decode()
    _, answer = await h.call("GET", f"/login/qr/status?session_id={session_id}")
    assert answer["session"]["state"] == "cancelled"


async def test_login_watch_ctrl_c_leaves_the_session(gateway: GatewayHarness) -> None:
    h = gateway
    started = (await run(h.base_url, "login:start", "--json")).json()
    session_id = started["session"]["session_id"]
    proc = await spawn(h.base_url, "login:watch", "--session-id", session_id)
    seen: list[str] = []
    try:
        await read_until(proc, r"^login pending", seen)
        proc.send_signal(signal.SIGINT)
        async with asyncio.timeout(20):
            _, err = await proc.communicate()
    finally:
        await _kill(proc)
    assert proc.returncode == 130
    assert f"login:cancel --session-id {session_id}" in err.decode()
    _, answer = await h.call("GET", f"/login/qr/status?session_id={session_id}")
    assert answer["session"]["state"] == "pending"


async def test_login_session_commands(gateway: GatewayHarness) -> None:
    h = gateway
    url = h.base_url
    started = (await run(url, "login:start", "--account-id", "wx-later", "--json")).json()
    session = started["session"]
    assert (session["account_id"], session["state"]) == ("wx-later", "pending")
    assert session["qrcode_url"]
    session_id = session["session_id"]

    shown = (await run(url, "login:start")).ok()
    assert any(block in shown for block in QR_BLOCKS)
    assert "then: weixin-gateway login:watch --session-id sess-" in shown

    status = (await run(url, "login:status", "--session-id", session_id)).ok()
    for value in (session_id, "wx-later", "pending", session["qrcode_url"]):
        assert value in status
    cancelled = (await run(url, "login:cancel", "--session-id", session_id, "--json")).json()
    assert cancelled["session"] == {"session_id": session_id, "state": "cancelled"}
    assert "cancelled" in (await run(url, "login:status", "--session-id", session_id)).ok()
    watched = await run(url, "login:watch", "--session-id", session_id)
    assert watched.code == 1
    assert "Error: login cancelled" in watched.err
    unknown = await run(url, "login:status", "--session-id", "sess-nope")
    assert unknown.code == 1
    assert "unknown session_id" in unknown.err

    # login:watch --json: one answer per line, one line per state, exit 0 once completed
    started = (await run(url, "login:start", "--account-id", "wx-watched", "--json")).json()
    session_id = started["session"]["session_id"]
    watching = asyncio.create_task(run(url, "login:watch", "--session-id", session_id, "--json"))
    qr = h.sim.qr_sessions()[-1]
    h.sim.scan(qr.qrcode)
    await eventually(lambda: _state_is(h, session_id, "scaned"))
    h.sim.confirm(qr.qrcode)
    ran = await watching
    lines = [json.loads(line) for line in ran.ok().splitlines()]
    states = [line["session"]["state"] for line in lines]
    assert states[-1] == "completed"
    assert len(states) == len(set(states))
    assert lines[-1]["session"]["account_id"] == "wx-watched"


async def _state_is(h: GatewayHarness, session_id: str, state: str) -> bool:
    _, answer = await h.call("GET", f"/login/qr/status?session_id={session_id}")
    return bool(answer["session"]["state"] == state)


async def test_login_that_expires_exits_1(tmp_path: Path) -> None:
    async with GatewayHarness(tmp_path / "data", login_session_ttl_ms=1500) as h:
        ran = await run(h.base_url, "login", "--account-id", "wx-slow")
        assert ran.code == 1
        assert "Error: login expired" in ran.err
        assert "login pending" in ran.out


async def test_login_asks_again_after_a_wrong_pair_code(tmp_path: Path) -> None:
    config = SimulatorConfig(hold_seconds=1.0, qr_hold_seconds=0.5)
    async with Simulator(config=config) as sim, GatewayHarness(tmp_path / "data", sim=sim) as h:
        proc = await spawn(h.base_url, "login", "--account-id", "wx-retry")
        seen: list[str] = []
        try:
            await _session_line(proc, seen)
            [qr] = sim.qr_sessions()
            sim.scan(qr.qrcode)
            sim.require_verify_code(qr.qrcode, "4321")
            await read_until(proc, r"^login need_verifycode", seen)
            assert proc.stdin is not None
            proc.stdin.write(b"1111\n")
            await proc.stdin.drain()
            await eventually(lambda: sim.qr_session(qr.qrcode).wrong_codes == 1, timeout=15)
            proc.stdin.write(b"4321\n")  # asked again: the right one
            await proc.stdin.drain()
            await eventually(lambda: sim.qr_session(qr.qrcode).status == "scaned", timeout=15)
            sim.confirm(qr.qrcode)
            async with asyncio.timeout(20):
                rest, err = await proc.communicate()
        finally:
            await _kill(proc)
        assert proc.returncode == 0, (seen, err.decode())
        assert "that pair code was wrong" in err.decode()
        assert "logged in: account wx-retry" in rest.decode()
