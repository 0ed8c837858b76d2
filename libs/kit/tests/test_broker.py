"""Redelivery after a consumer dies, without waiting for new traffic (tech-notes §1)."""

import asyncio
import secrets
from typing import Any

import pytest
from redis.asyncio import Redis
from redis.exceptions import ConnectionError as RedisConnectionError
from taskiq import AckableMessage

from kit.broker import Acks, ReclaimingStreamBroker


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


async def test_acknowledgements_made_together_reach_redis_together_and_failures_surface(
    redis_url: str,
) -> None:
    queue = f"acks-{secrets.token_hex(4)}"
    async with Redis.from_url(redis_url) as redis:
        await redis.xgroup_create(queue, "taskiq", id="0", mkstream=True)
        for n in range(5):
            await redis.xadd(queue, {b"data": str(n).encode()})
        read: Any = await redis.xreadgroup("taskiq", "c", {queue: ">"})
        [(_, entries)] = read
        acks = Acks(redis, "taskiq")
        await asyncio.gather(*(acks.ack(queue, entry_id) for entry_id, _ in entries))
        assert (await redis.xpending(queue, "taskiq"))["pending"] == 0

    unreachable = Redis.from_url("redis://127.0.0.1:1/0", socket_connect_timeout=0.5)
    with pytest.raises(RedisConnectionError):  # not acknowledged: the task must know
        await Acks(unreachable, "taskiq").ack(queue, "1-0")
    await unreachable.aclose()


class SwallowsCancellation:
    """A Redis client that, cancelled mid-read, raises a connection error instead (as a library
    converting errors on its way up might)."""

    def __init__(self) -> None:
        self.reading = asyncio.Event()

    async def xreadgroup(self, *_: Any, **__: Any) -> Any:
        self.reading.set()
        try:
            await asyncio.Event().wait()
        except asyncio.CancelledError:
            raise RedisConnectionError("connection closed") from None


async def test_a_stopping_receive_loop_stops_although_the_cancellation_came_back_as_an_error(
    redis_url: str,
) -> None:
    broker = ReclaimingStreamBroker(url=redis_url, queue_name="q", consumer_id="0")
    redis = SwallowsCancellation()
    read = asyncio.create_task(broker._read(redis))  # type: ignore[arg-type]
    await redis.reading.wait()
    read.cancel()  # what taskiq's receiver does on SIGTERM
    with pytest.raises(asyncio.CancelledError):
        await asyncio.wait_for(read, timeout=30)  # without the check: a retry, then None


async def test_a_stopping_receive_loop_stops_although_the_screen_turned_the_stop_into_an_outage(
    redis_url: str,
) -> None:
    """SIGTERM while an entry is being screened: the database call below turns the cancellation
    into an error of its own, which the screen treats as an outage. The loop must end anyway."""
    queue = f"stopping-{secrets.token_hex(4)}"
    broker = ReclaimingStreamBroker(url=redis_url, queue_name=queue, consumer_id="0")
    await broker.startup()
    screening = asyncio.Event()

    async def screen(stream: str, entry: str, fields: dict[bytes, bytes]) -> bool:
        screening.set()
        try:
            await asyncio.Event().wait()
        except asyncio.CancelledError:
            raise RuntimeError("connection lost while the database was asked") from None
        return True

    broker.screen = screen
    async with Redis.from_url(redis_url) as redis:
        await redis.xadd(queue, {b"data": b"{}"})
    listening = asyncio.create_task(anext(broker.listen()))
    await asyncio.wait_for(screening.wait(), timeout=30)
    listening.cancel()  # what taskiq's receiver does on SIGTERM
    with pytest.raises(asyncio.CancelledError):
        await asyncio.wait_for(listening, timeout=30)  # without the check: reads on, forever
    await broker.shutdown()
