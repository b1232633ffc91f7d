"""The inbox over the REST API: seed 000's list/show/claim/complete/fail, and our additions.

Ours: claims carry a lease (``lease_ms``; an expired lease puts the message back to
``pending``), a claim held by another worker is a 409 naming the holder, ``worker_id`` is checked
on complete and fail, ``fail`` counts an attempt and makes the message ``failed`` (claimable
again) or ``dead`` past ``WEIXIN_GATEWAY_INBOX_MAX_ATTEMPTS``, ``POST /inbox/claim`` claims a
batch, ``POST /inbox/complete`` and ``POST /inbox/fail`` settle one, and
``GET /inbox/messages?wait=`` long-polls.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from tests.service.api_support import ISO, assert_error, inbox_messages, wait_inbox
from tests.service.harness import GatewayHarness

#: Seed 000's fields of an inbox message.
MESSAGE_KEYS = frozenset(
    {
        "id",
        "type",
        "status",
        "account_id",
        "event_id",
        "chat_id",
        "user_id",
        "chat_type",
        "text",
        "context_token",
        "attachments",
        "callback_attempted",
        "callback_succeeded",
        "claim",
        "error",
        "created_at",
        "updated_at",
    }
)


@pytest.fixture
async def inbox(tmp_path: Path, database_url: str) -> AsyncIterator[GatewayHarness]:
    """Inbox mode, two attempts before a message is dead."""
    async with GatewayHarness(
        tmp_path / "data", database_url=database_url, mode="inbox", inbox_max_attempts=2
    ) as h:
        yield h


async def _inject(h: GatewayHarness, *texts: str) -> list[dict[str, Any]]:
    """Send ``texts`` to the harness bot, one after another; the stored inbox messages."""
    assert h.bot is not None
    before = len(await inbox_messages(h, "?status=all&limit=1000"))
    for text in texts:
        h.sim.inject_message(h.bot.bot_id, text=text)
    messages = await wait_inbox(h, before + len(texts))
    return messages[before:]


async def _post(
    h: GatewayHarness, path: str, body: dict[str, Any] | None = None
) -> tuple[int, dict[str, Any]]:
    status, answer = await h.call("POST", path, body=body)
    assert isinstance(answer, dict), answer
    return status, answer


async def _claim(
    h: GatewayHarness, message_id: str, worker: str, **extra: Any
) -> tuple[int, dict[str, Any]]:
    return await _post(h, f"/inbox/messages/{message_id}/claim", {"worker_id": worker, **extra})


# --- listing and showing ------------------------------------------------------------------------


async def test_list_shape_and_filters(harness_inbox: GatewayHarness) -> None:
    h = harness_inbox
    first_bot = await h.register("wx-a")
    assert h.bot is not None
    bot_a = h.bot
    a1, a2, a3 = await _inject(h, "a1", "a2", "a3")
    await h.register("wx-b")
    assert h.bot is not None
    bot_b = h.bot
    [b1] = await _inject(h, "b1")
    assert first_bot == "wx-a"

    # the default: pending, oldest first
    listed = await inbox_messages(h)
    assert [m["text"] for m in listed] == ["a1", "a2", "a3", "b1"]
    message = listed[0]
    assert message.keys() >= MESSAGE_KEYS, message
    assert message["id"].startswith("msg-")
    assert message["event_id"].startswith("evt-")
    assert message["type"] == "message"
    assert message["status"] == "pending"
    assert message["account_id"] == "wx-a"
    assert message["user_id"] == message["chat_id"] == bot_a.user_id
    assert message["chat_type"] == "c2c"
    assert message["context_token"]
    assert message["attachments"] == []
    assert message["callback_attempted"] is False
    assert message["callback_succeeded"] is False
    assert message["claim"] is None
    assert message["error"] == ""
    assert message["attempts"] == 0
    assert ISO.match(message["created_at"])
    assert ISO.match(message["updated_at"])
    assert isinstance(message["raw"], dict)
    assert message["raw"]["from_user_id"] == bot_a.user_id

    assert [m["text"] for m in await inbox_messages(h, "?limit=2")] == ["a1", "a2"]
    assert [m["text"] for m in await inbox_messages(h, "?account_id=wx-b")] == ["b1"]
    assert [m["user_id"] for m in await inbox_messages(h, "?account_id=wx-b")] == [bot_b.user_id]
    assert [m["text"] for m in await inbox_messages(h, "?account_id=wx-a&limit=1")] == ["a1"]
    assert await inbox_messages(h, "?account_id=wx-nobody") == []

    # status filters follow the messages through claim, complete and fail
    assert (await _claim(h, a1["id"], "w1"))[0] == 200
    assert (await _claim(h, a2["id"], "w1"))[0] == 200
    assert (await _post(h, f"/inbox/messages/{a2['id']}/complete", {"worker_id": "w1"}))[0] == 200
    assert (await _claim(h, b1["id"], "w1"))[0] == 200
    assert (await _post(h, f"/inbox/messages/{b1['id']}/fail", {"error": "boom"}))[0] == 200
    assert [m["text"] for m in await inbox_messages(h)] == ["a3"]
    assert [m["text"] for m in await inbox_messages(h, "?status=pending")] == ["a3"]
    assert [m["text"] for m in await inbox_messages(h, "?status=claimed")] == ["a1"]
    assert [m["text"] for m in await inbox_messages(h, "?status=completed")] == ["a2"]
    assert [m["text"] for m in await inbox_messages(h, "?status=failed")] == ["b1"]
    assert await inbox_messages(h, "?status=dead") == []
    everything = await inbox_messages(h, "?status=all")
    assert [m["text"] for m in everything] == ["a1", "a2", "a3", "b1"]
    assert [m["status"] for m in everything] == ["claimed", "completed", "pending", "failed"]
    assert [m["text"] for m in await inbox_messages(h, "?status=all&account_id=wx-a")] == [
        "a1",
        "a2",
        "a3",
    ]
    assert a3["status"] == "pending"


async def test_show(harness_inbox: GatewayHarness) -> None:
    h = harness_inbox
    await h.register()
    [message] = await _inject(h, "show me")
    status, body = await h.call("GET", f"/inbox/messages/{message['id']}")
    assert status == 200
    assert body["ok"] is True
    assert body["message"] == message
    # an event id finds the same message
    status, body = await h.call("GET", f"/inbox/messages/{message['event_id']}")
    assert status == 200
    assert body["message"]["id"] == message["id"]

    status, body = await h.call("GET", "/inbox/messages/msg-nope")
    assert status == 404
    assert_error(body, "unknown message_id")


async def test_unknown_message(harness_inbox: GatewayHarness) -> None:
    h = harness_inbox
    for action, body in [
        ("claim", {"worker_id": "w1"}),
        ("complete", {"completion_note": "done"}),
        ("fail", {"error": "boom"}),
    ]:
        status, answer = await _post(h, f"/inbox/messages/msg-nope/{action}", body)
        assert status == 404, (action, answer)
        assert_error(answer, "unknown message_id")
    status, answer = await _post(h, "/inbox/messages/msg-nope/claim")  # no body at all
    assert status == 404
    assert_error(answer, "unknown message_id")


# --- claims, leases and workers -----------------------------------------------------------------


async def test_claim_held_by_another_worker(harness_inbox: GatewayHarness) -> None:
    h = harness_inbox
    await h.register()
    [message] = await _inject(h, "mine")
    status, body = await _claim(h, message["id"], "w1")
    assert status == 200, body
    claimed = body["message"]
    assert claimed["status"] == "claimed"
    assert claimed["claim"]["worker_id"] == "w1"
    assert ISO.match(claimed["claim"]["claimed_at"])
    assert claimed["claim"]["lease_expires_at"] > claimed["claim"]["claimed_at"]

    status, body = await _claim(h, message["id"], "w2")
    assert status == 409, body
    assert_error(body, contains="w1")
    assert body["holder"] == "w1"

    # the holder may claim again (renewing its lease)
    status, body = await _claim(h, message["id"], "w1")
    assert status == 200, body
    assert body["message"]["claim"]["worker_id"] == "w1"
    assert body["message"]["claim"]["lease_expires_at"] >= claimed["claim"]["lease_expires_at"]

    status, body = await h.call("GET", f"/inbox/messages/{message['id']}")
    assert body["message"]["claim"]["worker_id"] == "w1"


async def test_lease_expiry(harness_inbox: GatewayHarness) -> None:
    h = harness_inbox
    await h.register()
    [message] = await _inject(h, "short lease")
    status, body = await _claim(h, message["id"], "w1", lease_ms=1000)
    assert status == 200, body
    assert (await _claim(h, message["id"], "w2"))[0] == 409
    assert await inbox_messages(h) == []

    await asyncio.sleep(1.1)
    [back] = await inbox_messages(h)
    assert back["id"] == message["id"]
    assert back["status"] == "pending"
    assert back["claim"] is None
    _, shown = await h.call("GET", f"/inbox/messages/{message['id']}")
    assert shown["message"]["status"] == "pending"

    status, body = await _claim(h, message["id"], "w2")
    assert status == 200, body
    assert body["message"]["claim"]["worker_id"] == "w2"
    # the first worker's lease is gone: it cannot complete any more
    status, body = await _post(h, f"/inbox/messages/{message['id']}/complete", {"worker_id": "w1"})
    assert status == 409, body
    assert body["holder"] == "w2"


async def test_complete(harness_inbox: GatewayHarness) -> None:
    h = harness_inbox
    await h.register()
    [message] = await _inject(h, "do it")
    assert (await _claim(h, message["id"], "w1"))[0] == 200
    status, body = await _post(
        h,
        f"/inbox/messages/{message['id']}/complete",
        {"worker_id": "w2", "completion_note": "not mine"},
    )
    assert status == 409, body
    assert body["holder"] == "w1"

    status, body = await _post(
        h,
        f"/inbox/messages/{message['id']}/complete",
        {"worker_id": "w1", "completion_note": "reply sent"},
    )
    assert status == 200, body
    done = body["message"]
    assert done["id"] == message["id"]
    assert done["status"] == "completed"
    assert done["completion_note"] == "reply sent"
    assert ISO.match(done["completed_at"])
    assert done["claim"] is None

    # completed is final
    status, body = await _claim(h, message["id"], "w1")
    assert status == 409, body
    assert body["status"] == "completed"
    status, body = await _post(h, f"/inbox/messages/{message['id']}/fail", {"worker_id": "w1"})
    assert status == 409, body
    assert (await h.call("GET", f"/inbox/messages/{message['id']}"))[1]["message"][
        "status"
    ] == "completed"


async def test_complete_without_a_claim_as_in_seed(harness_inbox: GatewayHarness) -> None:
    h = harness_inbox
    await h.register()
    [message] = await _inject(h, "no claim")
    status, body = await _post(
        h, f"/inbox/messages/{message['id']}/complete", {"completion_note": "reply sent"}
    )
    assert status == 200, body
    assert body["message"]["status"] == "completed"


async def test_fail_then_dead(inbox: GatewayHarness) -> None:
    h = inbox
    await h.register()
    [message] = await _inject(h, "flaky")
    message_id = message["id"]
    assert (await _claim(h, message_id, "w1"))[0] == 200
    status, body = await _post(
        h, f"/inbox/messages/{message_id}/fail", {"worker_id": "w2", "error": "not mine"}
    )
    assert status == 409, body
    assert body["holder"] == "w1"

    status, body = await _post(
        h, f"/inbox/messages/{message_id}/fail", {"worker_id": "w1", "error": "temporary failure"}
    )
    assert status == 200, body
    failed = body["message"]
    assert failed["status"] == "failed"
    assert failed["error"] == "temporary failure"
    assert failed["attempts"] == 1
    assert ISO.match(failed["failed_at"])
    assert failed["claim"] is None
    assert [m["id"] for m in await inbox_messages(h, "?status=failed")] == [message_id]

    # failed is claimable again, by anyone
    status, body = await _claim(h, message_id, "w2")
    assert status == 200, body
    assert body["message"]["attempts"] == 1
    status, body = await _post(
        h, f"/inbox/messages/{message_id}/fail", {"worker_id": "w2", "error": "again"}
    )
    assert status == 200, body
    dead = body["message"]
    assert dead["status"] == "dead"
    assert dead["attempts"] == 2
    assert dead["error"] == "again"

    status, body = await _claim(h, message_id, "w3")
    assert status == 409, body
    assert body["status"] == "dead"
    status, body = await _post(h, "/inbox/claim", {"worker_id": "w3"})
    assert (status, body["messages"]) == (200, [])
    assert [m["id"] for m in await inbox_messages(h, "?status=dead")] == [message_id]

    # the dead letter is listed under /deliveries and can be re-delivered
    status, body = await h.call("GET", "/deliveries")
    assert status == 200
    assert [e["id"] for e in body["events"]] == [message_id]
    status, body = await _post(h, f"/deliveries/{message['event_id']}/redeliver")
    assert status == 200, body
    assert body == {"ok": True, "redelivered": [message["event_id"]]}
    [again] = await inbox_messages(h)
    assert again["id"] == message_id
    assert again["attempts"] == 0
    assert again["error"] == ""
    status, body = await _post(h, f"/deliveries/{message['event_id']}/redeliver")
    assert status == 409, body
    assert body["status"] == "pending"
    status, body = await _post(h, "/deliveries/evt-nope/redeliver")
    assert status == 404, body
    assert_error(body, "unknown event_id")


async def test_redeliver_many(inbox: GatewayHarness) -> None:
    h = inbox
    await h.register()
    messages = await _inject(h, "one", "two", "three")
    for message in messages:
        for _ in range(2):
            assert (await _claim(h, message["id"], "w1"))[0] == 200
            status, body = await _post(
                h, f"/inbox/messages/{message['id']}/fail", {"worker_id": "w1"}
            )
            assert status == 200, body
    assert len(await inbox_messages(h, "?status=dead")) == 3

    status, body = await _post(h, "/deliveries/redeliver", {"event_ids": [messages[0]["event_id"]]})
    assert (status, body) == (200, {"ok": True, "redelivered": [messages[0]["event_id"]]})
    status, body = await _post(h, "/deliveries/redeliver", {"all": True})
    assert status == 200, body
    assert body["redelivered"] == [m["event_id"] for m in messages[1:]]
    assert [m["text"] for m in await inbox_messages(h)] == ["one", "two", "three"]
    status, body = await _post(h, "/deliveries/redeliver", {})
    assert status == 400, body
    assert body["field"] == "event_ids"


# --- batch claims -------------------------------------------------------------------------------


async def test_batch_claim(harness_inbox: GatewayHarness) -> None:
    h = harness_inbox
    await h.register()
    await _inject(h, "m1", "m2", "m3", "m4", "m5")
    status, body = await _post(h, "/inbox/claim", {"worker_id": "w1", "limit": 2})
    assert status == 200, body
    assert body["ok"] is True
    first = body["messages"]
    assert [m["text"] for m in first] == ["m1", "m2"]
    assert all(m["status"] == "claimed" for m in first)
    assert {m["claim"]["worker_id"] for m in first} == {"w1"}

    status, body = await _post(
        h, "/inbox/claim", {"worker_id": "w2", "limit": 10, "lease_ms": 60_000}
    )
    assert status == 200, body
    assert [m["text"] for m in body["messages"]] == ["m3", "m4", "m5"]
    assert {m["claim"]["worker_id"] for m in body["messages"]} == {"w2"}
    status, body = await _post(h, "/inbox/claim", {"worker_id": "w3"})
    assert (status, body) == (200, {"ok": True, "messages": []})
    assert [m["text"] for m in await inbox_messages(h, "?status=claimed")] == [
        "m1",
        "m2",
        "m3",
        "m4",
        "m5",
    ]


async def test_batch_claim_by_account(harness_inbox: GatewayHarness) -> None:
    h = harness_inbox
    await h.register("wx-a")
    await _inject(h, "a1")
    await h.register("wx-b")
    await _inject(h, "b1")
    status, body = await _post(h, "/inbox/claim", {"worker_id": "w1", "account_id": "wx-b"})
    assert status == 200, body
    assert [(m["account_id"], m["text"]) for m in body["messages"]] == [("wx-b", "b1")]


async def test_concurrent_batch_claims_never_share(tmp_path: Path, database_url: str) -> None:
    rounds, size = 15, 6
    async with GatewayHarness(
        tmp_path / "data", database_url=database_url, mode="inbox", inbox_max_attempts=1000
    ) as h:
        await h.register()
        messages = await _inject(h, *(f"m{i}" for i in range(size)))
        ids = {m["id"] for m in messages}
        for round_ in range(rounds):
            limit = 4 if round_ % 2 else 6
            (s1, b1), (s2, b2) = await asyncio.gather(
                _post(h, "/inbox/claim", {"worker_id": "w1", "limit": limit}),
                _post(h, "/inbox/claim", {"worker_id": "w2", "limit": limit}),
            )
            assert (s1, s2) == (200, 200), (b1, b2)
            got1 = [m["id"] for m in b1["messages"]]
            got2 = [m["id"] for m in b2["messages"]]
            assert not set(got1) & set(got2), (round_, got1, got2)
            assert len(got1) + len(got2) == size, (round_, got1, got2)
            assert set(got1) | set(got2) == ids
            # give them all back: failed messages are claimable again
            for worker, got in (("w1", got1), ("w2", got2)):
                for message_id in got:
                    status, body = await _post(
                        h, f"/inbox/messages/{message_id}/fail", {"worker_id": worker}
                    )
                    assert status == 200, body


# --- batch complete and fail ---------------------------------------------------------------------


async def _inbox_count(h: GatewayHarness, outcome: str) -> float:
    """``weixin_gateway_deliveries_total{mode="inbox",outcome=…}``."""
    status, text = await h.call("GET", "/metrics")
    assert status == 200
    sample = f'weixin_gateway_deliveries_total{{mode="inbox",outcome="{outcome}"}} '
    [value] = [line.split()[-1] for line in text.splitlines() if line.startswith(sample)]
    return float(value)


async def test_batch_complete(harness_inbox: GatewayHarness) -> None:
    h = harness_inbox
    await h.register()
    m1, m2, m3, m4 = await _inject(h, "m1", "m2", "m3", "m4")
    status, body = await _post(h, "/inbox/claim", {"worker_id": "w1", "limit": 2})
    assert [m["id"] for m in body["messages"]] == [m1["id"], m2["id"]]
    assert (await _claim(h, m3["id"], "w2"))[0] == 200
    assert (await _post(h, f"/inbox/messages/{m4['id']}/complete"))[0] == 200
    assert await _inbox_count(h, "completed") == 1

    asked = [m1["id"], m2["event_id"], m3["id"], m4["id"], "msg-nope", m1["id"]]
    status, body = await _post(
        h,
        "/inbox/complete",
        {"worker_id": "w1", "message_ids": asked, "completion_note": "reply sent"},
    )
    assert status == 200, body
    assert body["ok"] is True
    results = body["results"]
    assert [r["message_id"] for r in results] == asked
    assert [r["ok"] for r in results] == [True, True, False, False, False, True]
    done = [results[0]["message"], results[1]["message"]]
    assert [m["id"] for m in done] == [m1["id"], m2["id"]]
    for message in done:
        assert message.keys() >= MESSAGE_KEYS
        assert (message["status"], message["completion_note"]) == ("completed", "reply sent")
        assert message["claim"] is None
    assert results[5]["message"] == results[0]["message"]  # given twice, settled once
    assert results[2] == {
        "message_id": m3["id"],
        "ok": False,
        "status": 409,
        "message_status": "claimed",
        "holder": "w2",
        "error": f"message {m3['id']} is claimed by worker 'w2'",
    }
    assert results[3] == {
        "message_id": m4["id"],
        "ok": False,
        "status": 409,
        "message_status": "completed",
        "error": f"message {m4['id']} is completed",
    }
    assert results[4] == {
        "message_id": "msg-nope",
        "ok": False,
        "status": 404,
        "error": "unknown message_id",
    }
    assert await _inbox_count(h, "completed") == 3

    # the same errors as the single-message route
    status, single = await _post(h, f"/inbox/messages/{m3['id']}/complete", {"worker_id": "w1"})
    assert (status, single["error"], single["holder"]) == (409, results[2]["error"], "w2")
    status, single = await _post(h, "/inbox/messages/msg-nope/complete")
    assert (status, single["error"]) == (404, results[4]["error"])
    everything = await inbox_messages(h, "?status=all")
    assert [m["status"] for m in everything] == ["completed", "completed", "claimed", "completed"]


async def test_batch_fail_then_dead(inbox: GatewayHarness) -> None:
    h = inbox
    await h.register()
    messages = await _inject(h, "one", "two")
    ids = [m["id"] for m in messages]
    assert len((await _post(h, "/inbox/claim", {"worker_id": "w1"}))[1]["messages"]) == 2
    status, body = await _post(
        h, "/inbox/fail", {"worker_id": "w1", "message_ids": ids, "error": "try later"}
    )
    assert status == 200, body
    assert [
        (r["ok"], r["message"]["status"], r["message"]["attempts"], r["message"]["error"])
        for r in body["results"]
    ] == [(True, "failed", 1, "try later")] * 2

    assert len((await _post(h, "/inbox/claim", {"worker_id": "w2"}))[1]["messages"]) == 2
    status, body = await _post(h, "/inbox/fail", {"worker_id": "w1", "message_ids": ids})
    assert status == 200, body
    assert [(r["status"], r["holder"]) for r in body["results"]] == [(409, "w2")] * 2
    status, body = await _post(h, "/inbox/fail", {"worker_id": "w2", "message_ids": ids})
    assert status == 200, body
    assert [(r["message"]["status"], r["message"]["attempts"]) for r in body["results"]] == [
        ("dead", 2)
    ] * 2
    assert [m["id"] for m in await inbox_messages(h, "?status=dead")] == ids
    assert (await _inbox_count(h, "failed"), await _inbox_count(h, "dead")) == (2, 2)

    status, body = await _post(h, "/inbox/fail", {"message_ids": ids})
    assert [(r["status"], r["message_status"]) for r in body["results"]] == [(409, "dead")] * 2


@pytest.mark.parametrize("path", ["/inbox/complete", "/inbox/fail"])
async def test_batch_settle_bad_bodies(harness_inbox: GatewayHarness, path: str) -> None:
    h = harness_inbox
    for body, field in [
        ({}, "message_ids"),
        ({"message_ids": []}, "message_ids"),
        ({"message_ids": [f"msg-{n}" for n in range(501)]}, "message_ids"),
        ({"message_ids": "msg-1"}, "message_ids"),
        ({"message_ids": ["msg-1", ""]}, "message_ids[1]"),
        ({"message_ids": ["msg-1"], "worker_id": ""}, "worker_id"),
    ]:
        status, answer = await _post(h, path, body)
        assert status == 400, (body, answer)
        assert_error(answer, contains=field)
        assert answer["field"] == field, (body, answer)
    status, answer = await _post(h, path, {"message_ids": [f"msg-{n}" for n in range(500)]})
    assert status == 200, answer
    assert {r["status"] for r in answer["results"]} == {404}
    assert len(answer["results"]) == 500


# --- long polling -------------------------------------------------------------------------------


async def test_wait_returns_when_a_message_arrives(harness_inbox: GatewayHarness) -> None:
    h = harness_inbox
    await h.register()
    assert h.bot is not None
    bot_id = h.bot.bot_id
    loop = asyncio.get_running_loop()

    async def inject_later() -> None:
        await asyncio.sleep(0.3)
        h.sim.inject_message(bot_id, text="worth the wait")

    started = loop.time()
    injector = asyncio.create_task(inject_later())
    status, body = await h.call("GET", "/inbox/messages?wait=5")
    elapsed = loop.time() - started
    await injector
    assert status == 200, body
    assert [m["text"] for m in body["messages"]] == ["worth the wait"]
    assert 0.3 <= elapsed < 3.0, elapsed


async def test_wait_times_out_empty(harness_inbox: GatewayHarness) -> None:
    h = harness_inbox
    loop = asyncio.get_running_loop()
    started = loop.time()
    status, body = await h.call("GET", "/inbox/messages?wait=0.5")
    elapsed = loop.time() - started
    assert (status, body) == (200, {"ok": True, "messages": []})
    assert 0.45 <= elapsed < 3.0, elapsed


async def test_batch_claim_waits_for_a_message(harness_inbox: GatewayHarness) -> None:
    h = harness_inbox
    await h.register()
    assert h.bot is not None
    bot_id = h.bot.bot_id
    loop = asyncio.get_running_loop()

    async def inject_later() -> None:
        await asyncio.sleep(0.3)
        h.sim.inject_message(bot_id, text="claimed on arrival")

    started = loop.time()
    injector = asyncio.create_task(inject_later())
    status, body = await _post(h, "/inbox/claim", {"worker_id": "w1", "wait": 5})
    elapsed = loop.time() - started
    await injector
    assert status == 200, body
    assert [m["text"] for m in body["messages"]] == ["claimed on arrival"]
    assert body["messages"][0]["claim"]["worker_id"] == "w1"
    assert elapsed < 3.0, elapsed
