"""The idle-scale scenario at tiny size: every registered account ends up with a parked long poll,
one socket each on both sides, and the results are written."""

from __future__ import annotations

import json
from pathlib import Path

from benchmarks.results import write_result
from benchmarks.scenarios import RunContext
from benchmarks.scenarios.idle import run


async def test_idle_scale_tiny(tmp_path: Path) -> None:
    work = tmp_path / "work"
    work.mkdir()
    result = await run(RunContext("tiny", work))

    baseline, *steps = result.rows
    assert baseline["accounts"] == 0
    assert baseline["gateway RSS MB"] > 0
    assert [row["accounts"] for row in steps] == [10, 20]
    for row in steps:
        accounts = row["accounts"]
        assert result.data[str(accounts)]["held_polls_at_end"] == accounts  # all parked
        # a socket per parked poll on each side (plus the processes' own files)
        assert accounts <= row["gateway fds"] - baseline["gateway fds"] <= 2 * accounts + 10
        assert accounts <= row["simulator fds"] - baseline["simulator fds"] <= accounts + 10
        assert row["gateway RSS MB"] >= baseline["gateway RSS MB"] * 0.9
        assert row["register/s"] > 0
        assert 0 <= row["gateway CPU %"] < 200
    assert {"no account", "10: first hold", "10: parked", "20: parked"} <= set(result.cpu)
    assert [t.met for t in result.targets] == [None, None]  # a smoke run measures nothing

    out = tmp_path / "out"
    paths = write_result(result, out)
    for name in ("idle-scale.json", "idle-scale.md", "idle-scale-rss.png", "idle-scale-cpu.png"):
        assert out / name in paths
        assert (out / name).stat().st_size > 0
    body = json.loads((out / "idle-scale.json").read_text())
    assert body["scenario"] == "idle-scale"
    assert body["rows"][-1]["accounts"] == 20
