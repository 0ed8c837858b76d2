"""`GET /api/v1/events/stream`: the merchant's events as server-sent events, as they arrive. It
feeds `python -m webhooks.listen`, which forwards them to a local URL (like `stripe listen`).

The stream polls the `event` table: no broker of its own, resumable with `Last-Event-ID`, and an
event is in it once it is stored (what the worker stores, it also delivers).
"""

import asyncio
from collections import Counter
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from contextlib import contextmanager
from datetime import datetime, timedelta
from typing import Annotated
from uuid import UUID

import asyncpg
from fastapi import APIRouter, Header, Request
from fastapi.responses import StreamingResponse

from kit.app import Db
from kit.auth import Authenticator, CurrentMerchant, credentials_of
from kit.db import Database
from kit.errors import GatewayError, RateLimited, Unauthenticated
from kit.http import problems
from kit.strings import Text
from webhooks import repository

router = APIRouter(prefix="/api/v1/events", tags=["events"])

POLL_SECONDS = 0.5
HEARTBEAT_SECONDS = 15.0
# Events are stamped when their transaction begins, so one may commit after a later-stamped one:
# each poll looks this far behind the newest event seen, skipping what it already sent.
LOOKBACK = timedelta(seconds=10)
# A stream ends after this long and the client reconnects with Last-Event-ID; its key is checked
# again then (a revoked key stops streaming within this bound).
STREAM_SECONDS = 300.0
BATCH = 1000
# The stream's credentials are checked again this often (from the cache, which a revocation or a
# logout empties at once): a revoked key or an ended session stops its stream within seconds.
RECHECK_SECONDS = 2.0
RETRY_AFTER_SECONDS = 10  # told to a client refused for having too many streams open


class StreamSlots:
    """Streams open in this process: at most `per_merchant` of one merchant and `total` in all
    (each polls the database twice a second); one more is refused 429."""

    def __init__(self, per_merchant: int, total: int) -> None:
        self.per_merchant, self.total = per_merchant, total
        self.open: Counter[UUID] = Counter()

    def full(self, merchant_id: UUID) -> bool:
        return self.open[merchant_id] >= self.per_merchant or self.open.total() >= self.total

    @contextmanager
    def hold(self, merchant_id: UUID) -> Iterator[bool]:
        """Takes a slot for as long as the stream runs; yields False when none was free."""
        if self.full(merchant_id):
            yield False
            return
        self.open[merchant_id] += 1
        try:
            yield True
        finally:
            self.open[merchant_id] -= 1
            if not self.open[merchant_id]:
                del self.open[merchant_id]


def server_sent(event_id: str, event_type: str, body: str) -> bytes:
    data = "".join(f"data: {line}\n" for line in body.split("\n"))
    return f"id: {event_id}\nevent: {event_type}\n{data}\n".encode()


class Tail:
    """Follows one merchant's events from `since`, each sent once."""

    def __init__(self, merchant_id: UUID, since: datetime) -> None:
        self.merchant_id = merchant_id
        self.newest = since
        self.sent: dict[str, datetime] = {}

    async def start(self, conn: asyncpg.Connection) -> None:
        """What is already stored up to `since` counts as sent: the stream starts after it."""
        for row in await self._recent(conn):
            if row["received_at"] <= self.newest:
                self.sent[row["id"]] = row["received_at"]

    async def fresh(self, conn: asyncpg.Connection) -> list[asyncpg.Record]:
        rows = await self._recent(conn)
        fresh = [row for row in rows if row["id"] not in self.sent]
        for row in fresh:
            self.sent[row["id"]] = row["received_at"]
            self.newest = max(self.newest, row["received_at"])
        horizon = self.newest - LOOKBACK
        self.sent = {key: at for key, at in self.sent.items() if at > horizon}
        return fresh

    async def _recent(self, conn: asyncpg.Connection) -> list[asyncpg.Record]:
        since = self.newest - LOOKBACK
        return await repository.events_received_since(conn, self.merchant_id, since, BATCH)


async def _follow(
    db: Database, tail: Tail, slots: StreamSlots, allowed: Callable[[], Awaitable[bool]]
) -> AsyncIterator[bytes]:
    with slots.hold(tail.merchant_id) as held:
        if not held:  # the others filled the slots between the answer and its first byte
            yield b": too many streams open; reconnect later\n\n"
            return
        yield b": streaming the merchant's events\n\n"
        loop = asyncio.get_running_loop()
        started = last_sent = checked = loop.time()
        while loop.time() - started < STREAM_SECONDS:
            if loop.time() - checked >= RECHECK_SECONDS:
                if not await allowed():
                    yield b": credentials revoked or expired; stream ended\n\n"
                    return
                checked = loop.time()
            async with db.connection() as conn:
                rows = await tail.fresh(conn)
            for row in rows:
                yield server_sent(row["id"], row["type"], row["body"])
            if rows:
                last_sent = loop.time()
            elif loop.time() - last_sent >= HEARTBEAT_SECONDS:
                yield b": keep-alive\n\n"
                last_sent = loop.time()
            await asyncio.sleep(POLL_SECONDS)


def _still_allowed(request: Request, merchant_id: UUID) -> Callable[[], Awaitable[bool]]:
    """Whether the credentials that opened the stream still prove its merchant (an outage of
    the merchants service ends the stream too: the client reconnects)."""
    headers = request.headers
    bearer = headers.get("authorization", "")
    credentials = credentials_of(
        headers.get("x-api-key"),
        headers.get("x-api-secret"),
        bearer[7:] if bearer[:7].lower() == "bearer " else None,
    )
    authenticator: Authenticator = request.state.authenticator

    async def allowed() -> bool:
        try:
            principal = await authenticator.authenticate(credentials)
        except GatewayError:
            return False
        return principal is not None and principal.merchant_id == merchant_id

    return allowed


@router.get("/stream", responses=problems(Unauthenticated, RateLimited))
async def stream(
    request: Request,
    db: Db,
    merchant: CurrentMerchant,
    last_event_id: Annotated[Text | None, Header(max_length=64)] = None,
) -> StreamingResponse:
    """The merchant's events from now on (or after `Last-Event-ID`) as server-sent events:
    `id` is the event id (`webhook-id`), `event` its type, `data` the exact webhook body.
    The stream ends after five minutes (reconnect with `Last-Event-ID`), or within seconds of
    its key being revoked or its session ending. A merchant may keep a few streams open
    (`EVENT_STREAMS_PER_MERCHANT` per process); one more is refused 429."""
    slots: StreamSlots = request.state.streams
    if slots.full(merchant.merchant_id):
        raise RateLimited(slots.per_merchant, retry_after=RETRY_AFTER_SECONDS)
    allowed = _still_allowed(request, merchant.merchant_id)
    async with db.connection() as conn:
        since = None
        if last_event_id:
            since = await repository.event_received_at(conn, merchant.merchant_id, last_event_id)
        tail = Tail(merchant.merchant_id, since or await conn.fetchval("SELECT now()"))
        await tail.start(conn)
    return StreamingResponse(
        _follow(db, tail, slots, allowed),
        media_type="text/event-stream",
        headers={"Cache-Control": "no-store", "X-Accel-Buffering": "no"},
    )
