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
from taskiq import AckableMessage
from taskiq.middlewares.opentelemetry_middleware import OpenTelemetryMiddleware
from taskiq_redis import RedisStreamBroker

from kit.telemetry import recording

log = logging.getLogger("kit.broker")


class Acks:
    """The acknowledgements made in one event-loop tick go to Redis as one XACK per stream;
    each `ack` returns once Redis has its own."""

    def __init__(self, redis: Redis, group: str) -> None:
        self.redis = redis
        self.group = group
        self.waiting: dict[str, list[tuple[str, asyncio.Future[None]]]] = {}
        self.flushing: asyncio.Task[None] | None = None

    async def ack(self, stream: str, entry_id: str) -> None:
        done = asyncio.get_running_loop().create_future()
        self.waiting.setdefault(stream, []).append((entry_id, done))
        if self.flushing is None or self.flushing.done():
            self.flushing = asyncio.create_task(self._flush())
        await done

    async def _flush(self) -> None:
        while self.waiting:
            batch, self.waiting = self.waiting, {}
            for stream, entries in batch.items():
                error: Exception | None = None
                try:
                    await self.redis.xack(stream, self.group, *(i for i, _ in entries))
                except Exception as failed:  # each waiting ack raises it: not acknowledged
                    error = failed
                for _, done in entries:
                    if done.done():
                        continue
                    if error is None:
                        done.set_result(None)
                    else:
                        done.set_exception(error)


class ReclaimingStreamBroker(RedisStreamBroker):
    """A stream broker that runs XAUTOCLAIM at least every `reclaim_interval` seconds and
    batches acknowledgements (`Acks`). Its receive loop calls `progress()` after every read
    (at least every `block` ms while the stream is idle): the worker's liveness probe."""

    def __init__(self, *args: Any, reclaim_interval: float = 10.0, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.reclaim_interval = reclaim_interval
        self.progress: Callable[[], None] = lambda: None
        # (stream, entry id, fields) → may it run? False: recorded elsewhere, acknowledge it
        # unrun (kit.consumer.Consumer.screen). An error leaves it unacknowledged, to come back.
        self.screen: Callable[[str, str, dict[bytes, bytes]], Awaitable[bool]] | None = None
        self._acks = Acks(Redis(connection_pool=self.connection_pool), self.consumer_group_name)

    def _ack_generator(self, id: str, queue_name: str) -> Callable[[], Awaitable[None]]:
        async def ack() -> None:
            await self._acks.ack(queue_name, id)

        return ack

    def _message(self, msg_id: Any, fields: Any, stream: Any) -> AckableMessage:
        return AckableMessage(
            data=fields[b"data"], ack=self._ack_generator(id=msg_id, queue_name=stream)
        )

    async def _runnable(self, stream: Any, msg_id: Any, fields: Any) -> bool:
        if self.screen is None:
            return True
        queue, entry = _text(stream), _text(msg_id)
        try:
            runnable = await self.screen(queue, entry, fields)
        except Exception as error:  # not recorded (the database is away): it comes back later
            _unless_cancelled()
            log.warning("cannot screen a stream entry; leaving it for redelivery",
                        extra={"queue": queue, "entry": entry, "error": repr(error)})  # fmt: skip
            return False
        if not runnable:
            await self._ack_generator(id=msg_id, queue_name=stream)()
        return runnable

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
            _unless_cancelled()
            log.warning("redis unavailable; retrying", extra={"error": repr(error)})
            await asyncio.sleep(1.0)
        return None

    async def listen(self) -> AsyncGenerator[AckableMessage, None]:
        last_reclaim = 0.0
        async with Redis(connection_pool=self.connection_pool) as redis:
            while True:
                # A stop that a library turned into an error somewhere below (the read, the
                # screen's database call, the reclaim) ends the loop here, not never.
                _unless_cancelled()
                batches: Any = await self._read(redis)
                self.progress()
                for stream, entries in batches or []:
                    for msg_id, fields in entries:
                        if await self._runnable(stream, msg_id, fields):
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
                    _unless_cancelled()
                    continue  # the next read declares the group again or waits for Redis
                for msg_id, fields in claimed:
                    # None: the entry was trimmed away meanwhile
                    if fields is not None and await self._runnable(self.queue_name, msg_id, fields):
                        yield self._message(msg_id, fields, self.queue_name)


def _unless_cancelled() -> None:
    """Stop if this task was asked to (the receiver stopping, on SIGTERM), even if a library
    turned the CancelledError into an error of its own on its way up (redis-py a connection
    error, kit.db an outage): carrying on would keep a stopping worker reading forever (seen
    in the compose wiring test: the child process never exited after SIGINT)."""
    task = asyncio.current_task()
    if task is not None and task.cancelling():
        raise asyncio.CancelledError


def make_broker(
    redis_url: str,
    queue: str,
    *,
    idle_timeout_ms: int = 60_000,
    reclaim_interval: float = 10.0,
) -> ReclaimingStreamBroker:
    """The broker for `queue` (one stream per consuming service), traced with OpenTelemetry
    while an exporter is configured.

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
        # Every Redis call of the broker is bounded (a read blocks for 2 s at most): a Redis that
        # stops answering is a logged retry, never a receive loop hung on a dead socket.
        socket_timeout=10,
        socket_connect_timeout=5,
    )  # no maxlen: trimming by count can drop pending work; kit.outbox.Confirmer trims
    if recording():  # a span per task only when spans are exported (else kit.consumer
        broker.add_middlewares(OpenTelemetryMiddleware())  # continues the trace id cheaply)
    return broker


def _text(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else value
