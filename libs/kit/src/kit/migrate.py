"""Forward-only SQL migrations, one schema per service, applied under an advisory lock.

Run as its own step (`python -m kit.migrate <service>`), never at app start. Applies kit's own
migrations (outbox, inbox) and then the service's `<service>/migrations/NNNN_name.sql`, each file
in its own transaction with its bookkeeping row; then calls `<service>.seed.seed(conn)` if present.
"""

import argparse
import asyncio
import hashlib
import importlib
import importlib.resources
import logging
import os
import re
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass

import asyncpg

from kit.db import init_connection

log = logging.getLogger("kit.migrate")

_SCHEMA_NAME = re.compile(r"^[a-z_][a-z0-9_]*$")


class MigrationError(Exception):
    pass


@dataclass(frozen=True)
class Migration:
    version: str  # "<source>/<file name>", e.g. "orders/0001_order.sql"
    sql: str

    @property
    def checksum(self) -> str:
        return hashlib.sha256(self.sql.encode()).hexdigest()


def discover(package: str) -> list[Migration]:
    """kit's migrations first, then the package's, each in file-name order."""
    found: list[Migration] = []
    for source in dict.fromkeys(("kit", package)):
        folder = importlib.resources.files(source) / "migrations"
        if not folder.is_dir():
            continue
        for entry in sorted(folder.iterdir(), key=lambda e: e.name):
            if entry.name.endswith(".sql"):
                found.append(Migration(f"{source}/{entry.name}", entry.read_text()))
    return found


def _lock_key(schema: str) -> int:
    return int.from_bytes(
        hashlib.sha256(f"kit.migrate:{schema}".encode()).digest()[:8], "big", signed=True
    )


# A migration waits at most LOCK_TIMEOUT for each lock it needs, then gives way and tries again
# (for up to LOCK_RETRY_SECONDS): a long query or transaction on its table delays the migration,
# instead of the migration's queued lock stopping every query behind it (ADR 0011).
LOCK_TIMEOUT = "2s"
LOCK_RETRY_SECONDS = 600.0


async def _apply(conn: asyncpg.Connection, migration: Migration) -> None:
    deadline = time.monotonic() + LOCK_RETRY_SECONDS
    pause = 0.5
    while True:
        try:
            async with conn.transaction():
                await conn.execute(f"SET LOCAL lock_timeout = '{LOCK_TIMEOUT}'")
                await conn.execute(migration.sql)
                await conn.execute(
                    "INSERT INTO schema_migration (version, checksum) VALUES ($1, $2)",
                    migration.version,
                    migration.checksum,
                )
            return
        except asyncpg.LockNotAvailableError:
            if time.monotonic() >= deadline:
                raise
            log.warning("migration %s waits for a lock; trying again", migration.version)
            await asyncio.sleep(pause)
            pause = min(pause * 2, 10.0)


async def migrate(conn: asyncpg.Connection, schema: str, migrations: list[Migration]) -> list[str]:
    """Apply pending migrations to `schema`; return the versions applied now."""
    if not _SCHEMA_NAME.match(schema):
        raise MigrationError(f"bad schema name {schema!r}")
    await conn.execute("SELECT pg_advisory_lock($1)", _lock_key(schema))
    try:
        exists = await conn.fetchval("SELECT 1 FROM pg_namespace WHERE nspname = $1", schema)
        if not exists:
            await conn.execute(f'CREATE SCHEMA "{schema}"')
        await conn.execute(f'SET search_path TO "{schema}"')
        await conn.execute(
            "CREATE TABLE IF NOT EXISTS schema_migration ("
            " version text PRIMARY KEY, checksum text NOT NULL,"
            " applied_at timestamptz NOT NULL DEFAULT now())"
        )
        rows = await conn.fetch("SELECT version, checksum FROM schema_migration")
        applied: dict[str, str] = {row["version"]: row["checksum"] for row in rows}
        done: list[str] = []
        for migration in migrations:
            if migration.version in applied:
                if applied[migration.version] != migration.checksum:
                    raise MigrationError(f"{migration.version} changed after it was applied")
                continue
            await _apply(conn, migration)
            log.info("applied migration %s", migration.version)
            done.append(migration.version)
        return done
    finally:
        await conn.execute("SELECT pg_advisory_unlock($1)", _lock_key(schema))


def _seed_function(package: str) -> Iterator[object]:
    try:
        module = importlib.import_module(f"{package}.seed")
    except ModuleNotFoundError as exc:
        if exc.name != f"{package}.seed":
            raise
        return
    yield module.seed


async def run(package: str, dsn: str) -> None:
    conn = await asyncpg.connect(dsn)
    try:
        await init_connection(conn)
        await migrate(conn, package, discover(package))
        for seed in _seed_function(package):
            async with conn.transaction():
                await seed(conn)  # type: ignore[operator]
            log.info("seeded %s", package)
    finally:
        await conn.close()


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m kit.migrate", description=__doc__)
    parser.add_argument("service", help="service package whose schema to migrate, e.g. orders")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s", stream=sys.stdout)
    dsn = os.environ.get("DATABASE_URL")
    if not dsn:
        parser.error("DATABASE_URL is not set")
    asyncio.run(run(args.service, dsn))


if __name__ == "__main__":
    main()
