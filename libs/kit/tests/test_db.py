import pytest

from kit.db import Database


async def test_transaction_commits_on_success_and_rolls_back_on_error(scratch_db: Database) -> None:
    async with scratch_db.transaction() as conn:
        await conn.execute("INSERT INTO inbox (message_id) VALUES ('kept')")

    async def failing_use_case() -> None:
        async with scratch_db.transaction() as conn:
            await conn.execute("INSERT INTO inbox (message_id) VALUES ('dropped')")
            raise RuntimeError("use case failed")

    with pytest.raises(RuntimeError):
        await failing_use_case()
    async with scratch_db.transaction() as conn:
        ids = await conn.fetch("SELECT message_id FROM inbox ORDER BY 1")
    assert [r["message_id"] for r in ids] == ["kept"]


async def test_bound_database_nests_as_savepoints(scratch_url: str) -> None:
    import asyncpg

    conn = await asyncpg.connect(scratch_url)
    outer = conn.transaction()
    await outer.start()
    db = Database.bound(conn)

    async def failing_use_case() -> None:
        async with db.transaction() as c:
            await c.execute("INSERT INTO inbox (message_id) VALUES ('inner')")
            raise RuntimeError

    with pytest.raises(RuntimeError):
        await failing_use_case()
    async with db.transaction() as c:
        await c.execute("INSERT INTO inbox (message_id) VALUES ('second')")
    assert await conn.fetchval("SELECT count(*) FROM inbox") == 1
    await outer.rollback()
    assert await conn.fetchval("SELECT count(*) FROM inbox") == 0
    await conn.close()


async def test_ping_reports_a_dead_database() -> None:
    import asyncpg

    pool = await asyncpg.create_pool("postgresql://nobody@127.0.0.1:1/none", min_size=0)
    assert pool is not None
    assert await Database(pool).ping() is False
    await pool.close()
