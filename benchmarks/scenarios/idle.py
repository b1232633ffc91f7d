"""idle-scale: thousands of accounts long-polling at once in one gateway process (SQLite).

One gateway is grown step by step (1,000 → 5,000 → 10,000 accounts; tiny: 10 → 20). At each
step the new bots are created in the simulator and registered with ``POST /accounts/register``;
once the simulator holds a ``getupdates`` long poll for (nearly) every account
(``GET /_sim/stats`` ``held_polls``), two windows follow, each as long as the hold:

* **first hold**: each new account's first poll comes back (empty, with the bot's first cursor,
  which the gateway stores) and is sent again;
* **parked**: the steady state the targets are about. Every account's poll comes back empty and
  is sent again exactly once in the window, and nothing is written.

The simulator holds each poll 35 s, as long as WeChat tells clients to wait
(``longpolling_timeout_ms`` 35,000), so 10,000 accounts re-arm 286 polls a second. RSS growth
per account is measured against the gateway's RSS with no account, a few seconds after start-up.
"""

from __future__ import annotations

import asyncio
import os
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from benchmarks.procs import Proc
from benchmarks.results import Plot, ScenarioResult, Target
from benchmarks.scenarios import RunContext
from benchmarks.stack import (
    DRIVER_KEEPALIVE_S,
    IlinkStack,
    StackOptions,
    bounded_gather,
    ilink_stack,
)

__all__ = ["TITLE", "run"]

TITLE = "Idle accounts: 10,000 long polls parked in one gateway process (SQLite)"
HOLD_S = 35.0
MB = 1024 * 1024
_TICKS = os.sysconf("SC_CLK_TCK")
RSS_GOAL_MB = 300
CPU_GOAL = 5.0
COLUMNS = [
    "accounts",
    "gateway RSS MB",
    "bytes/account",
    "gateway CPU %",
    "µs CPU/re-arm",
    "re-arms/s",
    "first hold CPU %",
    "simulator CPU %",
    "gateway fds",
    "simulator fds",
    "simulator RSS MB",
    "register/s",
]


def _sizes(tiny: bool) -> list[int]:
    return [10, 20] if tiny else [1_000, 5_000, 10_000]


async def _polls_done(stack: IlinkStack) -> float:
    """The gateway's count of finished polls (``weixin_gateway_polls_total``, all outcomes)."""
    async with stack.http.get(stack.gateway_url + "/metrics") as response:
        text = await response.text()
    return sum(
        float(line.rsplit(" ", 1)[1])
        for line in text.splitlines()
        if line.startswith("weixin_gateway_polls_total{")
    )


async def _create_bots(stack: IlinkStack, count: int) -> list[dict[str, Any]]:
    owner = stack.users[0]
    return await bounded_gather(
        [
            (lambda: stack.sim_call("POST", "/_sim/bots", {"owner_user_id": owner}))
            for _ in range(count)
        ],
        concurrency=64,
    )


async def _register(stack: IlinkStack, bots: list[dict[str, Any]]) -> float:
    """Register ``bots`` as the next accounts; registrations per second."""
    first = len(stack.accounts)
    numbered = list(enumerate(bots, start=first))
    began = time.monotonic()
    await bounded_gather(
        [
            (
                lambda i=i, bot=bot: stack.gateway_call(
                    "POST",
                    "/accounts/register",
                    {"account_id": f"acct{i:05d}", "bot_token": bot["bot_token"]},
                )
            )
            for i, bot in numbered
        ],
        concurrency=32,
    )
    elapsed = time.monotonic() - began
    stack.accounts += [(f"acct{i:05d}", bot["bot_id"]) for i, bot in numbered]
    return len(bots) / max(elapsed, 1e-9)


def _kernel_cpu_s(proc: Proc) -> float:
    """System (kernel) CPU seconds of the process so far."""
    try:
        with open(f"/proc/{proc.pid}/stat") as stat:
            fields = stat.read().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return int(fields[12]) / _TICKS


@dataclass
class Window:
    """What one quiet window measured."""

    cpu: dict[str, float]
    cpu_s: dict[str, float]
    wall_s: float
    polls: float
    peak_rss: int
    held_at_end: int
    #: the gateway's system CPU seconds in the window (its share of ``cpu_s["gateway"]``)
    gateway_kernel_s: float

    @property
    def rearms_per_s(self) -> float:
        return self.polls / self.wall_s

    @property
    def gateway_us_per_rearm(self) -> float:
        return 1e6 * self.cpu_s.get("gateway", 0.0) / self.polls if self.polls else 0.0


async def _window(stack: IlinkStack, seconds: float) -> Window:
    """Sit still for ``seconds``: CPU of each process, polls re-armed, the gateway's peak RSS.

    The driver reads only ``/proc`` while the window runs (one request at each end).
    """
    polls_before = await _polls_done(stack)
    kernel_before = _kernel_cpu_s(stack.gateway)
    window = stack.group.cpu_window().start()
    peak = stack.gateway.rss_bytes()
    deadline = time.monotonic() + seconds
    while (left := deadline - time.monotonic()) > 0:
        await asyncio.sleep(min(1.0, left))
        peak = max(peak, stack.gateway.rss_bytes())
    window.stop()
    kernel_s = _kernel_cpu_s(stack.gateway) - kernel_before
    polls = await _polls_done(stack) - polls_before
    return Window(
        window.percent(),
        dict(window.cpu_s),
        window.wall_s,
        polls,
        peak,
        await stack.held_polls(),
        kernel_s,
    )


def _row(
    accounts: int,
    stack: IlinkStack,
    base_rss: int,
    parked: Window,
    first: Window | None,
    register_rate: float,
) -> dict[str, Any]:
    rss = stack.gateway.rss_bytes()
    return {
        "accounts": accounts,
        "gateway RSS MB": round(rss / MB, 1),
        "bytes/account": round((rss - base_rss) / accounts) if accounts else 0,
        "gateway CPU %": parked.cpu.get("gateway", 0.0),
        "µs CPU/re-arm": round(parked.gateway_us_per_rearm),
        "re-arms/s": round(parked.rearms_per_s, 1),
        "first hold CPU %": first.cpu.get("gateway", 0.0) if first else 0.0,
        "simulator CPU %": parked.cpu.get("simulator", 0.0),
        "gateway fds": stack.gateway.open_fds(),
        "simulator fds": stack.sim.open_fds(),
        "simulator RSS MB": round(stack.sim.rss_bytes() / MB, 1),
        "register/s": round(register_rate),
    }


async def run(ctx: RunContext) -> ScenarioResult:
    sizes = _sizes(ctx.tiny)
    window_s = 1.0 if ctx.tiny else HOLD_S
    result = ScenarioResult(scenario="idle-scale", title=TITLE, size=ctx.size, columns=COLUMNS)
    opts = StackOptions(accounts=0, users=1, hold_seconds=HOLD_S)
    async with ilink_stack(ctx.work_dir, opts) as stack:
        bots = await _create_bots(stack, sizes[-1])
        # start-up done (imports, migrations) and the driver's idle connections to the
        # simulator, left from creating the bots, closed: the baseline counts none of them
        await asyncio.sleep(DRIVER_KEEPALIVE_S + 1.0)
        empty = await _window(stack, 1.0 if ctx.tiny else 5.0)
        base_rss = stack.gateway.rss_bytes()
        result.rows.append(_row(0, stack, base_rss, empty, None, 0.0))
        result.cpu["no account"] = empty.cpu
        for size in sizes:
            began = time.monotonic()
            register_rate = await _register(stack, bots[len(stack.accounts) : size])
            await stack.wait_parked(size, timeout=120, slack=size // 500)
            parked_after = time.monotonic() - began
            first = await _window(stack, window_s)
            parked = await _window(stack, window_s)
            result.rows.append(_row(size, stack, base_rss, parked, first, register_rate))
            result.cpu[f"{size:,}: first hold"] = first.cpu
            result.cpu[f"{size:,}: parked"] = parked.cpu
            result.data[str(size)] = {
                "parked_after_s": round(parked_after, 1),
                "held_polls_at_end": parked.held_at_end,
                "polls_in_window": round(parked.polls),
                "polls_in_first_hold": round(first.polls),
                "gateway_rss_peak_in_windows_mb": round(
                    max(first.peak_rss, parked.peak_rss) / MB, 1
                ),
                "gateway_vmhwm_mb": round(stack.gateway.peak_rss_bytes() / MB, 1),
                "window_s": round(parked.wall_s, 1),
                "gateway_kernel_share_parked": round(
                    parked.gateway_kernel_s / max(parked.cpu_s.get("gateway", 0.0), 1e-9), 2
                ),
            }
        result.data["gateway_rss_at_start_mb"] = round(base_rss / MB, 1)
    top = result.data.get(str(sizes[-1]), {})
    kernel_share = top.get("gateway_kernel_share_parked", 0.0)
    _targets(result, ctx.tiny)
    result.plots += [
        Plot("rss", "RSS with N accounts long-polling", _drawer(result.rows, "RSS MB", "RSS, MB")),
        Plot(
            "cpu", "CPU with N accounts parked", _drawer(result.rows, "CPU %", "CPU, % of one core")
        ),
    ]
    result.notes += [
        f"One gateway grown step by step ({', '.join(f'{s:,}' for s in sizes)} accounts), "
        "SQLite, callback mode. The simulator holds each getupdates "
        f"{HOLD_S:.0f} s, as long as WeChat tells clients to wait, and answers it empty.",
        f"After the simulator holds a poll for every account (≥ 99.8 %, GET /_sim/stats "
        f"held_polls) come two windows of {window_s:.0f} s: 'first hold' (each new account's "
        "first poll returns with the bot's first cursor, which is stored) and 'parked' (the "
        "rows): "
        + (
            "as long as the hold, so every account's poll returns and is sent again once in it."
            if not ctx.tiny
            else "shorter than the hold (a smoke run)."
        ),
        "bytes/account = (gateway RSS − its RSS with no account after start-up) ÷ accounts; "
        "µs CPU/re-arm = the gateway's CPU in the parked window ÷ the polls it finished; "
        "fds = entries of /proc/<pid>/fd (one socket per parked poll on each side).",
    ]
    if not ctx.tiny:
        result.notes.append(
            f"Parked with {sizes[-1]:,} accounts, {kernel_share:.0%} of the gateway's CPU was "
            "kernel time (system CPU in /proc/<pid>/stat); the rest is Python: the kept-alive "
            "connection sending each new getupdates and reading the empty answer, the event "
            "loop, the gateway's own checks."
        )
    return result


def _targets(result: ScenarioResult, tiny: bool) -> None:
    top = result.rows[-1]
    result.targets = [
        Target(
            f"RSS with {top['accounts']:,} idle accounts",
            f"≤ {RSS_GOAL_MB} MB",
            f"{top['gateway RSS MB']} MB",
            top["gateway RSS MB"] <= RSS_GOAL_MB,
        ),
        Target(
            f"CPU with {top['accounts']:,} idle accounts",
            f"≤ {CPU_GOAL:g} % of one core",
            f"{top['gateway CPU %']} %",
            top["gateway CPU %"] <= CPU_GOAL,
        ),
    ]
    if tiny:
        for target in result.targets:
            target.met = None


def _drawer(rows: list[dict[str, Any]], what: str, label: str) -> Callable[[Any], None]:
    def draw(ax: Any) -> None:
        xs = [row["accounts"] for row in rows]
        for proc in ("gateway", "simulator"):
            ax.plot(xs, [row[f"{proc} {what}"] for row in rows], marker="o", label=proc)
        goal = RSS_GOAL_MB if what == "RSS MB" else CPU_GOAL
        ax.axhline(goal, color="red", linestyle="--", label="gateway target")
        ax.set_xlabel("accounts long-polling")
        ax.set_ylabel(label)
        ax.set_ylim(bottom=0)
        ax.legend()

    return draw
