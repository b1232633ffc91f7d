"""A worker process that dies holding inbox leases: its messages come back, nothing is lost."""

from __future__ import annotations

import asyncio
import json
import sys

from tests.service.harness import GatewayHarness, eventually

WORKER = """
import asyncio, json, sys, aiohttp

async def main() -> None:
    async with aiohttp.ClientSession() as http:
        body = {"worker_id": "doomed", "limit": 10, "lease_ms": 1000}
        async with http.post(sys.argv[1] + "/inbox/claim", json=body) as response:
            claimed = (await response.json())["messages"]
    print(json.dumps([m["id"] for m in claimed]), flush=True)
    await asyncio.sleep(3600)  # dies here, holding its leases

asyncio.run(main())
"""


async def test_leases_of_a_killed_worker_run_out(harness_inbox: GatewayHarness) -> None:
    h = harness_inbox
    await h.register()
    assert h.bot is not None
    for i in range(3):
        h.sim.inject_message(h.bot.bot_id, text=f"job {i}")

    async def three_pending() -> bool:
        _, body = await h.call("GET", "/inbox/messages")
        return len(body["messages"]) == 3

    await eventually(three_pending)
    worker = await asyncio.create_subprocess_exec(
        sys.executable, "-c", WORKER, h.base_url, stdout=asyncio.subprocess.PIPE
    )
    try:
        assert worker.stdout is not None
        async with asyncio.timeout(20):
            held = json.loads(await worker.stdout.readline())
        assert len(held) == 3
        status, body = await h.call("POST", f"/inbox/messages/{held[0]}/claim", body={
            "worker_id": "survivor"})  # fmt: skip
        assert status == 409
        assert body["holder"] == "doomed"
    finally:
        worker.kill()
        await worker.wait()

    async def reclaimed() -> list[str]:
        _, answer = await h.call("POST", "/inbox/claim", body={"worker_id": "survivor"})
        return [m["id"] for m in answer["messages"]]

    again = await eventually(reclaimed, timeout=10)
    assert again == held
    for message_id in again:
        status, body = await h.call(
            "POST", f"/inbox/messages/{message_id}/complete", body={"worker_id": "survivor"}
        )
        assert status == 200
        assert body["message"]["status"] == "completed"
