"""Batches: what arrives together is done together, and a bad item fails alone."""

import asyncio

import pytest

from kit.batch import Batches


class Doubler:
    def __init__(self) -> None:
        self.batches: list[list[int]] = []
        self.alone: list[int] = []

    async def together(self, items: list[int]) -> list[int]:
        self.batches.append(items)
        await asyncio.sleep(0)  # a round trip: what arrives meanwhile waits for the next batch
        if any(i < 0 for i in items):
            raise ValueError("negative")
        return [i * 2 for i in items]

    async def on_its_own(self, item: int) -> int:
        self.alone.append(item)
        if item < 0:
            raise ValueError(f"{item} is negative")
        return item * 2


async def test_callers_that_arrive_together_share_one_batch_and_get_their_own_result() -> None:
    work = Doubler()
    batches = Batches(work.together, work.on_its_own)
    assert await asyncio.gather(*(batches.run(i) for i in range(5))) == [0, 2, 4, 6, 8]
    assert work.batches == [[0, 1, 2, 3, 4]]
    assert await batches.run(7) == 14  # no load: a batch of one, sent at once
    assert work.batches[-1] == [7]


async def test_what_arrives_during_a_batch_goes_in_the_next_one() -> None:
    work = Doubler()
    batches = Batches(work.together, work.on_its_own, max_batch=2)
    assert await asyncio.gather(*(batches.run(i) for i in range(5))) == [0, 2, 4, 6, 8]
    assert work.batches == [[0, 1], [2, 3], [4]]


async def test_a_failing_batch_is_done_again_item_by_item_so_a_bad_item_fails_alone() -> None:
    work = Doubler()
    batches = Batches(work.together, work.on_its_own)
    results = await asyncio.gather(*(batches.run(i) for i in (1, -1, 3)), return_exceptions=True)
    assert [results[0], str(results[1]), results[2]] == [2, "-1 is negative", 6]
    assert work.alone == [1, -1, 3]


async def test_without_a_way_to_do_one_alone_every_caller_of_a_failing_batch_gets_the_error() -> (
    None
):
    work = Doubler()
    batches: Batches[int, int] = Batches(work.together)
    results = await asyncio.gather(*(batches.run(i) for i in (1, -1)), return_exceptions=True)
    assert [type(r) for r in results] == [ValueError, ValueError]
    with pytest.raises(ValueError, match="negative"):
        await batches.run(-2)
    assert await batches.run(4) == 8  # the next batch is unaffected
