"""Inbound scenarios: a message injected at the simulator until it reaches the upstream.

**inbound-latency** injects at fixed rates (50 and 500 msg/s) spread over 100 accounts, callback
mode, and reports p50/p95/p99/max of the time from injection (the driver's ``CLOCK_MONOTONIC``,
written into the message text) to arrival at the sink (same clock, another process).

**inbound-throughput** offers more than the gateway can take (the simulator queues the rest, as
WeChat does) and reports the rate at which messages reach the upstream from the first injection
to the last arrival, with nothing lost (every sequence number exactly once) and each
conversation in order: callback and inbox mode (batch claim + batch complete), on SQLite and on
PostgreSQL, and in callback mode with an upstream that takes 50 ms per event.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from benchmarks.results import Plot, ScenarioResult, Target, percentiles_ms
from benchmarks.scenarios import RunContext
from benchmarks.sink import SinkState
from benchmarks.stack import IlinkStack, StackOptions, ilink_stack

__all__ = ["LATENCY_TITLE", "THROUGHPUT_TITLE", "run_latency", "run_throughput"]

LATENCY_TITLE = "Inbound latency: simulator → gateway → upstream (callback, SQLite)"
THROUGHPUT_TITLE = "Inbound throughput: sustained msg/s with nothing lost"
TICK_S = 0.01
BATCH_MAX = 1000


@dataclass
class Injector:
    """Injects messages ``b <seq> <ns>`` round-robin over the accounts and users.

    One request at a time, in order (each conversation's messages reach the simulator in their
    sequence order); messages that fall due while a request is out go in the next one. ``ns`` is
    the time a message fell due, so a slow driver shows up as latency rather than hiding it;
    ``injected_ns`` keeps, by seq, when the simulator put each message in its bot's mailbox
    (its answer's ``injected_ns``).
    """

    stack: IlinkStack
    next_seq: int = 0
    sent: int = 0
    first_ns: int = 0
    last_ns: int = 0
    queue: list[dict[str, Any]] = field(default_factory=list)
    sender: asyncio.Task[None] | None = None
    injected_ns: dict[int, int] = field(default_factory=dict)

    def conversation(self, seq: int) -> tuple[str, str]:
        accounts, users = self.stack.accounts, self.stack.users
        bot_id = accounts[seq % len(accounts)][1]
        return bot_id, users[(seq // len(accounts)) % len(users)]

    def due(self, count: int) -> None:
        """``count`` more messages fall due now."""
        now = time.monotonic_ns()
        if not self.first_ns:
            self.first_ns = now
        self.last_ns = now
        for _ in range(count):
            seq = self.next_seq
            self.next_seq += 1
            bot_id, user = self.conversation(seq)
            self.queue.append({"bot_id": bot_id, "from_user_id": user, "text": f"b {seq} {now}"})
        if self.sender is None or self.sender.done():
            self.sender = asyncio.create_task(self._send())

    async def _send(self) -> None:
        while self.queue:
            batch, self.queue = self.queue[:BATCH_MAX], self.queue[BATCH_MAX:]
            answer = await self.stack.sim_call("POST", "/_sim/messages/batch", {"messages": batch})
            for sent, injected in zip(batch, answer["messages"], strict=True):
                self.injected_ns[int(sent["text"].split(" ")[1])] = injected["injected_ns"]
            self.sent += len(batch)

    async def run(self, rate: float, total: int) -> None:
        """Inject ``total`` messages at ``rate`` per second (ticks of 10 ms)."""
        start = time.monotonic()
        first = self.next_seq
        while self.next_seq < first + total:
            due = min(total, int((time.monotonic() - start) * rate) + 1)
            if due > self.next_seq - first:
                self.due(due - (self.next_seq - first))
            await asyncio.sleep(TICK_S)
        await self.drain()

    async def drain(self) -> None:
        if self.sender is not None:
            await self.sender


async def _wait_sink(stack: IlinkStack, expected: int, timeout: float) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while True:
        stats = await stack.sink_stats()
        if stats["received"] >= expected or time.monotonic() > deadline:
            return stats
        await asyncio.sleep(0.1)


# --- inbox consumers ------------------------------------------------------------------------------


class InboxConsumer:
    """Workers that batch-claim and batch-complete, noting arrivals like the sink does."""

    def __init__(self, stack: IlinkStack, workers: int, batch: int) -> None:
        self.stack = stack
        self.state = SinkState()
        self.workers = workers
        self.batch = batch
        self.stopping = False
        self.tasks: list[asyncio.Task[None]] = []

    def start(self) -> None:
        self.tasks = [asyncio.create_task(self._work(f"w{i}")) for i in range(self.workers)]

    async def wait_for(self, count: int, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while len(self.state.seen) < count and time.monotonic() < deadline:  # noqa: ASYNC110
            await asyncio.sleep(0.1)

    async def stop(self) -> None:
        self.stopping = True
        await asyncio.gather(*self.tasks)

    async def _work(self, worker: str) -> None:
        while not self.stopping:
            answer = await self.stack.gateway_call(
                "POST", "/inbox/claim", {"worker_id": worker, "limit": self.batch, "wait": 0.5}
            )
            messages = answer["messages"]
            if not messages:
                continue
            now = time.monotonic_ns()
            for message in messages:
                self.state.note_event(message, now)
            ids = [m["id"] for m in messages]
            await self.stack.gateway_call(
                "POST", "/inbox/complete", {"worker_id": worker, "message_ids": ids}
            )


# --- latency --------------------------------------------------------------------------------------


async def run_latency(ctx: RunContext) -> ScenarioResult:
    accounts = 3 if ctx.tiny else 100
    rates = [20, 50] if ctx.tiny else [50, 500]
    seconds = 1.0 if ctx.tiny else 20.0
    result = ScenarioResult(
        scenario="inbound-latency",
        title=LATENCY_TITLE,
        size=ctx.size,
        columns=[
            "rate msg/s",
            "messages",
            "received",
            "p50 ms",
            "p95 ms",
            "p99 ms",
            "max ms",
            "from due: p50 ms",
            "from due: p99 ms",
        ],
    )
    cdfs: dict[str, list[float]] = {}
    opts = StackOptions(accounts=accounts, users=accounts)
    async with ilink_stack(ctx.work_dir, opts) as stack:
        await stack.wait_parked(accounts)
        injector = Injector(stack)
        await injector.run(rate=20, total=20)  # warm-up: connections, caches
        await _wait_sink(stack, 20, 30)
        for rate in rates:
            await stack.reset_sink()
            total = int(rate * seconds)
            window = stack.group.cpu_window().start()
            await injector.run(rate=rate, total=total)
            stats = await _wait_sink(stack, total, 60)
            window.stop()
            from_injection = _from_injection(stats, injector.injected_ns)
            pct = percentiles_ms(from_injection)
            due = percentiles_ms(stats["latencies_ns"])
            result.rows.append(
                {
                    "rate msg/s": rate,
                    "messages": total,
                    "received": stats["received"],
                    "p50 ms": pct["p50"],
                    "p95 ms": pct["p95"],
                    "p99 ms": pct["p99"],
                    "max ms": pct["max"],
                    "from due: p50 ms": due["p50"],
                    "from due: p99 ms": due["p99"],
                }
            )
            result.cpu[f"{rate} msg/s"] = window.percent()
            result.data[f"rate_{rate}"] = {
                **pct,
                "from_due": due,
                "duplicates": stats["duplicates"],
            }
            cdfs[f"{rate} msg/s"] = sorted(ns / 1e6 for ns in from_injection)
            cdfs[f"{rate} msg/s, from due"] = sorted(ns / 1e6 for ns in stats["latencies_ns"])
    top = result.rows[-1]
    result.targets = [
        Target("p50 at 500 msg/s", "≤ 5 ms", f"{top['p50 ms']} ms", top["p50 ms"] <= 5),
        Target("p99 at 500 msg/s", "≤ 50 ms", f"{top['p99 ms']} ms", top["p99 ms"] <= 50),
    ]
    if ctx.tiny:
        for t in result.targets:
            t.met = None
    result.plots.append(Plot("cdf", "Inbound latency (CDF)", _cdf_drawer(cdfs)))
    result.notes += [
        f"{accounts} accounts, one user per account conversation stream, {seconds:.0f} s per "
        "rate. The driver lets messages fall due in ticks of 10 ms (5 at once at 500 msg/s) and "
        "sends each tick's in one request to the simulator's control API.",
        "latency (p50 … max) = sink arrival − injection: the simulator's CLOCK_MONOTONIC when "
        "the message entered the bot's mailbox (its answer's injected_ns; one clock for all "
        "processes). 'from due' = sink arrival − the tick the message fell due in the driver, "
        "which adds the driver's request to the simulator.",
    ]
    return result


def _from_injection(stats: dict[str, Any], injected_ns: dict[int, int]) -> list[int]:
    """Each arrival's latency from the message's injection at the simulator."""
    return [
        arrival - injected_ns[seq]
        for seq, arrival in zip(stats["seqs"], stats["arrivals_ns"], strict=True)
    ]


def _cdf_drawer(cdfs: dict[str, list[float]]) -> Callable[[Any], None]:
    def draw(ax: Any) -> None:
        for label, values in cdfs.items():
            if values:
                n = len(values)
                style = "--" if "from due" in label else "-"
                ax.plot(values, [(i + 1) / n for i in range(n)], style, label=label)
        ax.set_xscale("log")
        ax.set_xlabel("latency, ms (log)")
        ax.set_ylabel("fraction of messages")
        ax.legend()

    return draw


# --- throughput -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Variant:
    label: str
    mode: str = "callback"
    postgres: bool = False
    sink_delay_ms: float = 0.0
    users: int = 1


def _variants(tiny: bool) -> list[Variant]:
    users = 2 if tiny else 20
    return [
        Variant("callback, SQLite"),
        Variant("callback, PostgreSQL", postgres=True),
        Variant("inbox, SQLite", mode="inbox"),
        Variant("inbox, PostgreSQL", mode="inbox", postgres=True),
        Variant("callback, SQLite, upstream 50 ms", sink_delay_ms=50, users=users),
    ]


async def _throughput_once(ctx: RunContext, variant: Variant, total: int) -> dict[str, Any]:
    accounts = 3 if ctx.tiny else 100
    opts = StackOptions(
        accounts=accounts,
        users=max(variant.users, 1) * 1,
        mode=variant.mode,
        postgres=variant.postgres,
        sink_delay_ms=variant.sink_delay_ms,
    )
    run_dir = ctx.work_dir / variant.label.replace(" ", "").replace(",", "-")
    run_dir.mkdir()
    async with ilink_stack(run_dir, opts) as stack:
        await stack.wait_parked(accounts)
        consumer = None
        if variant.mode == "inbox":
            consumer = InboxConsumer(stack, workers=4, batch=200)
            consumer.start()
        injector = Injector(stack)
        window = stack.group.cpu_window().start()
        # offer far more than the gateway takes; the simulator queues the rest
        await injector.run(rate=20_000, total=total)
        injected_s = (injector.last_ns - injector.first_ns) / 1e9
        if consumer is None:
            stats = await _wait_sink(stack, total, 180)
        else:
            await consumer.wait_for(total, timeout=180)
            await consumer.stop()
            stats = consumer.state.view()
        window.stop()
        arrivals = sorted(stats["arrivals_ns"])
        elapsed = (arrivals[-1] - injector.first_ns) / 1e9 if arrivals else float("inf")
        return {
            "label": variant.label,
            "messages": total,
            "received": stats["received"],
            "duplicates": stats["duplicates"],
            "out_of_order": stats["out_of_order"],
            "injected_s": injected_s,
            "elapsed_s": elapsed,
            "rate": stats["received"] / elapsed if arrivals else 0.0,
            "cpu": window.percent(),
            "gateway_cpu_ms_per_msg": 1000 * window.cpu_s["gateway"] / max(stats["received"], 1),
            "timeline": _timeline(arrivals, injector.first_ns),
        }


def _timeline(arrivals_ns: list[int], start_ns: int, bucket_s: float = 0.5) -> list[int]:
    if not arrivals_ns:
        return []
    buckets = [0] * (int((arrivals_ns[-1] - start_ns) / 1e9 / bucket_s) + 1)
    for ns in arrivals_ns:
        buckets[int((ns - start_ns) / 1e9 / bucket_s)] += 1
    return buckets


async def run_throughput(ctx: RunContext) -> ScenarioResult:
    total = 60 if ctx.tiny else 20_000
    result = ScenarioResult(
        scenario="inbound-throughput",
        title=THROUGHPUT_TITLE,
        size=ctx.size,
        columns=[
            "variant",
            "messages",
            "received",
            "lost",
            "duplicates",
            "out of order",
            "msg/s",
            "gateway CPU ms/msg",
        ],
    )
    timelines: dict[str, list[int]] = {}
    for variant in _variants(ctx.tiny):
        measured = await _throughput_once(ctx, variant, total)
        result.rows.append(
            {
                "variant": variant.label,
                "messages": total,
                "received": measured["received"],
                "lost": total - measured["received"],
                "duplicates": measured["duplicates"],
                # inbox workers claim in parallel: the order they see is not the gateway's
                "out of order": "—" if variant.mode == "inbox" else measured["out_of_order"],
                "msg/s": round(measured["rate"]),
                "gateway CPU ms/msg": round(measured["gateway_cpu_ms_per_msg"], 3),
            }
        )
        result.cpu[variant.label] = measured["cpu"]
        timelines[variant.label] = measured["timeline"]
        result.data[variant.label] = {
            k: v for k, v in measured.items() if k not in ("timeline", "cpu")
        }
    by_label = {row["variant"]: row for row in result.rows}
    sqlite = by_label["callback, SQLite"]
    slow = by_label["callback, SQLite, upstream 50 ms"]
    result.targets = [
        Target(
            "sustained, SQLite, nothing lost",
            "≥ 3,000 msg/s",
            f"{sqlite['msg/s']:,} msg/s, lost {sqlite['lost']}",
            sqlite["msg/s"] >= 3000 and sqlite["lost"] == 0,
        ),
        Target(
            "upstream taking 50 ms",
            "≥ 1,000 msg/s",
            f"{slow['msg/s']:,} msg/s, lost {slow['lost']}",
            slow["msg/s"] >= 1000 and slow["lost"] == 0,
        ),
    ]
    if ctx.tiny:
        for t in result.targets:
            t.met = None
    result.plots.append(
        Plot("timeline", "Messages reaching the upstream", _timeline_drawer(timelines))
    )
    result.notes.append(
        f"{total:,} messages offered at up to 20,000 msg/s over 100 accounts (the simulator "
        "queues what the gateway has not fetched yet); rate = received ÷ (last arrival − first "
        "injection). Gateway CPU ms/msg is the gateway's CPU time over the run divided by the "
        "messages: it hardly depends on what else the machine is doing. Inbox mode: 4 workers "
        "claiming 200 at a time and completing each batch in one request; order is checked in "
        "callback mode only (parallel inbox workers see batches in any order)."
    )
    return result


def _timeline_drawer(
    timelines: dict[str, list[int]], bucket_s: float = 0.5
) -> Callable[[Any], None]:
    def draw(ax: Any) -> None:
        for label, buckets in timelines.items():
            ax.plot(
                [i * bucket_s for i in range(len(buckets))],
                [n / bucket_s for n in buckets],
                label=label,
            )
        ax.set_xlabel("seconds since the first injection")
        ax.set_ylabel("msg/s reaching the upstream")
        ax.legend(fontsize=8)

    return draw
