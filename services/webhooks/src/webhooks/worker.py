"""The webhooks worker: takes in events, delivers due webhooks, relays its outbox, prunes
events past their retention.

Run: `taskiq worker webhooks.worker:broker --workers 1 --no-configure-logging`.
"""

from collections.abc import Callable
from datetime import timedelta

from taskiq import TaskiqState

from kit.worker import create_worker
from webhooks import service, tasks
from webhooks.sender import Sender, outbound_session
from webhooks.settings import Settings

settings = Settings()


async def start_dispatcher(state: TaskiqState) -> None:
    state.outbound = outbound_session(settings.webhook_max_in_flight)
    state.dispatcher = tasks.Dispatcher(state.db, Sender.of(state.outbound, settings), settings)


async def dispatch(state: TaskiqState, progress: Callable[[], None]) -> None:
    """The dispatcher's claim loop, supervised by kit.worker like the relay."""
    await state.dispatcher.run(progress)


def deliver_soon(state: TaskiqState) -> None:
    """An event's deliveries committed: the dispatcher claims now, not at its next poll."""
    state.dispatcher.wake.set()


async def stop_dispatcher(state: TaskiqState) -> None:  # kit has cancelled `dispatch` by now
    await state.dispatcher.stop(drain_seconds=settings.webhook_timeout_seconds + 1)
    await state.outbound.close()


async def measure_backlog(state: TaskiqState) -> None:
    await state.dispatcher.measure_backlog(state)


async def fail_abandoned(state: TaskiqState) -> None:
    await state.dispatcher.fail_abandoned(state)


async def release_held(state: TaskiqState) -> None:
    if await service.release_held(state.db):
        state.dispatcher.wake.set()


async def prune_events(state: TaskiqState) -> None:
    await service.prune_events(state.db, timedelta(days=settings.event_retention_days))


broker = create_worker(
    "webhooks",
    settings,
    on_events=service.receive_events,
    event_types=service.EVENTS_IN,
    after_events=deliver_soon,
    chores=[
        (5.0, measure_backlog),
        (5.0, fail_abandoned),
        (1.0, release_held),
        (600.0, prune_events),
    ],
    loops=[("webhook_dispatcher", dispatch, settings.webhook_poll_seconds + 60.0)],
    on_startup=start_dispatcher,
    on_shutdown=stop_dispatcher,
)
