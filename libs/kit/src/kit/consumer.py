"""The one consumer convention: a worker declares its event handler and its jobs; kit registers
them, acknowledges a message only once its effect (or its failure) is recorded in Postgres,
retries failures with backoff from Postgres, and parks what keeps failing as a dead letter.

A handler is `async (state, message_id, payload)`. It commits its own effect, dedupes
redeliveries (through the inbox or the state it changes) and may run again at any time.

- Success: the message is acknowledged.
- Failure or timeout: the failure is written to `failed_message` (attempts, last error, next
  attempt), then the message is acknowledged; `retry_due` runs it again from there with
  exponential backoff, and after `consumer_max_attempts` it is dead until an operator replays it
  (`python -m kit.deadletters`).
- An outage (Postgres or Redis unreachable, a connection lost, a statement or lock timeout, a
  read-only node: the errors an API answers 503, or a deadline missed while the database does
  not answer) is not the message's fault: nothing is recorded and the message is not
  acknowledged, so the stream redelivers it once it has been idle for `queue_idle_timeout_ms`,
  however long the outage lasts. Outages delay messages; they never make dead letters.
- A worker killed mid-task: likewise redelivered.
- A message this version cannot run: an unknown task or event type (a newer version wrote it,
  during a rolling deploy) is parked in `failed_message` and tried again every minute by
  whichever version runs; one that no version could run (not taskiq's JSON, no `message_id`,
  not one payload argument) is dead-lettered with what it was. Either way it is recorded, then
  acknowledged, so nothing pins a stream (`Consumer.screen`).
"""

import asyncio
import json
import logging
import random
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, TypeVar

import asyncpg
from opentelemetry import propagate
from opentelemetry.context import attach, detach
from prometheus_client import Counter, Gauge
from taskiq import AsyncBroker, Context, TaskiqDepends, TaskiqState

from kit import inbox
from kit.batch import Batches
from kit.db import Database
from kit.errors import Unavailable
from kit.events import Envelope
from kit.http import DEPENDENCY_DOWN
from kit.settings import ServiceSettings
from kit.signing import Verifier
from kit.telemetry import recording

log = logging.getLogger("kit.consumer")

T = TypeVar("T")
Handler = Callable[[TaskiqState, str, dict[str, Any]], Awaitable[object]]
# A service's event handler: applies one event inside the transaction kit opened for it.
EventHandler = Callable[[asyncpg.Connection, Envelope], Awaitable[T]]
# Or the events that arrived together, in order, in one transaction (set-based SQL: one
# statement per table for the batch).
EventsHandler = Callable[[asyncpg.Connection, list[Envelope]], Awaitable[object]]


def each(on_event: EventHandler[object]) -> EventsHandler:
    """A batch handler that applies the events one by one."""

    async def apply(conn: asyncpg.Connection, events: list[Envelope]) -> None:
        for event in events:
            await on_event(conn, event)

    return apply


FAILURES = Counter("consumer_failures_total", "Failed handler attempts", ["task_name"])
DEAD_LETTERED = Counter("consumer_dead_letters_total", "Messages parked as dead", ["task_name"])
DEAD_LETTERS = Gauge("dead_letter_messages", "Dead letters waiting for an operator")
PARKED = Counter(
    "consumer_parked_total", "Messages kept for a version that can run them", ["task_name"]
)
REFUSED = Counter(
    "consumer_refused_messages_total",
    "Stream entries not signed by a service entitled to send them (kit.signing)",
    ["queue"],
)
RETRYING = Gauge("retrying_messages", "Failed messages waiting for their next attempt")

_rng = random.SystemRandom()
PARK_SECONDS = 60.0  # how often a parked message is offered to whichever version runs
DB_ANSWER_SECONDS = 2.0  # a database that cannot answer `SELECT 1` this fast is down


class Parked(Exception):
    """This version cannot run the message, a newer one can: keep it, do not count a failure."""


async def consume_event(
    db: Database, msg_id: str, event: Envelope, on_event: EventHandler[T]
) -> T | None:
    """Apply `event` once: the inbox entry and the handler's effect commit together, so a
    redelivered message (same id) does nothing and returns None."""
    async with db.transaction() as conn:
        if not await inbox.first_delivery(conn, msg_id):
            return None
        return await on_event(conn, event)


Delivered = tuple[str, list[Envelope]]  # a message id and the events it carries, in order


class EventBatches:
    """Applies the messages that arrive together in one transaction (`kit.batch`): one BEGIN,
    one inbox insert and one COMMIT per batch instead of per message. Each delivery still waits
    until its own effect committed before it is acknowledged. A batch that fails is applied
    again message by message, so a bad message fails alone and the rest commit."""

    def __init__(self, db: Database, on_events: EventsHandler, max_batch: int = 100) -> None:
        self.db = db
        self.on_events = on_events
        self.batches: Batches[Delivered, None] = Batches(self._together, self._alone, max_batch)

    async def apply(self, msg_id: str, events: list[Envelope]) -> None:
        await self.batches.run((msg_id, events))

    async def _together(self, batch: list[Delivered]) -> list[None]:
        async with self.db.transaction() as conn:
            fresh = await inbox.first_deliveries(conn, [msg_id for msg_id, _ in batch])
            applied = []
            for msg_id, events in batch:
                if msg_id in fresh:
                    fresh.discard(msg_id)  # the same message twice in one batch: once
                    applied.extend(events)
            if applied:
                await self.on_events(conn, applied)
        return [None] * len(batch)

    async def _alone(self, delivered: Delivered) -> None:
        await self._together([delivered])


class EventConsumer:
    """The handlers of the events a service subscribes to: `one` for a message carrying one
    event (task `<service>.handle_event`), `many` for one carrying the events a transaction
    wrote for this service (`<service>.handle_events`, payload `{"events": [...]}`; see
    `kit.outbox.add`). Events of `event_types` are applied in batches (`EventBatches`, the
    service's `on_events(conn, events)` once per batch); a
    message with another type is parked for the version that subscribes to it.
    `after_commit(state)` runs once a message's effect committed (to wake what acts on it)."""

    def __init__(
        self,
        on_events: EventsHandler,
        event_types: frozenset[str],
        after_commit: Callable[[TaskiqState], None] | None = None,
    ) -> None:
        self.on_events = on_events
        self.event_types = event_types
        self.after_commit = after_commit
        self.batches: dict[int, EventBatches] = {}  # by the worker's database (one per process)

    async def one(self, state: TaskiqState, msg_id: str, payload: dict[str, Any]) -> None:
        await self._apply(state, msg_id, [Envelope.model_validate(payload)])

    async def many(self, state: TaskiqState, msg_id: str, payload: dict[str, Any]) -> None:
        events = [Envelope.model_validate(e) for e in payload["events"]]
        await self._apply(state, msg_id, events)

    async def _apply(self, state: TaskiqState, msg_id: str, events: list[Envelope]) -> None:
        # A payload that is no event at all raised above: a dead letter.
        for event in events:
            if event.type not in self.event_types:  # sent by a version that knows we want it
                raise Parked(f"event type {event.type} is not handled by this version")
        db: Database = state.db
        if id(db) not in self.batches:
            self.batches[id(db)] = EventBatches(db, self.on_events)
        await self.batches[id(db)].apply(msg_id, events)
        if self.after_commit is not None:
            self.after_commit(state)


def message_id(context: Context) -> str:
    """The outbox message id the relay stamped on this delivery (stable across redeliveries)."""
    return str(context.message.labels["message_id"])


@dataclass(frozen=True)
class RetryPolicy:
    max_attempts: int = 8
    base_seconds: float = 2.0
    max_seconds: float = 600.0

    @classmethod
    def of(cls, settings: ServiceSettings) -> "RetryPolicy":
        return cls(
            settings.consumer_max_attempts,
            settings.consumer_retry_base_seconds,
            settings.consumer_retry_max_seconds,
        )

    def delay(self, attempts: int) -> float | None:
        """Seconds until the next attempt after `attempts` failures; None: give up."""
        if attempts >= self.max_attempts:
            return None
        ceiling = min(self.max_seconds, self.base_seconds * 2.0 ** (attempts - 1))
        return float(ceiling * (0.5 + _rng.random() / 2))  # jitter: replicas do not retry in step


@dataclass(frozen=True)
class FailedMessage:
    message_id: str
    task_name: str
    payload: dict[str, Any]
    attempts: int
    last_error: str


def describe(error: BaseException) -> str:
    return f"{type(error).__name__}: {error}"[:2000]


async def record_failure(
    db: Database, task_name: str, msg_id: str, payload: dict[str, Any], error: BaseException,
    policy: RetryPolicy,
) -> bool:  # fmt: skip
    """Count a failed attempt and schedule the next one; True if the message is now dead."""
    async with db.transaction() as conn:
        attempts = await conn.fetchval(
            "SELECT attempts FROM failed_message WHERE message_id = $1 AND task_name = $2"
            " FOR UPDATE",
            msg_id, task_name,
        )  # fmt: skip
        attempts = (attempts or 0) + 1
        delay = policy.delay(attempts)
        await conn.execute(
            "INSERT INTO failed_message (message_id, task_name, payload, attempts, last_error,"
            " next_attempt_at, dead_at)"
            " SELECT $1, $2, $3, $4, $5, n, CASE WHEN n IS NULL THEN now() END"
            " FROM (SELECT now() + make_interval(secs => $6::float8) AS n) s"
            " ON CONFLICT (message_id, task_name) DO UPDATE SET attempts = EXCLUDED.attempts,"
            " last_error = EXCLUDED.last_error, last_failed_at = now(),"
            " next_attempt_at = EXCLUDED.next_attempt_at, dead_at = EXCLUDED.dead_at",
            msg_id, task_name, payload, attempts, describe(error), delay,
        )  # fmt: skip
    FAILURES.labels(task_name).inc()
    if delay is None:
        DEAD_LETTERED.labels(task_name).inc()
        log.error(
            "message dead-lettered",
            extra={"message_id": msg_id, "task_name": task_name, "attempts": attempts,
                   "error": describe(error)},
        )  # fmt: skip
    else:
        log.warning(
            "message failed; will retry",
            extra={"message_id": msg_id, "task_name": task_name, "attempts": attempts,
                   "retry_in_seconds": round(delay, 1), "error": describe(error)},
        )  # fmt: skip
    return delay is None


async def park(
    db: Database, task_name: str, msg_id: str, payload: dict[str, Any], reason: str
) -> None:
    """Keep a message this version cannot run, to be offered again in `PARK_SECONDS`; its
    attempts are not counted (no version failed it)."""
    async with db.transaction() as conn:
        await conn.execute(
            "INSERT INTO failed_message (message_id, task_name, payload, attempts, last_error,"
            " next_attempt_at, parked_at)"
            " VALUES ($1, $2, $3, 0, $4, now() + make_interval(secs => $5::float8), now())"
            " ON CONFLICT (message_id, task_name) DO UPDATE SET last_error = EXCLUDED.last_error,"
            " next_attempt_at = EXCLUDED.next_attempt_at, parked_at = EXCLUDED.parked_at",
            msg_id, task_name, payload, f"parked: {reason}"[:2000], PARK_SECONDS,
        )  # fmt: skip
    PARKED.labels(task_name).inc()
    log.warning("message parked for a version that can run it",
                extra={"message_id": msg_id, "task_name": task_name, "reason": reason})  # fmt: skip


async def _database_answers(db: Database) -> bool:
    try:
        async with asyncio.timeout(DB_ANSWER_SECONDS):
            return await db.ping()
    except TimeoutError:
        return False


@dataclass(frozen=True)
class Unrunnable:
    """Why a stream entry cannot run here; `park` when a newer version may run it."""

    reason: str
    message_id: str | None
    task_name: str
    payload: dict[str, Any]
    park: bool = False


def parsed(data: bytes) -> dict[str, Any] | None:
    """A stream entry's `data` as JSON, if it is a JSON object."""
    try:
        message = json.loads(data)
    except ValueError:
        return None
    return message if isinstance(message, dict) else None


def unrunnable(message: dict[str, Any] | None, data: bytes, known: set[str]) -> Unrunnable | None:
    """None when the entry (`data`, `message` parsed) is a task message this worker can run."""
    try:
        if message is None:
            raise ValueError("not JSON")
        task, labels = str(message["task_name"]), message.get("labels") or {}
        args, kwargs = message.get("args"), message.get("kwargs")
    except (ValueError, KeyError):
        raw = {"raw": data[:2000].decode(errors="replace")}
        return Unrunnable("not a task message", None, "unrunnable", raw)
    kept = {"task_name": task, "labels": labels, "args": args, "kwargs": kwargs}
    msg_id = labels.get("message_id") if isinstance(labels, dict) else None
    if not msg_id:
        return Unrunnable("no message_id label", None, task, kept)
    if not (isinstance(args, list) and len(args) == 1 and isinstance(args[0], dict)) or kwargs:
        return Unrunnable("not exactly one payload argument", str(msg_id), task, kept)
    if task not in known:
        reason = f"task {task} is not registered in this version"
        return Unrunnable(reason, str(msg_id), task, args[0], park=True)
    return None


def _event_types(task: str, message: dict[str, Any]) -> list[str]:
    """The types of the events an entry carries (one, several together; none for a job)."""
    args = message.get("args")
    payload = args[0] if isinstance(args, list) and args and isinstance(args[0], dict) else {}
    carried: list[Any]
    if task.endswith(".handle_events"):
        events = payload.get("events")
        carried = events if isinstance(events, list) else []
    elif task.endswith(".handle_event"):
        carried = [payload]
    else:
        return []
    return [str(e.get("type")) for e in carried if isinstance(e, dict)]


def _kept(fields: dict[bytes, bytes]) -> dict[str, Any]:
    """What a refused entry was, for the operator (never run: it is a dead letter)."""
    return {"data": fields.get(b"data", b"")[:2000].decode(errors="replace"),
            "from": fields.get(b"from", b"").decode(errors="replace")}  # fmt: skip


async def claim_due(db: Database, limit: int, lease_seconds: float) -> list[FailedMessage]:
    """Failed messages due again, leased so that another replica does not take them too."""
    async with db.transaction() as conn:
        rows = await conn.fetch(
            "UPDATE failed_message SET next_attempt_at = now() + make_interval(secs => $2)"
            " WHERE (message_id, task_name) IN (SELECT message_id, task_name FROM failed_message"
            "  WHERE dead_at IS NULL AND next_attempt_at <= now() ORDER BY next_attempt_at"
            "  LIMIT $1 FOR UPDATE SKIP LOCKED)"
            " RETURNING message_id, task_name, payload, attempts, last_error",
            limit, lease_seconds,
        )  # fmt: skip
    return [FailedMessage(**dict(r)) for r in rows]


async def resolve(db: Database, failed: FailedMessage) -> None:
    async with db.transaction() as conn:
        await conn.execute(
            "DELETE FROM failed_message WHERE message_id = $1 AND task_name = $2",
            failed.message_id, failed.task_name,
        )  # fmt: skip


async def count(conn: asyncpg.Connection) -> tuple[int, int]:
    """(retrying, dead)."""
    row = await conn.fetchrow(
        "SELECT count(*) FILTER (WHERE dead_at IS NULL),"
        " count(*) FILTER (WHERE dead_at IS NOT NULL) FROM failed_message"
    )
    return (int(row[0]), int(row[1])) if row else (0, 0)


class Consumer:
    """A worker's handlers by task name, run under one timeout and one retry policy."""

    def __init__(
        self, handlers: dict[str, Handler], settings: ServiceSettings, verifier: Verifier
    ) -> None:
        self.handlers = handlers
        self.verifier = verifier
        self.timeout = settings.task_timeout_seconds
        self.policy = RetryPolicy.of(settings)

    def register(self, broker: AsyncBroker) -> None:
        for name, handler in self.handlers.items():
            broker.register_task(self._task(name, handler), task_name=name)

    def _task(self, name: str, handler: Handler) -> Callable[..., Awaitable[None]]:
        async def run(payload: dict[str, Any], context: Context = TaskiqDepends()) -> None:
            # The producer's trace id for this task's logs and messages, when no span is made.
            traced = None if recording() else attach(propagate.extract(context.message.labels))
            try:
                failure = await self.attempt(
                    context.state, name, handler, message_id(context), payload
                )
                await context.ack()
            finally:
                if traced is not None:
                    detach(traced)
            if failure is not None and not isinstance(failure, Parked):
                raise failure  # recorded for retry; raised so taskiq counts it as failed

        run.__name__ = run.__qualname__ = name.replace(".", "_")
        return run

    async def attempt(
        self, state: TaskiqState, name: str, handler: Handler, msg_id: str, payload: dict[str, Any]
    ) -> Exception | None:
        """Run once; a failure is recorded (returned), a message for a newer version parked
        (its `Parked` returned). Raises, leaving the message unacknowledged, on an outage or
        when even recording is impossible."""
        deadline = asyncio.timeout(self.timeout)
        try:
            async with deadline:
                await handler(state, msg_id, payload)
        except Parked as parked:
            await park(state.db, name, msg_id, payload, str(parked))
            return parked
        except Exception as error:
            if deadline.expired():  # slow because the database is, or because the handler is?
                outage = not await _database_answers(state.db)
            else:
                outage = isinstance(error, (Unavailable, *DEPENDENCY_DOWN))
            if outage:
                raise  # redelivered later, not counted against the message
            await record_failure(state.db, name, msg_id, payload, error, self.policy)
            return error
        return None

    async def screen(
        self, db: Database, queue: str, entry_id: str, fields: dict[bytes, bytes]
    ) -> bool:
        """True if the stream entry can run here; otherwise it is recorded (parked for a newer
        version, or dead-lettered if no version could run it, or if the service entitled to
        send it did not sign it: `kit.signing`) and may be acknowledged unrun."""
        data = fields.get(b"data", b"")
        message = parsed(data)
        found = unrunnable(message, data, set(self.handlers))
        if message is not None and (found is None or found.park):
            task = found.task_name if found else str(message["task_name"])
            refused = self.verifier.refusal(queue, fields, task, _event_types(task, message))
            if refused is not None:
                REFUSED.labels(queue).inc()
                log.error("stream entry refused: not sent by a service entitled to",
                          extra={"queue": queue, "entry": entry_id, "task_name": task,
                                 "reason": refused})  # fmt: skip
                found = Unrunnable(f"refused: {refused}", None, task, _kept(fields))
        if found is None:
            return True
        msg_id = found.message_id or f"{queue}:{entry_id}"
        if found.park:
            await park(db, found.task_name, msg_id, found.payload, found.reason)
        else:
            error = ValueError(f"unrunnable stream entry {queue} {entry_id}: {found.reason}")
            await record_failure(db, found.task_name, msg_id, found.payload, error,
                                 RetryPolicy(max_attempts=0))  # fmt: skip
        return False

    async def retry_due(self, state: TaskiqState) -> int:
        """Run the failed messages whose next attempt is due; how many ran."""
        lease = self.timeout + 30
        claimed = await claim_due(state.db, 20, lease)
        for failed in claimed:
            handler = self.handlers.get(failed.task_name)
            if handler is None:  # parked by a newer version, or for one: keep it waiting
                reason = f"task {failed.task_name} is not registered in this version"
                await park(state.db, failed.task_name, failed.message_id, failed.payload, reason)
                continue
            outcome = await self.attempt(
                state, failed.task_name, handler, failed.message_id, failed.payload
            )
            if outcome is None:
                await resolve(state.db, failed)
                log.info(
                    "failed message succeeded on retry",
                    extra={"message_id": failed.message_id, "task_name": failed.task_name,
                           "attempts": failed.attempts + 1},
                )  # fmt: skip
        return len(claimed)

    async def measure(self, state: TaskiqState) -> None:
        db: Database = state.db
        async with db.transaction() as conn:
            retrying, dead = await count(conn)
        RETRYING.set(retrying)
        DEAD_LETTERS.set(dead)
