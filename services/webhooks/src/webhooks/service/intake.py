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


async def receive_event(conn: Connection, event: Envelope) -> list[Delivery]:
    """Keep a merchant-facing event once; queue one delivery per enabled endpoint whose filter
    takes it, in one statement (kit.consumer runs it once per message, in the transaction that
    records it). The contract's FAQ: no URL, no log, no attempt."""
    if event.type not in MERCHANT_EVENTS:
        return []
    body = webhook_body(event.type, event.occurred_at, event.data)
    links = EventLinks.of(event.type, event.data)
    return await repository.take_in(conn, event.id, event.merchant_id, event.type, body, links)
