"""Events in: each merchant-facing event kept once and fanned out to its endpoints."""

from asyncpg import Connection

from kit.events import Envelope
from webhooks import repository
from webhooks.domain import (
    MERCHANT_EVENTS,
    Delivery,
    EventLinks,
    webhook_body,
)

EVENTS_IN = MERCHANT_EVENTS


async def receive_events(conn: Connection, events: list[Envelope]) -> list[Delivery]:
    """Keep each merchant-facing event once; queue one delivery per enabled endpoint whose
    filter takes it, for the events that arrived together in one statement (kit.consumer runs
    it once per batch, in the transaction that records it). The contract's FAQ: no URL, no
    log, no attempt."""
    incoming = [
        repository.Incoming(
            event.id, event.merchant_id, event.type,
            webhook_body(event.type, event.occurred_at, event.data),
            EventLinks.of(event.type, event.data),
        )
        for event in events
        if event.type in MERCHANT_EVENTS
    ]  # fmt: skip
    return await repository.take_in(conn, incoming)


async def receive_event(conn: Connection, event: Envelope) -> list[Delivery]:
    """`receive_events` for one event."""
    return await receive_events(conn, [event])
