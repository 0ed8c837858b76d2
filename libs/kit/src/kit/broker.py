"""taskiq over Redis streams: acknowledged, and redelivered after a worker dies.

taskiq-redis 1.2.4 only reclaims a dead consumer's messages after new ones arrive
(tech-notes §1); `ReclaimingStreamBroker` also reclaims on a timer while the stream is idle.
"""

import asyncio
import logging
import time
from collections.abc import AsyncGenerator, Awaitable, Callable
from typing import Any

from redis.asyncio import Redis
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import ResponseError
from redis.exceptions import TimeoutError as RedisTimeoutError
from taskiq import AckableMessage, AsyncBroker
from taskiq.middlewares.opentelemetry_middleware import OpenTelemetryMiddleware
from taskiq_redis import RedisStreamBroker

log = logging.getLogger("kit.broker")


class ReclaimingStreamBroker(RedisStreamBroker):
    """A stream broker that runs XAUTOCLAIM at least every `reclaim_interval` seconds."""

    def __init__(self, *args: Any, reclaim_interval: float = 10.0, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.reclaim_interval = reclaim_interval
        self._acks = Redis(connection_pool=self.connection_pool)  # one client for every ack

    def _ack_generator(self, id: str, queue_name: str) -> Callable[[], Awaitable[None]]:
        async def ack() -> None:
            await self._acks.xack(queue_name, self.consumer_group_name, id)

        return ack

    def _message(self, msg_id: Any, fields: Any, stream: Any) -> AckableMessage:
        return AckableMessage(
            data=fields[b"data"], ack=self._ack_generator(id=msg_id, queue_name=stream)
        )

    async def _read(self, redis: Redis) -> Any:
        """One XREADGROUP; after Redis lost its data (no group any more) the group is declared
        again, and while Redis is away this waits and retries instead of ending the worker."""
        try:
            return await redis.xreadgroup(
                self.consumer_group_name,
                self.consumer_name,
                {self.queue_name: ">"},
                block=self.block,
                count=self.count,
            )
        except ResponseError as error:
            if "NOGROUP" not in str(error):
                raise
            log.warning("consumer group gone (redis lost its data?); declaring it again")
            await self._declare_consumer_group()
        except (RedisConnectionError, RedisTimeoutError, OSError) as error:
            log.warning("redis unavailable; retrying", extra={"error": repr(error)})
            await asyncio.sleep(1.0)
        return None

    async def listen(self) -> AsyncGenerator[AckableMessage, None]:
        last_reclaim = 0.0
        async with Redis(connection_pool=self.connection_pool) as redis:
            while True:
                batches: Any = await self._read(redis)
                for stream, entries in batches or []:
                    for msg_id, fields in entries:
                        yield self._message(msg_id, fields, stream)
                if time.monotonic() - last_reclaim < self.reclaim_interval:
                    continue
                last_reclaim = time.monotonic()
                try:
                    _, claimed, *_ = await redis.xautoclaim(
                        self.queue_name,
                        self.consumer_group_name,
                        self.consumer_name,
                        min_idle_time=self.idle_timeout,
                        count=self.unacknowledged_batch_size,
                    )
                except (ResponseError, RedisConnectionError, RedisTimeoutError, OSError):
                    continue  # the next read declares the group again or waits for Redis
                for msg_id, fields in claimed:
                    if fields is not None:  # None: the entry was trimmed away meanwhile
                        yield self._message(msg_id, fields, self.queue_name)


def make_broker(
    redis_url: str,
    queue: str,
    *,
    idle_timeout_ms: int = 60_000,
    reclaim_interval: float = 10.0,
) -> AsyncBroker:
    """The broker for `queue` (one stream per consuming service), traced with OpenTelemetry.

    `idle_timeout_ms` must exceed the longest task, or a live task is reclaimed and runs twice.
    The consumer group starts at the stream's beginning (id 0), so messages published before a
    worker ever started are not skipped.
    """
    broker = ReclaimingStreamBroker(
        url=redis_url,
        queue_name=queue,
        consumer_id="0",
        idle_timeout=idle_timeout_ms,
        reclaim_interval=reclaim_interval,
        unacknowledged_lock_timeout=30,
    )  # no maxlen: trimming by count can drop pending work; kit.outbox.Confirmer trims
    broker.add_middlewares(OpenTelemetryMiddleware())
    return broker
