"""The typing_ticket cache's schedule (ilink.md §8.1), driven by a FakeClock."""

from __future__ import annotations

import random

import pytest

from weixin_gateway._clock import FakeClock
from weixin_gateway.errors import NetworkError, SessionExpiredError
from weixin_gateway.ilink.typing_indicator import TypingTicketCache
from weixin_gateway.ilink.wire import GetConfigResponse


class Script:
    """The answers ``getconfig`` gives, in order; records the calls."""

    def __init__(self, *answers: GetConfigResponse | Exception) -> None:
        self.answers = list(answers)
        self.calls: list[tuple[str, str | None]] = []

    async def __call__(self, user: str, context_token: str | None) -> GetConfigResponse:
        self.calls.append((user, context_token))
        answer = self.answers.pop(0)
        if isinstance(answer, Exception):
            raise answer
        return answer


def ok(ticket: str) -> GetConfigResponse:
    return GetConfigResponse(ret=0, typing_ticket=ticket)


async def test_ticket_is_cached_per_user_until_refresh() -> None:
    clock = FakeClock()
    fetch = Script(ok("T1"), ok("U1"), ok("T2"))
    cache = TypingTicketCache(fetch, clock=clock, ttl=100.0, rng=random.Random(1))
    assert await cache.get("a", "ctx") == "T1"
    assert await cache.get("a") == "T1"
    assert await cache.get("b") == "U1"
    clock.advance(49.0)  # refresh falls in [ttl/2, ttl]
    assert await cache.get("a") == "T1"
    assert fetch.calls == [("a", "ctx"), ("b", None)]
    clock.advance(52.0)
    assert await cache.get("a") == "T2"
    assert len(fetch.calls) == 3
    assert "T1" not in repr(cache)
    assert "T2" not in repr(cache._entries)


async def test_failures_back_off_and_keep_the_last_good_ticket() -> None:
    clock = FakeClock()
    fetch = Script(
        ok("GOOD"),
        NetworkError("down"),
        GetConfigResponse(ret=5),
        GetConfigResponse(),  # no ret at all: not a success either
        ok("NEW"),
    )
    cache = TypingTicketCache(fetch, clock=clock, ttl=10.0)
    assert await cache.get("a") == "GOOD"
    clock.advance(10.0)
    assert await cache.get("a") == "GOOD"  # fetch 2 failed: retry in 2 s
    for delay in (2.0, 4.0, 8.0):  # fetches 3 and 4 fail too: 4 s, then 8 s
        clock.advance(delay - 0.1)
        calls = len(fetch.calls)
        assert await cache.get("a") == "GOOD"
        assert len(fetch.calls) == calls
        clock.advance(0.1)
        await cache.get("a")
        assert len(fetch.calls) == calls + 1
    assert await cache.get("a") == "NEW"
    assert fetch.answers == []


async def test_first_failure_without_ticket_gives_none() -> None:
    clock = FakeClock()
    cache = TypingTicketCache(Script(NetworkError("down"), ok("")), clock=clock)
    assert await cache.get("a") is None
    clock.advance(2.0)
    assert await cache.get("a") is None  # empty ticket means none


async def test_session_expired_is_not_swallowed() -> None:
    cache = TypingTicketCache(Script(SessionExpiredError("getconfig", ret=-14)), clock=FakeClock())
    with pytest.raises(SessionExpiredError):
        await cache.get("a")
