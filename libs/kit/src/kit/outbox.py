"""Transactional outbox: a use case adds messages in its own transaction; the relay publishes.

Messages are events (fanned out to each consuming service's queue as `<consumer>.handle_event`)
or jobs (one task on one queue). The relay runs in the service's worker, wakes on
`LISTEN/NOTIFY` with a polling fallback, claims rows `FOR UPDATE SKIP LOCKED`, writes them to
their streams in one pipelined round trip and stamps `published_at` in the same transaction: a
crash before the commit republishes (consumers dedupe through their inbox), so nothing is lost.
"""

import asyncio
import contextlib
import logging
import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

import asyncpg
from opentelemetry import propagate, trace
from prometheus_client import Counter
from redis.asyncio import Redis
from taskiq import TaskiqMessage

from kit.db import Database
from kit.events import Envelope
from kit.ids import new_id

log = logging.getLogger("kit.outbox")
tracer = trace.get_tracer("kit.outbox")

OUTBOX_PUBLISHED = Counter("outbox_published_total", "Outbox messages published", ["task_name"])


@dataclass(frozen=True)
class OutboxMessage:
    message_id: str
    queue: str
    task_name: str
    payload: dict[str, Any]


def event_messages(envelope: Envelope, consumers: Sequence[str]) -> list[OutboxMessage]:
    payload = envelope.model_dump(mode="json")
    return [OutboxMessage(envelope.id, c, f"{c}.handle_event", payload) for c in consumers]


def job_message(queue: str, task_name: str, payload: dict[str, Any]) -> OutboxMessage:
    return OutboxMessage(new_id("job_", 24), queue, task_name, payload)


async def add(conn: asyncpg.Connection, messages: Iterable[OutboxMessage]) -> None:
    """Queue messages inside the caller's transaction; they are published only if it commits.

    One statement whatever the count; a trigger NOTIFYs the relay when it commits.
    """
    rows = list(messages)
    if not rows:
        return
    carrier: dict[str, str] = {}
    propagate.inject(carrier)
    await conn.execute(
        "INSERT INTO outbox (message_id, queue, task_name, payload, trace_context)"
        " SELECT m, q, t, p, $5 FROM unnest($1::text[], $2::text[], $3::text[], $4::jsonb[])"
        " AS u(m, q, t, p)",
        [m.message_id for m in rows],
        [m.queue for m in rows],
        [m.task_name for m in rows],
        [m.payload for m in rows],
        carrier,
    )


@dataclass(frozen=True)
class Outgoing:
    """One outbox row on its way to a stream."""

    message_id: str
    queue: str
    task_name: str
    payload: dict[str, Any]
    trace_context: dict[str, str]


class Publisher(Protocol):
    async def publish(self, batch: Sequence[Outgoing]) -> None: ...


class StreamPublisher:
    """Writes taskiq messages straight to the consumers' Redis streams, a batch per round trip.

    A task is kicked by name (`<service>.<verb>`), so no service imports another's code. The
    message's labels carry its outbox id (consumers dedupe on it) and the trace context of the
    request that wrote it (taskiq's OpenTelemetry middleware continues that trace).
    """

    def __init__(self, redis: Redis, maxlen: int = 1_000_000) -> None:
        self.redis = redis
        self.maxlen = maxlen

    async def publish(self, batch: Sequence[Outgoing]) -> None:
        pipe = self.redis.pipeline(transaction=False)
        for item in batch:
            message = TaskiqMessage(
                task_id=uuid.uuid4().hex,
                task_name=item.task_name,
                labels={**item.trace_context, "message_id": item.message_id},
                args=[item.payload],
                kwargs={},
            )
            fields: Any = {b"data": message.model_dump_json().encode()}
            pipe.xadd(item.queue, fields, maxlen=self.maxlen, approximate=True)
        await pipe.execute()


class Relay:
    def __init__(
        self,
        db: Database,
        publisher: Publisher,
        schema: str,
        *,
        batch_size: int = 100,
        poll_interval: float = 1.0,
    ) -> None:
        self.db = db
        self.publisher = publisher
        self.channel = f"outbox_{schema}"
        self.batch_size = batch_size
        self.poll_interval = poll_interval
        self._wake = asyncio.Event()

    async def publish_pending(self) -> int:
        """Publish one batch of unpublished messages; return how many."""
        async with self.db.transaction() as conn:
            rows = await conn.fetch(
                "SELECT id, message_id, queue, task_name, payload, trace_context FROM outbox"
                " WHERE published_at IS NULL ORDER BY id LIMIT $1 FOR UPDATE SKIP LOCKED",
                self.batch_size,
            )
            if not rows:
                return 0
            batch = [
                Outgoing(
                    r["message_id"], r["queue"], r["task_name"], r["payload"], r["trace_context"]
                )
                for r in rows
            ]
            with tracer.start_as_current_span(
                "outbox publish", kind=trace.SpanKind.PRODUCER
            ) as span:
                span.set_attribute("messaging.batch.message_count", len(batch))
                await self.publisher.publish(batch)
            await conn.execute(
                "UPDATE outbox SET published_at = now() WHERE id = ANY($1)", [r["id"] for r in rows]
            )
        for item in batch:
            OUTBOX_PUBLISHED.labels(item.task_name).inc()
        return len(rows)

    def _notified(self, *_: object) -> None:
        self._wake.set()

    async def run(self, listen_conn: asyncpg.Connection) -> None:
        """Publish forever; `listen_conn` is a dedicated connection for LISTEN."""
        await listen_conn.add_listener(self.channel, self._notified)
        try:
            while True:
                self._wake.clear()
                try:
                    if await self.publish_pending() == self.batch_size:
                        continue
                except Exception:
                    log.exception("outbox relay failed; retrying")
                    await asyncio.sleep(self.poll_interval)
                    continue
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._wake.wait(), self.poll_interval)
        finally:
            await listen_conn.remove_listener(self.channel, self._notified)


async def prune(conn: asyncpg.Connection, keep_days: int = 7) -> int:
    """Delete messages published more than `keep_days` ago (the audit window)."""
    result = await conn.execute(
        "DELETE FROM outbox WHERE published_at < now() - make_interval(days => $1)", keep_days
    )
    return int(result.split()[-1])
