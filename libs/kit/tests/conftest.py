from collections.abc import AsyncIterator

import asyncpg
import pytest

from kit.db import Database, init_connection
from kit.migrate import discover, migrate

SCRATCH = "kit_scratch"


@pytest.fixture
async def scratch_url(database_urls: dict[str, str]) -> str:
    """A schema with kit's own tables (outbox, inbox), migrated once; rows are cleared per test."""
    url = database_urls[SCRATCH]
    conn = await asyncpg.connect(url)
    try:
        await migrate(conn, SCRATCH, discover("kit"))
        await conn.execute("TRUNCATE outbox, inbox, idempotency_key, failed_message")
    finally:
        await conn.close()
    return url


@pytest.fixture
async def scratch_db(scratch_url: str) -> AsyncIterator[Database]:
    """A pooled Database on the scratch schema (commits for real, unlike `bound_db`)."""
    pool = await asyncpg.create_pool(scratch_url, min_size=1, max_size=4, init=init_connection)
    assert pool is not None
    yield Database(pool)
    await pool.close()
