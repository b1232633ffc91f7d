"""Callback delivery under failure: nothing lost, order kept per conversation, dead events
listed and re-deliverable, a failing conversation never holding up the others."""

from __future__ import annotations

import asyncio
from pathlib import Path

from tests.service.harness import GatewayHarness, eventually


def _texts(events: list[dict[str, object]], user_id: str) -> list[object]:
    return [e["text"] for e in events if e["user_id"] == user_id]


async def test_upstream_fails_then_recovers_nothing_lost_order_kept(
    harness: GatewayHarness,
) -> None:
    h = harness
    await h.register()
    assert h.bot is not None
    other = h.sim.create_user().user_id
    h.upstream.fail_with = 500
    for i in range(5):
        h.sim.inject_message(h.bot.bot_id, text=f"a{i}")
        h.sim.inject_message(h.bot.bot_id, from_user_id=other, text=f"b{i}")
    await eventually(lambda: h.upstream.attempts >= 4)
    assert h.upstream.events == []
    h.upstream.fail_with = None
    events = await h.upstream.wait_events(10, timeout=20)
    assert _texts(events, h.bot.user_id) == [f"a{i}" for i in range(5)]
    assert _texts(events, other) == [f"b{i}" for i in range(5)]
    assert len({e["event_id"] for e in events}) == 10

    async def nothing_pending() -> bool:
        # the upstream has the events; the gateway marks them delivered when the 2xx arrives
        status, body = await h.call("GET", "/deliveries?status=pending")
        assert status == 200
        return body["events"] == []

    await eventually(nothing_pending)
    assert len(h.upstream.events) == 10


async def test_failing_conversation_does_not_hold_up_others(harness: GatewayHarness) -> None:
    h = harness
    await h.register()
    assert h.bot is not None
    blocked = h.bot.user_id
    other = h.sim.create_user().user_id
    h.upstream.fail_when = lambda event: event["user_id"] == blocked
    h.sim.inject_message(h.bot.bot_id, text="stuck 1")
    h.sim.inject_message(h.bot.bot_id, text="stuck 2")
    for i in range(3):
        h.sim.inject_message(h.bot.bot_id, from_user_id=other, text=f"free {i}")
    events = await h.upstream.wait_events(3)
    assert _texts(events, other) == ["free 0", "free 1", "free 2"]
    assert _texts(h.upstream.events, blocked) == []
    h.upstream.fail_when = None
    await eventually(lambda: len(_texts(h.upstream.events, blocked)) == 2, timeout=20)
    assert _texts(h.upstream.events, blocked) == ["stuck 1", "stuck 2"]


async def test_dead_after_retry_budget_then_redelivered(tmp_path: Path, database_url: str) -> None:
    async with GatewayHarness(
        tmp_path / "data", database_url=database_url, retry_max_attempts=2
    ) as h:
        await h.register()
        assert h.bot is not None
        h.upstream.fail_with = 503
        h.sim.inject_message(h.bot.bot_id, text="one")
        h.sim.inject_message(h.bot.bot_id, text="two")

        async def dead() -> list[dict[str, object]]:
            _, body = await h.call("GET", "/deliveries?status=dead")
            events: list[dict[str, object]] = body["events"]
            return events if len(events) == 2 else []

        listed = await eventually(dead, timeout=20)
        assert [e["text"] for e in listed] == ["one", "two"]
        assert all(e["attempts"] == 2 for e in listed)
        assert all("503" in str(e["error"]) for e in listed)
        h.upstream.fail_with = None
        status, body = await h.call(
            "POST", f"/deliveries/{listed[0]['event_id']}/redeliver", body=None
        )
        assert status == 200, body
        [event] = await h.upstream.wait_events(1)
        assert event["text"] == "one"
        assert event["event_id"] == listed[0]["event_id"]
        status, body = await h.call("POST", "/deliveries/redeliver", body={"all": True})
        assert status == 200
        assert body["redelivered"] == [listed[1]["event_id"]]
        events = await h.upstream.wait_events(2)
        assert [e["text"] for e in events] == ["one", "two"]
        status, body = await h.call("POST", f"/deliveries/{listed[0]['event_id']}/redeliver")
        assert status == 409
        assert body["ok"] is False


async def test_signature_and_bearer_on_callbacks(tmp_path: Path) -> None:
    from weixin_gateway.delivery.signing import SIGNATURE_HEADER, verify

    async with GatewayHarness(tmp_path / "data", upstream_shared_secret="shh") as h:
        await h.register()
        assert h.bot is not None
        h.sim.inject_message(h.bot.bot_id, text="signed")
        await h.upstream.wait_events(1)
        headers, body = h.upstream.requests[0]
        assert headers["Authorization"] == "Bearer shh"
        assert verify("shh", body, headers[SIGNATURE_HEADER])
        assert not verify("other", body, headers[SIGNATURE_HEADER])


async def test_restart_resumes_from_stored_cursor(tmp_path: Path, database_url: str) -> None:
    async with GatewayHarness(tmp_path / "data", database_url=database_url) as h:
        await h.register()
        assert h.bot is not None
        h.sim.inject_message(h.bot.bot_id, text="before")
        await h.upstream.wait_events(1)
        await h.stop_gateway()
        h.sim.inject_message(h.bot.bot_id, text="while down 1")
        h.sim.inject_message(h.bot.bot_id, text="while down 2")
        await h.start_gateway()
        events = await h.upstream.wait_events(3)
        assert [e["text"] for e in events] == ["before", "while down 1", "while down 2"]
        assert len({e["event_id"] for e in events}) == 3


async def test_pending_events_delivered_after_restart(tmp_path: Path, database_url: str) -> None:
    async with GatewayHarness(tmp_path / "data", database_url=database_url) as h:
        await h.register()
        assert h.bot is not None
        h.upstream.fail_with = 500
        h.sim.inject_message(h.bot.bot_id, text="kept")
        await eventually(lambda: h.upstream.attempts >= 1)
        await h.stop_gateway()
        h.upstream.fail_with = None
        await h.start_gateway()
        [event] = await h.upstream.wait_events(1)
        assert event["text"] == "kept"


async def test_redelivered_message_id_and_content_dropped(harness: GatewayHarness) -> None:
    from weixin_gateway.simulator.faults import FaultPlan

    h = harness
    await h.register()
    assert h.bot is not None
    h.sim.add_fault(FaultPlan(kind="duplicate", bot_id=h.bot.bot_id, delay_ms=100))
    h.sim.inject_message(h.bot.bot_id, text="only once")
    await asyncio.sleep(0.01)  # a real second message is sent at a later millisecond: kept
    h.sim.inject_message(h.bot.bot_id, text="only once")
    await h.upstream.wait_events(2)
    dropped = 'weixin_gateway_duplicates_dropped_total{reason="content"} 1.0'

    async def duplicate_dropped() -> bool:
        return dropped in (await h.call("GET", "/metrics"))[1]

    await eventually(duplicate_dropped)
    h.sim.inject_message(h.bot.bot_id, text="marker")
    await eventually(lambda: any(e["text"] == "marker" for e in h.upstream.events))
    assert [e["text"] for e in h.upstream.events] == ["only once", "only once", "marker"]


async def test_long_answers_and_closed_connections_still_deliver(harness: GatewayHarness) -> None:
    """Callbacks run on kept-alive connections: an upstream answering 2xx with a body over the
    read limit, or closing each connection, still gets every event once, in order."""
    h = harness
    await h.register()
    assert h.bot is not None
    h.upstream.answer_body = b"x" * (256 * 1024)
    for i in range(3):
        h.sim.inject_message(h.bot.bot_id, text=f"long{i}")
    await h.upstream.wait_events(3)
    h.upstream.answer_body = None
    h.upstream.close_connections = True
    for i in range(3):
        h.sim.inject_message(h.bot.bot_id, text=f"closed{i}")
    events = await h.upstream.wait_events(6)
    assert [e["text"] for e in events] == [
        *(f"long{i}" for i in range(3)),
        *(f"closed{i}" for i in range(3)),
    ]
    await asyncio.sleep(0.3)
    assert h.upstream.attempts == 6  # none was taken for a failure and sent again
    headers, _ = h.upstream.requests[0]
    assert headers["User-Agent"] == "weixin-gateway"
