"""The media-in scenario at tiny size: a 1 MiB inbound file reaches the sink, stored intact."""

from __future__ import annotations

import json
from pathlib import Path

from benchmarks.results import write_result
from benchmarks.scenarios import RunContext
from benchmarks.scenarios.media_in import run


async def test_media_in_tiny(tmp_path: Path) -> None:
    work = tmp_path / "work"
    work.mkdir()
    result = await run(RunContext("tiny", work))

    [row] = result.rows
    assert row["size MiB"] == 1
    assert row["verified"] == "yes"  # size and SHA-256 of the stored file
    assert row["gateway s"] > 0
    assert row["MiB/s"] > 0
    assert 0 <= row["peak growth MiB"] < 64
    assert result.cpu["1 MiB"]["gateway"] >= 0
    [target] = result.targets
    assert target.met is None  # a smoke run measures nothing

    out = tmp_path / "out"
    paths = write_result(result, out)
    assert (out / "media-in.json") in paths
    assert (out / "media-in-rss.png").stat().st_size > 0
    body = json.loads((out / "media-in.json").read_text())
    assert body["scenario"] == "media-in"
    assert body["rows"][0]["verified"] == "yes"
