"""Sending over the REST API: ``/send``, ``/send/async`` + ``/send/tasks/{id}``, ``/typing``.

What went out is read back from the simulator (``sim.sent``, ``sim.typing``), which also
enforces WeChat's ``ret -2`` rules, so a wrong or missing ``context_token`` shows.
"""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any

from tests.service.api_support import assert_error
from tests.service.harness import GatewayHarness, eventually
from weixin_gateway.simulator import InjectedMessage


async def _conversation(h: GatewayHarness, text: str = "hi") -> InjectedMessage:
    """A registered account and one inbound message from its owner (delivered upstream)."""
    await h.register()
    assert h.bot is not None
    injected = h.sim.inject_message(h.bot.bot_id, text=text)
    await h.upstream.wait_events(1)
    return injected


def _send_body(h: GatewayHarness, items: list[dict[str, Any]], **extra: Any) -> dict[str, Any]:
    assert h.bot is not None
    return {
        "account_id": "wx-test",
        "to_user_id": h.bot.user_id,
        "chat_type": "c2c",
        "items": items,
        **extra,
    }


async def test_send_text_items_in_order(harness: GatewayHarness) -> None:
    h = harness
    injected = await _conversation(h)
    assert h.bot is not None
    texts = ["first", "second", "third", "fourth"]
    status, body = await h.call(
        "POST",
        "/send",
        body=_send_body(
            h,
            [{"type": "text", "text": t} for t in texts],
            context_token=injected.context_token,
        ),
    )
    assert status == 200, body
    assert body["ok"] is True
    sent = h.sim.sent(h.bot.bot_id)
    assert [m.items[0].text for m in sent] == texts
    assert {m.to_user_id for m in sent} == {h.bot.user_id}
    assert {m.context_token for m in sent} == {injected.context_token}
    # one result per item, message ids as strings (they exceed 2^53)
    assert [r["type"] for r in body["results"]] == ["text"] * 4
    assert [r["messages"] for r in body["results"]] == [1] * 4
    assert [r["message_ids"] for r in body["results"]] == [[str(m.message_id)] for m in sent]


async def test_send_long_text_is_split(harness: GatewayHarness) -> None:
    h = harness
    injected = await _conversation(h)
    assert h.bot is not None
    paragraphs = [f"paragraph {i} " + "x" * 1500 for i in range(6)]
    text = "\n\n".join(paragraphs)  # about 9000 characters, limit 4000
    status, body = await h.call(
        "POST",
        "/send",
        body=_send_body(h, [{"type": "text", "text": text}], context_token=injected.context_token),
    )
    assert status == 200, body
    [result] = body["results"]
    sent = h.sim.sent(h.bot.bot_id)
    assert result["messages"] == len(sent) == 3
    pieces = [m.items[0].text or "" for m in sent]
    assert all(len(p) <= 4000 for p in pieces)
    assert "\n\n".join(pieces) == text


async def test_send_files_from_the_data_dir(harness: GatewayHarness) -> None:
    h = harness
    injected = await _conversation(h)
    assert h.bot is not None
    outbox = h.data_dir / "outbox"
    outbox.mkdir()
    report = outbox / "report.pdf"
    report.write_bytes(b"%PDF-1.4 " + bytes(range(256)) * 20)
    picture = outbox / "picture.png"
    picture.write_bytes(b"\x89PNG\r\n\x1a\n" + bytes(range(256)) * 8)
    status, body = await h.call(
        "POST",
        "/send",
        body=_send_body(
            h,
            [
                {"type": "text", "text": "here you go"},
                {"type": "file", "file_type": 4, "url": str(report)},
                {"type": "file", "file_type": 1, "url": picture.as_uri(), "srv_send_msg": True},
            ],
            context_token=injected.context_token,
        ),
    )
    assert status == 200, body
    text_result, file_result, image_result = body["results"]
    assert text_result["type"] == "text"
    assert file_result["type"] == "file"
    assert file_result["kind"] == "file"
    assert file_result["file_name"] == "report.pdf"
    assert file_result["size"] == report.stat().st_size
    assert isinstance(file_result["message_id"], str)
    assert image_result["kind"] == "image"

    sent = h.sim.sent(h.bot.bot_id)
    assert [m.items[0].type for m in sent] == ["text", "file", "image"]
    file_item, image_item = sent[1].items[0], sent[2].items[0]
    assert file_item.file_name == "report.pdf"
    assert file_item.error is None
    assert file_item.data is not None
    assert hashlib.md5(file_item.data).digest() == hashlib.md5(report.read_bytes()).digest()  # noqa: S324
    assert image_item.data == picture.read_bytes()
    assert str(sent[1].message_id) == file_result["message_id"]


async def test_send_path_outside_the_media_dirs(harness: GatewayHarness, tmp_path: Path) -> None:
    h = harness
    injected = await _conversation(h)
    assert h.bot is not None
    outside = tmp_path / "secret.txt"
    outside.write_text("not for WeChat")
    (h.data_dir / "inside.txt").write_text("fine")
    for url in (
        str(outside),
        outside.as_uri(),
        f"{h.data_dir}/../secret.txt",
        "/etc/passwd",
    ):
        status, body = await h.call(
            "POST",
            "/send",
            body=_send_body(
                h,
                [
                    {"type": "file", "file_type": 4, "url": str(h.data_dir / "inside.txt")},
                    {"type": "file", "file_type": 4, "url": url},
                ],
                context_token=injected.context_token,
            ),
        )
        assert status == 400, (url, body)
        assert_error(body, contains="WEIXIN_GATEWAY_MEDIA_DIRS")
        assert body["field"] == "items[1].url"
    # nothing went out, not even the good first item
    assert h.sim.sent(h.bot.bot_id) == ()


async def test_send_unknown_account(harness: GatewayHarness) -> None:
    status, body = await harness.call(
        "POST",
        "/send",
        body={
            "account_id": "wx-nobody",
            "to_user_id": "someone@im.wechat",
            "context_token": "ctx",
            "items": [{"type": "text", "text": "hello?"}],
        },
    )
    assert status == 404
    assert_error(body, "unknown account: wx-nobody")


async def test_send_without_context_token_uses_the_latest(harness: GatewayHarness) -> None:
    h = harness
    await h.register()
    assert h.bot is not None
    h.sim.inject_message(h.bot.bot_id, text="first")
    latest = h.sim.inject_message(h.bot.bot_id, text="second")
    await h.upstream.wait_events(2)
    status, body = await h.call(
        "POST", "/send", body=_send_body(h, [{"type": "text", "text": "reply"}])
    )
    assert status == 200, body
    [sent] = h.sim.sent(h.bot.bot_id)
    assert sent.context_token == latest.context_token
    # an empty one counts as omitted
    status, body = await h.call(
        "POST",
        "/send",
        body=_send_body(h, [{"type": "text", "text": "again"}], context_token=""),
    )
    assert status == 200, body
    assert h.sim.sent(h.bot.bot_id)[1].context_token == latest.context_token


async def test_send_rejected_with_ret_minus_2(harness: GatewayHarness) -> None:
    h = harness
    await _conversation(h)
    assert h.bot is not None
    status, body = await h.call(
        "POST",
        "/send",
        body=_send_body(h, [{"type": "text", "text": "x"}], context_token="AARzJWforged"),
    )
    assert status == 502, body
    assert_error(body, contains="ret=-2")
    assert "likely causes" in body["error"]
    assert "context_token" in body["error"]
    assert "24 h" in body["error"]
    assert body["sent"] == 0
    assert h.sim.sent(h.bot.bot_id) == ()

    # a user who never wrote to the bot has no context token at all
    status, body = await h.call(
        "POST",
        "/send",
        body={
            "account_id": "wx-test",
            "to_user_id": h.sim.create_user().user_id,
            "items": [{"type": "text", "text": "cold call"}],
        },
    )
    assert status == 502, body
    assert_error(body, contains="likely causes")


async def _task(h: GatewayHarness, task_id: str, final: str) -> dict[str, Any]:
    async def done() -> dict[str, Any] | None:
        status, body = await h.call("GET", f"/send/tasks/{task_id}")
        assert status == 200, body
        task: dict[str, Any] = body["task"]
        assert task["status"] in ("queued", "running", final), task
        return task if task["status"] == final else None

    found: dict[str, Any] = await eventually(done)
    return found


async def test_send_async(harness: GatewayHarness) -> None:
    h = harness
    injected = await _conversation(h)
    assert h.bot is not None
    status, body = await h.call(
        "POST",
        "/send/async",
        body=_send_body(
            h,
            [{"type": "text", "text": "later 1"}, {"type": "text", "text": "later 2"}],
            context_token=injected.context_token,
        ),
    )
    assert status == 202, body
    assert body["ok"] is True
    task = body["task"]
    assert task["status"] in ("queued", "running", "succeeded")
    assert task["account_id"] == "wx-test"
    assert task["to_user_id"] == h.bot.user_id
    assert task["id"]

    done = await _task(h, task["id"], "succeeded")
    assert done["error"] == ""
    sent = h.sim.sent(h.bot.bot_id)
    assert [m.items[0].text for m in sent] == ["later 1", "later 2"]
    assert [r["type"] for r in done["results"]] == ["text", "text"]


async def test_send_async_message_ids_are_strings(harness: GatewayHarness) -> None:
    """Like /send: uint64 message ids do not survive JavaScript's numbers."""
    h = harness
    injected = await _conversation(h)
    assert h.bot is not None
    status, body = await h.call(
        "POST",
        "/send/async",
        body=_send_body(h, [{"type": "text", "text": "id?"}], context_token=injected.context_token),
    )
    assert status == 202, body
    done = await _task(h, body["task"]["id"], "succeeded")
    [sent] = h.sim.sent(h.bot.bot_id)
    assert done["results"][0]["message_ids"] == [str(sent.message_id)]


async def test_send_async_failure(harness: GatewayHarness) -> None:
    h = harness
    await _conversation(h)
    status, body = await h.call(
        "POST",
        "/send/async",
        body=_send_body(h, [{"type": "text", "text": "x"}], context_token="AARzJWforged"),
    )
    assert status == 202, body
    failed = await _task(h, body["task"]["id"], "failed")
    assert "ret=-2" in failed["error"]
    assert failed["error_status"] == 502


async def test_send_async_unknown_account_and_task(harness: GatewayHarness) -> None:
    h = harness
    status, body = await h.call(
        "POST",
        "/send/async",
        body={
            "account_id": "wx-nobody",
            "to_user_id": "u@im.wechat",
            "items": [{"type": "text", "text": "x"}],
        },
    )
    assert status == 404
    assert_error(body, "unknown account: wx-nobody")
    status, body = await h.call("GET", "/send/tasks/send-nope")
    assert status == 404
    assert_error(body, "unknown task_id")


async def test_send_async_checks_items_first(harness: GatewayHarness, tmp_path: Path) -> None:
    h = harness
    await _conversation(h)
    outside = tmp_path / "secret.txt"
    outside.write_text("not for WeChat")
    status, body = await h.call(
        "POST",
        "/send/async",
        body=_send_body(h, [{"type": "file", "file_type": 4, "url": str(outside)}]),
    )
    assert status == 400, body
    assert_error(body, contains="WEIXIN_GATEWAY_MEDIA_DIRS")
    assert body["field"] == "items[0].url"
    status, body = await h.call(
        "POST",
        "/send/async",
        body=_send_body(h, [{"type": "file", "file_type": 9, "url": "/a"}]),
    )
    assert status == 400, body
    assert body["field"] == "items[0].file_type"
    status, body = await h.call("GET", "/send/tasks/send-nope")
    assert status == 404


async def test_typing_and_cancel(harness: GatewayHarness) -> None:
    h = harness
    injected = await _conversation(h)
    assert h.bot is not None
    status, body = await h.call(
        "POST",
        "/typing",
        body={
            "account_id": "wx-test",
            "to_user_id": h.bot.user_id,
            "context_token": injected.context_token,
            "status": "typing",
        },
    )
    assert status == 200, body
    assert body == {
        "ok": True,
        "typing": {"account_id": "wx-test", "to_user_id": h.bot.user_id, "status": "typing"},
    }
    status, body = await h.call(
        "POST",
        "/typing",
        body={"account_id": "wx-test", "to_user_id": h.bot.user_id, "status": "cancel"},
    )
    assert status == 200, body
    assert body["typing"]["status"] == "cancel"
    events = h.sim.typing(h.bot.bot_id)
    assert [(e.user_id, e.status) for e in events] == [(h.bot.user_id, 1), (h.bot.user_id, 2)]

    # status defaults to typing
    status, body = await h.call(
        "POST", "/typing", body={"account_id": "wx-test", "to_user_id": h.bot.user_id}
    )
    assert status == 200, body
    assert body["typing"]["status"] == "typing"
    assert h.sim.typing(h.bot.bot_id)[-1].status == 1


async def test_expired_account_cannot_send(harness: GatewayHarness) -> None:
    h = harness
    injected = await _conversation(h)
    assert h.bot is not None
    h.sim.expire_bot(h.bot.bot_id)

    async def expired() -> bool:
        _, body = await h.call("GET", "/accounts/wx-test")
        return bool(body["account"]["status"]["session_state"] == "expired")

    await eventually(expired)
    text = [{"type": "text", "text": "too late"}]
    for path in ("/send", "/send/async"):
        status, body = await h.call(
            "POST", path, body=_send_body(h, text, context_token=injected.context_token)
        )
        assert status == 409, (path, body)
        assert_error(body, "account session expired (-14): log in again")
        assert body["field"] == "account_id"
    status, body = await h.call(
        "POST", "/typing", body={"account_id": "wx-test", "to_user_id": h.bot.user_id}
    )
    assert status == 409, body
    assert_error(body, "account session expired (-14): log in again")
    assert h.sim.sent(h.bot.bot_id) == ()


async def test_typing_unknown_account(harness: GatewayHarness) -> None:
    status, body = await harness.call(
        "POST", "/typing", body={"account_id": "wx-nobody", "to_user_id": "u@im.wechat"}
    )
    assert status == 404
    assert_error(body, "unknown account_id")
