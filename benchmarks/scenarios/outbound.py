"""outbound: ``POST /send`` through the gateway to the simulator's ``sendmessage`` and CDN.

**Text.** One stack with 4 accounts × 16 users (64 conversations; tiny: 2 × 2). Every user first
writes to every account (a send needs the user's context token) and the scenario waits until
each of those messages has reached the sink. Then text sends are made at concurrency 1, 16 and
64 (tiny: 1 and 4) — each request to the next conversation in turn, with its context token — and
the driver times each request (p50/p95/p99/max) and the rate over the level. Afterwards every
bot's sent messages (``GET /_sim/bots/{bot_id}/sent``) must hold exactly the texts sent.

**Media.** For each size (1, 20 and 100 MiB; tiny: 1 MiB) a fresh stack: a file of random bytes
under ``WEIXIN_GATEWAY_MEDIA_DIRS`` is sent with ``POST /send`` (``file_type`` 4), three times
(once per account, so each bot's ``sent`` list holds one copy) after a 64 KiB warm-up. The
gateway hashes it, asks ``getuploadurl``, encrypts and uploads it to the simulated CDN (which
checks length, padding, size and MD5 as it streams) and sends the item. Reported: the request's
time and rate (median), and the gateway's peak RSS growth (``VmHWM`` reset just before each send;
the worst of the three). The simulator's decrypted copy is compared with the file (SHA-256).
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import os
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from benchmarks.results import Plot, ScenarioResult, percentiles_ms
from benchmarks.scenarios import RunContext
from benchmarks.scenarios.media_in import (
    MIB,
    RssSampler,
    load_note,
    peak_target,
    prime_conversations,
    rss_drawer,
    size_label,
)
from benchmarks.stack import IlinkStack, StackOptions, ilink_stack

__all__ = ["TITLE", "run"]

TITLE = "Outbound: POST /send text rate and latency; 1-100 MiB files out, rate and peak RSS"
WARM_UP_BYTES = 64 * 1024
COLUMNS = [
    "send",
    "concurrency",
    "requests",
    "req/s",
    "p50 ms",
    "p95 ms",
    "p99 ms",
    "max ms",
    "MiB/s",
    "peak growth MiB",
    "verified",
]

Conversation = tuple[str, str, str]  # account_id, user_id, context_token


async def _post_send(stack: IlinkStack, body: dict[str, Any]) -> tuple[int, dict[str, Any]]:
    """POST /send; ``(nanoseconds taken, answer)``; a refused send raises."""
    started = time.monotonic_ns()
    async with stack.http.post(stack.gateway_url + "/send", json=body) as response:
        answer: dict[str, Any] = await response.json()
    took = time.monotonic_ns() - started
    if response.status != 200 or not answer.get("ok"):
        raise RuntimeError(f"POST /send -> {response.status}: {answer}")
    return took, answer


def _send_body(conversation: Conversation, item: dict[str, Any]) -> dict[str, Any]:
    account_id, user, token = conversation
    return {"account_id": account_id, "to_user_id": user, "context_token": token, "items": [item]}


# --- text -------------------------------------------------------------------------------------


async def _text_level(
    stack: IlinkStack,
    conversations: list[Conversation],
    *,
    concurrency: int,
    total: int,
    max_s: float,
    tag: str,
) -> tuple[list[int], list[tuple[Conversation, str]], float]:
    """``total`` sends (or as many as fit in ``max_s``) with ``concurrency`` in flight."""
    latencies: list[int] = []
    sent: list[tuple[Conversation, str]] = []
    next_index = 0
    start = time.monotonic()
    deadline = start + max_s

    async def worker() -> None:
        nonlocal next_index
        while next_index < total and time.monotonic() < deadline:
            index = next_index
            next_index += 1
            conversation = conversations[index % len(conversations)]
            text = f"o {tag} {index}"
            took, _ = await _post_send(
                stack, _send_body(conversation, {"type": "text", "text": text})
            )
            latencies.append(took)
            sent.append((conversation, text))

    await asyncio.gather(*(worker() for _ in range(concurrency)))
    return latencies, sent, time.monotonic() - start


async def _verify_texts(stack: IlinkStack, sent: list[tuple[Conversation, str]]) -> tuple[int, int]:
    """``(expected, found)``: how many of the sent texts each bot's ``sent`` list holds, exactly
    once and to the right user."""
    bot_of = dict(stack.accounts)
    expected: dict[str, list[tuple[str, str]]] = {}
    for (account_id, user, _), text in sent:
        expected.setdefault(bot_of[account_id], []).append((user, text))
    found = 0
    for bot_id, wanted in expected.items():
        answer = await stack.sim_call("GET", f"/_sim/bots/{bot_id}/sent")
        got = sorted(
            (message["to_user_id"], item["text"])
            for message in answer["messages"]
            for item in message["items"]
            if item["type"] == "text" and item["text"].startswith("o ")
        )
        if got == sorted(wanted):
            found += len(wanted)
        else:
            found += len(set(got) & set(wanted))
    return len(sent), found


async def _text(
    ctx: RunContext, result: ScenarioResult
) -> dict[str, tuple[float, dict[str, float]]]:
    accounts, users = (2, 2) if ctx.tiny else (4, 16)
    levels = [1, 4] if ctx.tiny else [1, 16, 64]
    totals = {1: 20, 4: 40} if ctx.tiny else {1: 1500, 16: 4000, 64: 4000}
    max_s = 10.0 if ctx.tiny else 20.0
    work = ctx.work_dir / "text"
    work.mkdir(parents=True, exist_ok=True)
    curve: dict[str, tuple[float, dict[str, float]]] = {}
    all_sent: list[tuple[Conversation, str]] = []
    async with ilink_stack(work, StackOptions(accounts=accounts, users=users)) as stack:
        await stack.sim_call("POST", "/_sim/config", {"record_requests": False})
        await stack.wait_parked(accounts)
        conversations = await prime_conversations(stack)
        _, warm, _ = await _text_level(
            stack, conversations, concurrency=4, total=40, max_s=max_s, tag="warm"
        )
        all_sent += warm
        for concurrency in levels:
            window = stack.group.cpu_window().start()
            latencies, sent, wall = await _text_level(
                stack,
                conversations,
                concurrency=concurrency,
                total=totals[concurrency],
                max_s=max_s,
                tag=f"c{concurrency}",
            )
            window.stop()
            all_sent += sent
            pct = percentiles_ms(latencies)
            rate = len(latencies) / wall
            curve[str(concurrency)] = (rate, pct)
            result.cpu[f"text, concurrency {concurrency}"] = window.percent()
            result.data[f"text_c{concurrency}"] = {
                **pct,
                "requests": len(latencies),
                "wall_s": round(wall, 3),
            }
            result.rows.append(
                {
                    "send": "text",
                    "concurrency": concurrency,
                    "requests": len(latencies),
                    "req/s": round(rate, 1),
                    "p50 ms": pct["p50"],
                    "p95 ms": pct["p95"],
                    "p99 ms": pct["p99"],
                    "max ms": pct["max"],
                    "MiB/s": "",
                    "peak growth MiB": "",
                    "verified": "",
                }
            )
        expected, found = await _verify_texts(stack, all_sent)
        text_rows = [r for r in result.rows if r["send"] == "text"]
        for row in text_rows:
            row["verified"] = "yes" if found == expected else f"**no** ({found}/{expected})"
        result.data["text_verified"] = {"expected": expected, "found": found}
        result.notes.append(
            f"Text: {accounts} accounts × {users} users = {len(conversations)} conversations; "
            f"each request goes to the next conversation in turn with its context token; at most "
            f"{max_s:g} s per level. The simulator's sent lists held {found} of the {expected} "
            "texts sent (warm-up included), each to the right user."
        )
    return curve


# --- media ------------------------------------------------------------------------------------


def _write_random_file(path: Path, size: int) -> str:
    digest = hashlib.sha256()
    with path.open("wb") as f:
        remaining = size
        while remaining > 0:
            chunk = os.urandom(min(MIB, remaining))
            digest.update(chunk)
            f.write(chunk)
            remaining -= len(chunk)
    return digest.hexdigest()


def _file_item(path: Path) -> dict[str, Any]:
    return {"type": "file", "file_type": 4, "url": str(path), "file_name": path.name}


async def _sent_file_hash(stack: IlinkStack, bot_id: str) -> tuple[int, str] | None:
    """The size and SHA-256 of the last file the bot sent, as the simulator decrypted it."""
    answer = await stack.sim_call("GET", f"/_sim/bots/{bot_id}/sent")
    files = [i for m in answer["messages"] for i in m["items"] if i["type"] == "file"]
    if not files or files[-1].get("error") or files[-1].get("data_base64") is None:
        return None
    data = base64.b64decode(files[-1]["data_base64"])
    return len(data), hashlib.sha256(data).hexdigest()


async def _media_size(ctx: RunContext, size: int, repeats: int) -> dict[str, Any]:
    work = ctx.work_dir / f"out-{size}"
    work.mkdir(parents=True, exist_ok=True)
    path = work / f"bench-{size}.bin"
    digest = await asyncio.to_thread(_write_random_file, path, size)
    warm_path = work / "warm-up.bin"
    await asyncio.to_thread(_write_random_file, warm_path, WARM_UP_BYTES)
    opts = StackOptions(accounts=repeats + 1, users=1)
    sends: list[dict[str, Any]] = []
    async with ilink_stack(work, opts) as stack:
        await stack.sim_call("POST", "/_sim/config", {"record_requests": False})
        await stack.wait_parked(repeats + 1)
        conversations = await prime_conversations(stack)
        await _post_send(stack, _send_body(conversations[-1], _file_item(warm_path)))
        gateway = stack.gateway
        for rep in range(repeats):
            rss_before = gateway.rss_bytes()
            if not gateway.reset_peak_rss():
                raise RuntimeError("cannot reset VmHWM through /proc/<pid>/clear_refs")
            window = stack.group.cpu_window().start()
            sampler = RssSampler(gateway)
            async with sampler.running():
                took, _ = await _post_send(stack, _send_body(conversations[rep], _file_item(path)))
            window.stop()
            peak = gateway.peak_rss_bytes()
            base = sampler.samples[0][1] if sampler.samples else rss_before
            sends.append(
                {
                    "took_ns": took,
                    "rss_before": rss_before,
                    "peak_rss": peak,
                    "cpu": window.percent(),
                    "timeline": [(t, (rss - base) / MIB) for t, rss in sampler.samples],
                }
            )
        checks = [await _sent_file_hash(stack, bot_id) for _, bot_id in stack.accounts[:repeats]]
    verified = all(check == (size, digest) for check in checks)
    return {
        "sends": sends,
        "verified": verified,
        "checks_ok": sum(c == (size, digest) for c in checks),
    }


async def _media(ctx: RunContext, result: ScenarioResult) -> dict[str, list[tuple[float, float]]]:
    sizes = [MIB] if ctx.tiny else [MIB, 20 * MIB, 100 * MIB]
    repeats = 1 if ctx.tiny else 3
    timelines: dict[str, list[tuple[float, float]]] = {}
    media_rows: list[dict[str, Any]] = []
    for size in sizes:
        measured = await _media_size(ctx, size, repeats)
        sends = measured["sends"]
        label = size_label(size)
        times = [s["took_ns"] for s in sends]
        median_s = sorted(times)[len(times) // 2] / 1e9
        pct = percentiles_ms(times)
        growth = max(s["peak_rss"] - s["rss_before"] for s in sends)
        row = {
            "send": f"file {label}",
            "concurrency": 1,
            "requests": len(sends),
            "req/s": "",
            "p50 ms": pct["p50"],
            "p95 ms": "",
            "p99 ms": "",
            "max ms": pct["max"],
            "MiB/s": round(size / MIB / median_s, 1),
            "peak growth MiB": round(growth / MIB, 1),
            "verified": "yes"
            if measured["verified"]
            else f"**no** ({measured['checks_ok']}/{len(sends)})",
            "size MiB": size // MIB,
        }
        media_rows.append(row)
        result.rows.append(row)
        result.cpu[f"file {label}"] = sends[0]["cpu"]
        result.data[f"file {label}"] = [
            {
                "took_s": round(s["took_ns"] / 1e9, 4),
                "rss_before": s["rss_before"],
                "peak_rss": s["peak_rss"],
            }
            for s in sends
        ]
        timelines[label] = sends[0]["timeline"]
    result.targets.append(peak_target("media out", media_rows, ctx.tiny))
    for row in media_rows:
        row.pop("size MiB")
    result.notes.append(
        f"Files: a fresh stack per size, a 64 KiB warm-up, then {repeats} sends of the same file "
        "(p50 and max of the POST /send time; MiB/s from the median; peak growth = the worst "
        "VmHWM after a send − RSS just before it, VmHWM reset through /proc/<pid>/clear_refs). "
        "Each send's copy as the simulator decrypted it is compared with the file (SHA-256)."
    )
    return timelines


# --- plots and the scenario -------------------------------------------------------------------


def _text_drawer(curve: dict[str, tuple[float, dict[str, float]]]) -> Callable[[Any], None]:
    def draw(ax: Any) -> None:
        levels = list(curve)
        xs = range(len(levels))
        ax.bar(xs, [curve[c][0] for c in levels], color="tab:blue", alpha=0.6, label="req/s")
        ax.set_xticks(list(xs), [f"concurrency {c}" for c in levels])
        ax.set_ylabel("requests per second")
        other = ax.twinx()
        for key, style in (("p50", "o-"), ("p99", "s--")):
            other.plot(
                list(xs),
                [curve[c][1][key] for c in levels],
                style,
                color="tab:red",
                label=f"{key} ms",
            )
        other.set_ylabel("latency, ms")
        lines, labels = ax.get_legend_handles_labels()
        more, more_labels = other.get_legend_handles_labels()
        ax.legend(lines + more, labels + more_labels, loc="upper left")

    return draw


async def run(ctx: RunContext) -> ScenarioResult:
    result = ScenarioResult(scenario="outbound", title=TITLE, size=ctx.size, columns=COLUMNS)
    load = load_note()
    curve = await _text(ctx, result)
    timelines = await _media(ctx, result)
    result.plots += [
        Plot("text", "POST /send (text): rate and latency by concurrency", _text_drawer(curve)),
        Plot("rss", "Gateway RSS while sending a file", rss_drawer(timelines, since="POST /send")),
    ]
    result.notes.append(
        "Latency is the driver's POST /send round trip: the gateway's checks, the conversation "
        "lock, sendmessage to the simulator and the answer. The driver, the gateway and the "
        "simulator share the machine's two cores (see CPU)."
    )
    result.notes.append(load)
    return result
