"""A large file through upload and download in bounded memory (the gateway moves 100 MB files)."""

from __future__ import annotations

import hashlib
import os
import tracemalloc
from pathlib import Path

from weixin_gateway.ilink.client import WeixinClient
from weixin_gateway.ilink.media import build_media_item
from weixin_gateway.simulator import SimBot, Simulator

from .conftest import requests_to

MiB = 1 << 20
SIZE = 40 * MiB + 5  # not a multiple of the chunk or block size
BOUND = 12 * MiB  # a whole-file buffer anywhere would need at least 40 MiB


def write_random(path: Path, size: int) -> str:
    digest = hashlib.md5(usedforsecurity=False)
    with path.open("wb") as f:
        remaining = size
        while remaining:
            chunk = os.urandom(min(MiB, remaining))
            digest.update(chunk)
            f.write(chunk)
            remaining -= len(chunk)
    return digest.hexdigest()


def md5_of(path: Path) -> str:
    digest = hashlib.md5(usedforsecurity=False)
    with path.open("rb") as f:
        while chunk := f.read(MiB):
            digest.update(chunk)
    return digest.hexdigest()


async def test_large_round_trip_in_bounded_memory(
    sim: Simulator, bot: SimBot, client: WeixinClient, tmp_path: Path
) -> None:
    source = tmp_path / "big.bin"
    md5 = write_random(source, SIZE)
    target = tmp_path / "back.bin"
    # Both sides run in this process and both stream (the simulator spools blobs to disk), so
    # the traced peak covers the SDK and the server together.
    tracemalloc.start()
    try:
        result = await client.send_file(bot.user_id, source)
        _, upload_peak = tracemalloc.get_traced_memory()
        tracemalloc.reset_peak()
        item = build_media_item(result.media)  # no full_url: the CDN fallback URL
        written = await client.download_media_to(item, target)
        _, download_peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert result.media.md5 == md5
    assert requests_to(sim, "cdn_upload")[0].body_size == (SIZE // 16 + 1) * 16
    assert written == SIZE
    assert md5_of(target) == md5
    assert upload_peak < BOUND, f"upload peaked at {upload_peak / MiB:.1f} MiB"
    assert download_peak < BOUND, f"download peaked at {download_peak / MiB:.1f} MiB"
