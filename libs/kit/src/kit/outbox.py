"""Transactional outbox: a use case adds messages in its own transaction; the relay publishes.

Messages are events (fanned out to each consuming service's queue as `<consumer>.handle_event`)
or jobs (one task on one queue). The relay runs in the service's worker, wakes on
`LISTEN/NOTIFY` with a polling fallback, claims rows `FOR UPDATE SKIP LOCKED`, publishes them and
stamps `published_at` in the same transaction: a crash before the commit republishes (consumers
dedupe through their inbox), so nothing is lost.
"""

import asyncio
import contextlib
import logging
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

import asyncpg
from opentelemetry import propagate, trace
from prometheus_client import Counter
from taskiq import AsyncBroker
from taskiq.kicker import AsyncKicker

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
    """Queue messages inside the caller's transaction; they are published only if it commits."""
    carrier: dict[str, str] = {}
    propagate.inject(carrier)
    rows = [(m.message_id, m.queue, m.task_name, m.payload, carrier) for m in messages]
    if not rows:
        return
    await conn.executemany(
        "INSERT INTO outbox (message_id, queue, task_name, payload, trace_context)"
        " VALUES ($1, $2, $3, $4, $5)",
        rows,
    )
    await conn.execute("SELECT pg_notify('outbox_' || current_schema(), '')")


class Publisher(Protocol):
    async def publish(
        self, message_id: str, queue: str, task_name: str, payload: dict[str, Any]
    ) -> None: ...


class TaskiqPublisher:
    """Kicks a task by name on a named stream, so no service imports another's code."""

    def __init__(self, broker: AsyncBroker) -> None:
        self.broker = broker

    async def publish(
        self, message_id: str, queue: str, task_name: str, payload: dict[str, Any]
    ) -> None:
        labels = {"queue_name": queue, "message_id": message_id}
        kicker: AsyncKicker[Any, Any] = AsyncKicker(task_name, self.broker, labels)
        await kicker.kiq(payload)


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
            for row in rows:
                parent = propagate.extract(row["trace_context"])
                with tracer.start_as_current_span(
                    f"outbox publish {row['task_name']}",
                    context=parent,
                    kind=trace.SpanKind.PRODUCER,
                ):
                    await self.publisher.publish(
                        row["message_id"], row["queue"], row["task_name"], row["payload"]
                    )
                OUTBOX_PUBLISHED.labels(row["task_name"]).inc()
            if rows:
                await conn.execute(
                    "UPDATE outbox SET published_at = now() WHERE id = ANY($1)",
                    [r["id"] for r in rows],
                )
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
