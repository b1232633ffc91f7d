"""Two gateways on one database: one polls and delivers, the other stands by and takes over."""

from __future__ import annotations

from pathlib import Path

from tests.service.harness import GatewayHarness, eventually


async def test_standby_takes_over_without_double_delivery(
    tmp_path: Path, database_url: str
) -> None:
    first = GatewayHarness(tmp_path / "a", database_url=database_url, leader_lease_ms=1000)
    async with first:
        await first.register()
        assert first.bot is not None
        second = GatewayHarness(
            tmp_path / "b",
            database_url=database_url,
            sim=first.sim,
            leader_lease_ms=1000,
        )
        async with second:
            assert first.gateway.is_leader
            assert not second.gateway.is_leader
            _, health = await second.call("GET", "/health")
            assert health["leader"] is False
            for i in range(3):
                first.sim.inject_message(first.bot.bot_id, text=f"m{i}")
            await first.upstream.wait_events(3)
            await first.stop_gateway()
            await eventually(lambda: second.gateway.is_leader, timeout=10)
            first.sim.inject_message(first.bot.bot_id, text="after failover")
            [event] = await second.upstream.wait_events(1)
            assert event["text"] == "after failover"
            assert second.upstream.events == [event]
            assert [e["text"] for e in first.upstream.events] == ["m0", "m1", "m2"]


async def test_account_registered_on_a_standby_is_polled_by_the_leader(
    tmp_path: Path, database_url: str
) -> None:
    async with (
        GatewayHarness(tmp_path / "a", database_url=database_url, leader_lease_ms=600) as leader,
        GatewayHarness(
            tmp_path / "b", database_url=database_url, sim=leader.sim, leader_lease_ms=600
        ) as standby,
    ):
        assert leader.gateway.is_leader
        assert not standby.gateway.is_leader
        await standby.register("via-standby")
        assert standby.bot is not None
        await eventually(lambda: leader.gateway.poller_of("via-standby") is not None)
        leader.sim.inject_message(standby.bot.bot_id, text="reached")
        [event] = await leader.upstream.wait_events(1)
        assert event["account_id"] == "via-standby"
        status, _ = await standby.call("DELETE", "/accounts/via-standby")
        assert status == 200
        await eventually(lambda: leader.gateway.poller_of("via-standby") is None)
        assert standby.upstream.events == []


async def test_standby_requests_reach_the_leader(tmp_path: Path, database_url: str) -> None:
    """What a standby's API changes in the database, the leader acts on: a dead event sent
    again, an async send; polling stays the leader's."""
    async with (
        GatewayHarness(
            tmp_path / "a", database_url=database_url, leader_lease_ms=600, retry_max_attempts=1
        ) as leader,
        GatewayHarness(
            tmp_path / "b", database_url=database_url, sim=leader.sim, leader_lease_ms=600
        ) as standby,
    ):
        account_id = await leader.register()
        assert leader.bot is not None
        leader.upstream.fail_with = 500
        leader.sim.inject_message(leader.bot.bot_id, text="dies once")

        async def dead() -> list[dict[str, object]]:
            _, body = await standby.call("GET", "/deliveries?status=dead")
            events: list[dict[str, object]] = body["events"]
            return events

        [event] = await eventually(dead)
        leader.upstream.fail_with = None
        status, _ = await standby.call("POST", f"/deliveries/{event['event_id']}/redeliver")
        assert status == 200
        [delivered] = await leader.upstream.wait_events(1)
        assert delivered["event_id"] == event["event_id"]

        status, body = await standby.call(
            "POST",
            "/send/async",
            body={
                "account_id": account_id,
                "to_user_id": leader.bot.user_id,
                "items": [{"type": "text", "text": "queued on the standby"}],
            },
        )
        assert status == 202, body
        task_id = body["task"]["id"]

        async def succeeded() -> bool:
            _, answer = await standby.call("GET", f"/send/tasks/{task_id}")
            return bool(answer["task"]["status"] == "succeeded")

        await eventually(succeeded)
        assert [m.text for m in leader.sim.sent(leader.bot.bot_id)] == ["queued on the standby"]

        status, body = await standby.call("POST", f"/accounts/{account_id}/poll-once")
        assert status == 409
        assert "stands by" in body["error"]


async def test_token_replaced_on_a_standby_reaches_the_leader(
    tmp_path: Path, database_url: str
) -> None:
    """The leader skips re-reading the accounts while the table is unchanged; a new token
    written by another gateway still changes it, and the leader polls with the new token.
    (Whichever of the two leads when it happens: a loaded machine may move the lease.)"""
    async with (
        GatewayHarness(tmp_path / "a", database_url=database_url, leader_lease_ms=1500) as first,
        GatewayHarness(
            tmp_path / "b", database_url=database_url, sim=first.sim, leader_lease_ms=1500
        ) as second,
    ):
        await first.register("shared")
        await second.register("shared", bot=first.sim.create_bot())
        assert second.bot is not None
        new_token = second.bot.bot_token

        def polls_with_new_token() -> bool:
            for harness in (first, second):
                poller = harness.gateway.poller_of("shared")
                if harness.gateway.is_leader and poller is not None:
                    return poller.client.api.token == new_token
            return False

        await eventually(polls_with_new_token)
        first.sim.inject_message(second.bot.bot_id, text="new session")

        def delivered() -> list[dict[str, object]]:
            return [*first.upstream.events, *second.upstream.events]

        [event] = await eventually(delivered)
        assert event["text"] == "new session"


async def test_unchanged_accounts_are_not_read_again_on_each_renewal(
    tmp_path: Path, database_url: str
) -> None:
    async with GatewayHarness(
        tmp_path / "a", database_url=database_url, leader_lease_ms=1000
    ) as harness:
        await harness.register()
        gateway = harness.gateway
        full_reads = 0
        read_all = gateway.accounts.all

        async def counting_all() -> list[object]:
            nonlocal full_reads
            full_reads += 1
            return list(await read_all())

        gateway.accounts.all = counting_all  # type: ignore[method-assign]
        renewals = 0
        sync = gateway.sync_with_store

        async def counting_sync() -> None:
            nonlocal renewals
            renewals += 1
            await sync()

        gateway.leadership.on_renewed = counting_sync
        await eventually(lambda: renewals >= 4, timeout=10)
        assert full_reads <= 1  # at most the first renewal after registering
        before = full_reads
        await harness.register("second")  # the table changes: one full read follows
        await eventually(lambda: full_reads == before + 1)
        assert gateway.poller_of("second") is not None
        seen = renewals
        await eventually(lambda: renewals >= seen + 4, timeout=10)
        assert full_reads == before + 1
