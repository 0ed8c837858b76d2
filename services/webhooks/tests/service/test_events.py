"""The events API's use cases on real Postgres, delivering to a real receiver on loopback."""

from datetime import UTC, datetime, timedelta
from uuid import UUID, uuid4

import pytest

from kit.consumer import consume_event
from kit.db import Database
from kit.events import Envelope
from kit.paging import Page
from tests.receiver import Receiver
from webhooks import service
from webhooks.domain import (
    DeliveryStatus,
    EndpointNotFound,
    EndpointUnusable,
    EventNotFound,
    InvalidWindow,
    Schedule,
    Window,
)
from webhooks.sender import Sender

FAST = Schedule.of(test_intervals=True)


def payment(n: int) -> dict[str, object]:
    return {"id": f"pay_{n:016d}", "order_id": "order_FFFFFFFFFFFFFFFF", "amount": 900,
            "currency": "INR", "method": "upi", "vpa": "a@b", "status": "success",
            "created_at": "2026-11-26T10:00:00Z"}  # fmt: skip


REFUND = {"id": "rfnd_RRRRRRRRRRRRRRRR", "payment_id": "pay_0000000000000001", "amount": 100,
          "reason": None, "status": "processed", "created_at": "2026-11-26T10:00:00Z",
          "processed_at": "2026-11-26T10:00:05Z"}  # fmt: skip


async def receive(db: Database, event: Envelope) -> Envelope:
    await consume_event(db, f"in-{event.id}", event, service.receive_event)
    return event


async def deliver_all(db: Database, sender: Sender) -> None:
    for claimed in await service.claim_due(db, [], 8, 100, 30):
        await service.attempt_delivery(db, sender, claimed, FAST)


class TestLookUp:
    async def test_events_are_listed_newest_first_and_filtered(
        self, db: Database, merchant: UUID
    ) -> None:
        first = await receive(db, Envelope.new("payment.created", merchant, payment(1)))
        second = await receive(db, Envelope.new("payment.success", merchant, payment(1)))
        refund = await receive(db, Envelope.new("refund.processed", merchant, REFUND))
        await receive(db, Envelope.new("payment.success", uuid4(), payment(1)))  # someone else's

        async def ids(**filters: object) -> list[str]:
            args = {"event_type": None, "object_id": None, "window": Window()} | filters
            events = await service.list_events(db, merchant, page=Page(), **args)  # type: ignore[arg-type]
            assert events.total == len(events.items)
            return [e.id for e in events.items]

        assert await ids() == [refund.id, second.id, first.id]
        assert await ids(event_type="payment.success") == [second.id]
        assert await ids(object_id="pay_0000000000000001") == [second.id, first.id]
        assert await ids(object_id=REFUND["id"]) == [refund.id]
        event, _ = await service.get_event(db, merchant, second.id)
        assert await ids(window=Window(event.received_at)) == [refund.id, second.id]
        assert await ids(window=Window(None, event.received_at)) == [first.id]
        page = await service.list_events(
            db, merchant, None, None, Window(), Page(limit=1, offset=1)
        )
        assert ([e.id for e in page.items], page.total, page.has_more) == ([second.id], 3, True)
        older = Page(limit=1, starting_after=second.id)
        after = await service.list_events(db, merchant, None, None, Window(), older)
        assert ([e.id for e in after.items], after.total, after.has_more) == (
            [first.id],
            None,
            False,
        )

    async def test_an_event_shows_its_body_and_each_endpoints_delivery(
        self, db: Database, merchant: UUID
    ) -> None:
        default = await service.set_url(db, merchant, "https://a.example/")
        other = await service.create_endpoint(db, merchant, "https://b.example/")
        sent = await receive(db, Envelope.new("refund.processed", merchant, REFUND))
        event, deliveries = await service.get_event(db, merchant, sent.id)
        assert (event.type, event.object_id, event.payment_id, event.refund_id) == (
            "refund.processed",
            REFUND["id"],
            REFUND["payment_id"],
            REFUND["id"],
        )
        assert '"refund":{"id":"rfnd_RRRRRRRRRRRRRRRR"' in event.body
        assert sorted(d.endpoint_id or "" for d in deliveries) == sorted([default.id, other.id])
        with pytest.raises(EventNotFound):
            await service.get_event(db, uuid4(), sent.id)

    def test_a_window_must_run_forwards(self) -> None:
        now = datetime.now(UTC)
        with pytest.raises(InvalidWindow):
            Window(now, now)
        assert Window(datetime(2026, 1, 1)).start == datetime(2026, 1, 1, tzinfo=UTC)


class TestResend:
    async def test_resend_sends_a_delivered_event_again_to_every_matching_endpoint(
        self, clean: Database, merchant: UUID, sender: Sender, receiver: Receiver
    ) -> None:
        db = clean
        await service.set_url(db, merchant, receiver.url)
        await service.create_endpoint(db, merchant, receiver.url, "", ["refund.created"])
        sent = await receive(db, Envelope.new("payment.success", merchant, payment(2)))
        await deliver_all(db, sender)
        again = await service.resend_event(db, merchant, sent.id)
        [delivery] = again
        assert (delivery.status, delivery.attempts) == (DeliveryStatus.PENDING, 0)
        await deliver_all(db, sender)
        assert [r.headers["webhook-id"] for r in receiver.requests] == [sent.id, sent.id]
        _, deliveries = await service.get_event(db, merchant, sent.id)
        assert [(d.id, d.status, d.attempts) for d in deliveries] == [
            (delivery.id, DeliveryStatus.SUCCESS, 1)
        ]  # the same log, not a second one

    async def test_resend_to_one_endpoint_ignores_its_filter_but_not_its_state(
        self, clean: Database, merchant: UUID
    ) -> None:
        db = clean
        refunds_only = await service.create_endpoint(
            db, merchant, "https://a.example/", "", ["refund.created"]
        )
        sent = await receive(db, Envelope.new("payment.success", merchant, payment(3)))
        [delivery] = await service.resend_event(db, merchant, sent.id, refunds_only.id)
        assert (delivery.endpoint_id, delivery.payment_id) == (refunds_only.id, payment(3)["id"])
        await service.update_endpoint(db, merchant, refunds_only.id, {"enabled": False})
        with pytest.raises(EndpointUnusable):
            await service.resend_event(db, merchant, sent.id, refunds_only.id)
        with pytest.raises(EndpointNotFound):
            await service.resend_event(db, merchant, sent.id, "ep_nope")
        with pytest.raises(EventNotFound):
            await service.resend_event(db, uuid4(), sent.id)


class TestReplay:
    async def test_failed_deliveries_in_the_window_are_sent_again(
        self, clean: Database, merchant: UUID
    ) -> None:
        db = clean
        first = await service.create_endpoint(db, merchant, "https://a.example/")
        second = await service.create_endpoint(db, merchant, "https://b.example/")
        old = await receive(db, Envelope.new("payment.created", merchant, payment(4)))
        new = await receive(db, Envelope.new("payment.success", merchant, payment(4)))
        async with db.transaction() as conn:
            await conn.execute(
                "UPDATE delivery SET status = 'failed', attempts = 5, next_retry_at = NULL,"
                " created_at = created_at - CASE WHEN event_id = $2 THEN interval '2 hours'"
                " ELSE interval '0' END WHERE merchant_id = $1",
                merchant, old.id,
            )  # fmt: skip
        now = datetime.now(UTC)
        window = Window(now - timedelta(hours=1), now + timedelta(minutes=1))
        assert await service.replay_failed(db, merchant, window, first.id) == 1
        assert await service.replay_failed(db, merchant, window) == 1  # the second endpoint's
        _, old_deliveries = await service.get_event(db, merchant, old.id)
        _, new_deliveries = await service.get_event(db, merchant, new.id)
        assert {d.status for d in old_deliveries} == {DeliveryStatus.FAILED}
        assert {(d.status, d.attempts) for d in new_deliveries} == {(DeliveryStatus.PENDING, 0)}

        await service.update_endpoint(db, merchant, second.id, {"enabled": False})
        wide = Window(now - timedelta(days=1), now + timedelta(minutes=1))
        assert await service.replay_failed(db, merchant, wide) == 1  # only the first's old one
        with pytest.raises(EndpointUnusable):
            await service.replay_failed(db, merchant, wide, second.id)
        with pytest.raises(EndpointNotFound):
            await service.replay_failed(db, uuid4(), wide, first.id)


async def test_events_past_their_retention_are_pruned_with_their_deliveries(
    clean: Database, merchant: UUID, sender: Sender, receiver: Receiver
) -> None:
    db = clean
    await service.set_url(db, merchant, receiver.url)
    old = await receive(db, Envelope.new("payment.success", merchant, payment(5)))
    recent = await receive(db, Envelope.new("payment.success", merchant, payment(6)))
    await deliver_all(db, sender)
    async with db.transaction() as conn:
        await conn.execute(
            "UPDATE event SET received_at = now() - interval '31 days' WHERE id = $1", old.id
        )
    assert await service.prune_events(db, timedelta(days=30)) >= 1
    with pytest.raises(EventNotFound):
        await service.get_event(db, merchant, old.id)
    async with db.transaction() as conn:
        left = await conn.fetchval(
            "SELECT count(*) FROM delivery WHERE event_id = $1", old.id
        ) + await conn.fetchval(
            "SELECT count(*) FROM delivery_attempt a JOIN delivery d ON d.id = a.delivery_id"
            " WHERE d.event_id = $1",
            old.id,
        )
    assert left == 0
    _, [kept] = await service.get_event(db, merchant, recent.id)
    assert kept.status is DeliveryStatus.SUCCESS
    assert await service.prune_events(db, timedelta(days=30)) == 0
