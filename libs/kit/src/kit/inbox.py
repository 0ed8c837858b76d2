"""Consumer side of at-least-once delivery: remember each handled message id."""

import asyncpg


async def first_delivery(conn: asyncpg.Connection, message_id: str) -> bool:
    """True the first time `message_id` is seen; call inside the transaction of the effect."""
    row = await conn.fetchval(
        "INSERT INTO inbox (message_id) VALUES ($1) ON CONFLICT DO NOTHING RETURNING 1", message_id
    )
    return row is not None


async def first_deliveries(conn: asyncpg.Connection, message_ids: list[str]) -> set[str]:
    """The ids of `message_ids` seen for the first time, in one statement."""
    rows = await conn.fetch(
        "INSERT INTO inbox (message_id) SELECT unnest($1::text[]) ON CONFLICT DO NOTHING"
        " RETURNING message_id",
        message_ids,
    )
    return {r["message_id"] for r in rows}


async def prune(conn: asyncpg.Connection, keep_days: int = 7) -> int:
    """Forget ids handled more than `keep_days` ago: far beyond any redelivery or retry window."""
    result = await conn.execute(
        "DELETE FROM inbox WHERE handled_at < now() - make_interval(days => $1)", keep_days
    )
    return int(result.split()[-1])
