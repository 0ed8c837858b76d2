"""Job counts for `/api/v1/test/jobs/status` and queue gauges, read from the Redis streams.

`pending` is what waits in the streams (consumer-group lag), `processing` what a worker has
taken but not yet acknowledged; `completed`/`failed` are counted by every worker's
`JobStatsMiddleware`.
"""

import contextlib
import time
from typing import Any

from redis.asyncio import Redis
from redis.exceptions import RedisError, ResponseError
from taskiq import TaskiqMessage, TaskiqMiddleware, TaskiqResult

COMPLETED = "gateway:jobs:completed"
FAILED = "gateway:jobs:failed"
LAG_SCAN_LIMIT = 100_000


class JobStatsMiddleware(TaskiqMiddleware):
    """Counts outcomes in memory and adds them to Redis at most every `flush_every` seconds."""

    def __init__(self, redis_url: str, flush_every: float = 1.0) -> None:
        super().__init__()
        self.redis = Redis.from_url(redis_url, socket_timeout=2, socket_connect_timeout=2)
        self.flush_every = flush_every
        self.counts = {COMPLETED: 0, FAILED: 0}
        self.flushed_at = 0.0

    async def post_execute(self, message: TaskiqMessage, result: TaskiqResult[Any]) -> None:
        self.counts[FAILED if result.is_err else COMPLETED] += 1
        if time.monotonic() - self.flushed_at >= self.flush_every:
            await self.flush()

    async def flush(self) -> None:
        counts, self.counts = self.counts, {COMPLETED: 0, FAILED: 0}
        self.flushed_at = time.monotonic()
        with contextlib.suppress(RedisError):  # counts are informational; never fail a task
            pipe = self.redis.pipeline(transaction=False)
            for key, count in counts.items():
                if count:
                    pipe.incrby(key, count)
            await pipe.execute()

    async def shutdown(self) -> None:
        await self.flush()
        await self.redis.aclose()


async def stream_counts(redis: Redis, queue: str) -> tuple[int, int]:
    """(waiting, taken but unacknowledged) for one stream, 0s if it does not exist yet."""
    try:
        groups: Any = await redis.xinfo_groups(queue)
    except ResponseError:
        return 0, 0
    waiting = taken = 0
    for group in groups:
        taken += int(group.get("pending") or 0)
        if group.get("lag") is not None:
            waiting += int(group["lag"])
        else:  # Redis < 7 has no lag: count the entries after the group's last delivered one
            after = f"({_text(group['last-delivered-id'])}"
            entries: Any = await redis.xrange(queue, min=after, count=LAG_SCAN_LIMIT)
            waiting += len(entries)
    return waiting, taken


def _text(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else value


async def job_counts(redis: Redis, queues: list[str]) -> dict[str, int]:
    pending = processing = 0
    for queue in queues:
        waiting, taken = await stream_counts(redis, queue)
        pending += waiting
        processing += taken
    completed, failed = await redis.mget(COMPLETED, FAILED)
    return {
        "pending": pending,
        "processing": processing,
        "completed": int(completed or 0),
        "failed": int(failed or 0),
    }


async def count_completed(redis: Redis, count: int) -> None:
    """Add work a worker did outside taskiq's tasks (a claimed batch) to `completed`."""
    with contextlib.suppress(RedisError):  # informational, as the middleware's counts
        await redis.incrby(COMPLETED, count)
