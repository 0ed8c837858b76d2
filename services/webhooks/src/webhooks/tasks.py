"""Handlers of the webhooks worker, and the dispatcher that delivers due webhooks."""

import asyncio
import contextlib
import logging
import time
from collections import Counter
from collections.abc import Callable
from uuid import UUID

from taskiq import TaskiqState

from kit.db import Database
from webhooks import repository, service
from webhooks.metrics import DUE_BACKLOG
from webhooks.repository import Claimed
from webhooks.service import Sends
from webhooks.settings import Settings

log = logging.getLogger("webhooks.tasks")


class Dispatcher:
    """Claims due deliveries from Postgres and attempts them concurrently, at most
    `max_in_flight` in all and `per_merchant` per merchant, so a slow endpoint cannot starve
    the others. Nothing is kept only in memory: a lost worker's leases simply expire."""

    CLAIM_GAP = 0.02
    # A claim starts at most once per this many times its own duration: a claim that scans a
    # large backlog slows the claiming down instead of taking the database's CPU from the rest.
    CLAIM_SHARE = 3.0

    def __init__(self, db: Database, sender: Sends, settings: Settings) -> None:
        self.db = db
        self.sender = sender
        self.settings = settings
        self.schedule = settings.delivery_schedule()
        self.recorder = service.Recorder(db, self.schedule)
        self.in_flight: Counter[UUID] = Counter()
        self.tasks: set[asyncio.Task[None]] = set()
        self.wake = asyncio.Event()

    async def run(self, progress: Callable[[], None] = lambda: None) -> None:
        """Claim whenever a slot frees up or deliveries arrive, at most every `CLAIM_GAP`
        seconds and at most once per `CLAIM_SHARE` times the last claim's duration (under load
        one claim takes what a gap's completions freed, not one claim per completion), and at
        least every `webhook_poll_seconds`; `progress()` every round (the worker's supervisor
        restarts a loop that stops)."""
        while True:
            progress()
            self.wake.clear()
            started = time.monotonic()
            try:
                await self.dispatch()
            except Exception:
                log.exception("claiming due webhooks failed")
            gap = max(self.CLAIM_GAP, self.CLAIM_SHARE * (time.monotonic() - started))
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.wake.wait(), self.settings.webhook_poll_seconds)
            await asyncio.sleep(max(0.0, started + gap - time.monotonic()))

    async def dispatch(self, state: TaskiqState | None = None) -> int:
        free = self.settings.webhook_max_in_flight - sum(self.in_flight.values())
        if free <= 0:
            return 0
        per_merchant = self.settings.webhook_max_in_flight_per_merchant
        busy = [m for m, n in self.in_flight.items() if n >= per_merchant]
        claimed = await service.claim_due(
            self.db, busy, per_merchant, free, self.settings.webhook_lease_seconds
        )
        for delivery in claimed:
            self.in_flight[delivery.merchant_id] += 1
            task = asyncio.create_task(self._attempt(delivery))
            self.tasks.add(task)
            task.add_done_callback(self.tasks.discard)
        return len(claimed)

    async def _attempt(self, claimed: Claimed) -> None:
        try:
            await service.attempt_delivery(
                self.db, self.sender, claimed, self.schedule, self.recorder
            )
        except Exception:
            log.exception(
                "webhook attempt failed to record", extra={"delivery_id": str(claimed.id)}
            )
        finally:
            self.in_flight[claimed.merchant_id] -= 1
            if self.in_flight[claimed.merchant_id] <= 0:
                del self.in_flight[claimed.merchant_id]
            self.wake.set()  # a slot is free: more may be due

    async def fail_abandoned(self, state: TaskiqState | None = None) -> None:
        await service.fail_abandoned(self.db)

    async def measure_backlog(self, state: TaskiqState | None = None) -> None:
        async with self.db.transaction() as conn:
            DUE_BACKLOG.set(await repository.count_due(conn))

    async def stop(self, drain_seconds: float) -> None:
        """Stop claiming (the caller cancels `run`), let attempts in flight finish within
        `drain_seconds`, then cancel the rest: their leases expire and they are retried."""
        if self.tasks:
            await asyncio.wait(set(self.tasks), timeout=drain_seconds)
        for task in list(self.tasks):
            task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await asyncio.gather(*self.tasks, return_exceptions=True)
