"""GroupCommit: concurrent writes share a batch; a failing batch is split; callers get their own
results."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence

import pytest

from weixin_gateway.store._group_commit import GroupCommit


class Recorder:
    def __init__(self, delay: float = 0.0, bad: frozenset[int] = frozenset()) -> None:
        self.batches: list[list[int]] = []
        self.delay = delay
        self.bad = bad

    async def write(self, items: Sequence[int]) -> list[int]:
        self.batches.append(list(items))
        await asyncio.sleep(self.delay)
        if self.bad & set(items):
            raise ValueError(f"bad item in {list(items)}")
        return [item * 10 for item in items]


async def test_a_lone_item_is_written_at_once() -> None:
    recorder = Recorder()
    group = GroupCommit(recorder.write)
    assert await group.submit(1) == 10
    assert recorder.batches == [[1]]


async def test_items_arriving_during_a_write_share_the_next_batch() -> None:
    recorder = Recorder(delay=0.05)
    group = GroupCommit(recorder.write)
    first = asyncio.create_task(group.submit(1))
    await asyncio.sleep(0.01)  # the first batch is being written
    rest = [asyncio.create_task(group.submit(i)) for i in range(2, 7)]
    assert await first == 10
    assert [await task for task in rest] == [20, 30, 40, 50, 60]
    assert recorder.batches == [[1], [2, 3, 4, 5, 6]]


async def test_a_failing_batch_fails_only_the_bad_item() -> None:
    recorder = Recorder(delay=0.02, bad=frozenset({3}))
    group = GroupCommit(recorder.write)
    first = asyncio.create_task(group.submit(1))
    await asyncio.sleep(0.005)
    rest = [asyncio.create_task(group.submit(i)) for i in (2, 3, 4)]
    assert await first == 10
    results = await asyncio.gather(*rest, return_exceptions=True)
    assert results[0] == 20
    assert isinstance(results[1], ValueError)
    assert results[2] == 40
    assert recorder.batches == [[1], [2, 3, 4], [2], [3], [4]]


async def test_a_cancelled_caller_does_not_disturb_the_others() -> None:
    recorder = Recorder(delay=0.03)
    group = GroupCommit(recorder.write)
    first = asyncio.create_task(group.submit(1))
    await asyncio.sleep(0.005)
    doomed = asyncio.create_task(group.submit(2))
    kept = asyncio.create_task(group.submit(3))
    await asyncio.sleep(0.005)
    doomed.cancel()
    assert await first == 10
    assert await kept == 30
    with pytest.raises(asyncio.CancelledError):
        await doomed
    assert recorder.batches == [[1], [2, 3]]  # the write happened anyway
