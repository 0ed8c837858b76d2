"""The consumer convention against real Postgres and taskiq's own receiver: acknowledge only
once the effect or the failure is recorded; retry from Postgres; dead-letter; replay."""

import asyncio
import json
import os
import sys
from typing import Any
from uuid import uuid4

import asyncpg
import pytest
from pydantic import ValidationError
from taskiq import AckableMessage, InMemoryBroker, TaskiqMessage, TaskiqState
from taskiq.receiver import Receiver

from kit.consumer import Consumer, EventConsumer, Parked, each
from kit.db import Database, create_pool
from kit.errors import Unavailable
from kit.events import Envelope
from kit.settings import ServiceSettings
from kit.signing import signer, verifier

# Messages of the service "svc" (jobs to itself) and of "things" (the events `thing.*`).
SVC = signer("svc", None, production=False)
VERIFIER = verifier(SVC, {"svc", "things"}, [], production=False)


def signed(queue: str, data: bytes, sender: str = "svc") -> dict[bytes, bytes]:
    """A stream entry's fields as `sender`'s relay writes them (its development key)."""
    return {b"data": data, **signer(sender, None, production=False).fields(queue, data)}


def settings(**overrides: Any) -> ServiceSettings:
    values = {"database_url": "postgresql://unused", "task_timeout_seconds": 2.0,
              "consumer_max_attempts": 3, **overrides}  # fmt: skip
    return ServiceSettings(**values)


class Flaky:
    """A handler that fails `failures` times, then records its effect."""

    def __init__(self, failures: int = 0, hang: bool = False) -> None:
        self.failures = failures
        self.hang = hang
        self.effects: list[str] = []

    async def __call__(self, state: TaskiqState, message_id: str, payload: dict[str, Any]) -> None:
        if self.hang:
            await asyncio.sleep(3600)
        if self.failures > 0:
            self.failures -= 1
            raise RuntimeError(f"transient trouble with {payload['n']}")
        self.effects.append(message_id)


async def failed_rows(db: Database) -> list[dict[str, Any]]:
    async with db.transaction() as conn:
        rows = await conn.fetch("SELECT * FROM failed_message ORDER BY message_id")
    return [dict(r) for r in rows]


async def make_due(db: Database) -> None:
    async with db.transaction() as conn:
        await conn.execute(
            "UPDATE failed_message SET next_attempt_at = now() WHERE dead_at IS NULL"
        )


async def messages_cli(database_url: str, *args: str) -> Any:
    """The operator's command, as a separate process."""
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "kit.messages", *args,
        env={**os.environ, "DATABASE_URL": database_url}, stdout=asyncio.subprocess.PIPE,
    )  # fmt: skip
    out, _ = await process.communicate()
    assert process.returncode == 0
    return json.loads(out)


async def deliver(
    consumer: Consumer, db: Database, task: str, msg_id: str, payload: dict[str, Any] | None = None
) -> list[str]:
    """One delivery through taskiq's receiver, as the worker does; returns what was acked."""
    broker = InMemoryBroker()
    broker.state = TaskiqState()
    broker.state.db = db
    consumer.register(broker)
    acked: list[str] = []

    async def ack() -> None:
        acked.append(msg_id)

    message = TaskiqMessage(
        task_id="t1", task_name=task, labels={"message_id": msg_id, "ack_type": "manual"},
        args=[payload or {"n": 1}], kwargs={},
    )  # fmt: skip
    receiver = Receiver(broker, run_startup=False, propagate_exceptions=False)
    await receiver.callback(AckableMessage(data=message.model_dump_json().encode(), ack=ack))
    return acked


async def test_success_is_acknowledged_and_leaves_nothing_behind(scratch_db: Database) -> None:
    handler = Flaky()
    consumer = Consumer({"svc.do": handler}, settings(), VERIFIER)
    assert await deliver(consumer, scratch_db, "svc.do", "m1") == ["m1"]
    assert handler.effects == ["m1"]
    assert await failed_rows(scratch_db) == []


async def test_a_failure_is_recorded_acknowledged_and_retried_from_postgres(
    scratch_db: Database,
) -> None:
    handler = Flaky(failures=1)
    # A backoff of minutes: "not due yet" must not depend on this test outrunning the clock.
    consumer = Consumer({"svc.do": handler}, settings(consumer_retry_base_seconds=600), VERIFIER)
    assert await deliver(consumer, scratch_db, "svc.do", "m1") == ["m1"]
    [row] = await failed_rows(scratch_db)
    assert (row["attempts"], row["dead_at"]) == (1, None)
    assert row["last_error"] == "RuntimeError: transient trouble with 1"
    assert row["payload"] == {"n": 1}
    state = TaskiqState()
    state.db = scratch_db
    assert await consumer.retry_due(state) == 0  # not due yet: backoff
    await make_due(scratch_db)
    assert await consumer.retry_due(state) == 1
    assert handler.effects == ["m1"]
    assert await failed_rows(scratch_db) == []


async def test_what_keeps_failing_becomes_a_dead_letter_until_replayed(
    scratch_db: Database, scratch_url: str
) -> None:
    handler = Flaky(failures=3)
    consumer = Consumer({"svc.do": handler}, settings(consumer_max_attempts=3), VERIFIER)
    state = TaskiqState()
    state.db = scratch_db
    await deliver(consumer, scratch_db, "svc.do", "m1")
    for _ in range(2):
        await make_due(scratch_db)
        assert await consumer.retry_due(state) == 1
    [row] = await failed_rows(scratch_db)
    assert row["attempts"] == 3
    assert row["dead_at"] is not None
    assert row["next_attempt_at"] is None
    await make_due(scratch_db)
    assert await consumer.retry_due(state) == 0  # dead letters wait for an operator

    listed = await messages_cli(scratch_url, "list")
    assert [m["message_id"] for m in listed] == ["m1"]
    assert await messages_cli(scratch_url, "replay", "m1") == {"replayed": 1}
    assert await consumer.retry_due(state) == 1
    assert handler.effects == ["m1"]
    assert await failed_rows(scratch_db) == []


async def test_a_hung_handler_times_out_and_counts_as_a_failure(scratch_db: Database) -> None:
    consumer = Consumer({"svc.do": Flaky(hang=True)}, settings(task_timeout_seconds=0.2), VERIFIER)
    assert await deliver(consumer, scratch_db, "svc.do", "m1") == ["m1"]
    [row] = await failed_rows(scratch_db)
    assert row["last_error"].startswith("TimeoutError")


async def test_a_poison_message_is_parked_and_the_next_one_still_runs(
    scratch_db: Database,
) -> None:
    async def strict(state: TaskiqState, message_id: str, payload: dict[str, Any]) -> None:
        if message_id == "poison":
            raise ValueError("cannot parse this event")

    consumer = Consumer({"svc.do": strict}, settings(consumer_max_attempts=1), VERIFIER)
    assert await deliver(consumer, scratch_db, "svc.do", "poison") == ["poison"]
    assert await deliver(consumer, scratch_db, "svc.do", "fine") == ["fine"]
    [row] = await failed_rows(scratch_db)
    assert (row["message_id"], row["dead_at"] is not None) == ("poison", True)


async def test_an_outage_is_redelivered_without_counting_against_the_message(
    scratch_db: Database,
) -> None:
    async def needs_orders(state: TaskiqState, message_id: str, payload: dict[str, Any]) -> None:
        raise Unavailable("the orders service is unreachable")

    consumer = Consumer({"svc.do": needs_orders}, settings(), VERIFIER)
    assert await deliver(consumer, scratch_db, "svc.do", "m1") == []  # left for redelivery
    assert await failed_rows(scratch_db) == []


async def test_with_postgres_down_nothing_is_acknowledged(scratch_url: str) -> None:
    """The failure cannot be recorded, so the stream must redeliver the message later."""
    pool = await create_pool(scratch_url)
    down = Database(pool)
    await pool.close()  # every later use of it fails, like an unreachable database
    consumer = Consumer({"svc.do": Flaky(failures=1)}, settings(), VERIFIER)
    assert await deliver(consumer, down, "svc.do", "m1") == []


def test_a_task_timeout_must_end_before_the_stream_reclaims_the_task() -> None:
    with pytest.raises(ValueError, match="TASK_TIMEOUT_SECONDS"):
        settings(task_timeout_seconds=60, queue_idle_timeout_ms=60_000)


async def test_events_are_applied_once_in_the_inbox_transaction_and_filtered_by_type(
    scratch_db: Database,
) -> None:
    applied: list[str] = []

    async def on_event(conn: asyncpg.Connection, event: Envelope) -> None:
        applied.append(event.id)
        await conn.execute("SELECT 1")

    handle = EventConsumer(each(on_event), frozenset({"thing.done"})).one
    state = TaskiqState()
    state.db = scratch_db
    done = Envelope.new("thing.done", uuid4(), {"id": "thing_1"})
    other = Envelope.new("thing.other", uuid4(), {"id": "thing_2"})
    for msg_id, event in (("m1", done), ("m1", done)):
        await handle(state, msg_id, event.model_dump(mode="json"))
    with pytest.raises(Parked):  # routed here by a version that subscribes us to it
        await handle(state, "m2", other.model_dump(mode="json"))
    assert applied == [done.id]  # the redelivery and the unknown type did nothing
    async with scratch_db.transaction() as conn:
        seen = [r["message_id"] for r in await conn.fetch("SELECT message_id FROM inbox")]
    assert seen == ["m1"]
    with pytest.raises(ValidationError):  # not an event at all: the consumer dead-letters it
        await handle(state, "m3", {"not": "an event"})


async def test_a_message_carrying_several_events_applies_them_in_order_once(
    scratch_db: Database,
) -> None:
    applied: list[str] = []

    async def on_event(conn: asyncpg.Connection, event: Envelope) -> None:
        applied.append(event.type)

    handle = EventConsumer(each(on_event), frozenset({"thing.created", "thing.done"})).many
    state = TaskiqState()
    state.db = scratch_db
    merchant = uuid4()
    events = [Envelope.new(f"thing.{k}", merchant, {"id": "thing_1"}) for k in ("created", "done")]
    carried = {"events": [e.model_dump(mode="json") for e in events]}
    await handle(state, "m1", carried)
    await handle(state, "m1", carried)  # redelivered: nothing more
    assert applied == ["thing.created", "thing.done"]
    newer = {
        "events": [
            *carried["events"],
            Envelope.new("thing.new", merchant, {}).model_dump(mode="json"),
        ]
    }
    with pytest.raises(Parked):  # one type this version does not know: the whole message waits
        await handle(state, "m2", newer)
    assert applied == ["thing.created", "thing.done"]


async def test_events_arriving_together_commit_in_one_transaction_and_a_bad_one_fails_alone(
    scratch_db: Database,
) -> None:
    transactions: dict[str, int] = {}

    async def on_event(conn: asyncpg.Connection, event: Envelope) -> None:
        if event.data["id"] == "bad":
            raise RuntimeError("cannot apply this one")
        transactions[event.data["id"]] = await conn.fetchval("SELECT txid_current()")

    handle = EventConsumer(each(on_event), frozenset({"thing.done"})).one
    state = TaskiqState()
    state.db = scratch_db

    def deliver(msg_id: str, thing: str) -> Any:
        event = Envelope.new("thing.done", uuid4(), {"id": thing})
        return handle(state, msg_id, event.model_dump(mode="json"))

    await asyncio.gather(*(deliver(f"m{n}", f"t{n}") for n in range(5)), deliver("m1", "t1"))
    assert set(transactions) == {f"t{n}" for n in range(5)}
    assert len(set(transactions.values())) == 1  # one transaction for the five

    transactions.clear()
    outcomes = await asyncio.gather(
        deliver("m10", "t10"), deliver("m11", "bad"), deliver("m12", "t12"), return_exceptions=True
    )
    assert outcomes[0] is None
    assert outcomes[2] is None
    assert isinstance(outcomes[1], RuntimeError)  # its consumer records it for retry
    assert set(transactions) == {"t10", "t12"}
    async with scratch_db.transaction() as conn:
        seen = {r["message_id"] for r in await conn.fetch("SELECT message_id FROM inbox")}
    assert seen == {"m0", "m1", "m2", "m3", "m4", "m10", "m12"}  # m11 not marked as handled


async def test_an_event_for_a_newer_version_is_parked_then_run_by_one_that_knows_it(
    scratch_db: Database, scratch_url: str
) -> None:
    """A rolling deploy: a new producer routes a new event type to a consumer whose old pods
    do not know it yet. They keep it (not acknowledged into the void) for the new pods."""
    applied: list[str] = []

    async def on_event(conn: asyncpg.Connection, event: Envelope) -> None:
        applied.append(event.type)

    event = Envelope.new("thing.new", uuid4(), {"id": "thing_9"}).model_dump(mode="json")
    old_events = EventConsumer(each(on_event), frozenset({"thing.done"}))
    old = Consumer({"svc.handle_event": old_events.one}, settings(), VERIFIER)
    assert await deliver(old, scratch_db, "svc.handle_event", "m1", event) == ["m1"]
    [row] = await failed_rows(scratch_db)
    assert (row["attempts"], row["dead_at"], row["parked_at"] is not None) == (0, None, True)
    assert row["last_error"].startswith("parked: event type thing.new")
    assert [m["message_id"] for m in await messages_cli(scratch_url, "list")] == ["m1"]
    state = TaskiqState()
    state.db = scratch_db
    await make_due(scratch_db)
    assert await old.retry_due(state) == 1  # still the old version: parked again, not dead
    assert (await failed_rows(scratch_db))[0]["dead_at"] is None
    new = Consumer(
        {
            "svc.handle_event": EventConsumer(
                each(on_event), frozenset({"thing.done", "thing.new"})
            ).one
        },
        settings(),
        VERIFIER,
    )
    await make_due(scratch_db)
    assert await new.retry_due(state) == 1
    assert applied == ["thing.new"]
    assert await failed_rows(scratch_db) == []


async def test_entries_that_cannot_run_are_recorded_so_none_pins_the_stream(
    scratch_db: Database,
) -> None:
    consumer = Consumer({"svc.do": Flaky()}, settings(), VERIFIER)

    def entry(**message: Any) -> bytes:
        base = {"task_id": "t", "task_name": "svc.do", "args": [{"n": 1}], "kwargs": {},
                "labels": {"message_id": "m-ok", "ack_type": "manual"}}  # fmt: skip
        return json.dumps(base | message).encode()

    assert await consumer.screen(scratch_db, "svc", "1-0", signed("svc", entry())) is True
    unrunnable = {
        "2-0": b"not json at all",
        "3-0": entry(labels={"ack_type": "manual"}),  # no message_id: nothing to dedupe on
        "4-0": entry(args=[{"n": 1}, {"n": 2}], labels={"message_id": "m-args"}),
        "5-0": entry(task_name="svc.newer", labels={"message_id": "m-new"}),
    }
    for entry_id, data in unrunnable.items():
        assert await consumer.screen(scratch_db, "svc", entry_id, signed("svc", data)) is False
    rows = {r["message_id"]: r for r in await failed_rows(scratch_db)}
    assert set(rows) == {"svc:2-0", "svc:3-0", "m-args", "m-new"}
    for dead in ("svc:2-0", "svc:3-0", "m-args"):
        assert rows[dead]["dead_at"] is not None, dead
    assert rows["svc:2-0"]["payload"] == {"raw": "not json at all"}
    assert (rows["m-new"]["dead_at"], rows["m-new"]["payload"]) == (None, {"n": 1})  # parked


async def test_a_lock_held_past_the_lock_timeout_is_an_outage_not_a_failure(
    scratch_url: str,
) -> None:
    """A table held by a migration: the handler's statement gives up at the pool's lock
    timeout, and the message waits for redelivery without counting toward a dead letter."""
    pool = await create_pool(scratch_url, statement_timeout_ms=5000, lock_timeout_ms=200)
    db = Database(pool)
    holder = await asyncpg.connect(scratch_url)
    try:

        async def touches_outbox(state: TaskiqState, message_id: str, _: dict[str, Any]) -> None:
            async with state.db.transaction() as conn:
                await conn.execute("LOCK TABLE outbox IN SHARE MODE")

        consumer = Consumer({"svc.do": touches_outbox}, settings(), VERIFIER)
        async with holder.transaction():
            await holder.execute("LOCK TABLE outbox IN ACCESS EXCLUSIVE MODE")
            assert await deliver(consumer, db, "svc.do", "m1") == []  # left for redelivery
        assert await failed_rows(db) == []
        assert await deliver(consumer, db, "svc.do", "m1") == ["m1"]  # the lock is gone
    finally:
        await holder.close()
        await pool.close()


async def test_only_what_the_entitled_service_signed_runs(scratch_db: Database) -> None:
    """A pod that can write to Redis cannot make a consumer apply an event it did not sign
    with the key of the service owning the event (nor a job on another service's queue): the
    entry is dead-lettered as refused, never run, and nothing pins the stream."""
    applied: list[str] = []

    async def on_event(conn: asyncpg.Connection, event: Envelope) -> None:
        applied.append(event.id)

    events = EventConsumer(each(on_event), frozenset({"thing.done", "payment.success"}))
    job = Flaky()
    consumer = Consumer(
        {"svc.handle_event": events.one, "svc.handle_events": events.many, "svc.do": job},
        settings(), VERIFIER,
    )  # fmt: skip

    def message(task: str, payload: dict[str, Any], msg_id: str) -> bytes:
        labels = {"message_id": msg_id, "ack_type": "manual"}
        message = {"task_id": msg_id, "task_name": task, "args": [payload], "kwargs": {}}
        return json.dumps(message | {"labels": labels}).encode()

    def event(type: str) -> dict[str, Any]:
        return Envelope.new(type, uuid4(), {"id": "thing_1"}).model_dump(mode="json")

    done = message("svc.handle_event", event("thing.done"), "m-done")
    paid = message("svc.handle_event", event("payment.success"), "m-paid")
    mixed = message(
        "svc.handle_events", {"events": [event("thing.done"), event("payment.success")]}, "m-mixed"
    )
    job_entry = message("svc.do", {"n": 1}, "m-job")
    newer = message("svc.handle_later", event("thing.done"), "m-newer")
    assert await consumer.screen(scratch_db, "svc", "1-0", signed("svc", done, "things"))
    assert await consumer.screen(scratch_db, "svc", "2-0", signed("svc", job_entry, "svc"))
    tampered = signed("svc", done, "things") | {b"data": done.replace(b"thing_1", b"thing_2")}
    refused = {
        "3-0": ({b"data": paid}, "unsigned"),
        "4-0": (signed("svc", paid, "things"), "'things' may not send payment.success"),
        "5-0": (signed("svc", mixed, "things"), "'things' may not send payment.success"),
        "6-0": (signed("svc", job_entry, "things"), "'things' may not send the job svc.do"),
        "7-0": (signed("elsewhere", done, "things"), "signature of 'things' does not verify"),
        "8-0": (tampered, "signature of 'things' does not verify"),
        "9-0": (signed("svc", done, "mallory"), "signed by 'mallory', whose key"),
        "10-0": ({b"data": newer}, "unsigned"),  # not parked for a newer version either
    }
    for entry_id, (fields, _) in refused.items():
        assert await consumer.screen(scratch_db, "svc", entry_id, fields) is False, entry_id
    rows = {r["message_id"]: r for r in await failed_rows(scratch_db)}
    assert set(rows) == {f"svc:{entry_id}" for entry_id in refused}
    for entry_id, (_, reason) in refused.items():
        row = rows[f"svc:{entry_id}"]
        assert row["dead_at"] is not None, entry_id
        assert row["parked_at"] is None, entry_id
        assert f"refused: {reason}" in row["last_error"], (entry_id, row["last_error"])
    assert applied == []  # screening runs nothing; a refused entry is never run
    assert job.effects == []

    lenient = verifier(SVC, {"things"}, [], production=False, required=False)
    optional = Consumer({"svc.handle_event": events.one}, settings(), lenient)
    assert await optional.screen(scratch_db, "svc", "11-0", {b"data": done})  # the old version's
    assert not await optional.screen(scratch_db, "svc", "12-0", tampered)  # forged: still refused
