"""Inbound media: saved under the inbound directory, described in the event; a failed download
never blocks the event or the cursor."""

from __future__ import annotations

import asyncio
from pathlib import Path

from tests.service.harness import GatewayHarness
from weixin_gateway.simulator import MediaSpec
from weixin_gateway.simulator.faults import FaultPlan


async def test_image_saved_and_described(harness: GatewayHarness) -> None:
    h = harness
    await h.register()
    assert h.bot is not None
    injected = h.sim.inject_message(h.bot.bot_id, items=[MediaSpec("image", size=3000)])
    [event] = await h.upstream.wait_events(1)
    [attachment] = event["attachments"]
    assert attachment["kind"] == "image"
    path = Path(attachment["path"])
    assert path.parent == (h.data_dir / "inbound").resolve()
    assert (await asyncio.to_thread(path.stat)).st_size == attachment["size"] == 3000
    assert attachment["filename"] == path.name
    assert attachment["mime_type"].startswith("image/")
    assert str(path) in event["text"]
    assert event["text"].startswith("用户发送了以下附件")
    assert injected.message_id == event["raw"]["message_id"]


async def test_failed_download_still_delivers_and_next_message_flows(
    harness: GatewayHarness,
) -> None:
    h = harness
    await h.register()
    assert h.bot is not None
    h.sim.add_fault(FaultPlan(kind="status", route="cdn_download", status=500, count=None))
    h.sim.inject_message(h.bot.bot_id, text="see file", items=[MediaSpec("file", size=100)])
    h.sim.inject_message(h.bot.bot_id, text="plain after")
    first, second = await h.upstream.wait_events(2, timeout=30)
    [attachment] = first["attachments"]
    assert attachment["path"] == ""
    assert attachment["error"]
    assert first["text"].startswith("see file")
    assert second["text"] == "plain after"
