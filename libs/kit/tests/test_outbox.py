"""Outbox and relay against real Postgres and a real Redis stream."""

import asyncio
import json
import secrets
from collections.abc import Sequence
from typing import Any
from uuid import uuid4

import asyncpg
import pytest
from redis.asyncio import Redis

from kit import outbox, signing
from kit.db import Database, init_connection
from kit.events import Envelope
from kit.inbox import first_delivery
from tests.waits import eventually_async

SIGNER = signing.signer("kit_scratch", None, production=False)  # the relay's development key


def queue_name() -> str:
    return f"test-{secrets.token_hex(4)}"


async def stream_tasks(redis_url: str, queue: str) -> list[dict[str, Any]]:
    async with Redis.from_url(redis_url) as redis:
        entries: Any = await redis.xrange(queue)
    return [json.loads(fields[b"data"]) for _, fields in entries]


async def test_event_fans_out_to_each_consumer_queue(scratch_db: Database, redis_url: str) -> None:
    a, b = queue_name(), queue_name()
    envelope = Envelope.new("thing.created", uuid4(), {"id": "thing_1"})
    async with scratch_db.transaction() as conn:
        await outbox.add(conn, outbox.event_messages(envelope, [a, b]))
    async with Redis.from_url(redis_url) as redis:
        relay = outbox.Relay(scratch_db, outbox.StreamPublisher(redis, SIGNER), "kit_scratch")
        assert await relay.publish_pending() == 2
        assert await relay.publish_pending() == 0  # stamped as published
    for queue in (a, b):
        [task] = await stream_tasks(redis_url, queue)
        assert task["task_name"] == f"{queue}.handle_event"
        assert task["labels"]["message_id"] == envelope.id
        [sent] = task["args"]
        built = envelope.model_dump(mode="json")
        assert sent | {"occurred_at": None} == built | {"occurred_at": None}  # stamped: below


async def test_an_events_time_is_the_databases_clock_not_the_pods(scratch_db: Database) -> None:
    from datetime import UTC, datetime

    skewed = Envelope.new("thing.created", uuid4(), {"id": "thing_2"})
    skewed = skewed.model_copy(update={"occurred_at": datetime(2001, 1, 1, tzinfo=UTC)})
    async with scratch_db.transaction() as conn:
        await outbox.add(conn, outbox.event_messages(skewed, ["q"]))
        row = await conn.fetchrow(
            "SELECT (payload->>'occurred_at')::timestamptz, now() FROM outbox"
            " WHERE message_id = $1",
            skewed.id,
        )
    assert row is not None
    stamped, now = row
    assert abs((now - stamped).total_seconds()) < 2
    job = outbox.job_message("q", "q.do", {"n": 1})
    async with scratch_db.transaction() as conn:
        await outbox.add(conn, [job])
        payload = await conn.fetchval(
            "SELECT payload FROM outbox WHERE message_id = $1", job.message_id
        )
    assert payload == {"n": 1}  # a job's payload is left as it is


async def test_the_events_one_transaction_writes_for_a_consumer_travel_as_one_message(
    scratch_db: Database, redis_url: str
) -> None:
    from datetime import UTC, datetime

    a, b = queue_name(), queue_name()
    merchant = uuid4()
    first, second = (
        Envelope.new(f"thing.{kind}", merchant, {"id": "thing_3"})
        for kind in ("created", "pending")
    )
    first = first.model_copy(update={"occurred_at": datetime(2001, 1, 1, tzinfo=UTC)})
    job = outbox.job_message(a, f"{a}.do", {"n": 1})
    written = [*outbox.event_messages(first, [a, b]), job, *outbox.event_messages(second, [a])]
    async with scratch_db.transaction() as conn:
        await outbox.add(conn, written)
        now = await conn.fetchval("SELECT now()")
    async with Redis.from_url(redis_url) as redis:
        relay = outbox.Relay(scratch_db, outbox.StreamPublisher(redis, SIGNER), "kit_scratch")
        assert await relay.publish_pending() == 3  # a's two events as one, b's one, the job
    together, sent_job = await stream_tasks(redis_url, a)
    assert (together["task_name"], sent_job["task_name"]) == (f"{a}.handle_events", f"{a}.do")
    [carried] = together["args"]
    assert [e["id"] for e in carried["events"]] == [first.id, second.id]  # in the order written
    times = [datetime.fromisoformat(e["occurred_at"]) for e in carried["events"]]
    assert all(abs((now - t).total_seconds()) < 2 for t in times)  # each by the database's clock
    assert times == sorted(times)
    [alone] = await stream_tasks(redis_url, b)
    assert (alone["task_name"], alone["labels"]["message_id"]) == (f"{b}.handle_event", first.id)


async def test_rolled_back_use_case_publishes_nothing(scratch_db: Database, redis_url: str) -> None:

    async def failing_use_case() -> None:
        async with scratch_db.transaction() as conn:
            await outbox.add(conn, [outbox.job_message(queue_name(), "x.do", {"n": 1})])
            raise RuntimeError("the state change failed")

    with pytest.raises(RuntimeError):
        await failing_use_case()
    async with scratch_db.transaction() as conn:
        assert await conn.fetchval("SELECT count(*) FROM outbox") == 0


class FailingPublisher:
    """Redis going away mid-batch."""

    async def publish(self, batch: Sequence[outbox.Outgoing]) -> list[str | None]:
        raise ConnectionError("redis went away")


async def test_a_failed_publish_keeps_the_batch_for_the_next_round(scratch_db: Database) -> None:
    messages = [outbox.job_message("q", "q.do", {"n": n}) for n in range(3)]
    async with scratch_db.transaction() as conn:
        await outbox.add(conn, messages)
    relay = outbox.Relay(scratch_db, FailingPublisher(), "kit_scratch")
    with pytest.raises(ConnectionError):
        await relay.publish_pending()
    async with scratch_db.transaction() as conn:
        assert await conn.fetchval("SELECT count(*) FROM outbox WHERE published_at IS NULL") == 3


class RecordingPublisher:
    def __init__(self) -> None:
        self.published = asyncio.Queue[str]()

    async def publish(self, batch: Sequence[outbox.Outgoing]) -> list[str | None]:
        for item in batch:
            await self.published.put(item.message_id)
        return [f"1-{n}" for n in range(len(batch))]


class CountingRelay(outbox.Relay):
    """A relay that counts its rounds: each LISTENs (once), publishes what is pending, then
    waits for a NOTIFY or its poll."""

    rounds = 0

    async def publish_pending(self) -> int:
        published = await super().publish_pending()
        self.rounds += 1
        return published


async def test_a_commit_wakes_the_relay_well_before_its_poll(
    scratch_url: str, redis_url: str
) -> None:
    """The process that committed messages publishes a wake-up after its commit (no NOTIFY in
    the transaction: that would make commits wait for each other's flush)."""
    channel = f"kit_scratch_{secrets.token_hex(4)}"
    async with Redis.from_url(redis_url) as redis:

        async def wake() -> None:
            await redis.publish(outbox.wake_channel(channel), b"")

        pool = await asyncpg.create_pool(scratch_url, init=init_connection)
        assert pool is not None
        db = Database(pool, on_outbox_commit=wake)
        publisher = RecordingPublisher()
        relay = CountingRelay(db, publisher, "kit_scratch", poll_interval=3600)
        woken: list[int] = []

        def heard() -> None:
            woken.append(1)
            relay.wake()

        async def listening() -> bool:
            return bool(await redis.pubsub_numsub(outbox.wake_channel(channel)) == [
                (outbox.wake_channel(channel).encode(), 1)
            ])  # fmt: skip

        async def connect() -> asyncpg.Connection:
            return await asyncpg.connect(scratch_url)

        tasks = [
            asyncio.create_task(relay.run(connect)),
            asyncio.create_task(outbox.listen_for_wakes(redis, channel, heard, lambda: None)),
        ]  # fmt: skip
        try:

            async def first_round_done() -> bool:
                return relay.rounds >= 1

            # Only a wake-up can make it publish within the hour now: its first round was empty.
            await eventually_async(first_round_done, "the relay's first round")
            await eventually_async(listening, "the relay's subscription to its wake-ups")
            message = outbox.job_message("q", "q.do", {})
            async with db.transaction() as conn:
                await outbox.add(conn, [message])
            published = await asyncio.wait_for(publisher.published.get(), timeout=30)
            assert published == message.message_id
            assert woken
        finally:
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
            await pool.close()


async def test_a_rolled_back_transaction_wakes_nobody(scratch_url: str) -> None:
    calls: list[int] = []

    async def wake() -> None:
        calls.append(1)

    pool = await asyncpg.create_pool(scratch_url, init=init_connection)
    assert pool is not None
    db = Database(pool, on_outbox_commit=wake)

    async def failing_use_case() -> None:
        async with db.transaction() as conn:
            await outbox.add(conn, [outbox.job_message("q", "q.do", {})])
            raise RuntimeError("the use case failed")

    try:
        with pytest.raises(RuntimeError):
            await failing_use_case()
        async with db.transaction() as conn:
            await conn.execute("SELECT 1")  # no messages: no wake-up either
        for _ in range(3):  # a wake-up is a task that finishes at its first step: let any run
            await asyncio.sleep(0)
        assert calls == []
        async with db.transaction() as conn:
            await outbox.add(conn, [outbox.job_message("q", "q.do", {})])

        async def woken() -> bool:
            return calls == [1]

        await eventually_async(woken, "one wake-up, for the commit that queued a message")
    finally:
        await pool.close()


async def test_inbox_accepts_a_message_id_once(scratch_db: Database) -> None:
    async with scratch_db.transaction() as conn:
        assert await first_delivery(conn, "evt_1") is True
        assert await first_delivery(conn, "evt_1") is False
        assert await first_delivery(conn, "evt_2") is True


async def test_housekeeping_prunes_only_what_is_past_its_window(scratch_db: Database) -> None:
    from types import SimpleNamespace
    from uuid import uuid4

    from kit.worker import housekeeping

    old, fresh, unpublished = (outbox.job_message("q", "q.do", {"n": n}) for n in range(3))
    async with scratch_db.transaction() as conn:
        await outbox.add(conn, [old, fresh, unpublished])
        await conn.execute(
            "UPDATE outbox SET published_at = now() - interval '8 days',"
            " confirmed_at = now() - interval '8 days' WHERE message_id = $1",
            old.message_id,
        )
        await conn.execute(
            "UPDATE outbox SET published_at = now(), confirmed_at = now() WHERE message_id = $1",
            fresh.message_id,
        )
        await first_delivery(conn, "evt_old")
        await first_delivery(conn, "evt_new")
        await conn.execute(
            "UPDATE inbox SET handled_at = now() - interval '8 days' WHERE message_id = 'evt_old'"
        )
        merchant = uuid4()
        for key, expires in (
            ("expired", "now() - interval '1 hour'"),
            ("live", "now() + interval '1 hour'"),
        ):
            await conn.execute(
                "INSERT INTO idempotency_key (merchant_id, endpoint, key, fingerprint, expires_at)"
                f" VALUES ($1, 'POST /x', $2, repeat('0', 64), {expires})",
                merchant,
                key,
            )
    await housekeeping(SimpleNamespace(db=scratch_db))  # type: ignore[arg-type]
    async with scratch_db.transaction() as conn:
        left = {r["message_id"] for r in await conn.fetch("SELECT message_id FROM outbox")}
        handled = {r["message_id"] for r in await conn.fetch("SELECT message_id FROM inbox")}
        keys = {r["key"] for r in await conn.fetch("SELECT key FROM idempotency_key")}
    assert left == {fresh.message_id, unpublished.message_id}
    assert handled == {"evt_new"}
    assert keys == {"live"}


async def test_confirmer_republishes_what_redis_lost_before_it_was_acknowledged(
    scratch_db: Database, redis_url: str
) -> None:
    queue = queue_name()
    first, second = (outbox.job_message(queue, "q.do", {"n": n}) for n in range(2))
    async with scratch_db.transaction() as conn:
        await outbox.add(conn, [first, second])
    async with Redis.from_url(redis_url) as redis:
        await redis.xgroup_create(queue, outbox.GROUP, id="0", mkstream=True)
        relay = outbox.Relay(scratch_db, outbox.StreamPublisher(redis, SIGNER), "kit_scratch")
        assert await relay.publish_pending() == 2
        delivered: Any = await redis.xreadgroup(outbox.GROUP, "c1", {queue: ">"}, count=1)
        await redis.xack(queue, outbox.GROUP, delivered[0][1][0][0])  # only the first is handled
        confirmer = outbox.Confirmer(scratch_db, redis, grace_seconds=0, trim_after_seconds=0)
        assert await confirmer.run_once() == (1, 0)  # the second waits for its consumer
        assert await redis.xlen(queue) == 1  # the acknowledged entry is trimmed away

        # Redis loses the stream; a restarted worker recreates its group and handles new work,
        # so the group moves past the lost entry's id without ever having delivered it.
        await redis.delete(queue)
        await redis.xgroup_create(queue, outbox.GROUP, id="0", mkstream=True)
        await redis.xadd(queue, {b"data": b"newer"})
        newer: Any = await redis.xreadgroup(outbox.GROUP, "c1", {queue: ">"})
        await redis.xack(queue, outbox.GROUP, newer[0][1][0][0])
        assert await confirmer.run_once() == (0, 1)
        assert await relay.publish_pending() == 1
        entries: Any = await redis.xrange(queue)
        [task] = [json.loads(f[b"data"]) for _, f in entries if f[b"data"] != b"newer"]
    assert task["labels"]["message_id"] == second.message_id
    async with scratch_db.transaction() as conn:
        states = await conn.fetch(
            "SELECT message_id, confirmed_at IS NOT NULL AS confirmed, stream_id FROM outbox"
        )
    assert {(r["message_id"], r["confirmed"]) for r in states} == {
        (first.message_id, True),
        (second.message_id, False),
    }
    assert all(r["stream_id"] for r in states)


async def test_an_entry_that_took_a_lost_messages_stream_id_does_not_confirm_it(
    scratch_db: Database, redis_url: str
) -> None:
    """After a failover loses a stream's tail, a new entry can get the lost one's id: the
    confirmer matches the message id the entry carries, not the stream id alone."""
    queue = queue_name()
    message = outbox.job_message(queue, "q.do", {"n": 1})
    async with scratch_db.transaction() as conn:
        await outbox.add(conn, [message])
    async with Redis.from_url(redis_url) as redis:
        await redis.xgroup_create(queue, outbox.GROUP, id="0", mkstream=True)
        relay = outbox.Relay(scratch_db, outbox.StreamPublisher(redis, SIGNER), "kit_scratch")
        assert await relay.publish_pending() == 1
        async with scratch_db.transaction() as conn:
            stream_id = await conn.fetchval("SELECT stream_id FROM outbox")
        await redis.delete(queue)  # the failover: the entry is gone, never delivered
        await redis.xgroup_create(queue, outbox.GROUP, id="0", mkstream=True)
        other = outbox.job_message(queue, "q.do", {"n": 2})
        await redis.xadd(queue, {b"data": b"{}", b"mid": other.message_id}, id=stream_id)
        taken: Any = await redis.xreadgroup(outbox.GROUP, "c1", {queue: ">"})
        await redis.xack(queue, outbox.GROUP, taken[0][1][0][0])  # the other one, handled
        confirmer = outbox.Confirmer(scratch_db, redis, grace_seconds=0, trim_after_seconds=0)
        assert await confirmer.run_once() == (0, 1)  # lost, so published again
        assert await relay.publish_pending() == 1
    async with scratch_db.transaction() as conn:
        republished = await conn.fetchval("SELECT stream_id FROM outbox")
    assert republished != stream_id


async def test_republish_since_a_point_in_time(scratch_db: Database, redis_url: str) -> None:
    queue = queue_name()
    message = outbox.job_message(queue, "q.do", {"n": 1})
    async with scratch_db.transaction() as conn:
        await outbox.add(conn, [message])
    async with Redis.from_url(redis_url) as redis:
        relay = outbox.Relay(scratch_db, outbox.StreamPublisher(redis, SIGNER), "kit_scratch")
        assert await relay.publish_pending() == 1
        async with scratch_db.transaction() as conn:
            since = await conn.fetchval("SELECT created_at FROM outbox")
            assert await outbox.republish(conn, since) == 1
        assert await relay.publish_pending() == 1
    assert len(await stream_tasks(redis_url, queue)) == 2


async def test_relay_listens_again_after_its_connection_is_terminated(
    scratch_db: Database, scratch_url: str
) -> None:
    publisher = RecordingPublisher()
    relay = outbox.Relay(scratch_db, publisher, "kit_scratch", poll_interval=0.2)
    opened = asyncio.Queue[asyncpg.Connection]()

    async def connect() -> asyncpg.Connection:
        conn = await asyncpg.connect(scratch_url)
        await opened.put(conn)
        return conn

    running = asyncio.create_task(relay.run(connect))
    try:
        first = await asyncio.wait_for(opened.get(), timeout=30)
        async with scratch_db.transaction() as conn:  # a failover, as the relay sees it
            await conn.execute("SELECT pg_terminate_backend($1)", first.get_server_pid())
        second = await asyncio.wait_for(opened.get(), timeout=30)
        assert first.is_closed()
        assert not second.is_closed()  # the relay LISTENs on a fresh connection
        message = outbox.job_message("q", "q.do", {})
        async with scratch_db.transaction() as conn:
            await outbox.add(conn, [message])
        assert await asyncio.wait_for(publisher.published.get(), timeout=30) == message.message_id
    finally:
        running.cancel()
        await asyncio.gather(running, return_exceptions=True)
    assert second.is_closed()


async def test_a_row_and_its_messages_are_written_by_one_statement_or_not_at_all(
    scratch_db: Database,
) -> None:
    insert = "INSERT INTO thing (id, size) VALUES ($1, $2) ON CONFLICT DO NOTHING RETURNING id"

    def message(n: int) -> outbox.OutboxMessage:
        return outbox.OutboxMessage(f"msg_{n}", "q", "q.do", {"n": n})

    async with scratch_db.connection() as conn:
        await conn.execute("CREATE TEMP TABLE thing (id text PRIMARY KEY, size int NOT NULL)")
        row = await outbox.insert_with(conn, insert, ["a", 1], [message(1), message(2)])
        assert row is not None
        assert row["id"] == "a"
        assert await outbox.insert_with(conn, insert, ["a", 2], [message(3)]) is None  # taken
        with pytest.raises(asyncpg.NotNullViolationError):
            await outbox.insert_with(conn, insert, ["b", None], [message(4)])
        queued = await conn.fetch("SELECT message_id, payload FROM outbox ORDER BY message_id")
        await conn.execute("DROP TABLE thing")
    assert [(r["message_id"], r["payload"]) for r in queued] == [
        ("msg_1", {"n": 1}),
        ("msg_2", {"n": 2}),
    ]


async def test_a_stream_at_its_window_waits_in_the_outbox_and_others_flow(
    scratch_db: Database, redis_url: str
) -> None:
    """ADR 0011: a consumer that stopped reading holds back its own queue only; what its stream
    cannot take waits in the outbox and goes out once the consumer catches up."""
    stalled, flowing = queue_name(), queue_name()
    messages = [outbox.job_message(stalled, "s.do", {"n": n}) for n in range(6)]
    messages += [outbox.job_message(flowing, "f.do", {"n": n}) for n in range(2)]
    async with scratch_db.transaction() as conn:
        await outbox.add(conn, messages)
    async with Redis.from_url(redis_url) as redis:
        await redis.xgroup_create(stalled, outbox.GROUP, id="0", mkstream=True)
        publisher = outbox.StreamPublisher(redis, SIGNER)
        relay = outbox.Relay(
            scratch_db, publisher, "kit_scratch", batch_size=2, poll_interval=3600,
            window=3, depth=publisher.depth, window_check_seconds=0,
        )  # fmt: skip
        published = [await relay.publish_pending() for _ in range(4)]
        assert published == [2, 1, 2, 0]  # stalled: 2 + 1 (its window of 3); flowing: 2
        assert relay.held() == [stalled]
        assert await redis.xlen(stalled) == 3
        assert await redis.xlen(flowing) == 2
        async with scratch_db.transaction() as conn:
            waiting = await conn.fetchval(
                "SELECT count(*) FROM outbox WHERE queue = $1 AND published_at IS NULL", stalled
            )
        assert waiting == 3
        # The consumer catches up: reads and acknowledges what it was sent.
        entries: Any = await redis.xreadgroup(outbox.GROUP, "c", {stalled: ">"}, count=10)
        await redis.xack(stalled, outbox.GROUP, *[i for i, _ in entries[0][1]])
        relay._held.clear()  # its hold would lapse after poll_interval
        assert await relay.publish_pending() == 2
        assert await relay.publish_pending() == 1
        assert await redis.xlen(stalled) == 6


class RefusingPublisher:
    """A Redis at its memory limit for one stream (noeviction: XADD answers OOM)."""

    def __init__(self, refused: str) -> None:
        self.refused = refused

    async def publish(self, batch: Sequence[outbox.Outgoing]) -> list[str | None]:
        return [None if i.queue == self.refused else f"1-{n}" for n, i in enumerate(batch)]


async def test_messages_a_stream_refuses_stay_unpublished_and_the_rest_go(
    scratch_db: Database,
) -> None:
    full, other = queue_name(), queue_name()
    messages = [outbox.job_message(q, "x.do", {"n": 1}) for q in (full, other, full)]
    async with scratch_db.transaction() as conn:
        await outbox.add(conn, messages)
    relay = outbox.Relay(scratch_db, RefusingPublisher(full), "kit_scratch", poll_interval=3600)
    assert await relay.publish_pending() == 1
    assert relay.held() == [full]
    async with scratch_db.transaction() as conn:
        unpublished = await conn.fetch(
            "SELECT queue FROM outbox WHERE published_at IS NULL AND queue = ANY($1)",
            [full, other],
        )
    assert [r["queue"] for r in unpublished] == [full, full]


async def test_a_burst_of_commits_wakes_the_relay_a_few_times_and_after_the_last_one(
    scratch_url: str,
) -> None:
    committed: list[int] = []  # how many commits had returned when each wake-up started
    waking = asyncio.Event()

    async def wake() -> None:
        committed_then = len(done)
        committed.append(committed_then)
        await waking.wait()  # a slow Redis: commits pile up behind this wake-up

    done: list[int] = []
    pool = await asyncpg.create_pool(scratch_url, init=init_connection, max_size=10)
    assert pool is not None
    db = Database(pool, on_outbox_commit=wake)

    async def commit(n: int) -> None:
        async with db.connection() as conn:
            await outbox.add(conn, [outbox.job_message("q", "q.do", {"n": n})])
        done.append(n)

    try:
        await asyncio.gather(*(commit(n) for n in range(40)))
        waking.set()

        async def settled() -> bool:
            return (
                bool(committed)
                and committed[-1] == 40
                and db._waking is not None
                and db._waking.done()
            )

        await eventually_async(settled, "a wake-up that started after the last commit")
    finally:
        await pool.close()
    assert len(committed) <= 3, committed  # not one per commit
