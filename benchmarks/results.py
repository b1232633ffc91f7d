"""A scenario's result, and how it is written: JSON, a Markdown table and PNG plots.

Files go to ``docs/benchmarks/`` (or ``--out``): ``<scenario>.json``, ``<scenario>.md`` and
``<scenario>-<plot>.png``; ``python -m benchmarks report`` gathers every ``*.json`` there into
``docs/benchmarks/README.md``.
"""

from __future__ import annotations

import json
import os
import platform
import statistics
import sys
import timeit
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

__all__ = [
    "Plot",
    "ScenarioResult",
    "Target",
    "machine",
    "percentiles_ms",
    "write_report",
    "write_result",
]


@dataclass
class Target:
    """One of the issue's targets and whether this run met it (``None``: not measured here)."""

    name: str
    goal: str
    measured: str
    met: bool | None


@dataclass
class Plot:
    """A PNG to draw: ``draw(ax)`` gets one matplotlib Axes."""

    name: str
    title: str
    draw: Callable[[Any], None]


@dataclass
class ScenarioResult:
    scenario: str
    title: str
    size: str
    columns: list[str]
    rows: list[dict[str, Any]] = field(default_factory=list)
    targets: list[Target] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    #: CPU % of one core per process, per measured phase (200 % = both cores)
    cpu: dict[str, dict[str, float]] = field(default_factory=dict)
    plots: list[Plot] = field(default_factory=list)
    #: raw figures kept in the JSON (keep them small: summaries, not every sample)
    data: dict[str, Any] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        body = asdict(self)
        body.pop("plots")
        body["plots"] = [f"{self.scenario}-{p.name}.png" for p in self.plots]
        body["machine"] = machine()
        body["finished_at"] = datetime.now(UTC).isoformat(timespec="seconds")
        return body


def machine() -> dict[str, Any]:
    return {
        "python": sys.version.split()[0],
        "platform": platform.platform(),
        "cpus": os.cpu_count(),
        "processor": platform.processor() or platform.machine(),
        "speed_us": python_speed_us(),
    }


def python_speed_us() -> float:
    """µs for ``sum(range(1000))`` in this interpreter, best of 5: how fast this machine runs
    Python right now. Runs on different days (or hosts) differ by this factor; compare figures
    across runs only after scaling by it."""
    timer = timeit.Timer("sum(range(1000))")
    return round(min(timer.repeat(repeat=5, number=2000)) / 2000 * 1e6, 2)


def percentiles_ms(samples_ns: Sequence[int]) -> dict[str, float]:
    """p50/p95/p99/max of nanosecond samples, in milliseconds (all 0 for no samples)."""
    if not samples_ns:
        return {"p50": 0.0, "p95": 0.0, "p99": 0.0, "max": 0.0}
    ordered = sorted(samples_ns)

    def at(q: float) -> float:
        index = min(len(ordered) - 1, max(0, round(q * (len(ordered) - 1))))
        return round(ordered[index] / 1e6, 2)

    return {"p50": at(0.50), "p95": at(0.95), "p99": at(0.99), "max": round(ordered[-1] / 1e6, 2)}


def mean(values: Sequence[float]) -> float:
    return statistics.fmean(values) if values else 0.0


def _cell(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:,.2f}" if abs(value) < 100 else f"{value:,.0f}"
    if isinstance(value, int) and not isinstance(value, bool):
        return f"{value:,}"
    return str(value)


def markdown(result: ScenarioResult) -> str:
    lines = [f"## {result.title}", ""]
    if result.size != "full":
        lines += [f"_Size: {result.size} (a smoke run, not a measurement)._", ""]
    lines.append("| " + " | ".join(result.columns) + " |")
    lines.append("|" + "---|" * len(result.columns))
    for row in result.rows:
        lines.append("| " + " | ".join(_cell(row.get(c, "")) for c in result.columns) + " |")
    if result.targets:
        lines += ["", "| target | goal | measured | met |", "|---|---|---|---|"]
        for t in result.targets:
            met = "—" if t.met is None else ("yes" if t.met else "**no**")
            lines.append(f"| {t.name} | {t.goal} | {t.measured} | {met} |")
    if result.cpu:
        procs = sorted({name for phase in result.cpu.values() for name in phase})
        lines += ["", "CPU, % of one core (200 % = both cores):", ""]
        lines.append("| phase | " + " | ".join(procs) + " |")
        lines.append("|" + "---|" * (len(procs) + 1))
        for phase, usage in result.cpu.items():
            lines.append(
                f"| {phase} | " + " | ".join(_cell(usage.get(p, "")) for p in procs) + " |"
            )
    for plot in result.plots:
        lines += ["", f"![{plot.title}]({result.scenario}-{plot.name}.png)"]
    if result.notes:
        lines.append("")
        lines += [f"- {note}" for note in result.notes]
    return "\n".join(lines) + "\n"


def _draw(result: ScenarioResult, out_dir: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    for plot in result.plots:
        fig, ax = plt.subplots(figsize=(7, 4), dpi=100)
        try:
            plot.draw(ax)
            ax.set_title(plot.title)
            ax.grid(True, alpha=0.3)
            fig.tight_layout()
            fig.savefig(out_dir / f"{result.scenario}-{plot.name}.png")
        finally:
            plt.close(fig)


def write_result(result: ScenarioResult, out_dir: Path) -> list[Path]:
    out_dir.mkdir(parents=True, exist_ok=True)
    json_path = out_dir / f"{result.scenario}.json"
    md_path = out_dir / f"{result.scenario}.md"
    json_path.write_text(json.dumps(result.to_json(), indent=2, ensure_ascii=False) + "\n")
    md_path.write_text(markdown(result))
    _draw(result, out_dir)
    return [
        json_path,
        md_path,
        *(out_dir / f"{result.scenario}-{p.name}.png" for p in result.plots),
    ]


def targets_table(out_dir: Path, order: Sequence[str]) -> str:
    """Every scenario's targets from its JSON file, as one Markdown table."""
    lines = ["| scenario | target | goal | measured | met |", "|---|---|---|---|---|"]
    for name in order:
        path = out_dir / f"{name}.json"
        if not path.exists():
            continue
        body = json.loads(path.read_text())
        for t in body.get("targets", []):
            met = "—" if t["met"] is None else ("yes" if t["met"] else "**no**")
            lines.append(f"| {name} | {t['name']} | {t['goal']} | {t['measured']} | {met} |")
    return "\n".join(lines) + "\n"


def write_report(out_dir: Path, order: Sequence[str]) -> Path:
    """``README.md`` in ``out_dir``: the targets of every scenario, ``analysis.md`` (kept by
    hand) when there is one, then each scenario's Markdown, in ``order``."""
    parts = [
        "# Benchmarks",
        "",
        "Measured with `python -m benchmarks run all` on the machine named in each JSON file;",
        "simulator, gateway and sink upstream run as separate processes on 127.0.0.1.",
        "Regenerate this page with `python -m benchmarks report`; how the figures are taken:",
        "[benchmarks/README.md](../../benchmarks/README.md).",
        "",
        "## Targets",
        "",
        targets_table(out_dir, order),
    ]
    analysis = out_dir / "analysis.md"  # written by hand: what limits the targets not met
    if analysis.exists():
        parts.append(analysis.read_text())
    for name in order:
        md = out_dir / f"{name}.md"
        if md.exists():
            parts.append(md.read_text())
    path = out_dir / "README.md"
    path.write_text("\n".join(parts))
    return path
