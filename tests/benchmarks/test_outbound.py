"""The outbound scenario at tiny size: every text send reaches the simulator, a file goes out
intact."""

from __future__ import annotations

import json
from pathlib import Path

from benchmarks.results import write_result
from benchmarks.scenarios import RunContext
from benchmarks.scenarios.outbound import run


async def test_outbound_tiny(tmp_path: Path) -> None:
    work = tmp_path / "work"
    work.mkdir()
    result = await run(RunContext("tiny", work))

    text = [r for r in result.rows if r["send"] == "text"]
    files = [r for r in result.rows if r["send"] != "text"]
    assert [r["concurrency"] for r in text] == [1, 4]
    for row in text:
        assert row["verified"] == "yes"  # the simulator holds exactly the texts sent
        assert row["requests"] > 0
        assert row["req/s"] > 0
        assert 0 < row["p50 ms"] <= row["max ms"]
    verified = result.data["text_verified"]
    assert verified["found"] == verified["expected"] > 0
    [file_row] = files
    assert file_row["send"] == "file 1 MiB"
    assert file_row["verified"] == "yes"  # the simulator's decrypted copy has the file's SHA-256
    assert file_row["MiB/s"] > 0
    assert 0 <= file_row["peak growth MiB"] < 64
    assert {"text, concurrency 1", "text, concurrency 4", "file 1 MiB"} <= set(result.cpu)

    out = tmp_path / "out"
    paths = write_result(result, out)
    assert (out / "outbound.json") in paths
    for plot in ("text", "rss"):
        assert (out / f"outbound-{plot}.png").stat().st_size > 0
    body = json.loads((out / "outbound.json").read_text())
    assert body["scenario"] == "outbound"
