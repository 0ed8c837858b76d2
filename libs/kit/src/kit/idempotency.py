"""Stripe-grade idempotency keys (docs/adr/0002): claim, replay, remember, in the use case's
transaction.

The owning service's schema has an `idempotency_key` table (kit's migration). A key is scoped
to `(merchant, endpoint)`; the fingerprint is a SHA-256 of the request as the service chooses to
describe it (never raw card data). A concurrent twin blocks on the key's unique index until the
first transaction ends, then replays or, after the pool's lock bound, gets a 409.

Two ways to use a key: `once` around any use case in the caller's transaction, or `insert_once`
for a create that is one `INSERT` with its outbox messages: the key with its response, the row
and the messages are then one statement (two round trips with the replay check, not seven).
"""

import contextlib
import hashlib
import json
from collections.abc import Awaitable, Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Annotated, Any
from uuid import UUID

import asyncpg
from fastapi import Header

from kit import outbox
from kit.errors import Conflict, InvalidRequest
from kit.outbox import OutboxMessage

KEY_TTL = "24 hours"


class IdempotencyKeyReused(InvalidRequest):
    description = "Different request with the same Idempotency-Key has already been processed"


class IdempotencyKeyInUse(Conflict):
    description = "A request with this Idempotency-Key is still in progress; retry shortly"


@dataclass(frozen=True)
class StoredResponse:
    status: int
    body: bytes


IdempotencyKey = Annotated[
    str | None,
    Header(
        alias="Idempotency-Key",
        min_length=1,
        max_length=255,
        pattern=r"^[\x21-\x7e]+$",
        description="Replays the first response for 24 h; a different body is refused",
    ),
]


def fingerprint(request: Any) -> str:
    canonical = json.dumps(request, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(canonical.encode()).hexdigest()


async def claim(
    conn: asyncpg.Connection,
    merchant_id: UUID,
    endpoint: str,
    key: str,
    request_fingerprint: str,
) -> StoredResponse | None:
    """None: the key is ours, go ahead. Otherwise the response to replay.

    One statement claims a new key or one past its expiry. A twin in flight holds the key's
    index entry: this waits for its transaction, up to the pool's lock bound
    (`DB_LOCK_TIMEOUT_MS`), then replays its response (or 409 if it is still running)."""
    try:
        claimed = await conn.fetchval(
            "INSERT INTO idempotency_key (merchant_id, endpoint, key, fingerprint, expires_at)"
            f" VALUES ($1, $2, $3, $4, now() + interval '{KEY_TTL}')"
            " ON CONFLICT (merchant_id, endpoint, key) DO UPDATE SET"
            " fingerprint = EXCLUDED.fingerprint, expires_at = EXCLUDED.expires_at,"
            " response_status = NULL, response_body = NULL, created_at = now()"
            " WHERE idempotency_key.expires_at <= now() RETURNING true",
            merchant_id, endpoint, key, request_fingerprint,
        )  # fmt: skip
    except asyncpg.LockNotAvailableError as exc:
        raise IdempotencyKeyInUse() from exc
    if claimed:
        return None
    row = await conn.fetchrow(
        "SELECT fingerprint, response_status, response_body FROM idempotency_key"
        " WHERE merchant_id = $1 AND endpoint = $2 AND key = $3",
        merchant_id, endpoint, key,
    )  # fmt: skip
    if row is None or row["response_status"] is None:
        raise IdempotencyKeyInUse()
    if row["fingerprint"] != request_fingerprint:
        raise IdempotencyKeyReused()
    return StoredResponse(row["response_status"], bytes(row["response_body"]))


async def remember(
    conn: asyncpg.Connection, merchant_id: UUID, endpoint: str, key: str, response: StoredResponse
) -> None:
    """Store the response on the claimed key; commits with the resource it describes."""
    await conn.execute(
        "UPDATE idempotency_key SET response_status = $4, response_body = $5"
        " WHERE merchant_id = $1 AND endpoint = $2 AND key = $3",
        merchant_id, endpoint, key, response.status, response.body,
    )  # fmt: skip


async def once(
    conn: asyncpg.Connection,
    merchant_id: UUID,
    endpoint: str,
    key: str | None,
    request_fingerprint: str,
    respond: Callable[[], Awaitable[StoredResponse]],
) -> StoredResponse:
    """`respond()` at most once per key, inside the caller's transaction: the first response is
    stored with the resource it describes and replayed to every retry (no key: just respond)."""
    if key is None:
        return await respond()
    if earlier := await claim(conn, merchant_id, endpoint, key, request_fingerprint):
        return earlier
    response = await respond()
    await remember(conn, merchant_id, endpoint, key, response)
    return response


@dataclass(frozen=True)
class Key:
    merchant_id: UUID
    endpoint: str
    key: str
    fingerprint: str


def _remember_inserted(first: int) -> str:
    m, e, k, f, status, body = (f"${first + i}" for i in range(6))
    return (
        "INSERT INTO idempotency_key"
        " (merchant_id, endpoint, key, fingerprint, expires_at, response_status, response_body)"
        f" SELECT {m}, {e}, {k}, {f}, now() + interval '{KEY_TTL}', {status}, {body} FROM state"
    )


async def insert_once(
    conn: asyncpg.Connection,
    key: Key,
    response: StoredResponse,
    insert: str,
    args: Sequence[Any],
    messages: Iterable[OutboxMessage],
) -> StoredResponse | None:
    """`insert` (an `INSERT … RETURNING`, see `kit.outbox.insert_with`), its messages and the
    key holding `response` (rendered before the row exists), in one statement (best outside
    a transaction; inside one, in a savepoint): all of them or none. Returns `response` when
    the row was inserted, the stored response when the key was used before
    (IdempotencyKeyReused for another request), None when nothing was inserted and the key is
    unused (the caller finds out why).

    A retry or a twin whose first is in flight inserts its own row, then meets the key's index
    entry: it waits for the first to commit (up to the pool's lock bound, then 409), and the
    unique violation undoes its whole statement before it replays. A key past its expiry that
    the purge has not removed yet is removed, and the insert tried again."""
    messages = list(messages)
    remembered = [key.merchant_id, key.endpoint, key.key, key.fingerprint, response.status,
                  response.body]  # fmt: skip
    while True:
        taken = False
        try:
            # Inside the caller's transaction, a savepoint keeps it usable after a violation.
            guard = conn.transaction() if conn.is_in_transaction() else contextlib.nullcontext()
            async with guard:
                row = await outbox.insert_with(
                    conn, insert, args, messages, then=_remember_inserted, then_args=remembered
                )
        except asyncpg.LockNotAvailableError as exc:
            raise IdempotencyKeyInUse() from exc
        except asyncpg.UniqueViolationError as exc:
            if exc.table_name != "idempotency_key":
                raise
            taken = True
        else:
            if row is not None:
                return response
        earlier = await conn.fetchrow(
            "SELECT fingerprint, response_status, response_body, expires_at <= now() AS expired"
            " FROM idempotency_key WHERE merchant_id = $1 AND endpoint = $2 AND key = $3",
            key.merchant_id, key.endpoint, key.key,
        )  # fmt: skip
        if earlier is None:
            if taken:
                continue  # purged since: try again
            return None
        if not earlier["expired"]:
            if earlier["response_status"] is None:
                raise IdempotencyKeyInUse()  # claimed by `once`, its transaction still open
            if earlier["fingerprint"] != key.fingerprint:
                raise IdempotencyKeyReused()
            return StoredResponse(earlier["response_status"], bytes(earlier["response_body"]))
        await conn.execute(
            "DELETE FROM idempotency_key WHERE merchant_id = $1 AND endpoint = $2 AND key = $3"
            " AND expires_at <= now()",
            key.merchant_id, key.endpoint, key.key,
        )  # fmt: skip


async def delete_expired(conn: asyncpg.Connection) -> int:
    result = await conn.execute("DELETE FROM idempotency_key WHERE expires_at <= now()")
    return int(result.split()[-1])
