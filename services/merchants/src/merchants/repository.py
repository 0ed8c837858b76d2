"""SQL for merchants and dashboard sessions; rows in, domain objects out."""

from datetime import datetime

import asyncpg

from merchants.domain import Merchant, MerchantId

_COLUMNS = (
    "id, name, email, api_key, api_secret_hash, password_hash, is_active, created_at, updated_at"
)


def _merchant(row: asyncpg.Record | None) -> Merchant | None:
    return None if row is None else Merchant(**dict(row))


async def get_merchant(conn: asyncpg.Connection, merchant_id: MerchantId) -> Merchant | None:
    return _merchant(
        await conn.fetchrow(f"SELECT {_COLUMNS} FROM merchant WHERE id = $1", merchant_id)
    )


async def get_merchant_by_api_key(conn: asyncpg.Connection, api_key: str) -> Merchant | None:
    row = await conn.fetchrow(f"SELECT {_COLUMNS} FROM merchant WHERE api_key = $1", api_key)
    return _merchant(row)


async def get_merchant_by_email(conn: asyncpg.Connection, email: str) -> Merchant | None:
    row = await conn.fetchrow(
        f"SELECT {_COLUMNS} FROM merchant WHERE lower(email) = lower($1)", email
    )
    return _merchant(row)


async def insert_merchant(
    conn: asyncpg.Connection,
    *,
    merchant_id: MerchantId | None,
    name: str,
    email: str,
    api_key: str,
    api_secret_hash: str,
    password_hash: str | None,
) -> Merchant | None:
    """Insert unless the email is taken (then None)."""
    row = await conn.fetchrow(
        "INSERT INTO merchant (id, name, email, api_key, api_secret_hash, password_hash)"
        " VALUES (coalesce($1, gen_random_uuid()), $2, $3, $4, $5, $6)"
        f" ON CONFLICT DO NOTHING RETURNING {_COLUMNS}",
        merchant_id, name, email, api_key, api_secret_hash, password_hash,
    )  # fmt: skip
    return _merchant(row)


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
        f"SELECT {', '.join('m.' + c.strip() for c in _COLUMNS.split(','))}"
        " FROM dashboard_session s JOIN merchant m ON m.id = s.merchant_id"
        " WHERE s.token_hash = $1 AND s.expires_at > now()",
        token_hash,
    )
    return _merchant(row)


async def delete_session(conn: asyncpg.Connection, token_hash: str) -> None:
    await conn.execute("DELETE FROM dashboard_session WHERE token_hash = $1", token_hash)


async def delete_expired_sessions(conn: asyncpg.Connection) -> None:
    await conn.execute("DELETE FROM dashboard_session WHERE expires_at < now()")
