import secrets

import asyncpg

from devstack.provision import provision
from devstack.stack import DB_PASSWORD
from kit.auth import Credentials
from kit.db import Database, init_connection
from kit.migrate import discover
from kit.migrate import migrate as apply
from kit.migrate import run as migrate
from merchants import service
from merchants.domain import TEST_MERCHANT_ID, hash_secret


async def test_seed_is_idempotent_and_matches_the_contract(database_urls: dict[str, str]) -> None:
    url = database_urls["merchants"]
    await migrate("merchants", url)  # the session already ran it once; a second run changes nothing
    await migrate("merchants", url)
    conn = await asyncpg.connect(url)
    try:
        rows = await conn.fetch("SELECT * FROM merchant WHERE lower(email) = 'test@example.com'")
        keys = await conn.fetch("SELECT * FROM api_key WHERE merchant_id = $1", TEST_MERCHANT_ID)
    finally:
        await conn.close()
    assert len(rows) == 1
    [row] = rows
    assert row["id"] == TEST_MERCHANT_ID
    assert row["name"] == "Test Merchant"
    assert row["webhook_secret"] is None  # the webhooks service owns it
    assert [k["key"] for k in keys] == ["key_test_abc123"]
    assert "secret_test_xyz789" not in str(dict(row)) + str([dict(k) for k in keys])


async def test_an_upgrade_keeps_every_merchants_key_and_drops_webhook_secrets(
    admin_url: str,
) -> None:
    """A database the previous release left (its one key in `merchant`) migrated to this one."""
    # Roles are the server's, shared with this run's database: keep their password.
    database = f"gw_upgrade_{secrets.token_hex(4)}"
    urls = await provision(admin_url, database, ["merchants"], DB_PASSWORD)
    previous = [
        m
        for m in discover("merchants")
        if not m.version.startswith("merchants/") or m.version.endswith("/0001_merchant.sql")
    ]
    conn = await asyncpg.connect(urls["merchants"])
    try:
        await apply(conn, "merchants", previous)
        await conn.execute(
            "INSERT INTO merchant (name, email, api_key, api_secret_hash, webhook_secret)"
            " VALUES ('Old Shop', 'old@example.com', 'key_old', $1, 'whsec_old')",
            hash_secret("secret_old"),
        )
    finally:
        await conn.close()
    await migrate("merchants", urls["merchants"])
    db_pool = await asyncpg.create_pool(urls["merchants"], init=init_connection)
    assert db_pool is not None
    try:
        principal = await service.authenticate(
            Database(db_pool), Credentials("key_old", "secret_old")
        )
        secrets_left = await db_pool.fetchval("SELECT count(webhook_secret) FROM merchant")
    finally:
        await db_pool.close()
    assert principal is not None
    assert secrets_left == 0
