"""The one way every service builds its taskiq worker: broker, consumer, outbox relay and
confirmer, failed-message retries, heartbeat, probes and metrics.

`<service>/worker.py` calls `create_worker(...)` at import time, because the taskiq CLI loads a
module-level broker (`taskiq worker <service>.worker:broker`). It declares an event handler and
jobs, each `async (state, message_id, payload)` (see `kit.consumer`); handlers reach the
database through `state.db`.
"""

import asyncio
import contextlib
import io
import logging
import signal
import time
from collections.abc import Awaitable, Callable, Coroutine, Iterable
from dataclasses import dataclass
from functools import partial
from typing import Any

import asyncpg
from prometheus_client import Counter, Gauge
from redis.asyncio import Redis
from redis.exceptions import RedisError
from taskiq import AsyncBroker, TaskiqEvents, TaskiqState

from kit import health, idempotency, inbox, outbox, signing
from kit.app import open_resources
from kit.broker import make_broker
from kit.consumer import Consumer, EventConsumer, EventsHandler, Handler
from kit.db import Database
from kit.jobs import JobStatsMiddleware, stream_counts
from kit.logs import configure_logging
from kit.outbox import Confirmer, Relay, StreamPublisher
from kit.probes import Liveness, serve_probes
from kit.settings import ServiceSettings
from kit.telemetry import setup_tracing

log = logging.getLogger("kit.worker")
CHORE_TIMEOUT = 60.0

Chore = Callable[[TaskiqState], Awaitable[object]]
# Work a worker claims from its own tables (`FOR UPDATE SKIP LOCKED`) instead of receiving it
# as a message: one batch per call; returns the seconds until more is due (0: more now), or
# None when nothing waits.
Claim = Callable[[TaskiqState], Awaitable[float | None]]
CLAIM_POLL_SECONDS = 1.0

LOOP_RESTARTS = Counter(
    "worker_loop_restarts_total", "Background loops that ended or stalled, restarted", ["loop"]
)
REPAIRED = Counter("reconciler_repaired_total", "What reconcilers found and repaired", ["name"])
QUEUE_PENDING = Gauge("taskiq_queue_pending_messages", "Delivered, not yet acknowledged", ["queue"])
QUEUE_LAG = Gauge("taskiq_queue_lag_messages", "Waiting in the stream for this group", ["queue"])
OUTBOX_OLDEST = Gauge(
    "outbox_oldest_unpublished_seconds", "Age of the oldest outbox message not yet published"
)
REDIS_MEMORY = Gauge("redis_memory_used_bytes", "Redis used_memory, as INFO reports it")
REDIS_MAXMEMORY = Gauge("redis_memory_max_bytes", "Redis maxmemory (0: no limit)")


Progress = Callable[[], None]


@dataclass
class Loop:
    """A background loop: `run(progress)` calls `progress()` at least every `allowance` s."""

    name: str
    run: Callable[[Progress], Coroutine[Any, Any, None]]
    allowance: float
    task: "asyncio.Task[None] | None" = None
    last: float = 0.0

    def start(self) -> None:
        self.last = time.monotonic()
        self.task = asyncio.create_task(self.run(self._progress), name=self.name)

    def _progress(self) -> None:
        self.last = time.monotonic()


class Supervisor:
    """Keeps the worker's background loops (relay, chores) running: a loop that ended, or made
    no progress within its allowance, is logged with where it was stuck and started again, so
    a hang the timeouts inside it missed costs a restart, never a silently stopped pipeline.
    Every round it reports its own progress to `liveness` and, while no watched loop (the
    receive loop above all) has stalled, beats the worker's heartbeat that `/health` reads."""

    def __init__(self, loops: list[Loop], liveness: Liveness | None = None) -> None:
        self.loops = loops
        self.liveness = liveness or Liveness(allowance=float("inf"))

    def check(self) -> None:
        now = time.monotonic()
        for loop in self.loops:
            task = loop.task
            if task is None:
                loop.start()
                continue
            if task.done():
                error = None if task.cancelled() else task.exception()
                log.error("background loop ended; restarting it",
                          extra={"loop": loop.name, "error": repr(error)})  # fmt: skip
            elif now - loop.last > loop.allowance:
                where = io.StringIO()
                task.print_stack(file=where)
                log.error("background loop stalled; restarting it", extra={
                    "loop": loop.name, "stalled_seconds": round(now - loop.last),
                    "stack": where.getvalue()})  # fmt: skip
                task.cancel()
            else:
                continue
            LOOP_RESTARTS.labels(loop.name).inc()
            loop.start()

    async def run(self, redis: Redis, worker: str, ttl: int) -> None:
        progress = self.liveness.watch("supervisor")
        while True:
            self.check()
            progress()
            stalled = self.liveness.stalled()
            if stalled:
                log.error("worker loop stalled; no heartbeat", extra={"stalled": stalled})
            else:
                await health.beat(redis, worker, ttl)
            await asyncio.sleep(ttl / 3)

    async def stop(self) -> None:
        tasks = [loop.task for loop in self.loops if loop.task is not None]
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)


def _every(seconds: float, chore: Chore, state: TaskiqState) -> Loop:
    async def run(progress: Progress) -> None:
        while True:
            progress()
            try:
                async with asyncio.timeout(CHORE_TIMEOUT):  # never stuck on a dead connection
                    await chore(state)
            except Exception:
                log.exception("periodic chore failed", extra={"chore": chore.__name__})
            await asyncio.sleep(seconds)

    return Loop(chore.__name__, run, seconds + 2 * CHORE_TIMEOUT)


def _claiming(claim: Claim, state: TaskiqState, wake: asyncio.Event) -> Loop:
    """Run `claim` until it finds nothing due, then sleep until the next due time, a commit
    that NOTIFYs the outbox (the relay's LISTEN sets `wake`), or the poll interval."""

    async def run(progress: Progress) -> None:
        while True:
            progress()
            wake.clear()
            try:
                async with asyncio.timeout(CHORE_TIMEOUT):  # never stuck on a dead connection
                    due_in = await claim(state)
            except Exception:
                log.exception("claim failed", extra={"claim": claim.__name__})
                due_in = CLAIM_POLL_SECONDS
            if due_in == 0:
                continue
            wait = CLAIM_POLL_SECONDS if due_in is None else min(due_in, CLAIM_POLL_SECONDS)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(wake.wait(), wait)

    return Loop(claim.__name__, run, CLAIM_POLL_SECONDS + 2 * CHORE_TIMEOUT)


def reconciler(name: str, repair: Callable[[TaskiqState], Awaitable[int]]) -> Chore:
    """A chore that repairs what waited past its deadline and counts how much it repaired."""

    async def reconcile(state: TaskiqState) -> None:
        REPAIRED.labels(name).inc(await repair(state))

    reconcile.__name__ = name
    return reconcile


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


async def measure_backlog(state: TaskiqState) -> None:
    """What a stalled consumer or a full Redis looks like from here: the oldest message the
    relay has not published (held at a stream's window, or refused), and Redis's memory."""
    db: Database = state.db
    async with db.connection() as conn:
        OUTBOX_OLDEST.set(await outbox.oldest_unpublished_seconds(conn))
    redis: Redis = state.redis
    with contextlib.suppress(RedisError):
        memory: Any = await redis.info("memory")
        REDIS_MEMORY.set(int(memory.get("used_memory", 0)))
        REDIS_MAXMEMORY.set(int(memory.get("maxmemory", 0)))


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


def _log_task_stacks(loop: asyncio.AbstractEventLoop, *_: object) -> None:
    """On SIGUSR1 (`kill -USR1 <pid>`): every asyncio task's stack in the log, for a worker
    that seems stuck (say, one that does not stop on SIGTERM)."""
    for task in asyncio.all_tasks(loop):
        where = io.StringIO()
        task.print_stack(file=where)
        log.warning("task stack", extra={"task": task.get_name(), "stack": where.getvalue()})


def create_worker(
    service: str,
    settings: ServiceSettings,
    *,
    on_events: EventsHandler | None = None,
    event_types: Iterable[str] = (),
    after_events: Callable[[TaskiqState], None] | None = None,
    jobs: dict[str, Handler] | None = None,
    chores: list[tuple[float, Chore]] | None = None,
    claims: list[Claim] | None = None,
    loops: list[tuple[str, Callable[[TaskiqState, Progress], Coroutine[Any, Any, None]], float]]
    | None = None,
    on_startup: Chore | None = None,
    on_shutdown: Chore | None = None,
) -> AsyncBroker:
    """`on_events(conn, events)` applies the events of `event_types` this service subscribes to,
    those that arrived together at once (`kit.consumer.each` adapts a one-event handler)
    (tasks `<service>.handle_event` and `.handle_events`; kit opens the transaction and records
    the inbox entry), then `after_events(state)` once it committed;
    `jobs` maps task names to handlers. `chores`: (interval in seconds, coroutine) pairs run in
    the background. `claims` run whenever work may be due in the service's own tables (see
    `Claim`). `loops`: (name, `run(state, progress)`, allowance in seconds) of a service's own
    long-running loops, supervised like kit's (restarted when they end or stop calling
    `progress`). `on_startup` runs once the database and Redis are open, before any chore or
    task."""
    configure_logging(service, settings.log_level)
    setup_tracing(f"{service}-worker")
    subscribed = frozenset(event_types)
    broker = make_broker(
        settings.redis_url,
        service,
        idle_timeout_ms=settings.queue_idle_timeout_ms,
        reclaim_interval=settings.queue_reclaim_interval_seconds,
    )
    broker.add_middlewares(JobStatsMiddleware(settings.redis_url))
    handlers = dict(jobs or {})
    if on_events is not None:
        events = EventConsumer(on_events, subscribed, after_events)
        handlers[outbox.event_task(service)] = events.one
        handlers[outbox.events_task(service)] = events.many
    # Refused at startup in production without real keys (kit.signing): a worker takes
    # messages from itself (jobs) and from the owners of the events it subscribes to.
    key = settings.message_signing_key
    signer = signing.signer(service, key.get_secret_value() if key else None, settings.production)
    senders = {service, *(signing.owner(t) for t in subscribed)}
    verifier = signing.verifier(
        signer, senders, settings.message_verify_keys, settings.production,
        required=settings.message_signatures == "required",
    )  # fmt: skip
    consumer = Consumer(handlers, settings, verifier)
    consumer.register(broker)

    async def confirm_published(state: TaskiqState) -> None:
        await Confirmer(state.db, state.redis, settings.outbox_confirm_grace_seconds).run_once()

    chores = [
        (5.0, _queue_gauges(service)),
        (5.0, measure_backlog),
        (1.0, consumer.retry_due),
        (15.0, consumer.measure),
        (5.0, confirm_published),
        (600.0, housekeeping),
        *(chores or []),
    ]
    stack = contextlib.AsyncExitStack()
    background: list[asyncio.Task[None]] = []
    liveness = Liveness(settings.worker_stall_seconds)
    supervisor = Supervisor([], liveness)

    @broker.on_event(TaskiqEvents.WORKER_STARTUP)
    async def startup(state: TaskiqState) -> None:
        signal.signal(signal.SIGUSR1, partial(_log_task_stacks, asyncio.get_running_loop()))
        resources = await stack.enter_async_context(open_resources(settings))
        state.db, state.redis, state.settings = resources.db, resources.redis, settings
        broker.screen = partial(consumer.screen, resources.db)
        publisher = StreamPublisher(resources.redis, signer)
        relay = Relay(
            resources.db, publisher, schema=service,
            window=settings.outbox_stream_window, depth=publisher.depth,
        )  # fmt: skip
        claim_loops = []
        for claim in claims or []:
            wake = asyncio.Event()
            relay.also_wake.append(wake)
            claim_loops.append(_claiming(claim, state, wake))
        if on_startup:
            await on_startup(state)

        async def listen() -> asyncpg.Connection:
            return await asyncpg.connect(settings.database_url.get_secret_value(), timeout=10)

        wakes = partial(outbox.listen_for_wakes, resources.redis, service, relay.wake)
        supervisor.loops = [
            Loop("outbox_relay", partial(relay.run, listen), 2 * relay.round_timeout),
            Loop("outbox_wakes", wakes, 30.0),
            *claim_loops,
            *(Loop(name, partial(run, state), allowance) for name, run, allowance in loops or []),
            *(_every(s, c, state) for s, c in chores),
        ]
        broker.progress = liveness.watch("receive")
        background.append(
            asyncio.create_task(
                supervisor.run(resources.redis, service, settings.worker_heartbeat_seconds)
            )
        )
        if settings.worker_metrics_port:
            try:
                serve_probes(settings.worker_metrics_port, settings.worker_metrics_addr, liveness)
            except OSError:  # a sibling process of the same worker (`--workers N`) serves it
                log.warning("worker metrics port taken; this process exports none",
                            extra={"port": settings.worker_metrics_port})  # fmt: skip
        log.info("worker started", extra={"tasks": sorted(handlers)})

    @broker.on_event(TaskiqEvents.WORKER_SHUTDOWN)
    async def shutdown(state: TaskiqState) -> None:
        for task in background:
            task.cancel()
        await asyncio.gather(*background, return_exceptions=True)
        await supervisor.stop()
        if on_shutdown:
            await on_shutdown(state)
        await stack.aclose()

    return broker
