import secrets
from typing import Any

from redis.asyncio import Redis
from taskiq import InMemoryBroker

from kit.jobs import COMPLETED, FAILED, JobStatsMiddleware, job_counts


async def test_counts_waiting_and_taken_messages_per_stream(redis_url: str) -> None:
    queue = f"jobs-{secrets.token_hex(4)}"
    async with Redis.from_url(redis_url) as redis:
        await redis.xgroup_create(queue, "taskiq", id="0", mkstream=True)
        for n in range(5):
            await redis.xadd(queue, {b"data": str(n).encode()})
        await redis.xreadgroup("taskiq", "worker-1", {queue: ">"}, count=2)  # taken, not acked
        counts = await job_counts(redis, [queue, f"{queue}-missing"])
    assert (counts["pending"], counts["processing"]) == (3, 2)


async def test_middleware_counts_completed_and_failed_jobs(redis_url: str) -> None:
    async with Redis.from_url(redis_url) as redis:
        before = [int(v or 0) for v in await redis.mget(COMPLETED, FAILED)]
        broker = InMemoryBroker().with_middlewares(JobStatsMiddleware(redis_url))

        @broker.task
        async def works() -> None:
            return None

        @broker.task
        async def breaks() -> None:
            raise RuntimeError("no")

        await broker.startup()
        for task in (works, works, breaks):
            handle: Any = await task.kiq()
            await handle.wait_result()
        await broker.shutdown()
        after = [int(v or 0) for v in await redis.mget(COMPLETED, FAILED)]
    assert (after[0] - before[0], after[1] - before[1]) == (2, 1)
