"""Several endpoints per merchant, on real Postgres, delivering to real receivers on loopback."""

from datetime import timedelta
from uuid import UUID, uuid4

import pytest
from prometheus_client import REGISTRY
from standardwebhooks import Webhook
from standardwebhooks.webhooks import WebhookVerificationError

from kit.consumer import consume_event
from kit.db import Database
from kit.events import Envelope
from kit.paging import Page
from tests.receiver import Received, Receiver, running_receiver
from webhooks import service
from webhooks.domain import (
    MAX_ENDPOINTS,
    DefaultEndpointIsKept,
    DeliveryFilter,
    DeliveryStatus,
    EndpointNotFound,
    EndpointUnusable,
    InvalidWebhookUrl,
    Schedule,
    TooManyEndpoints,
    UnknownEventType,
    UrlRequired,
    signature,
)
from webhooks.sender import Sender

FAST = Schedule.of(test_intervals=True)
PAYMENT = {"id": "pay_EEEEEEEEEEEEEEEE", "order_id": "order_FFFFFFFFFFFFFFFF", "amount": 900,
           "currency": "INR", "method": "upi", "vpa": "a@b", "status": "success",
           "created_at": "2026-11-26T10:00:00Z"}  # fmt: skip


def event(merchant: UUID, kind: str = "payment.success") -> Envelope:
    return Envelope.new(kind, merchant, PAYMENT)


async def deliver_all(db: Database, sender: Sender, schedule: Schedule = FAST) -> None:
    for claimed in await service.claim_due(db, [], 8, 100, 30):
        await service.attempt_delivery(db, sender, claimed, schedule)


class TestFanOut:
    async def test_each_event_goes_to_every_enabled_endpoint_whose_filter_takes_it(
        self, clean: Database, merchant: UUID, sender: Sender, receiver: Receiver
    ) -> None:
        db = clean
        default = await service.set_url(db, merchant, receiver.url)
        with running_receiver() as second:
            successes = await service.create_endpoint(
                db, merchant, second.url, "successes only", ["payment.success"]
            )
            await service.create_endpoint(db, merchant, second.url, "off", enabled=False)
            await service.create_endpoint(db, merchant, second.url, "", ["refund.created"])

            success = event(merchant)
            delivered = await consume_event(db, "fan-1", success, service.receive_event) or []
            assert sorted(d.endpoint_id or "" for d in delivered) == sorted(
                [default.id, successes.id]
            )
            created = event(merchant, "payment.created")
            [only] = await consume_event(db, "fan-2", created, service.receive_event) or []
            assert only.endpoint_id == default.id
            await deliver_all(db, sender)  # created first: success waits for it at `default`
            await deliver_all(db, sender)

            assert {r.headers["webhook-id"] for r in receiver.requests} == {success.id, created.id}
            [at_second] = second.requests
        assert at_second.headers["webhook-id"] == success.id
        # Each endpoint signs with its own secret, in both schemes.
        for received, secret in (
            (at_second, successes.secret),
            (receiver.requests[0], default.secret),
        ):
            body = received.body
            assert received.headers["X-Webhook-Signature"] == signature(secret, body.decode())
            standard = {k: received.headers[k] for k in ("webhook-id", "webhook-timestamp",
                                                         "webhook-signature")}  # fmt: skip
            Webhook(secret).verify(body, standard)
        assert successes.secret != default.secret
        listed = await service.list_deliveries(
            db, merchant, Page(), DeliveryFilter(endpoint_id=successes.id)
        )
        total, logs = listed.total, listed.items
        assert (total, logs[0].endpoint_id, logs[0].status) == (
            1,
            successes.id,
            DeliveryStatus.SUCCESS,
        )

    async def test_events_that_arrive_together_are_taken_in_at_once_in_their_order(
        self, clean: Database, merchant: UUID
    ) -> None:
        db = clean
        default = await service.set_url(db, merchant, "https://shop.example/all")
        refunds = await service.create_endpoint(
            db, merchant, "https://shop.example/refunds", "", ["refund.created"]
        )
        other = uuid4()  # another merchant with no endpoint: its event is kept, sent nowhere
        created, success = event(merchant, "payment.created"), event(merchant)
        refund_data = {"id": "rfnd_GGGGGGGGGGGGGGGG", "payment_id": PAYMENT["id"]}
        refund = Envelope.new("refund.created", merchant, refund_data)
        unknown = Envelope.new("order.created", merchant, {"id": "order_FFFFFFFFFFFFFFFF"})
        batch = [created, success, event(other), unknown, refund, success]  # success twice
        async with db.transaction() as conn:
            delivered = await service.receive_events(conn, batch)
            again = await service.receive_events(conn, [created, refund])  # kept before
        assert [(d.event_id, d.endpoint_id) for d in delivered] == [
            (created.id, default.id),
            (success.id, default.id),
            (refund.id, default.id),
            (refund.id, refunds.id),
        ]
        async with db.transaction() as conn:
            sequences = await conn.fetch(
                "SELECT event, sequence FROM delivery WHERE id = ANY($1) ORDER BY created_at",
                [d.id for d in delivered],
            )
        assert [tuple(r) for r in sequences] == [
            ("payment.created", 1), ("payment.success", 3), ("refund.created", 1),
            ("refund.created", 1),
        ]  # fmt: skip
        assert again == []
        async with db.transaction() as conn:
            kept = await conn.fetch("SELECT id FROM event WHERE merchant_id = ANY($1)",
                                    [merchant, other])  # fmt: skip
        assert {r["id"] for r in kept} == {created.id, success.id, refund.id, batch[2].id}

    async def test_a_default_endpoint_without_a_url_gets_nothing_but_the_others_do(
        self, clean: Database, merchant: UUID
    ) -> None:
        extra = await service.create_endpoint(clean, merchant, "https://shop.example/hook")
        delivered = await consume_event(clean, "nourl-1", event(merchant), service.receive_event)
        assert [d.endpoint_id for d in delivered or []] == [extra.id]


class TestLifecycle:
    async def test_list_create_update_and_the_default_first(
        self, db: Database, merchant: UUID
    ) -> None:
        created = await service.create_endpoint(
            db, merchant, "https://a.example/hook", "A", ["order.paid", "order.paid"]
        )
        assert created.id.startswith("ep_")
        assert len(created.id) == 19
        assert (created.event_types, created.enabled, created.is_default) == (
            ("order.paid",),
            True,
            False,
        )
        listed = await service.list_endpoints(db, merchant)
        assert [e.is_default for e in listed] == [True, False]
        assert listed[1] == created
        changed = await service.update_endpoint(
            db, merchant, created.id, {"description": "B", "event_types": [], "enabled": False}
        )
        assert (changed.description, changed.event_types, changed.enabled, changed.url) == (
            "B",
            (),
            False,
            "https://a.example/hook",
        )
        assert await service.get_endpoint(db, merchant, created.id) == changed

    async def test_at_most_max_endpoints_counting_the_default(
        self, db: Database, merchant: UUID
    ) -> None:
        for n in range(MAX_ENDPOINTS - 1):
            await service.create_endpoint(db, merchant, f"https://{n}.example/hook")
        with pytest.raises(TooManyEndpoints):
            await service.create_endpoint(db, merchant, "https://one-more.example/hook")
        assert len(await service.list_endpoints(db, merchant)) == MAX_ENDPOINTS

    @pytest.mark.parametrize(
        ("changes", "error"),
        [
            ({"url": None}, UrlRequired),
            ({"url": "ftp://x.example/"}, InvalidWebhookUrl),
            ({"url": "https://user:pw@x.example/"}, InvalidWebhookUrl),
            ({"event_types": ["payment.success", "order.created"]}, UnknownEventType),
        ],
    )
    async def test_bad_changes_are_refused(
        self, db: Database, merchant: UUID, changes: dict[str, object], error: type[Exception]
    ) -> None:
        created = await service.create_endpoint(db, merchant, "https://a.example/hook")
        with pytest.raises(error):
            await service.update_endpoint(db, merchant, created.id, changes)

    async def test_the_default_endpoint_may_lose_its_url_but_is_never_deleted(
        self, db: Database, merchant: UUID
    ) -> None:
        default = await service.set_url(db, merchant, "https://a.example/hook")
        cleared = await service.update_endpoint(db, merchant, default.id, {"url": None})
        assert cleared.url is None
        assert (await service.get_default_endpoint(db, merchant)).url is None
        with pytest.raises(DefaultEndpointIsKept):
            await service.delete_endpoint(db, merchant, default.id)

    async def test_another_merchants_endpoint_is_not_found(
        self, db: Database, merchant: UUID
    ) -> None:
        theirs = await service.create_endpoint(db, uuid4(), "https://a.example/hook")
        with pytest.raises(EndpointNotFound):
            await service.get_endpoint(db, merchant, theirs.id)
        with pytest.raises(EndpointNotFound):
            await service.update_endpoint(db, merchant, theirs.id, {"enabled": False})
        with pytest.raises(EndpointNotFound):
            await service.delete_endpoint(db, merchant, theirs.id)

    async def test_disabling_or_deleting_stops_pending_deliveries_and_keeps_the_logs(
        self, clean: Database, merchant: UUID
    ) -> None:
        db = clean
        first = await service.create_endpoint(db, merchant, "https://a.example/hook")
        second = await service.create_endpoint(db, merchant, "https://b.example/hook")
        delivered = await consume_event(db, "stop-1", event(merchant), service.receive_event)
        by_endpoint = {d.endpoint_id: d for d in delivered or []}
        await service.update_endpoint(db, merchant, first.id, {"enabled": False})
        await service.delete_endpoint(db, merchant, second.id)
        assert await service.claim_due(db, [], 8, 100, 30) == []
        for endpoint_id, endpoint in ((first.id, first.id), (second.id, None)):
            kept, _, _ = await service.get_delivery(db, merchant, by_endpoint[endpoint_id].id)
            assert (kept.status, kept.endpoint_id) == (DeliveryStatus.FAILED, endpoint)
            with pytest.raises(EndpointUnusable):
                await service.retry_delivery(db, merchant, kept.id)
        with pytest.raises(EndpointNotFound):
            await service.get_endpoint(db, merchant, second.id)
        assert await consume_event(db, "stop-2", event(merchant), service.receive_event) == []


def standard_headers(received: Received) -> dict[str, str]:
    return {
        k: received.headers[k] for k in ("webhook-id", "webhook-timestamp", "webhook-signature")
    }


class TestSecretRotation:
    async def test_both_secrets_verify_during_the_overlap_and_only_the_new_one_after(
        self, clean: Database, merchant: UUID, sender: Sender, receiver: Receiver
    ) -> None:
        db = clean
        old = await service.create_endpoint(db, merchant, receiver.url)
        rotated = await service.rotate_secret(db, merchant, old.id, timedelta(hours=24))
        assert rotated.secret != old.secret
        assert rotated.previous_secret == old.secret
        assert rotated.previous_secret_expires_at is not None
        await consume_event(db, "rotate-1", event(merchant), service.receive_event)
        await deliver_all(db, sender)
        [during] = receiver.requests
        assert len(during.headers["webhook-signature"].split(" ")) == 2
        for secret in (old.secret, rotated.secret):
            Webhook(secret).verify(during.body, standard_headers(during))
        # X-Webhook-Signature has one value: the current secret's.
        assert during.headers["X-Webhook-Signature"] == signature(
            rotated.secret, during.body.decode()
        )

        async with db.transaction() as conn:  # the overlap ends
            await conn.execute(
                "UPDATE endpoint SET previous_secret_expires_at = now() - interval '1 second'"
                " WHERE id = $1",
                old.id,
            )
        await consume_event(db, "rotate-2", event(merchant), service.receive_event)
        await deliver_all(db, sender)
        after = receiver.requests[1]
        assert len(after.headers["webhook-signature"].split(" ")) == 1
        Webhook(rotated.secret).verify(after.body, standard_headers(after))
        with pytest.raises(WebhookVerificationError):
            Webhook(old.secret).verify(after.body, standard_headers(after))

    async def test_no_overlap_stops_the_old_secret_at_once(
        self, clean: Database, merchant: UUID, sender: Sender, receiver: Receiver
    ) -> None:
        db = clean
        first = await service.set_url(db, merchant, receiver.url)
        second = await service.rotate_secret(db, merchant, first.id, timedelta(hours=1))
        third = await service.regenerate_secret(db, merchant)  # the contract's: no overlap
        assert (third.previous_secret, third.previous_secret_expires_at) == (None, None)
        await consume_event(db, "rotate-3", event(merchant), service.receive_event)
        await deliver_all(db, sender)
        [received] = receiver.requests
        Webhook(third.secret).verify(received.body, standard_headers(received))
        for stale in (first.secret, second.secret):
            with pytest.raises(WebhookVerificationError):
                Webhook(stale).verify(received.body, standard_headers(received))

    async def test_a_second_rotation_keeps_only_the_secret_it_replaced(
        self, db: Database, merchant: UUID
    ) -> None:
        first = await service.create_endpoint(db, merchant, "https://a.example/hook")
        await service.rotate_secret(db, merchant, first.id, timedelta(hours=1))
        third = await service.rotate_secret(db, merchant, first.id, timedelta(minutes=5))
        assert third.previous_secret not in (None, first.secret)
        with pytest.raises(EndpointNotFound):
            await service.rotate_secret(db, uuid4(), first.id, timedelta(0))


def disabled_count() -> float:
    return REGISTRY.get_sample_value("webhook_endpoints_disabled_total") or 0.0


async def backdate_failing(db: Database, endpoint_id: str, by: timedelta) -> None:
    async with db.transaction() as conn:
        await conn.execute(
            "UPDATE endpoint SET failing_since = failing_since - $2::interval WHERE id = $1",
            endpoint_id,
            by,
        )


class TestHealth:
    STRICT = Schedule.of(test_intervals=True, disable_after=timedelta(minutes=10))

    async def test_an_endpoint_failing_for_the_whole_period_is_disabled_with_a_reason(
        self, clean: Database, merchant: UUID, sender: Sender, receiver: Receiver
    ) -> None:
        db = clean
        healthy = await service.set_url(db, merchant, receiver.url)
        with running_receiver() as failing_receiver:
            failing_receiver.fail_next = 100
            failing = await service.create_endpoint(db, merchant, failing_receiver.url)
            await consume_event(db, "health-1", event(merchant), service.receive_event)
            await deliver_all(db, sender, self.STRICT)
            first = await service.get_endpoint(db, merchant, failing.id)
            assert first.enabled
            assert first.failing_since is not None
            assert (await service.get_endpoint(db, merchant, healthy.id)).failing_since is None

            await backdate_failing(db, failing.id, timedelta(minutes=9))  # not long enough yet
            await consume_event(db, "health-2", event(merchant), service.receive_event)
            await deliver_all(db, sender, self.STRICT)
            assert (await service.get_endpoint(db, merchant, failing.id)).enabled

            before = disabled_count()
            await backdate_failing(db, failing.id, timedelta(minutes=2))
            [_, queued] = (
                await consume_event(db, "health-3", event(merchant), service.receive_event) or []
            )
            await deliver_all(db, sender, self.STRICT)
            assert len(failing_receiver.requests) == 3
        disabled = await service.get_endpoint(db, merchant, failing.id)
        assert not disabled.enabled
        assert disabled.disabled_at is not None
        assert disabled.disabled_reason is not None
        assert disabled.disabled_reason.startswith("every attempt failed since ")
        assert disabled.disabled_reason.endswith("for more than 10 minutes")
        assert disabled_count() - before == 1
        # the other endpoint keeps receiving; the disabled one's pending deliveries stopped
        assert (await service.get_endpoint(db, merchant, healthy.id)).enabled
        logs = (
            await service.list_deliveries(
                db, merchant, Page(limit=100), DeliveryFilter(endpoint_id=failing.id)
            )
        ).items
        assert {d.status for d in logs} == {DeliveryStatus.FAILED}
        assert queued.endpoint_id == failing.id
        later = await consume_event(db, "health-4", event(merchant), service.receive_event) or []
        assert [d.endpoint_id for d in later] == [healthy.id]

    async def test_a_success_ends_the_failing_streak(
        self, clean: Database, merchant: UUID, sender: Sender, receiver: Receiver
    ) -> None:
        db = clean
        endpoint = await service.create_endpoint(db, merchant, receiver.url)
        receiver.fail_next = 1
        await consume_event(db, "streak-1", event(merchant), service.receive_event)
        await deliver_all(db, sender, self.STRICT)
        assert (await service.get_endpoint(db, merchant, endpoint.id)).failing_since is not None
        await consume_event(db, "streak-2", event(merchant), service.receive_event)
        await deliver_all(db, sender, self.STRICT)
        assert (await service.get_endpoint(db, merchant, endpoint.id)).failing_since is None

    async def test_enabling_may_replay_what_it_missed(
        self, clean: Database, merchant: UUID, sender: Sender, receiver: Receiver
    ) -> None:
        db = clean
        receiver.fail_next = 1
        endpoint = await service.create_endpoint(
            db, merchant, receiver.url, "", ["payment.success"]
        )
        failed = event(merchant)
        await consume_event(db, "replay-1", failed, service.receive_event)
        await deliver_all(db, sender, self.STRICT)  # fails: the streak starts here
        await service.update_endpoint(db, merchant, endpoint.id, {"enabled": False})
        missed = event(merchant)
        assert await consume_event(db, "replay-2", missed, service.receive_event) == []
        not_taken = event(merchant, "payment.created")
        await consume_event(db, "replay-3", not_taken, service.receive_event)
        off = await service.get_endpoint(db, merchant, endpoint.id)
        assert off.disabled_reason == "disabled by the merchant"

        enabled, replayed = await service.enable_endpoint(db, merchant, endpoint.id, replay=True)
        assert (enabled.enabled, enabled.disabled_at, enabled.failing_since, replayed) == (
            True,
            None,
            None,
            2,
        )
        await deliver_all(db, sender, self.STRICT)
        ids = [r.headers["webhook-id"] for r in receiver.requests]
        assert ids[0] == failed.id
        assert sorted(ids[1:]) == sorted([failed.id, missed.id])
        listed = await service.list_deliveries(
            db, merchant, Page(), DeliveryFilter(endpoint_id=endpoint.id)
        )
        total, logs = listed.total, listed.items
        assert total == 2  # the failed delivery was sent again, not duplicated
        assert {(d.status, d.attempts, d.payment_id) for d in logs} == {
            (DeliveryStatus.SUCCESS, 1, PAYMENT["id"])
        }

    async def test_enabling_without_replay_sends_nothing_old(
        self, clean: Database, merchant: UUID
    ) -> None:
        endpoint = await service.create_endpoint(clean, merchant, "https://a.example/")
        await service.update_endpoint(clean, merchant, endpoint.id, {"enabled": False})
        await consume_event(clean, "noreplay-1", event(merchant), service.receive_event)
        _, replayed = await service.enable_endpoint(clean, merchant, endpoint.id)
        assert replayed == 0
        assert await service.claim_due(clean, [], 8, 100, 30) == []

    async def test_saving_the_config_enables_the_default_endpoint_again(
        self, db: Database, merchant: UUID
    ) -> None:
        default = await service.set_url(db, merchant, "https://a.example/")
        await service.update_endpoint(db, merchant, default.id, {"enabled": False})
        again = await service.set_url(db, merchant, "https://a.example/")
        assert (again.enabled, again.disabled_reason) == (True, None)


async def test_order_paid_reaches_merchants(
    clean: Database, merchant: UUID, sender: Sender, receiver: Receiver
) -> None:
    await service.set_url(clean, merchant, receiver.url)
    order = {"id": "order_HHHHHHHHHHHHHHHH", "amount": 900, "currency": "INR", "receipt": None,
             "notes": None, "status": "paid", "created_at": "2026-11-26T10:00:00Z"}  # fmt: skip
    paid = Envelope.new("order.paid", merchant, order)
    [delivery] = await consume_event(clean, "paid-1", paid, service.receive_event) or []
    assert (delivery.event, delivery.payment_id) == ("order.paid", None)
    await deliver_all(clean, sender)
    [received] = receiver.requests
    assert received.json["event"] == "order.paid"
    assert received.json["data"]["order"] == order
