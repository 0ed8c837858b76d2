"""The one way every service builds its taskiq worker: broker, outbox relay, heartbeat, metrics.

`<service>/worker.py` calls `create_worker(...)` at import time, because the taskiq CLI loads a
module-level broker (`taskiq worker <service>.worker:broker`). Tasks reach the database through
`context.state.db` and their message id through `message_id(context)`.
"""

import asyncio
import contextlib
import logging
from collections.abc import Callable, Coroutine
from typing import Any

import asyncpg
from prometheus_client import start_http_server
from taskiq import AsyncBroker, Context, TaskiqEvents, TaskiqState

from kit import health
from kit.app import open_resources
from kit.broker import make_broker
from kit.logs import configure_logging
from kit.outbox import Relay, TaskiqPublisher
from kit.settings import ServiceSettings
from kit.telemetry import setup_tracing

log = logging.getLogger("kit.worker")

Task = Callable[..., Coroutine[Any, Any, Any]]


def message_id(context: Context) -> str:
    """The outbox message id the relay stamped on this delivery (stable across redeliveries)."""
    return str(context.message.labels["message_id"])


def create_worker(service: str, settings: ServiceSettings, tasks: dict[str, Task]) -> AsyncBroker:
    configure_logging(service, settings.log_level)
    setup_tracing(f"{service}-worker")
    broker = make_broker(settings.redis_url, service)
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
        relay = Relay(resources.db, TaskiqPublisher(broker), schema=service)
        background.append(asyncio.create_task(relay.run(listen_conn)))
        background.append(
            asyncio.create_task(
                health.beat_forever(resources.redis, service, settings.worker_heartbeat_seconds)
            )
        )
        if settings.worker_metrics_port:
            start_http_server(settings.worker_metrics_port, addr=settings.worker_metrics_addr)
        log.info("worker started", extra={"tasks": sorted(tasks)})

    @broker.on_event(TaskiqEvents.WORKER_SHUTDOWN)
    async def shutdown(state: TaskiqState) -> None:
        for task in background:
            task.cancel()
        await asyncio.gather(*background, return_exceptions=True)
        await stack.aclose()

    return broker
