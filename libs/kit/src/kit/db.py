"""asyncpg pool and the one-transaction-per-use-case helper."""

import asyncio
import contextlib
import json
from collections.abc import AsyncIterator, Callable, Coroutine
from contextlib import asynccontextmanager
from contextvars import ContextVar
from typing import cast

import asyncpg

from kit.errors import Unavailable


async def _init_connection(conn: asyncpg.Connection) -> None:
    for kind in ("json", "jsonb"):
        await conn.set_type_codec(kind, encoder=json.dumps, decoder=json.loads, schema="pg_catalog")


async def _keep_session(conn: asyncpg.Connection) -> None:
    """Skip asyncpg's reset query on release (a round trip per use case): services keep no
    session state (settings are `SET LOCAL`, LISTEN uses its own connection); asyncpg still
    rolls back a connection returned inside a transaction."""


async def create_pool(
    dsn: str,
    min_size: int = 1,
    max_size: int = 10,
    statement_timeout_ms: int = 0,
    lock_timeout_ms: int = 0,
) -> asyncpg.Pool:
    """A pool whose every statement is bounded (0: no bound): a query that outlives
    `statement_timeout_ms`, or waits `lock_timeout_ms` for a lock, ends with an error that
    callers treat as an outage (503, redelivered), never hangs a request or a task."""
    bounds = {"statement_timeout": str(statement_timeout_ms), "lock_timeout": str(lock_timeout_ms)}
    pool = await asyncpg.create_pool(
        dsn, min_size=min_size, max_size=max_size, init=_init_connection, reset=_keep_session,
        server_settings=bounds,
    )  # fmt: skip
    if pool is None:
        raise RuntimeError("asyncpg returned no pool")
    return pool


ACQUIRE_TIMEOUT = 10.0


def _connection_lost(error: Exception) -> bool:
    """asyncpg's words for a connection that died under an operation."""
    if isinstance(error, asyncpg.InternalClientError):
        return True  # "cannot switch to state …; another operation is in progress"
    return any(word in str(error) for word in ("closed", "released back to the pool"))


# Set by kit.outbox when a statement queued messages: the connection that wrote them calls the
# Database's `on_outbox_commit` once its work committed (the relay's wake-up, ADR 0011).
WROTE_OUTBOX: ContextVar[bool] = ContextVar("wrote_outbox", default=False)


def _retrieved(task: "asyncio.Task[None]") -> None:
    if not task.cancelled():
        task.exception()  # retrieved: a lost wake-up costs at most the relay's poll


class Database:
    """Hands out transactions; `bound()` pins one connection so tests roll everything back.

    `on_outbox_commit` runs (in the background, never delaying the caller) after a connection
    whose work queued outbox messages was returned with that work committed: at most one at a
    time, and once more after it when commits came meanwhile (a woken relay reads everything
    unpublished, so every commit is followed by a wake-up that starts after it, and a burst of
    commits costs a few wake-ups, not one each)."""

    def __init__(
        self,
        pool: asyncpg.Pool | None = None,
        conn: asyncpg.Connection | None = None,
        on_outbox_commit: Callable[[], Coroutine[object, object, object]] | None = None,
    ):
        self._pool = pool
        self._conn = conn
        self._on_outbox_commit = on_outbox_commit
        self._waking: asyncio.Task[None] | None = None
        self._wake_again = False

    @classmethod
    def bound(cls, conn: asyncpg.Connection) -> "Database":
        return cls(conn=conn)

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[asyncpg.Connection]:
        """Commit on normal exit, roll back on exception (a SAVEPOINT when already inside one).

        A connection lost under the transaction (a restart, a failover, `pg_terminate_backend`)
        surfaces as `Unavailable` (503, retried by workers); the broken connection is dropped
        from the pool rather than handed out again.
        """
        async with self.connection() as conn, conn.transaction():
            yield conn

    @asynccontextmanager
    async def connection(self) -> AsyncIterator[asyncpg.Connection]:
        """A connection outside any transaction, for a use case that is one statement (atomic
        on its own: no BEGIN and COMMIT round trips); lost connections as in `transaction`."""
        if self._conn is not None:
            yield self._conn
            return
        if self._pool is None:
            raise RuntimeError("Database has neither a pool nor a connection")
        wrote = False
        # Waiting longer than this for a connection is an outage (503), not a hang.
        async with self._pool.acquire(timeout=ACQUIRE_TIMEOUT) as conn:
            marker = WROTE_OUTBOX.set(False)
            try:
                yield cast(asyncpg.Connection, conn)  # a pool proxy behaves as a connection
                wrote = WROTE_OUTBOX.get() and not conn.is_in_transaction()
            except (asyncpg.InterfaceError, asyncpg.InternalClientError) as error:
                if not _connection_lost(error):
                    raise  # a misuse of the driver, not a lost connection
                with contextlib.suppress(asyncpg.InterfaceError):
                    conn.terminate()  # its protocol state is unknown: never reuse it
                raise Unavailable("Database connection lost; retry") from error
            finally:
                WROTE_OUTBOX.reset(marker)
        if wrote and self._on_outbox_commit is not None:
            if self._waking is not None and not self._waking.done():
                self._wake_again = True  # the one in flight may have left before this commit
            else:  # kept until done (asyncio holds tasks weakly)
                self._waking = asyncio.create_task(self._wake(self._on_outbox_commit))
                self._waking.add_done_callback(_retrieved)

    async def _wake(self, wake: Callable[[], Coroutine[object, object, object]]) -> None:
        while True:
            self._wake_again = False
            await wake()
            if not self._wake_again:
                return

    async def ping(self) -> bool:
        try:
            async with self.transaction() as conn:
                return bool(await conn.fetchval("SELECT 1"))
        except (OSError, asyncpg.PostgresError, asyncpg.InterfaceError):
            return False


async def init_connection(conn: asyncpg.Connection) -> None:
    """Codecs for a connection made outside a pool (tests, migrations)."""
    await _init_connection(conn)
