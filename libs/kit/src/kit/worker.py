"""The one way every service builds its taskiq worker: broker, outbox relay, heartbeat, metrics.

`<service>/worker.py` calls `create_worker(...)` at import time, because the taskiq CLI loads a
module-level broker (`taskiq worker <service>.worker:broker`). Tasks reach the database through
`context.state.db` and their message id through `message_id(context)`.
"""

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable, Coroutine
from typing import Any

import asyncpg
from prometheus_client import Gauge, start_http_server
from redis.asyncio import Redis
from redis.exceptions import RedisError
from taskiq import AsyncBroker, Context, TaskiqEvents, TaskiqState

from kit import health, idempotency, inbox, outbox
from kit.app import open_resources
from kit.broker import make_broker
from kit.db import Database
from kit.jobs import JobStatsMiddleware, stream_counts
from kit.logs import configure_logging
from kit.outbox import Relay, StreamPublisher
from kit.settings import ServiceSettings
from kit.telemetry import setup_tracing

log = logging.getLogger("kit.worker")

Task = Callable[..., Coroutine[Any, Any, Any]]
Chore = Callable[[TaskiqState], Awaitable[None]]

QUEUE_PENDING = Gauge("taskiq_queue_pending_messages", "Delivered, not yet acknowledged", ["queue"])
QUEUE_LAG = Gauge("taskiq_queue_lag_messages", "Waiting in the stream for this group", ["queue"])


def message_id(context: Context) -> str:
    """The outbox message id the relay stamped on this delivery (stable across redeliveries)."""
    return str(context.message.labels["message_id"])


async def _every(seconds: float, chore: Chore, state: TaskiqState) -> None:
    while True:
        try:
            await chore(state)
        except Exception:
            log.exception("periodic chore failed", extra={"chore": chore.__name__})
        await asyncio.sleep(seconds)


def _queue_gauges(queue: str) -> Chore:
    async def measure_queue(state: TaskiqState) -> None:
        redis: Redis = state.redis
        try:
            waiting, taken = await stream_counts(redis, queue)
        except RedisError:
            return
        QUEUE_LAG.labels(queue).set(waiting)
        QUEUE_PENDING.labels(queue).set(taken)

    return measure_queue


async def housekeeping(state: TaskiqState) -> None:
    """Prune what only needs keeping for a while: published outbox rows, old inbox ids and
    expired idempotency keys (kit's tables, present in every service's schema)."""
    db: Database = state.db
    async with db.transaction() as conn:
        counts = {
            "outbox": await outbox.prune(conn),
            "inbox": await inbox.prune(conn),
            "idempotency_keys": await idempotency.delete_expired(conn),
        }
    if any(counts.values()):
        log.info("housekeeping", extra=counts)


def create_worker(
    service: str,
    settings: ServiceSettings,
    tasks: dict[str, Task],
    chores: list[tuple[float, Chore]] | None = None,
    on_startup: Chore | None = None,
    on_shutdown: Chore | None = None,
) -> AsyncBroker:
    """`chores`: (interval in seconds, coroutine) pairs run in the background, e.g. pruning.
    `on_startup` runs once the database and Redis are open, before any chore or task."""
    configure_logging(service, settings.log_level)
    setup_tracing(f"{service}-worker")
    broker = make_broker(
        settings.redis_url,
        service,
        idle_timeout_ms=settings.queue_idle_timeout_ms,
        reclaim_interval=settings.queue_reclaim_interval_seconds,
    )
    broker.add_middlewares(JobStatsMiddleware(settings.redis_url))
    chores = [(5.0, _queue_gauges(service)), (600.0, housekeeping), *(chores or [])]
    for name, task in tasks.items():
        broker.register_task(task, task_name=name)
    stack = contextlib.AsyncExitStack()
    background: list[asyncio.Task[None]] = []

    @broker.on_event(TaskiqEvents.WORKER_STARTUP)
    async def startup(state: TaskiqState) -> None:
        resources = await stack.enter_async_context(open_resources(settings))
        state.db, state.redis, state.settings = resources.db, resources.redis, settings
        listen_conn = await asyncpg.connect(settings.database_url.get_secret_value())
        stack.push_async_callback(listen_conn.close)
        relay = Relay(resources.db, StreamPublisher(resources.redis), schema=service)
        if on_startup:
            await on_startup(state)
        background.append(asyncio.create_task(relay.run(listen_conn)))
        background.append(
            asyncio.create_task(
                health.beat_forever(resources.redis, service, settings.worker_heartbeat_seconds)
            )
        )
        background.extend(asyncio.create_task(_every(s, c, state)) for s, c in chores)
        if settings.worker_metrics_port:
            start_http_server(settings.worker_metrics_port, addr=settings.worker_metrics_addr)
        log.info("worker started", extra={"tasks": sorted(tasks)})

    @broker.on_event(TaskiqEvents.WORKER_SHUTDOWN)
    async def shutdown(state: TaskiqState) -> None:
        for task in background:
            task.cancel()
        await asyncio.gather(*background, return_exceptions=True)
        if on_shutdown:
            await on_shutdown(state)
        await stack.aclose()

    return broker
