import asyncio
import secrets
from collections.abc import AsyncIterator

import asyncpg
import pytest

from kit.migrate import Migration, MigrationError, migrate

FIRST = Migration("demo/0001_widget.sql", "CREATE TABLE widget (id int PRIMARY KEY);")
SECOND = Migration("demo/0002_widget_name.sql", "ALTER TABLE widget ADD COLUMN name text;")


@pytest.fixture
async def target(database_admin_url: str) -> AsyncIterator[tuple[asyncpg.Connection, str]]:
    """A connection and a schema name that does not exist yet."""
    connection = await asyncpg.connect(database_admin_url)
    schema = f"mig_{secrets.token_hex(4)}"
    yield connection, schema
    await connection.execute(f"DROP SCHEMA IF EXISTS {schema} CASCADE")
    await connection.close()


async def test_applies_pending_migrations_once_in_order(
    target: tuple[asyncpg.Connection, str],
) -> None:
    conn, schema = target
    assert await migrate(conn, schema, [FIRST]) == [FIRST.version]
    assert await migrate(conn, schema, [FIRST, SECOND]) == [SECOND.version]
    assert await migrate(conn, schema, [FIRST, SECOND]) == []
    columns = await conn.fetch(
        "SELECT column_name FROM information_schema.columns WHERE table_schema = $1"
        " AND table_name = 'widget' ORDER BY ordinal_position",
        schema,
    )
    assert [c["column_name"] for c in columns] == ["id", "name"]


async def test_an_edited_applied_migration_is_refused(
    target: tuple[asyncpg.Connection, str],
) -> None:
    conn, schema = target
    await migrate(conn, schema, [FIRST])
    edited = Migration(FIRST.version, FIRST.sql + " -- changed")
    with pytest.raises(MigrationError, match="changed after it was applied"):
        await migrate(conn, schema, [edited])


async def test_a_failing_migration_leaves_no_trace(target: tuple[asyncpg.Connection, str]) -> None:
    conn, schema = target
    broken = Migration("demo/0002_broken.sql", "ALTER TABLE widget ADD COLUMN x int; SELECT 1/0;")
    with pytest.raises(asyncpg.DivisionByZeroError):
        await migrate(conn, schema, [FIRST, broken])
    applied = await conn.fetch(f"SELECT version FROM {schema}.schema_migration")
    assert [r["version"] for r in applied] == [FIRST.version]
    assert await migrate(conn, schema, [FIRST, SECOND]) == [SECOND.version]


async def test_concurrent_runs_apply_each_migration_exactly_once(
    database_admin_url: str, target: tuple[asyncpg.Connection, str]
) -> None:
    _, schema = target
    slow = Migration("demo/0001_slow.sql", "SELECT pg_sleep(0.3); CREATE TABLE slow (id int);")
    others = [await asyncpg.connect(database_admin_url) for _ in range(3)]
    try:
        results = await asyncio.gather(*(migrate(c, schema, [slow]) for c in others))
    finally:
        for other in others:
            await other.close()
    assert sorted(len(r) for r in results) == [0, 0, 1]


async def test_a_service_role_cannot_reach_another_schema(database_urls: dict[str, str]) -> None:
    conn = await asyncpg.connect(database_urls["orders"])
    try:
        with pytest.raises(asyncpg.InsufficientPrivilegeError):
            await conn.fetch("SELECT * FROM merchants.merchant")
        with pytest.raises(asyncpg.InsufficientPrivilegeError):
            await conn.execute("CREATE SCHEMA intruder")
    finally:
        await conn.close()
