"""The inbound scenarios at tiny size: every message arrives once and in order, in every variant
(callback and inbox, SQLite and PostgreSQL, slow upstream)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from benchmarks.results import write_result
from benchmarks.scenarios import RunContext
from benchmarks.scenarios.inbound import run_latency, run_throughput
from benchmarks.sink import parse_marker

pytestmark = pytest.mark.slow


async def test_inbound_latency_tiny(tmp_path: Path) -> None:
    work = tmp_path / "work"
    work.mkdir()
    result = await run_latency(RunContext("tiny", work))
    assert [row["rate msg/s"] for row in result.rows] == [20, 50]
    for row in result.rows:
        assert row["received"] == row["messages"] > 0
        assert 0 < row["p50 ms"] <= row["p95 ms"] <= row["p99 ms"] <= row["max ms"]
        assert row["max ms"] < 10_000
    assert set(result.cpu) == {"20 msg/s", "50 msg/s"}
    assert all(t.met is None for t in result.targets)  # a tiny run claims nothing
    paths = write_result(result, tmp_path / "out")
    assert (tmp_path / "out" / "inbound-latency-cdf.png").stat().st_size > 0
    assert json.loads(paths[0].read_text())["rows"] == result.rows


async def test_inbound_throughput_tiny(tmp_path: Path) -> None:
    work = tmp_path / "work"
    work.mkdir()
    result = await run_throughput(RunContext("tiny", work))
    assert [row["variant"] for row in result.rows] == [
        "callback, SQLite",
        "callback, PostgreSQL",
        "inbox, SQLite",
        "inbox, PostgreSQL",
        "callback, SQLite, upstream 50 ms",
    ]
    for row in result.rows:
        assert row["received"] == row["messages"] == 60, row
        assert (row["lost"], row["duplicates"]) == (0, 0), row
        assert row["out of order"] == ("—" if row["variant"].startswith("inbox") else 0), row
        assert row["msg/s"] > 0
        assert row["gateway CPU ms/msg"] > 0
    write_result(result, tmp_path / "out")
    assert (tmp_path / "out" / "inbound-throughput-timeline.png").stat().st_size > 0


def test_marker() -> None:
    assert parse_marker("b 7 123") == (7, 123)
    assert parse_marker("b 7") is None
    assert parse_marker("hello 7 123") is None
    assert parse_marker("b x 1") is None
