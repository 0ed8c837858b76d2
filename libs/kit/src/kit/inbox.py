"""Consumer side of at-least-once delivery: remember each handled message id."""

import asyncpg


async def first_delivery(conn: asyncpg.Connection, message_id: str) -> bool:
    """True the first time `message_id` is seen; call inside the transaction of the effect."""
    row = await conn.fetchval(
        "INSERT INTO inbox (message_id) VALUES ($1) ON CONFLICT DO NOTHING RETURNING 1", message_id
    )
    return row is not None
