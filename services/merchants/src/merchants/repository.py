"""SQL for merchants and dashboard sessions; rows in, domain objects out."""

from datetime import datetime

import asyncpg

from merchants.domain import ApiKey, KeyCheck, KeyId, Merchant, MerchantId

# The profile's key: the merchant's newest usable one.
_NEWEST_KEY = (
    "(SELECT k.key FROM api_key k WHERE k.merchant_id = m.id AND k.revoked_at IS NULL"
    " AND (k.expires_at IS NULL OR k.expires_at > now()) ORDER BY k.created_at DESC LIMIT 1)"
)
_COLUMNS = (
    "m.id, m.name, m.email, m.password_hash, m.is_active, m.created_at, m.updated_at,"
    f" m.currencies, {_NEWEST_KEY} AS api_key"
)
_KEY_COLUMNS = "id, merchant_id, key, label, created_at, expires_at, revoked_at"


def _merchant(row: asyncpg.Record | None) -> Merchant | None:
    return None if row is None else Merchant(**dict(row))


async def get_merchant(conn: asyncpg.Connection, merchant_id: MerchantId) -> Merchant | None:
    return _merchant(
        await conn.fetchrow(f"SELECT {_COLUMNS} FROM merchant m WHERE m.id = $1", merchant_id)
    )


async def set_currencies(
    conn: asyncpg.Connection, merchant_id: MerchantId, currencies: list[str] | None
) -> Merchant | None:
    await conn.execute(
        "UPDATE merchant SET currencies = $2, updated_at = now() WHERE id = $1",
        merchant_id, currencies,
    )  # fmt: skip
    return await get_merchant(conn, merchant_id)


async def check_key(conn: asyncpg.Connection, key: str) -> KeyCheck | None:
    row = await conn.fetchrow(
        "SELECT k.merchant_id, k.secret_hash, k.revoked_at IS NULL AND m.is_active"
        " AND (k.expires_at IS NULL OR k.expires_at > now()) AS usable, m.currencies"
        " FROM api_key k JOIN merchant m ON m.id = k.merchant_id WHERE k.key = $1",
        key,
    )
    return None if row is None else KeyCheck(**dict(row))


def _key(row: asyncpg.Record | None) -> ApiKey | None:
    return None if row is None else ApiKey(**dict(row))


async def insert_key(
    conn: asyncpg.Connection, merchant_id: MerchantId, key: str, secret_hash: str, label: str
) -> ApiKey | None:
    """None if the key exists (random 96-bit keys: only the test merchant's seed re-run)."""
    row = await conn.fetchrow(
        "INSERT INTO api_key (merchant_id, key, secret_hash, label) VALUES ($1, $2, $3, $4)"
        f" ON CONFLICT (key) DO NOTHING RETURNING {_KEY_COLUMNS}",
        merchant_id, key, secret_hash, label,
    )  # fmt: skip
    return _key(row)


async def list_keys(conn: asyncpg.Connection, merchant_id: MerchantId) -> list[ApiKey]:
    rows = await conn.fetch(
        f"SELECT {_KEY_COLUMNS} FROM api_key WHERE merchant_id = $1 ORDER BY created_at DESC",
        merchant_id,
    )
    return [ApiKey(**dict(r)) for r in rows]


async def count_usable_keys(conn: asyncpg.Connection, merchant_id: MerchantId) -> int:
    return int(
        await conn.fetchval(
            "SELECT count(*) FROM api_key WHERE merchant_id = $1 AND revoked_at IS NULL"
            " AND (expires_at IS NULL OR expires_at > now())",
            merchant_id,
        )
    )


async def lock_key(
    conn: asyncpg.Connection, merchant_id: MerchantId, key_id: KeyId
) -> ApiKey | None:
    row = await conn.fetchrow(
        f"SELECT {_KEY_COLUMNS} FROM api_key WHERE id = $1 AND merchant_id = $2 FOR UPDATE",
        key_id, merchant_id,
    )  # fmt: skip
    return _key(row)


async def end_key(
    conn: asyncpg.Connection, key_id: KeyId, *, revoke: bool, expires_in_seconds: int = 0
) -> ApiKey:
    """Revoke the key now, or let it expire after `expires_in_seconds` (never later than an
    expiry it already has)."""
    row = await conn.fetchrow(
        "UPDATE api_key SET revoked_at = CASE WHEN $2 THEN now() ELSE revoked_at END,"
        " expires_at = CASE WHEN $2 THEN expires_at ELSE least(coalesce(expires_at, 'infinity'),"
        " now() + make_interval(secs => $3)) END"
        f" WHERE id = $1 RETURNING {_KEY_COLUMNS}",
        key_id, revoke, expires_in_seconds,
    )  # fmt: skip
    ended = _key(row)
    if ended is None:
        raise LookupError(f"API key {key_id} vanished")
    return ended


async def get_merchant_by_email(conn: asyncpg.Connection, email: str) -> Merchant | None:
    row = await conn.fetchrow(
        f"SELECT {_COLUMNS} FROM merchant m WHERE lower(m.email) = lower($1)", email
    )
    return _merchant(row)


async def insert_merchant(
    conn: asyncpg.Connection,
    *,
    merchant_id: MerchantId | None,
    name: str,
    email: str,
    password_hash: str | None,
) -> MerchantId | None:
    """Insert unless the email (or id) is taken (then None)."""
    created: MerchantId | None = await conn.fetchval(
        "INSERT INTO merchant (id, name, email, password_hash)"
        " VALUES (coalesce($1, gen_random_uuid()), $2, $3, $4)"
        " ON CONFLICT DO NOTHING RETURNING id",
        merchant_id, name, email, password_hash,
    )  # fmt: skip
    return created


async def deactivate_merchant(conn: asyncpg.Connection, merchant_id: MerchantId) -> bool:
    status = await conn.execute(
        "UPDATE merchant SET is_active = false WHERE id = $1 AND is_active", merchant_id
    )
    return status != "UPDATE 0"


async def insert_session(
    conn: asyncpg.Connection, token_hash: str, merchant_id: MerchantId, expires_at: datetime
) -> None:
    await conn.execute(
        "INSERT INTO dashboard_session (token_hash, merchant_id, expires_at) VALUES ($1, $2, $3)",
        token_hash, merchant_id, expires_at,
    )  # fmt: skip


async def get_session_merchant(conn: asyncpg.Connection, token_hash: str) -> Merchant | None:
    row = await conn.fetchrow(
        f"SELECT {_COLUMNS} FROM dashboard_session s JOIN merchant m ON m.id = s.merchant_id"
        " WHERE s.token_hash = $1 AND s.expires_at > now()",
        token_hash,
    )
    return _merchant(row)


async def delete_session(conn: asyncpg.Connection, token_hash: str) -> None:
    await conn.execute("DELETE FROM dashboard_session WHERE token_hash = $1", token_hash)


async def delete_expired_sessions(conn: asyncpg.Connection) -> None:
    await conn.execute("DELETE FROM dashboard_session WHERE expires_at < now()")
