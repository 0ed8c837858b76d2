"""Transactional outbox: a use case adds messages in its own transaction; the relay publishes.

Messages are events (fanned out to each consuming service's queue as `<consumer>.handle_event`)
or jobs (one task on one queue). The relay runs in the service's worker, wakes when the process
that committed messages publishes a wake-up to Redis (`kit.db`; never a NOTIFY in the committing
transaction, which would serialise commits), with a polling fallback, claims rows `FOR UPDATE
SKIP LOCKED`, writes them to their streams in one pipelined round trip and stamps
`published_at` and the stream entry id in the same transaction: a crash before the commit
republishes (consumers dedupe through their inbox), so nothing is lost.

Redis is a transport, not the source of truth: the `Confirmer` learns from each stream's
consumer group which published messages were acknowledged (`confirmed_at`), publishes again
those whose entry vanished first (Redis restarted without its data, or was flushed), and trims
each stream below its oldest unacknowledged entry, never by a count.
"""

import asyncio
import collections
import contextlib
import json
import logging
import time
import uuid
from collections.abc import Awaitable, Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol

import asyncpg
from opentelemetry import propagate, trace
from prometheus_client import Counter
from redis.asyncio import Redis
from redis.exceptions import RedisError, ResponseError
from taskiq import TaskiqMessage

from kit.db import WROTE_OUTBOX, Database
from kit.events import Envelope
from kit.ids import new_id
from kit.jobs import stream_counts
from kit.signing import Signer

log = logging.getLogger("kit.outbox")
tracer = trace.get_tracer("kit.outbox")

OUTBOX_PUBLISHED = Counter("outbox_published_total", "Outbox messages published", ["task_name"])
OUTBOX_HELD = Counter(
    "outbox_held_total", "Relay rounds that held a queue at its stream window", ["queue"]
)
OUTBOX_REPUBLISHED = Counter(
    "outbox_republished_total", "Published messages lost by Redis and published again", ["queue"]
)
GROUP = "taskiq"  # the consumer group every worker reads its stream with


@dataclass(frozen=True)
class OutboxMessage:
    message_id: str
    queue: str
    task_name: str
    payload: dict[str, Any]


def event_task(consumer: str) -> str:
    """The task every consuming service registers for the events it subscribes to."""
    return f"{consumer}.handle_event"


def events_task(consumer: str) -> str:
    """The task for a message carrying several events of one transaction (`together`)."""
    return f"{consumer}.handle_events"


def event_messages(envelope: Envelope, consumers: Sequence[str]) -> list[OutboxMessage]:
    payload = envelope.model_dump(mode="json")
    return [OutboxMessage(envelope.id, c, event_task(c), payload) for c in consumers]


def together(messages: Iterable[OutboxMessage]) -> list[OutboxMessage]:
    """The events one transaction writes for one consumer travel as one message (task
    `<consumer>.handle_events`, payload `{"events": [...]}` in the order written), taking the
    place of the first: one outbox row, stream entry, acknowledgement and inbox entry instead
    of one each. A lone event and jobs are left as they are."""
    rows = list(messages)
    events: dict[str, list[OutboxMessage]] = collections.defaultdict(list)
    for m in rows:
        if m.task_name == event_task(m.queue):
            events[m.queue].append(m)
    kept = []
    for m in rows:
        same = events.get(m.queue, [])
        if len(same) < 2 or m not in same:
            kept.append(m)
        elif m is same[0]:
            payload = {"events": [e.payload for e in same]}
            kept.append(OutboxMessage(new_id("msg_", 24), m.queue, events_task(m.queue), payload))
    return kept


def job_message(queue: str, task_name: str, payload: dict[str, Any]) -> OutboxMessage:
    return OutboxMessage(new_id("job_", 24), queue, task_name, payload)


# An event's `occurred_at` is the database's clock when its row is written, not the clock of
# whichever pod built it: one clock for every service, so the webhooks' `timestamp` of one
# object's events never runs backwards across pods.
_NOW = """to_jsonb(to_char(clock_timestamp() AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS"Z"'))"""
_STAMPED = (
    f"CASE WHEN p ? 'occurred_at' THEN jsonb_set(p, '{{occurred_at}}', {_NOW})"
    " WHEN jsonb_typeof(p -> 'events') = 'array' THEN jsonb_set(p, '{events}', (SELECT"
    f" jsonb_agg(jsonb_set(e, '{{occurred_at}}', {_NOW}) ORDER BY i)"
    " FROM jsonb_array_elements(p -> 'events') WITH ORDINALITY AS x(e, i)))"
    " ELSE p END"
)  # (the events of a `together` message each get theirs)


def _insert_messages(first: int) -> str:
    """The outbox INSERT for `_message_args`, its parameters numbered from `first`."""
    m, q, t, p, c = (f"${first + i}" for i in range(5))
    return (
        "INSERT INTO outbox (message_id, queue, task_name, payload, trace_context)"
        f" SELECT m, q, t, {_STAMPED}, {c}"
        f" FROM unnest({m}::text[], {q}::text[], {t}::text[], {p}::jsonb[]) AS u(m, q, t, p)"
    )


def _message_args(rows: list[OutboxMessage]) -> list[Any]:
    carrier: dict[str, str] = {}
    propagate.inject(carrier)
    return [
        [m.message_id for m in rows],
        [m.queue for m in rows],
        [m.task_name for m in rows],
        [m.payload for m in rows],
        carrier,
    ]


async def add(conn: asyncpg.Connection, messages: Iterable[OutboxMessage]) -> None:
    """Queue messages inside the caller's transaction; they are published only if it commits.

    One statement whatever the count; once it commits, `kit.db.Database` wakes the relay.
    """
    rows = together(messages)
    if rows:
        await conn.execute(_insert_messages(1), *_message_args(rows))
        WROTE_OUTBOX.set(True)


async def insert_with(
    conn: asyncpg.Connection,
    insert: str,
    args: Sequence[Any],
    messages: Iterable[OutboxMessage],
    *,
    then: Callable[[int], str] | None = None,
    then_args: Sequence[Any] = (),
) -> asyncpg.Record | None:
    """Run `insert` (an `INSERT … RETURNING` on `$1…$n`) and queue `messages` in one statement:
    atomic without a transaction around it, one round trip. The messages are queued only if
    the insert returned a row; that row is returned (None: nothing inserted, nothing queued).
    `then(first)` is one more data-modifying statement in it, reading the inserted row from
    `state`, its parameters (`then_args`) numbered from `first`."""
    rows = together(messages)
    message_args = _message_args(rows)
    sent = f"{_insert_messages(len(args) + 1)} WHERE EXISTS (SELECT FROM state)"
    more = f", more AS ({then(len(args) + len(message_args) + 1)})" if then else ""
    row = await conn.fetchrow(
        f"WITH state AS ({insert}), sent AS ({sent}){more} SELECT * FROM state",
        *args,
        *message_args,
        *then_args,
    )
    if row is not None and rows:
        WROTE_OUTBOX.set(True)
    return row


@dataclass(frozen=True)
class Outgoing:
    """One outbox row on its way to a stream."""

    message_id: str
    queue: str
    task_name: str
    payload: dict[str, Any]
    trace_context: dict[str, str]


class Publisher(Protocol):
    async def publish(self, batch: Sequence[Outgoing]) -> list[str | None]:
        """Publish in order; the stream entry id of each, None for one its stream refused (a
        full Redis). Raises if Redis cannot be reached at all."""
        ...


Depth = Callable[[str], Awaitable[int]]


class StreamPublisher:
    """Writes taskiq messages straight to the consumers' Redis streams, a batch per round trip.

    A task is kicked by name (`<service>.<verb>`), so no service imports another's code. The
    message's labels carry its outbox id (consumers dedupe on it) and the trace context of the
    request that wrote it (taskiq's OpenTelemetry middleware continues that trace).
    """

    def __init__(self, redis: Redis, signer: Signer) -> None:
        self.redis = redis
        self.signer = signer

    async def depth(self, queue: str) -> int:
        """Entries of `queue` not yet acknowledged: waiting for a worker, or taken by one (every
        entry, before its consumer ever created its group)."""
        try:
            groups: Any = await self.redis.xinfo_groups(queue)
        except ResponseError:  # no stream yet
            return 0
        if not any(_text(g["name"]) == GROUP for g in groups):
            return int(await self.redis.xlen(queue))
        waiting, taken = await stream_counts(self.redis, queue)
        return waiting + taken

    async def publish(self, batch: Sequence[Outgoing]) -> list[str | None]:
        pipe = self.redis.pipeline(transaction=False)
        for item in batch:
            message = TaskiqMessage(
                task_id=uuid.uuid4().hex,
                task_name=item.task_name,
                # Acknowledged by kit.consumer once the effect (or the failure) is recorded.
                labels={**item.trace_context, "message_id": item.message_id, "ack_type": "manual"},
                args=[item.payload],
                kwargs={},
            )
            # `mid` lets the Confirmer tell this entry from another that took its id; `from`
            # and `sig` let the consumer check who sent it (kit.signing).
            data = message.model_dump_json().encode()
            fields: Any = {b"data": data, b"mid": item.message_id,
                           **self.signer.fields(item.queue, data)}  # fmt: skip
            pipe.xadd(item.queue, fields)
        results = await pipe.execute(raise_on_error=False)
        return [None if isinstance(r, Exception) else _text(r) for r in results]


Connect = Callable[[], Awaitable[asyncpg.Connection]]


class Relay:
    def __init__(
        self,
        db: Database,
        publisher: Publisher,
        schema: str,
        *,
        batch_size: int = 100,
        poll_interval: float = 1.0,
        round_timeout: float = 30.0,
        linger: float = 0.005,
        window: int | None = None,
        depth: Depth | None = None,
        window_check_seconds: float = 1.0,
    ) -> None:
        """`window` with `depth`: hold a queue's messages in the outbox while `depth(queue)`
        (its unacknowledged entries, looked at most every `window_check_seconds`) is at the
        window."""
        self.db = db
        self.window = window
        self.depth = depth
        self.window_check_seconds = window_check_seconds
        self._held: dict[str, float] = {}  # queue → monotonic time until which it is held
        # queue → (until when its depth is trusted, how many more entries it may take)
        self._room: dict[str, tuple[float, int]] = {}
        self.linger = linger
        self.publisher = publisher
        self.round_timeout = round_timeout
        self.channel = f"outbox_{schema}"
        self.batch_size = batch_size
        self.poll_interval = poll_interval
        self._wake = asyncio.Event()
        # Set too on every wake-up: loops that claim work from the service's own tables
        # (kit.worker's claims) wake on the same commit as the relay.
        self.also_wake: list[asyncio.Event] = []

    def held(self) -> list[str]:
        now = time.monotonic()
        self._held = {q: until for q, until in self._held.items() if until > now}
        return list(self._held)

    def _hold(self, queue: str) -> None:
        self._held[queue] = time.monotonic() + self.poll_interval

    async def _room_in(self, queues: set[str]) -> dict[str, int]:
        """How many more entries each of `queues` may take now (queues at their window are held
        from here on): the window less the stream's depth, looked up again once that room is
        used up or `window_check_seconds` old. Only what this relay published counts against it
        meanwhile, so the window overshoots by what other producers publish to the same stream
        within that time."""
        if self.window is None or self.depth is None:
            return {}
        now, room = time.monotonic(), {}
        for queue in queues:
            until, left = self._room.get(queue, (0.0, 0))
            if until <= now or left <= 0:
                until, left = now + self.window_check_seconds, self.window - await self.depth(queue)
                self._room[queue] = (until, left)
            if left <= 0:
                self._hold(queue)
                OUTBOX_HELD.labels(queue).inc()
            room[queue] = left
        return room

    def _used(self, queue: str, count: int) -> None:
        if queue in self._room:
            until, left = self._room[queue]
            self._room[queue] = (until, left - count)

    async def publish_pending(self) -> int:
        """Publish one batch of unpublished messages; return how many. Messages of a queue at
        its window, or that its stream refused, stay in the outbox for a later round."""
        while True:
            published = await self._publish_batch()
            if published is not None:
                return published
            # Only queues that just reached their window came up: they are held now, so
            # look past them at once instead of waiting for the next round.

    async def _publish_batch(self) -> int | None:
        """One batch; None if every message in it belonged to a queue found at its window."""
        async with self.db.transaction() as conn:
            rows = await conn.fetch(
                "SELECT id, message_id, queue, task_name, payload, trace_context FROM outbox"
                " WHERE published_at IS NULL AND NOT (queue = ANY($2::text[]))"
                " ORDER BY id LIMIT $1 FOR UPDATE SKIP LOCKED",
                self.batch_size, self.held(),
            )  # fmt: skip
            if not rows:
                return 0
            room = await self._room_in({r["queue"] for r in rows})
            if room:  # each queue's oldest messages, as many as its stream has room for
                taken: collections.Counter[str] = collections.Counter()
                kept = []
                for row in rows:
                    if taken[row["queue"]] < room[row["queue"]]:
                        taken[row["queue"]] += 1
                        kept.append(row)
                rows = kept
            if not rows:
                return None
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
                stream_ids = await self.publisher.publish(batch)
            sent = [(r["id"], sid) for r, sid in zip(rows, stream_ids, strict=True) if sid]
            await conn.execute(
                "UPDATE outbox SET published_at = now(), stream_id = s.sid"
                " FROM unnest($1::bigint[], $2::text[]) AS s(oid, sid) WHERE outbox.id = s.oid",
                [oid for oid, _ in sent],
                [sid for _, sid in sent],
            )
        refused = {item.queue for item, sid in zip(batch, stream_ids, strict=True) if not sid}
        for queue in refused:  # Redis is full or refuses this stream: try it again later
            self._hold(queue)
            log.warning("stream refused messages; holding them in the outbox",
                        extra={"queue": queue})  # fmt: skip
        for item, sid in zip(batch, stream_ids, strict=True):
            if sid:
                OUTBOX_PUBLISHED.labels(item.task_name).inc()
                self._used(item.queue, 1)
        return len(sent)

    def wake(self, *_: object) -> None:
        """Something was committed: run a round now (NOTIFY from `republish`, or a wake-up
        from the process that committed it)."""
        self._wake.set()
        for event in self.also_wake:
            event.set()

    async def _listen(self, connect: Connect) -> asyncpg.Connection | None:
        """A fresh LISTEN connection, or None (polling covers until the next try)."""
        try:
            conn = await connect()
            await conn.add_listener(self.channel, self.wake)
        except (OSError, asyncpg.PostgresError, asyncpg.InterfaceError) as error:
            log.warning("outbox relay cannot LISTEN; polling", extra={"error": repr(error)})
            return None
        return conn

    async def run(self, connect: Connect, progress: Callable[[], None] = lambda: None) -> None:
        """Publish forever. `connect` opens the dedicated LISTEN connection, again whenever it
        is lost (a database restart or failover); the poll covers the gap. `progress` is called
        once per round (the worker's supervisor restarts a relay that stops calling it). After
        a round that published something it lingers a few milliseconds, so under load a round
        carries many messages (the first message after a quiet spell goes at once)."""
        listener: asyncpg.Connection | None = None
        try:
            while True:
                progress()
                self._wake.clear()
                try:
                    # A round never waits forever on a connection that died half-way.
                    async with asyncio.timeout(self.round_timeout):
                        if listener is None or listener.is_closed():
                            listener = await self._listen(connect)
                        published = await self.publish_pending()
                    if published == self.batch_size:
                        continue
                    if published:  # under load: let a few more commits join the next round
                        await asyncio.sleep(self.linger)
                except Exception:
                    log.exception("outbox relay failed; retrying")
                    await asyncio.sleep(self.poll_interval)
                    continue
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._wake.wait(), self.poll_interval)
        finally:
            if listener is not None and not listener.is_closed():
                await listener.close()


async def oldest_unpublished_seconds(conn: asyncpg.Connection) -> float:
    """How long the oldest unpublished message has waited (0 when none waits)."""
    age = await conn.fetchval(
        "SELECT extract(epoch FROM now() - created_at) FROM outbox WHERE published_at IS NULL"
        " ORDER BY id LIMIT 1"
    )
    return max(0.0, float(age or 0))


def wake_channel(schema: str) -> str:
    """The Redis channel on which a commit that queued messages wakes `schema`'s relay."""
    return f"outbox:{schema}"


async def listen_for_wakes(
    redis: Redis, schema: str, wake: Callable[[], None], progress: Callable[[], None]
) -> None:
    """Call `wake()` for every wake-up published on `schema`'s channel, forever; `progress()`
    at least every second. Redis away: wait and subscribe again (the relay polls meanwhile)."""
    while True:
        progress()
        pubsub = redis.pubsub(ignore_subscribe_messages=True)
        try:
            await pubsub.subscribe(wake_channel(schema))
            while True:
                progress()
                if await pubsub.get_message(timeout=1.0) is not None:
                    wake()
        except (RedisError, OSError) as error:
            log.warning("cannot hear outbox wake-ups; polling", extra={"error": repr(error)})
            await asyncio.sleep(1.0)
        finally:
            with contextlib.suppress(RedisError, OSError):
                await pubsub.aclose()  # type: ignore[no-untyped-call]


async def prune(conn: asyncpg.Connection, keep_days: int = 7) -> int:
    """Delete messages acknowledged more than `keep_days` ago (the window `republish` covers)."""
    result = await conn.execute(
        "DELETE FROM outbox WHERE confirmed_at < now() - make_interval(days => $1)", keep_days
    )
    return int(result.split()[-1])


async def republish(conn: asyncpg.Connection, since: datetime) -> int:
    """Publish again every message written since `since` (consumers dedupe through their
    inbox): the operator's tool after Redis lost data that the Confirmer cannot see."""
    result = await conn.execute(
        "UPDATE outbox SET published_at = NULL, stream_id = NULL, confirmed_at = NULL"
        " WHERE created_at >= $1",
        since,
    )
    await conn.execute("SELECT pg_notify('outbox_' || current_schema(), '')")
    return int(result.split()[-1])


def _text(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else value


RANGE_COUNT = 1000  # stream entries per XRANGE when the confirmer reads what is present


def _message_id_of(fields: dict[bytes, bytes]) -> str | None:
    """The outbox message id a stream entry carries: its `mid` field, or (an entry written
    before there was one) the `message_id` label inside its taskiq message."""
    if mid := fields.get(b"mid"):
        return _text(mid)
    try:
        labels = json.loads(fields.get(b"data", b"{}")).get("labels") or {}
    except ValueError:
        return None
    return str(labels["message_id"]) if "message_id" in labels else None


def _id(stream_id: str) -> tuple[int, int]:
    ms, _, seq = stream_id.partition("-")
    return int(ms), int(seq or 0)


class Confirmer:
    """Keeps published messages until their consumer group has acknowledged them; see the
    module docstring. Safe with several replicas: each pass is idempotent.

    A message counts as acknowledged when its entry is still in the stream and lies below the
    group's oldest pending entry (or at most its last delivered one). Its entry being present
    matters: after Redis lost data, new entries move the group past ids it never delivered.
    Streams are trimmed only below that point and older than `trim_after_seconds` (a minute:
    twelve Confirmer passes), so every producer's Confirmer sees its entries before they go;
    one that was down longer publishes them again and the inboxes drop the copies. Redis holds
    about a minute of traffic, not a growing history.
    """

    def __init__(
        self,
        db: Database,
        redis: Redis,
        grace_seconds: float = 30.0,
        trim_after_seconds: float = 60.0,
        batch_size: int = 1000,
    ) -> None:
        self.db = db
        self.redis = redis
        self.grace_seconds = grace_seconds
        self.trim_after_seconds = trim_after_seconds
        self.batch_size = batch_size

    async def _acknowledged_below(self, queue: str) -> tuple[int, int] | None:
        """Every entry of `queue` with a smaller id is acknowledged; None if unknown."""
        try:
            groups: Any = await self.redis.xinfo_groups(queue)
            summary: Any = await self.redis.xpending(queue, GROUP)
        except ResponseError:  # no such stream or group: nothing acknowledged there
            return None
        group = next((g for g in groups if _text(g["name"]) == GROUP), None)
        if group is None:
            return None
        if summary["pending"]:
            return _id(_text(summary["min"]))
        ms, seq = _id(_text(group["last-delivered-id"]))
        return ms, seq + 1

    async def run_once(self) -> tuple[int, int]:
        """(confirmed, published again)."""
        async with self.db.transaction() as conn:
            queues = [
                r["queue"]
                for r in await conn.fetch(
                    "SELECT DISTINCT queue FROM outbox"
                    " WHERE published_at IS NOT NULL AND confirmed_at IS NULL"
                )
            ]
        confirmed = republished = 0
        for queue in queues:
            done, lost = await self._settle(queue)
            confirmed += done
            republished += lost
        return confirmed, republished

    async def _entries(self, queue: str, stream_ids: list[str]) -> dict[str, str | None]:
        """stream id → the message id its entry carries, for the entries between the lowest and
        highest of `stream_ids`, read in ranges (not one XRANGE per message)."""
        ids = sorted(stream_ids, key=_id)
        low, high, found = ids[0], ids[-1], {}
        while True:
            entries: Any = await self.redis.xrange(queue, low, high, count=RANGE_COUNT)
            for entry_id, fields in entries:
                found[_text(entry_id)] = _message_id_of(fields)
            if len(entries) < RANGE_COUNT:
                return found
            ms, seq = _id(_text(entries[-1][0]))
            low = f"{ms}-{seq + 1}"

    async def _settle(self, queue: str) -> tuple[int, int]:
        below = await self._acknowledged_below(queue)
        async with self.db.transaction() as conn:
            rows = await conn.fetch(
                "SELECT id, message_id, stream_id,"
                " published_at < now() - make_interval(secs => $2) AS late"
                " FROM outbox WHERE queue = $1 AND published_at IS NOT NULL"
                " AND confirmed_at IS NULL ORDER BY id LIMIT $3 FOR UPDATE SKIP LOCKED",
                queue, self.grace_seconds, self.batch_size,
            )  # fmt: skip
            if not rows:
                return 0, 0
            found = await self._entries(queue, [r["stream_id"] for r in rows])
            # Present: an entry with its stream id that carries its message id. After a
            # failover Redis may reuse a lost entry's id for another message.
            present = [found.get(r["stream_id"]) == r["message_id"] for r in rows]
            acked = [
                r["id"]
                for r, here in zip(rows, present, strict=True)
                if here and below is not None and _id(r["stream_id"]) < below
            ]
            lost = [
                r["id"] for r, here in zip(rows, present, strict=True) if not here and r["late"]
            ]
            await conn.execute("UPDATE outbox SET confirmed_at = now() WHERE id = ANY($1)", acked)
            await conn.execute(
                "UPDATE outbox SET published_at = NULL, stream_id = NULL WHERE id = ANY($1)", lost
            )
        if below is not None:
            old = (int(time.time() * 1000 - self.trim_after_seconds * 1000), 0)
            ms, seq = min(below, old)
            with contextlib.suppress(RedisError):
                await self.redis.xtrim(queue, minid=f"{ms}-{seq}", approximate=False)
        if lost:
            OUTBOX_REPUBLISHED.labels(queue).inc(len(lost))
            log.warning("redis lost published messages; publishing them again",
                        extra={"queue": queue, "count": len(lost)})  # fmt: skip
        return len(acked), len(lost)
