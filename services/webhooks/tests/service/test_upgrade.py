"""A database the previous release left (one endpoint per merchant) migrated to this one."""

import secrets
from uuid import uuid4

import asyncpg
import pytest

from devstack.provision import provision
from devstack.stack import DB_PASSWORD
from kit.consumer import consume_event
from kit.db import Database, init_connection
from kit.events import Envelope
from kit.migrate import discover
from kit.migrate import migrate as apply
from kit.migrate import run as migrate
from webhooks import service

PREVIOUS = "webhooks/0001_webhooks.sql"


@pytest.fixture
async def old_database(admin_url: str) -> str:
    """A fresh database migrated only as far as the previous release."""
    database = f"gw_upgrade_{secrets.token_hex(4)}"
    urls = await provision(admin_url, database, ["webhooks"], DB_PASSWORD)
    previous = [m for m in discover("webhooks")
                if not m.version.startswith("webhooks/") or m.version == PREVIOUS]  # fmt: skip
    conn = await asyncpg.connect(urls["webhooks"])
    try:
        await apply(conn, "webhooks", previous)
    finally:
        await conn.close()
    return urls["webhooks"]


async def _pool(url: str) -> asyncpg.Pool:
    pool = await asyncpg.create_pool(url, init=init_connection)
    assert pool is not None
    return pool


async def test_each_merchants_endpoint_becomes_its_default_and_keeps_its_deliveries(
    old_database: str,
) -> None:
    merchant, silent = uuid4(), uuid4()
    conn = await asyncpg.connect(old_database)
    try:
        await conn.execute(
            "INSERT INTO endpoint (merchant_id, url, secret) VALUES"
            " ($1, 'https://old.example/hook', 'whsec_old'), ($2, NULL, 'whsec_silent')",
            merchant, silent,
        )  # fmt: skip
        await conn.execute(
            "INSERT INTO event (id, merchant_id, type, body) VALUES ('evt_old', $1,"
            " 'payment.success', '{}')",
            merchant,
        )
        old_delivery = await conn.fetchval(
            "INSERT INTO delivery (merchant_id, event_id, event, status, attempts)"
            " VALUES ($1, 'evt_old', 'payment.success', 'success', 1) RETURNING id",
            merchant,
        )
    finally:
        await conn.close()

    await migrate("webhooks", old_database)

    pool = await _pool(old_database)
    db = Database(pool)
    try:
        default = await service.get_default_endpoint(db, merchant)
        assert (default.url, default.secret, default.is_default, default.enabled) == (
            "https://old.example/hook",
            "whsec_old",
            True,
            True,
        )
        assert default.id.startswith("ep_")
        assert len(default.id) == 19
        assert (await service.get_default_endpoint(db, silent)).url is None
        assert [e.id for e in await service.list_endpoints(db, merchant)] == [default.id]
        kept, _, _ = await service.get_delivery(db, merchant, old_delivery)
        assert (kept.endpoint_id, kept.status.value, kept.attempts) == (default.id, "success", 1)
        # and it keeps working: a new event reaches the default endpoint
        new = Envelope.new("payment.created", merchant, {"id": "pay_GGGGGGGGGGGGGGGG"})
        [delivery] = await consume_event(db, "upgrade-1", new, service.receive_event) or []
        assert delivery.endpoint_id == default.id
    finally:
        await pool.close()
