"""Redelivery after a consumer dies, without waiting for new traffic (tech-notes §1)."""

import asyncio
import secrets

from redis.asyncio import Redis
from taskiq import AckableMessage

from kit.broker import ReclaimingStreamBroker


async def test_message_of_a_dead_consumer_is_reclaimed_while_the_stream_is_idle(
    redis_url: str,
) -> None:
    queue = f"reclaim-{secrets.token_hex(4)}"
    dead = ReclaimingStreamBroker(url=redis_url, queue_name=queue, consumer_id="0", xread_block=100)
    await dead.startup()
    async with Redis.from_url(redis_url) as redis:
        await redis.xadd(queue, {b"data": b"payload-1"})
    first = dead.listen()
    message = await anext(first)
    assert message.data == b"payload-1"
    # The consumer "dies": it never acks. A second one with a short idle timeout takes over.
    await first.aclose()

    survivor = ReclaimingStreamBroker(
        url=redis_url,
        queue_name=queue,
        consumer_id="0",
        xread_block=100,
        idle_timeout=300,
        reclaim_interval=0.2,
    )
    await survivor.startup()
    stream = survivor.listen()
    reclaimed: AckableMessage = await asyncio.wait_for(anext(stream), timeout=30)
    assert reclaimed.data == b"payload-1"
    await reclaimed.ack()  # type: ignore[misc]
    async with Redis.from_url(redis_url) as redis:
        pending = await redis.xpending(queue, "taskiq")
    assert pending["pending"] == 0
    await stream.aclose()
    await survivor.shutdown()
    await dead.shutdown()
