"""The poll-transport scenario at tiny size: both transports complete every request."""

from __future__ import annotations

import json
from pathlib import Path

from benchmarks.results import write_result
from benchmarks.scenarios import RunContext
from benchmarks.scenarios.poll_transport import run


async def test_poll_transport_tiny(tmp_path: Path) -> None:
    work = tmp_path / "work"
    work.mkdir()
    result = await run(RunContext("tiny", work))

    assert [row["transport"] for row in result.rows] == [
        "aiohttp",
        "kept-alive",
        "kept-alive, 20 parked polls",
    ]
    for row in result.rows[:2]:
        assert row["requests"] == 500  # each a 200 with the sink's JSON: a 404 would fail
        assert row["µs CPU/request"] > 0
        assert row["requests/s"] > 0
    assert result.rows[0]["CPU vs aiohttp"] == "1.00×"
    # 20 polls held 1 s each: about 20 re-arms in the window, none lost to errors
    parked = result.data["parked"]
    assert 15 <= parked["rearms_per_s"] <= 25
    assert parked["cpu_us_per_rearm"] > 0

    out = tmp_path / "out"
    write_result(result, out)
    body = json.loads((out / "poll-transport.json").read_text())
    assert body["data"]["kept-alive"]["cpu_us"] > 0
