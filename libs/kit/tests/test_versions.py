"""A rolling deploy, as two worker processes side by side on one stream (real Redis and
Postgres): the old version parks what it cannot run (a task it does not know, an event type
it does not subscribe to) instead of acknowledging it into the void, and the new version runs
it; nothing is lost, applied twice or dead-lettered."""

import contextlib
import os
import secrets
import signal
import string
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from uuid import uuid4

import pytest
from redis.asyncio import Redis

from kit import outbox
from kit.db import Database
from kit.events import Envelope
from tests.waits import eventually_async

HERE = Path(__file__).parent
MERCHANT = uuid4()
Start = Callable[[str], "subprocess.Popen[bytes]"]


@pytest.fixture
def service() -> str:
    """A stream of its own; it owns the events `<service minus its s>.*`, so it may sign them
    (kit.signing.owner)."""
    return "vtest_" + "".join(secrets.choice(string.ascii_lowercase) for _ in range(8)) + "s"


@pytest.fixture
def start(scratch_url: str, redis_url: str, service: str) -> Iterator[Start]:
    """Starts a worker of a version; each is stopped (its whole process group) at the end."""
    started: list[subprocess.Popen[bytes]] = []

    def start(version: str) -> subprocess.Popen[bytes]:
        env = {
            **os.environ,
            "PYTHONPATH": str(HERE),
            "VERSION": version,
            "VTEST_SERVICE": service,
            "ENVIRONMENT": "test",
            "DATABASE_URL": scratch_url,
            "REDIS_URL": redis_url,
            # Reclaim what a stopped worker held within seconds, not a minute.
            "QUEUE_IDLE_TIMEOUT_MS": "8000",
            "QUEUE_RECLAIM_INTERVAL_SECONDS": "1",
            "TASK_TIMEOUT_SECONDS": "5",
            "WORKER_STALL_SECONDS": "30",
        }
        argv = [sys.executable, "-m", "taskiq", "worker", "versions_worker:broker",
                "--workers", "1", "--no-configure-logging"]  # fmt: skip
        process = subprocess.Popen(argv, env=env, cwd=HERE, start_new_session=True)
        started.append(process)
        return process

    yield start
    for process in started:  # taskiq's main process and its worker process
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)
        process.wait()


async def publish(db: Database, service: str, *transactions: list[str]) -> list[str]:
    """One committed transaction per list of event types (`thing.*` stands for the service's
    own `<stem>.*`); the ids of the events, in order."""
    ids: list[str] = []
    for types in transactions:
        own = [t.replace("thing.", f"{service[:-1]}.") for t in types]
        envelopes = [Envelope.new(t, MERCHANT, {"n": len(ids) + i}) for i, t in enumerate(own)]
        async with db.transaction() as conn:
            await outbox.add(
                conn, [m for e in envelopes for m in outbox.event_messages(e, (service,))]
            )
        ids += [e.id for e in envelopes]
    return ids


async def effects(db: Database) -> dict[str, list[str]]:
    async with db.transaction() as conn:
        rows = await conn.fetch("SELECT event_id, version FROM version_effect ORDER BY version")
    applied: dict[str, list[str]] = {}
    for row in rows:
        applied.setdefault(row["event_id"], []).append(row["version"])
    return applied


async def failed(db: Database) -> list[dict[str, object]]:
    async with db.transaction() as conn:
        rows = await conn.fetch("SELECT message_id, parked_at, dead_at FROM failed_message")
    return [dict(r) for r in rows]


async def test_an_old_and_a_new_worker_side_by_side_lose_and_double_nothing(
    scratch_db: Database, redis_url: str, service: str, start: Start
) -> None:
    async with scratch_db.transaction() as conn:
        await conn.execute("DROP TABLE IF EXISTS version_effect")
        await conn.execute("CREATE TABLE version_effect (event_id text, version text)")

    # The old version alone: it applies what it knows and parks the rest.
    old = start("old")
    made, renamed, two_a, two_b = await publish(
        scratch_db, service, ["thing.made"], ["thing.renamed"], ["thing.made", "thing.made"]
    )

    async def old_did_what_it_could() -> bool:
        parked = [f for f in await failed(scratch_db) if f["parked_at"] is not None]
        return await effects(scratch_db) == {made: ["old"]} and len(parked) == 2

    await eventually_async(old_did_what_it_could, "the old worker to apply one and park two")

    # The new version joins, more arrives while both run, then the old one goes (the deploy
    # ends). What was parked is offered to whichever version runs: the test makes it due now
    # instead of in a minute.
    new = start("new")
    later = await publish(
        scratch_db, service, *(["thing.made"] if i % 3 else ["thing.renamed", "thing.made"]
                               for i in range(9))
    )  # fmt: skip
    old.send_signal(signal.SIGTERM)  # taskiq passes it on to its worker process
    assert old.wait(timeout=60) is not None
    everything = {made, renamed, two_a, two_b, *later}

    async def all_applied_once() -> dict[str, list[str]] | None:
        async with scratch_db.transaction() as conn:
            await conn.execute("UPDATE failed_message SET next_attempt_at = now()")
        applied = await effects(scratch_db)
        return applied if applied.keys() == everything and not await failed(scratch_db) else None

    applied = await eventually_async(all_applied_once, "every event applied, none parked")
    assert all(len(versions) == 1 for versions in applied.values()), applied  # none twice
    assert applied[renamed] == applied[two_a] == applied[two_b] == ["new"]
    assert new.poll() is None  # the new worker is still running
    redis = Redis.from_url(redis_url)
    try:
        pending = await redis.xpending(service, "taskiq")
    finally:
        await redis.aclose()
    assert pending["pending"] == 0  # every entry acknowledged
