"""A consuming service at two versions, for test_versions.py (a rolling deploy): `old` knows
the event type `thing.made` and only the one-event task; `new` knows `thing.renamed` too and
the task carrying a transaction's events together. Each applied event is one row of
`version_effect` naming the version that applied it.

Run: `VERSION=old|new VTEST_SERVICE=<name> python -m taskiq worker versions_worker:broker`.
"""

import os

import asyncpg

from kit.consumer import EventConsumer
from kit.events import Envelope
from kit.outbox import event_task
from kit.settings import ServiceSettings
from kit.worker import create_worker

SERVICE = os.environ["VTEST_SERVICE"]
VERSION = os.environ["VERSION"]
STEM = SERVICE[:-1]  # the service owns (and signs) the events `<stem>.*`: "thing" below


async def apply(conn: asyncpg.Connection, events: list[Envelope]) -> None:
    await conn.executemany(
        "INSERT INTO version_effect (event_id, version) VALUES ($1, $2)",
        [(event.id, VERSION) for event in events],
    )


if VERSION == "new":
    broker = create_worker(
        SERVICE, ServiceSettings(), on_events=apply, event_types={f"{STEM}.made", f"{STEM}.renamed"}
    )
else:  # before pipeline v2: one event per message, and one type fewer
    old = EventConsumer(apply, frozenset({f"{STEM}.made"}))
    broker = create_worker(SERVICE, ServiceSettings(), jobs={event_task(SERVICE): old.one})
