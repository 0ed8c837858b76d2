"""Idempotency keys on real Postgres: claim, replay, refuse, reclaim after expiry, twins."""

from uuid import uuid4

import asyncpg
import pytest

from kit import idempotency
from kit.db import Database, create_pool
from kit.idempotency import IdempotencyKeyInUse, IdempotencyKeyReused, StoredResponse

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
