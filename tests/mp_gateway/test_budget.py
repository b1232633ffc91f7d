"""The 5-second rule: the reply budget, late replies as customer-service messages, single-flight
over WeChat's retries, and workerNum without making WeChat wait (§4.2, §4.4; D6, D6b, D24)."""

from __future__ import annotations

import asyncio

from tests.mp_gateway.conftest import Sink, StartGateway, eventually, service_conf
from weixin_gateway.gateway.mp_gateway import MpGatewayConfig
from weixin_gateway.simulator.mp import CustomMessage, OfficialAccountSimulator, messages


async def _custom(
    wx: OfficialAccountSimulator, appid: str, count: int, timeout_s: float = 5.0
) -> tuple[CustomMessage, ...]:
    await eventually(lambda: len(wx.custom_messages(appid)) >= count, timeout_s)
    return wx.custom_messages(appid)


async def test_slow_upstream_answers_success_then_reaches_the_user_by_custom_send(
    wx: OfficialAccountSimulator, sink: Sink, start_gateway: StartGateway
) -> None:
    app = wx.create_app(mode="safe")
    sink.answers["/msg/text"] = {"type": "text", "msg": "worth the wait"}
    sink.delay_s = 1.0
    await start_gateway([service_conf(app, proxy=sink.base_url)], **{"reply-budget-ms": 300})
    user = wx.add_user(app.appid)

    result = await wx.push(app.appid, user.openid, messages.text("slow question"))
    assert result.verdict == "no_reply"
    assert len(result.attempts) == 1
    assert result.attempts[0].duration_s < 0.9  # answered at the budget, not after the upstream

    (sent,) = await _custom(wx, app.appid, 1)
    assert sent.openid == user.openid
    assert sent.msgtype == "text"
    assert sent.body["text"] == {"content": "worth the wait"}
    assert len(sink.requests) == 1
    assert not result.notice  # the user saw no "service unavailable" notice


async def test_late_reply_is_dropped_when_switched_off(
    wx: OfficialAccountSimulator, sink: Sink, start_gateway: StartGateway
) -> None:
    app = wx.create_app(mode="plain")
    sink.answers["/msg/text"] = {"type": "text", "msg": "too late"}
    sink.delay_s = 0.5
    off = {"late-reply-via-custom-send": False}
    gw = await start_gateway(
        [service_conf(app, proxy=sink.base_url, **off)], **{"reply-budget-ms": 200}
    )
    user = wx.add_user(app.appid)
    result = await wx.push(app.appid, user.openid, messages.text("q"))
    assert result.verdict == "no_reply"
    await eventually(lambda: gw.service().pending_jobs == 0, 3)
    assert wx.custom_messages(app.appid) == ()


async def test_wechat_retries_reach_the_upstream_once_and_share_the_reply(
    wx: OfficialAccountSimulator, sink: Sink, start_gateway: StartGateway
) -> None:
    """go-wx-gateway forwarded every retry (defect D6)."""
    app = wx.create_app(mode="safe")
    sink.answers["/msg/text"] = {"type": "text", "msg": "once"}
    sink.delay_s = 0.5  # longer than one attempt, with a whole attempt window of slack
    await start_gateway([service_conf(app, proxy=sink.base_url)], **{"reply-budget-ms": 2500})
    user = wx.add_user(app.appid)

    # WeChat gives up on each attempt after 0.35 s here; a later attempt gets the answer
    result = await wx.push(app.appid, user.openid, messages.text("q"), timeout_s=0.35)
    assert result.attempts[0].error == "timeout"
    assert len(result.attempts) >= 2
    assert result.verdict == "reply"
    assert result.reply is not None
    assert result.reply.fields["Content"] == "once"
    assert len(sink.requests) == 1
    assert wx.custom_messages(app.appid) == ()


async def test_concurrent_and_later_duplicates_get_the_same_outcome(
    wx: OfficialAccountSimulator, sink: Sink, start_gateway: StartGateway
) -> None:
    app = wx.create_app(mode="compat")
    sink.answers["/event/CLICK"] = {"type": "text", "msg": "menu answer"}
    sink.delay_s = 0.2
    await start_gateway([service_conf(app, proxy=sink.base_url)])
    user = wx.add_user(app.appid)

    results = await wx.push_duplicate(
        app.appid, user.openid, messages.click("K"), times=3, concurrent=True
    )
    assert [r.verdict for r in results] == ["reply"] * 3
    assert {r.reply.xml for r in results if r.reply is not None} == {results[0].reply.xml}  # type: ignore[union-attr]
    assert len(sink.requests) == 1

    sink.requests.clear()
    sink.answers["/msg/text"] = {"type": "text", "msg": "cached"}
    later = await wx.push_duplicate(app.appid, user.openid, messages.text("same MsgId"), times=2)
    assert [r.verdict for r in later] == ["reply", "reply"]
    assert [r.reply.fields["Content"] for r in later if r.reply] == ["cached", "cached"]
    assert len(sink.requests) == 1


async def test_a_retry_after_the_budget_ran_out_gets_success_and_one_late_reply(
    wx: OfficialAccountSimulator, sink: Sink, start_gateway: StartGateway
) -> None:
    app = wx.create_app(mode="safe")
    sink.answers["/msg/text"] = {"type": "text", "msg": "exactly once"}
    sink.delay_s = 0.8
    await start_gateway([service_conf(app, proxy=sink.base_url)], **{"reply-budget-ms": 200})
    user = wx.add_user(app.appid)
    first, second = await wx.push_duplicate(app.appid, user.openid, messages.text("q"), times=2)
    assert (first.verdict, second.verdict) == ("no_reply", "no_reply")
    (sent,) = await _custom(wx, app.appid, 1)
    assert sent.body["text"] == {"content": "exactly once"}
    await asyncio.sleep(0.3)
    assert len(wx.custom_messages(app.appid)) == 1
    assert len(sink.requests) == 1


async def test_worker_num_does_not_cap_concurrent_upstream_calls(
    wx: OfficialAccountSimulator, sink: Sink, start_gateway: StartGateway
) -> None:
    """go-wx-gateway ran workerNum calls at once, so a slow upstream capped throughput at
    workerNum ÷ latency and queued the rest past WeChat's deadline (defect D24)."""
    app = wx.create_app(mode="plain")
    sink.answers["/msg/text"] = {"type": "text", "msg": "done"}
    sink.delay_s = 0.5
    await start_gateway([service_conf(app, proxy=sink.base_url, workerNum=2)])
    users = [wx.add_user(app.appid) for _ in range(6)]
    results = await asyncio.gather(
        *(wx.push(app.appid, u.openid, messages.text(f"q{i}")) for i, u in enumerate(users))
    )
    assert [r.verdict for r in results] == ["reply"] * 6
    assert max(r.attempts[0].duration_s for r in results) < 0.9  # one upstream delay, not three
    assert [len(r.attempts) for r in results] == [1] * 6
    assert len(sink.requests) == 6
    assert sink.max_active == 6


async def test_pushes_past_the_backlog_get_503(
    wx: OfficialAccountSimulator, sink: Sink, start_gateway: StartGateway
) -> None:
    """In progress at once: at most workerNum × max_backlog_per_worker pushes (D24)."""
    app = wx.create_app(mode="plain")
    sink.answers["/msg/text"] = {"type": "text", "msg": "done"}
    sink.delay_s = 0.5
    settings = MpGatewayConfig(drain_timeout_s=2, max_backlog_per_worker=2)
    await start_gateway([service_conf(app, proxy=sink.base_url, workerNum=1)], settings)
    users = [wx.add_user(app.appid) for _ in range(3)]
    results = await asyncio.gather(
        *(
            wx.push(app.appid, u.openid, messages.text(f"q{i}"), timeout_s=0.3)
            for i, u in enumerate(users)
        )
    )
    statuses = sorted(r.attempts[0].status or 0 for r in results)
    assert statuses[-1] == 503
    assert sink.max_active == 2


async def test_a_fast_upstream_behind_busy_workers_still_answers_in_time(
    wx: OfficialAccountSimulator, sink: Sink, start_gateway: StartGateway
) -> None:
    app = wx.create_app(mode="plain")
    sink.answers["/msg/text"] = {"type": "text", "msg": "quick"}
    await start_gateway([service_conf(app, proxy=sink.base_url, workerNum=1)])
    users = [wx.add_user(app.appid) for _ in range(5)]
    results = await asyncio.gather(
        *(wx.push(app.appid, u.openid, messages.text("q")) for u in users)
    )
    assert [r.verdict for r in results] == ["reply"] * 5
