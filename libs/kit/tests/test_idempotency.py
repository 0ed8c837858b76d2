"""Idempotency keys on real Postgres: claim, replay, refuse, reclaim after expiry, twins; the
one-statement keyed insert likewise."""

import asyncio
from uuid import UUID, uuid4

import asyncpg
import pytest

from kit import idempotency
from kit.db import Database, create_pool, init_connection
from kit.idempotency import IdempotencyKeyInUse, IdempotencyKeyReused, StoredResponse
from kit.outbox import OutboxMessage

CREATED = StoredResponse(201, b'{"id":"thing_1"}')
A, B = idempotency.fingerprint({"amount": 100}), idempotency.fingerprint({"amount": 200})


async def test_a_key_is_claimed_once_then_replays_and_refuses_another_request(
    scratch_db: Database,
) -> None:
    merchant = uuid4()
    async with scratch_db.transaction() as conn:
        assert await idempotency.claim(conn, merchant, "create", "k1", A) is None
        await idempotency.remember(conn, merchant, "create", "k1", CREATED)
    async with scratch_db.transaction() as conn:
        assert await idempotency.claim(conn, merchant, "create", "k1", A) == CREATED
        with pytest.raises(IdempotencyKeyReused):
            await idempotency.claim(conn, merchant, "create", "k1", B)
    async with scratch_db.transaction() as conn:  # another merchant or endpoint: another key
        assert await idempotency.claim(conn, uuid4(), "create", "k1", B) is None
        assert await idempotency.claim(conn, merchant, "refund", "k1", B) is None


async def test_an_expired_key_is_claimed_again_by_any_request(scratch_db: Database) -> None:
    merchant = uuid4()
    async with scratch_db.transaction() as conn:
        assert await idempotency.claim(conn, merchant, "create", "k2", A) is None
        await idempotency.remember(conn, merchant, "create", "k2", CREATED)
        await conn.execute(
            "UPDATE idempotency_key SET expires_at = now() - interval '1 s' WHERE key = 'k2'"
        )
    async with scratch_db.transaction() as conn:
        assert await idempotency.claim(conn, merchant, "create", "k2", B) is None
        row = await conn.fetchrow(
            "SELECT fingerprint, response_status, expires_at > now() AS live"
            " FROM idempotency_key WHERE key = 'k2'"
        )
    assert row is not None
    assert (row["fingerprint"], row["response_status"], row["live"]) == (B, None, True)


async def test_a_twin_waits_for_the_first_request_and_replays_it_or_gets_409(
    scratch_url: str,
) -> None:
    merchant = uuid4()
    pool = await create_pool(scratch_url, lock_timeout_ms=200)
    db = Database(pool)
    first = await asyncpg.connect(scratch_url)
    try:
        async with first.transaction():
            assert await idempotency.claim(first, merchant, "create", "k3", A) is None
            async with db.transaction() as conn:  # the first is still running past the bound
                with pytest.raises(IdempotencyKeyInUse):
                    await idempotency.claim(conn, merchant, "create", "k3", A)
            await idempotency.remember(first, merchant, "create", "k3", CREATED)
        async with db.transaction() as conn:
            assert await idempotency.claim(conn, merchant, "create", "k3", A) == CREATED
    finally:
        await first.close()
        await pool.close()


# insert_once: the row, its messages and the key holding the response in one statement.
THING = "INSERT INTO idem_thing (id, n) SELECT $1, $2 WHERE $2 > 0 RETURNING id"


@pytest.fixture
async def thing_table(scratch_url: str) -> None:
    """An empty table for the rows the tests insert once."""
    conn = await asyncpg.connect(scratch_url)
    try:
        await conn.execute("DROP TABLE IF EXISTS idem_thing")
        await conn.execute("CREATE TABLE idem_thing (id text PRIMARY KEY, n int)")
    finally:
        await conn.close()


async def things(conn: asyncpg.Connection) -> list[str]:
    return [r["id"] for r in await conn.fetch("SELECT id FROM idem_thing ORDER BY id")]


def key(merchant: UUID, name: str, fingerprint: str = A) -> idempotency.Key:
    return idempotency.Key(merchant, "create", name, fingerprint)


def created(thing_id: str) -> StoredResponse:
    return StoredResponse(201, f'{{"id":"{thing_id}"}}'.encode())


def message(n: int) -> OutboxMessage:
    return OutboxMessage(f"msg_{n}", "consumer", "consumer.handle_event", {"n": n})


async def insert_thing(
    conn: asyncpg.Connection, k: idempotency.Key, thing_id: str, n: int = 1, sent: int = 0
) -> StoredResponse | None:
    """`insert_once` of thing `thing_id` (refused when `n` < 1), with message `sent` if any."""
    messages = [message(sent)] if sent else []
    return await idempotency.insert_once(conn, k, created(thing_id), THING, [thing_id, n], messages)


async def test_insert_once_writes_the_row_messages_and_key_together_then_replays(
    scratch_db: Database, thing_table: None
) -> None:
    merchant = uuid4()
    async with scratch_db.connection() as conn:
        first = await insert_thing(conn, key(merchant, "k4"), "t1", 1, 1)
        # A retry draws a new id; it is not inserted, the first answer is replayed.
        again = await insert_thing(conn, key(merchant, "k4"), "t2", 1, 2)
        with pytest.raises(IdempotencyKeyReused):
            await insert_thing(conn, key(merchant, "k4", B), "t3", 1, 3)
        assert await things(conn) == ["t1"]
        assert await conn.fetchval("SELECT array_agg(message_id) FROM outbox") == ["msg_1"]
    assert first == again == created("t1")


async def test_insert_once_stores_no_key_when_nothing_is_inserted(
    scratch_db: Database, thing_table: None
) -> None:
    merchant = uuid4()
    async with scratch_db.connection() as conn:
        refused = await insert_thing(
            conn, key(merchant, "k5"), "t1", 0, 1
        )  # the insert's own condition refuses it: the caller says why, nothing is stored
        corrected = await insert_thing(conn, key(merchant, "k5"), "t2", 1, 2)
        assert await things(conn) == ["t2"]
    assert refused is None
    assert corrected == created("t2")


async def test_insert_once_takes_over_an_expired_key_and_keeps_a_callers_transaction(
    scratch_db: Database, thing_table: None
) -> None:
    merchant = uuid4()
    async with scratch_db.connection() as conn:
        await insert_thing(conn, key(merchant, "k6"), "t1")
        await conn.execute(
            "UPDATE idempotency_key SET expires_at = now() - interval '1 s' WHERE key = 'k6'"
        )
        again = await insert_thing(conn, key(merchant, "k6", B), "t2")
        async with conn.transaction():  # a retry inside a caller's transaction: still usable
            replay = await insert_thing(conn, key(merchant, "k6", B), "t3")
            assert await things(conn) == ["t1", "t2"]
    assert again == replay == created("t2")


async def test_insert_once_twins_make_one_row_and_both_answer_it(
    scratch_url: str, thing_table: None
) -> None:
    merchant = uuid4()
    pool = await create_pool(scratch_url, lock_timeout_ms=10_000)
    db = Database(pool)
    first = await asyncpg.connect(scratch_url)
    await init_connection(first)  # as the pool's connections: jsonb as Python values
    try:
        async with first.transaction():  # the first twin's statement, not yet committed
            mine = await insert_thing(first, key(merchant, "k7"), "t1")

            async def twin() -> StoredResponse | None:
                async with db.connection() as conn:
                    return await insert_thing(conn, key(merchant, "k7"), "t2")

            waiting = asyncio.create_task(twin())
            await eventually_blocked(first, "idempotency_key")
        theirs = await waiting  # the first committed: the twin's insert is undone, it replays
        assert await things(first) == ["t1"]
    finally:
        await first.close()
        await pool.close()
    assert mine == theirs == created("t1")


async def eventually_blocked(conn: asyncpg.Connection, relation: str) -> None:
    """Until another backend waits for a lock (the twin on the first's key entry). `conn` is
    inside a transaction, which would see one snapshot of pg_stat_activity: each poll drops it."""
    for _ in range(600):  # up to 60 s on a loaded machine
        await conn.execute("SELECT pg_stat_clear_snapshot()")
        waiting = await conn.fetchval(
            "SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock'"
            " AND query LIKE '%' || $1 || '%' AND pid <> pg_backend_pid()",
            relation,
        )
        if waiting:
            return
        await asyncio.sleep(0.1)
    raise AssertionError("the twin never waited for the first one's key")
