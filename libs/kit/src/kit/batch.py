"""Work that arrives while a batch is in flight goes together in the next one.

Under load many callers want the same kind of write at once (apply an event, record a webhook
attempt); one transaction for all of them costs one commit, and so one WAL flush, instead of
one each. With no load a caller's batch is just its own item, sent at once: nothing waits for a
timer. Each caller still returns only once its own item was done.
"""

import asyncio
from collections.abc import Awaitable, Callable, Sequence
from typing import Generic, TypeVar

T = TypeVar("T")
R = TypeVar("R")


class Batches(Generic[T, R]):
    """`together(items)` does a batch and returns one result per item, in order. If it raises,
    each item of the batch is done again on its own with `alone` (so one bad item fails alone
    and the rest succeed), or, without `alone`, every caller of the batch gets the error."""

    def __init__(
        self,
        together: Callable[[list[T]], Awaitable[Sequence[R]]],
        alone: Callable[[T], Awaitable[R]] | None = None,
        max_batch: int = 100,
    ) -> None:
        self.together = together
        self.alone = alone
        self.max_batch = max_batch
        self.waiting: list[tuple[T, asyncio.Future[R]]] = []
        self.flushing: asyncio.Task[None] | None = None

    async def run(self, item: T) -> R:
        done: asyncio.Future[R] = asyncio.get_running_loop().create_future()
        self.waiting.append((item, done))
        if self.flushing is None or self.flushing.done():
            self.flushing = asyncio.create_task(self._flush())  # after this tick's arrivals
        return await done

    async def _flush(self) -> None:
        while self.waiting:
            batch, self.waiting = self.waiting[: self.max_batch], self.waiting[self.max_batch :]
            try:
                results = await self.together([item for item, _ in batch])
            except Exception as failed:
                if self.alone is None or len(batch) == 1:
                    for _, done in batch:
                        _fail(done, failed)
                    continue
                for item, done in batch:
                    try:
                        result = await self.alone(item)
                    except Exception as error:
                        _fail(done, error)
                    else:
                        _resolve(done, result)
            else:
                for (_, done), result in zip(batch, results, strict=True):
                    _resolve(done, result)


# A caller that gave up waiting (a timeout, a cancellation) left its future done: skip it.
def _resolve(done: "asyncio.Future[R]", result: R) -> None:
    if not done.done():
        done.set_result(result)


def _fail(done: "asyncio.Future[R]", error: Exception) -> None:
    if not done.done():
        done.set_exception(error)
