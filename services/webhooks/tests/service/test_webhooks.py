"""Webhook use cases on real Postgres, delivering to a real HTTP receiver on loopback."""

import asyncio
import gzip
import json
import logging
import socket
from datetime import UTC, datetime
from typing import Any
from uuid import UUID, uuid4

import pytest

import webhooks.seed
from kit.consumer import consume_event
from kit.db import Database
from kit.events import Envelope
from tests.receiver import Receiver
from webhooks import repository, service
from webhooks.domain import (
    MAX_ATTEMPTS,
    RESPONSE_BODY_LIMIT,
    Attempt,
    DeliveryStatus,
    Schedule,
    after_attempt,
    parse_networks,
    signature,
)
from webhooks.sender import Sender, outbound_session

TEST_MERCHANT = UUID("550e8400-e29b-41d4-a716-446655440000")
FAST = Schedule.of(test_intervals=True)
PAYMENT = {
    "id": "pay_AAAAAAAAAAAAAAAA",
    "order_id": "order_BBBBBBBBBBBBBBBB",
    "amount": 500,
    "currency": "INR",
    "method": "upi",
    "vpa": "a@b",
    "status": "success",
    "created_at": "2026-11-26T10:00:00Z",
}


SECRET = "whsec_service_tests"


async def endpoint(db: Database, merchant: UUID, url: str | None) -> None:
    """The merchant's default endpoint."""
    async with db.transaction() as conn:
        await conn.execute(
            "INSERT INTO endpoint (merchant_id, url, secret, is_default) VALUES ($1, $2, $3, true)",
            merchant,
            url,
            SECRET,
        )


def event(merchant: UUID, kind: str = "payment.success") -> Envelope:
    return Envelope.new(kind, merchant, PAYMENT)


async def deliver_all(db: Database, sender: Sender, schedule: Schedule = FAST) -> list[Any]:
    claimed = await service.claim_due(db, [], 8, 100, 30)
    return [await service.attempt_delivery(db, sender, c, schedule) for c in claimed]


def answered(claimed: repository.Claimed, code: int) -> repository.Outcome:
    """The outcome of an attempt of `claimed` that got `code` back just now."""
    at = datetime.now(UTC)
    status, attempts, next_retry_at = after_attempt(claimed.attempts, code < 300, at, FAST.seconds)
    attempt = Attempt(code, "ok" if code < 300 else "no", None, 3)
    return repository.Outcome(claimed, attempt, at, status, attempts, next_retry_at)


class TestConfig:
    async def test_an_endpoint_starts_with_its_own_new_secret(
        self, db: Database, other_merchant_account: tuple[UUID, dict[str, str]]
    ) -> None:
        merchant = other_merchant_account[0]
        first = await service.get_default_endpoint(db, merchant)
        assert first.url is None
        assert first.secret.startswith("whsec_")
        assert (await service.get_default_endpoint(db, merchant)).secret == first.secret
        updated = await service.set_url(db, merchant, "https://shop.example/hook")
        assert updated.url == "https://shop.example/hook"
        regenerated = await service.regenerate_secret(db, merchant)
        assert regenerated.secret.startswith("whsec_")
        assert regenerated.secret != first.secret
        assert (await service.get_default_endpoint(db, merchant)).secret == regenerated.secret

    async def test_the_test_merchants_endpoint_has_the_contracts_secret_outside_production(
        self, db: Database, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        async with db.transaction() as conn:
            await conn.execute("DELETE FROM endpoint WHERE merchant_id = $1", TEST_MERCHANT)
            monkeypatch.setenv("ENVIRONMENT", "production")
            await webhooks.seed.seed(conn)
            assert await repository.get_default_endpoint(conn, TEST_MERCHANT) is None
            monkeypatch.setenv("ENVIRONMENT", "dev")
            await webhooks.seed.seed(conn)
            seeded = await repository.get_default_endpoint(conn, TEST_MERCHANT)
        assert seeded is not None
        assert (seeded.url, seeded.secret) == (None, "whsec_test_abc123")


class TestIntake:
    async def test_no_url_means_no_delivery_and_a_url_means_one(
        self, clean: Database, merchant: UUID, receiver: Receiver
    ) -> None:
        db = clean
        assert (
            await consume_event(db, "m1", event(merchant), service.receive_event) == []
        )  # no endpoint
        await endpoint(db, merchant, None)
        assert (
            await consume_event(db, "m1b", event(merchant), service.receive_event) == []
        )  # no URL
        async with db.transaction() as conn:
            await conn.execute(
                "UPDATE endpoint SET url = $2 WHERE merchant_id = $1", merchant, receiver.url
            )
        [delivery] = await consume_event(db, "m2", event(merchant), service.receive_event) or []
        assert (delivery.status, delivery.attempts, delivery.payment_id) == (
            DeliveryStatus.PENDING,
            0,
            PAYMENT["id"],
        )
        assert (
            await consume_event(db, "m2", event(merchant), service.receive_event) is None
        )  # redelivered message
        assert (
            await consume_event(db, "m3", event(merchant, "order.created"), service.receive_event)
            == []
        )  # not for merchants


class TestDelivery:
    async def test_signed_delivery_succeeds(
        self, clean: Database, merchant: UUID, sender: Sender, receiver: Receiver
    ) -> None:
        db = clean
        await endpoint(db, merchant, receiver.url)
        sent = event(merchant)
        await consume_event(db, "m10", sent, service.receive_event)
        [done] = await deliver_all(db, sender)
        assert (done.status, done.attempts, done.response_code) == (DeliveryStatus.SUCCESS, 1, 200)
        [received] = receiver.requests
        assert received.headers["X-Webhook-Signature"] == signature(SECRET, received.body.decode())
        assert received.headers["webhook-id"] == sent.id
        assert received.json["data"]["payment"]["id"] == PAYMENT["id"]

    async def test_failure_is_retried_on_the_schedule_then_succeeds(
        self, clean: Database, merchant: UUID, sender: Sender, receiver: Receiver
    ) -> None:
        db = clean
        await endpoint(db, merchant, receiver.url)
        receiver.fail_next = 1
        await consume_event(db, "m20", event(merchant), service.receive_event)
        [first] = await deliver_all(db, sender)
        assert (first.status, first.attempts, first.response_code, first.response_body) == (
            DeliveryStatus.PENDING,
            1,
            500,
            "boom",
        )
        assert first.next_retry_at is not None
        assert first.last_attempt_at is not None
        delay = (first.next_retry_at - first.last_attempt_at).total_seconds()
        assert delay == pytest.approx(5, abs=0.01)
        assert await deliver_all(db, sender) == []  # not due yet
        async with db.transaction() as conn:
            await conn.execute("UPDATE delivery SET next_retry_at = now() WHERE id = $1", first.id)
        [second] = await deliver_all(db, sender)
        assert (second.status, second.attempts) == (DeliveryStatus.SUCCESS, 2)
        _, _, attempts = await service.get_delivery(db, merchant, first.id)
        assert [(a["attempt"], a["response_code"]) for a in attempts] == [(1, 500), (2, 200)]

    async def test_five_failures_are_final(
        self, clean: Database, merchant: UUID, sender: Sender, receiver: Receiver
    ) -> None:
        db = clean
        await endpoint(db, merchant, receiver.url)
        receiver.fail_next = 10
        [delivery] = await consume_event(db, "m30", event(merchant), service.receive_event) or []
        for _ in range(5):
            async with db.transaction() as conn:
                await conn.execute(
                    "UPDATE delivery SET next_retry_at = now() WHERE id = $1", delivery.id
                )
            await deliver_all(db, sender)
        final, _, _ = await service.get_delivery(db, merchant, delivery.id)
        assert (final.status, final.attempts, final.next_retry_at) == (
            DeliveryStatus.FAILED,
            5,
            None,
        )
        reset = await service.retry_delivery(db, merchant, delivery.id)
        assert (reset.status, reset.attempts) == (DeliveryStatus.PENDING, 0)

    async def test_private_destination_is_refused_without_an_allow_list(
        self, clean: Database, merchant: UUID, receiver: Receiver, caplog: pytest.LogCaptureFixture
    ) -> None:
        """The merchant is told the destination is refused, not what their host resolved to;
        the operators' log has the address."""
        db = clean
        await endpoint(db, merchant, receiver.url.replace("127.0.0.1", "localhost"))
        await consume_event(db, "m40", event(merchant), service.receive_event)
        async with outbound_session(4) as client:
            strict = Sender(client, [], timeout=5)
            with caplog.at_level(logging.INFO, logger="webhooks.service"):
                [refused] = await deliver_all(db, strict)
        assert refused.status is DeliveryStatus.PENDING
        assert refused.response_code is None
        assert refused.response_body == "destination address is not allowed"
        _, _, [attempt] = await service.get_delivery(db, merchant, refused.id)
        assert attempt["error"] == "destination address is not allowed"
        assert receiver.requests == []
        [logged] = [r for r in caplog.records if r.getMessage() == "webhook attempt"]
        assert logged.__dict__["detail"].startswith("localhost resolves to ")  # 127.0.0.1 or ::1

    async def test_a_closed_port_is_a_generic_connect_failure(
        self, clean: Database, merchant: UUID, sender: Sender
    ) -> None:
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            port = probe.getsockname()[1]
        await endpoint(clean, merchant, f"http://127.0.0.1:{port}/hook")
        await consume_event(clean, "m41", event(merchant), service.receive_event)
        [failed] = await deliver_all(clean, sender)
        assert failed.response_code is None
        assert failed.response_body == "could not connect to the webhook URL (ClientConnectorError)"

    async def test_a_stale_lease_cannot_record_twice(
        self, clean: Database, merchant: UUID, sender: Sender, receiver: Receiver
    ) -> None:
        db = clean
        await endpoint(db, merchant, receiver.url)
        await consume_event(db, "m50", event(merchant), service.receive_event)
        [claimed] = await service.claim_due(db, [], 8, 100, 30)
        assert await service.claim_due(db, [], 8, 100, 30) == []  # leased
        assert await service.attempt_delivery(db, sender, claimed, FAST) is not None
        assert await service.attempt_delivery(db, sender, claimed, FAST) is None

    async def test_attempts_that_finish_together_are_recorded_in_one_batch(
        self, clean: Database, merchant: UUID, receiver: Receiver
    ) -> None:
        """The dispatcher's recorder: each outcome lands on its own delivery, a stale one is
        kept in the history only, and each endpoint's health follows its own attempts."""
        db, other = clean, uuid4()
        await endpoint(db, merchant, receiver.url)
        await endpoint(db, other, receiver.url)
        for n, who in enumerate((merchant, merchant, other)):
            paid = Envelope.new(
                "payment.success", who, {**PAYMENT, "id": f"pay_BATCH{n}AAAAAAAAAA"}
            )
            await consume_event(db, f"m52-{n}", paid, service.receive_event)
        claimed = await service.claim_due(db, [], 8, 100, 30)
        [stale, ours] = [c for c in claimed if c.merchant_id == merchant]
        [theirs] = [c for c in claimed if c.merchant_id == other]
        recorder = service.Recorder(db, FAST)
        assert await recorder.record_all([answered(stale, 200)]) != [None]
        recorded = await recorder.record_all(
            [answered(ours, 200), answered(theirs, 500), answered(stale, 200)]
        )
        assert [d and (d.id, d.status, d.attempts) for d in recorded] == [
            (ours.id, DeliveryStatus.SUCCESS, 1), (theirs.id, DeliveryStatus.PENDING, 1), None
        ]  # fmt: skip
        _, _, history = await service.get_delivery(db, merchant, stale.id)
        assert [a["response_code"] for a in history] == [200, 200]
        _, _, history = await service.get_delivery(db, other, theirs.id)
        assert [a["response_code"] for a in history] == [500]
        assert (await service.get_default_endpoint(db, other)).failing_since is not None
        assert (await service.get_default_endpoint(db, merchant)).failing_since is None

    async def test_an_attempt_in_flight_during_a_manual_retry_stays_in_the_history(
        self, clean: Database, merchant: UUID, sender: Sender, receiver: Receiver
    ) -> None:
        db = clean
        await endpoint(db, merchant, receiver.url)
        await consume_event(db, "m51", event(merchant), service.receive_event)
        receiver.fail_next = 1
        [in_flight] = await service.claim_due(db, [], 8, 100, 30)
        restarted = await service.retry_delivery(db, merchant, in_flight.id)  # clicked meanwhile
        assert (restarted.status, restarted.attempts) == (DeliveryStatus.PENDING, 0)
        # The late outcome (a 500) leaves the restarted delivery alone but is not forgotten.
        assert await service.attempt_delivery(db, sender, in_flight, FAST) is None
        [delivered] = await deliver_all(db, sender)
        assert (delivered.status, delivered.attempts) == (DeliveryStatus.SUCCESS, 1)
        _, _, history = await service.get_delivery(db, merchant, in_flight.id)
        assert [(a["attempt"], a["response_code"]) for a in history] == [(1, 500), (1, 200)]
        assert len(receiver.requests) == 2

    async def test_claims_are_bounded_per_merchant(
        self, clean: Database, merchant: UUID, receiver: Receiver
    ) -> None:
        db = clean
        other = uuid4()
        await endpoint(db, merchant, receiver.url)
        await endpoint(db, other, receiver.url)
        for n in range(5):
            await consume_event(db, f"mine-{n}", event(merchant), service.receive_event)
            await consume_event(db, f"theirs-{n}", event(other), service.receive_event)
        claimed = await service.claim_due(db, [], 2, 100, 30)
        by_merchant = sorted(str(c.merchant_id) for c in claimed)
        assert by_merchant == sorted([str(merchant)] * 2 + [str(other)] * 2)
        busy = await service.claim_due(db, [merchant], 2, 100, 30)
        assert {c.merchant_id for c in busy} == {other}

    async def test_a_test_send_is_queued_for_the_worker_not_sent_from_here(
        self,
        clean: Database,
        merchant: UUID,
        sender: Sender,
        receiver: Receiver,
    ) -> None:
        db = clean
        await endpoint(db, merchant, receiver.url)
        queued = await service.send_test(db, merchant, wait_seconds=0.3)  # no worker runs here
        assert (queued.event, queued.status, queued.last_attempt_at) == (
            "webhook.test", DeliveryStatus.PENDING, None
        )  # fmt: skip
        assert receiver.requests == []
        [delivered] = await deliver_all(db, sender)  # the worker's turn
        assert (delivered.id, delivered.status, delivered.response_code) == (
            queued.id, DeliveryStatus.SUCCESS, 200
        )  # fmt: skip
        assert json.loads(receiver.requests[0].body)["event"] == "webhook.test"


async def test_delivery_outcomes_are_counted(
    clean: Database, merchant: UUID, sender: Sender, receiver: Receiver
) -> None:
    from prometheus_client import REGISTRY

    def count(outcome: str) -> float:
        return REGISTRY.get_sample_value("webhook_deliveries_total", {"outcome": outcome}) or 0.0

    delivered, retrying = count("delivered"), count("retrying")
    await endpoint(clean, merchant, receiver.url)
    receiver.fail_next = 1
    await consume_event(clean, "metrics-1", event(merchant), service.receive_event)
    await consume_event(clean, "metrics-2", event(merchant), service.receive_event)
    await deliver_all(clean, sender)
    assert (count("delivered") - delivered, count("retrying") - retrying) == (1, 1)


async def test_redirects_are_not_followed(
    clean: Database, merchant: UUID, sender: Sender, receiver: Receiver
) -> None:
    from tests.receiver import running_receiver

    with running_receiver() as elsewhere:
        receiver.redirect_to = elsewhere.url
        await endpoint(clean, merchant, receiver.url)
        await consume_event(clean, "redirect-1", event(merchant), service.receive_event)
        [attempted] = await deliver_all(clean, sender)
        assert (attempted.status, attempted.response_code) == (DeliveryStatus.PENDING, 302)
        assert len(receiver.requests) == 1
        assert elsewhere.requests == []


class RawReceiver:
    """A receiver that answers with exactly the bytes it is told, as slowly as it is told."""

    def __init__(self, head: bytes, body: bytes, drip_seconds: float = 0.0) -> None:
        self.head, self.body, self.drip_seconds = head, body, drip_seconds
        self.requests: list[bytes] = []

    async def __aenter__(self) -> str:
        self.server = await asyncio.start_server(self._answer, "127.0.0.1", 0)
        return f"http://127.0.0.1:{self.server.sockets[0].getsockname()[1]}/hook"

    async def __aexit__(self, *exc: object) -> None:
        self.server.close()

    async def _answer(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            self.requests.append(await reader.readuntil(b"\r\n\r\n"))
            writer.write(self.head)
            if self.drip_seconds:
                for byte in self.body:
                    writer.write(bytes([byte]))
                    await writer.drain()
                    await asyncio.sleep(self.drip_seconds)
            else:
                writer.write(self.body)
            await writer.drain()
        except (ConnectionError, asyncio.IncompleteReadError):
            pass
        finally:
            writer.close()


def response_head(length: int, extra: str = "") -> bytes:
    return f"HTTP/1.1 200 OK\r\nContent-Length: {length}\r\n{extra}\r\n".encode()


class TestOrderPerObject:
    """One object's webhooks go out in the order its state changed (ADR 0011)."""

    async def test_a_later_event_waits_while_an_earlier_one_is_retried_then_follows_it(
        self, clean: Database, merchant: UUID, sender: Sender, receiver: Receiver
    ) -> None:
        db = clean
        await endpoint(db, merchant, receiver.url)
        other = {**PAYMENT, "id": "pay_OtherOtherOther0"}
        refund = {"id": "rfnd_RRRRRRRRRRRRRRRR", "payment_id": PAYMENT["id"], "amount": 100,
                  "status": "pending", "created_at": "2026-11-26T10:01:00Z"}  # fmt: skip
        receiver.fail_first_of = {"payment.pending"}  # whichever delivery is attempted first
        for n, kind in enumerate(("payment.pending", "payment.success")):
            await consume_event(db, f"o{n}", event(merchant, kind), service.receive_event)
        refund_event = Envelope.new("refund.created", merchant, refund)
        await consume_event(db, "o2", refund_event, service.receive_event)
        await consume_event(db, "o3", Envelope.new("payment.success", merchant, other),
                            service.receive_event)  # fmt: skip
        first = await deliver_all(db, sender)
        # pending failed; success and the refund wait for it; another payment is not held up
        assert sorted((d.event, d.payment_id, d.status) for d in first if d) == [
            ("payment.pending", PAYMENT["id"], DeliveryStatus.PENDING),
            ("payment.success", other["id"], DeliveryStatus.SUCCESS),
        ]
        async with db.transaction() as conn:  # every retry due now: only the order holds back
            await conn.execute("UPDATE delivery SET next_retry_at = now() WHERE merchant_id = $1",
                               merchant)  # fmt: skip
        assert [(d.event, d.status) for d in await deliver_all(db, sender) if d] == [
            ("payment.pending", DeliveryStatus.SUCCESS)
        ]
        assert [(d.event, d.status) for d in await deliver_all(db, sender) if d] == [
            ("payment.success", DeliveryStatus.SUCCESS)
        ]
        assert [(d.event, d.status) for d in await deliver_all(db, sender) if d] == [
            ("refund.created", DeliveryStatus.SUCCESS)
        ]
        mine = [r for r in receiver.requests if r.json["event"] != "payment.success"
                or r.json["data"]["payment"]["id"] == PAYMENT["id"]]  # fmt: skip
        assert [(r.json["event"], r.headers["webhook-sequence"]) for r in mine] == [
            ("payment.pending", "2"),
            ("payment.pending", "2"),
            ("payment.success", "3"),
            ("refund.created", "1"),
        ]

    async def test_a_given_up_event_holds_nothing_back(
        self, clean: Database, merchant: UUID, sender: Sender, receiver: Receiver
    ) -> None:
        db = clean
        await endpoint(db, merchant, receiver.url)
        [pending] = (
            await consume_event(db, "g1", event(merchant, "payment.pending"), service.receive_event)
            or []
        )
        async with db.transaction() as conn:  # it failed for good (five attempts, or disabled)
            await conn.execute("UPDATE delivery SET status = 'failed' WHERE id = $1", pending.id)
        await consume_event(db, "g2", event(merchant, "payment.success"), service.receive_event)
        [done] = await deliver_all(db, sender)
        assert (done.event, done.status) == ("payment.success", DeliveryStatus.SUCCESS)

    async def test_a_later_event_is_held_until_the_earlier_ends_not_skipped_by_every_claim(
        self, clean: Database, merchant: UUID, sender: Sender, receiver: Receiver
    ) -> None:
        db = clean
        await endpoint(db, merchant, receiver.url)
        refund = {"id": "rfnd_HHHHHHHHHHHHHHHH", "payment_id": PAYMENT["id"], "amount": 100,
                  "status": "pending", "created_at": "2026-11-26T10:01:00Z"}  # fmt: skip
        together = [event(merchant, "payment.created"), event(merchant, "payment.pending")]
        async with db.transaction() as conn:  # arriving together, in one statement
            created, pending = await service.receive_events(conn, together)
            [success] = await service.receive_event(conn, event(merchant))  # arriving later
            [refunded] = await service.receive_event(
                conn, Envelope.new("refund.created", merchant, refund)
            )
        assert created.next_retry_at is not None
        assert (pending.next_retry_at, success.next_retry_at, refunded.next_retry_at) == (
            None, None, None,
        )  # fmt: skip
        receiver.fail_first_of = {"payment.created"}
        [retried] = await deliver_all(db, sender)  # only the head is claimed
        assert (retried.event, retried.status) == ("payment.created", DeliveryStatus.PENDING)
        async with db.transaction() as conn:
            held = await conn.fetchval(
                "SELECT count(*) FROM delivery WHERE status = 'pending'"
                " AND next_retry_at IS NULL AND merchant_id = $1",
                merchant,
            )
            assert held == 3  # a retry releases nothing
            await conn.execute(  # the retry is due now
                "UPDATE delivery SET next_retry_at = now() WHERE id = $1", retried.id
            )
        sent = []
        for _ in range(4):  # each ending releases the next at once: no chore needed
            sent += [(d.event, d.status) for d in await deliver_all(db, sender)]
        assert sent == [
            ("payment.created", DeliveryStatus.SUCCESS),
            ("payment.pending", DeliveryStatus.SUCCESS),
            ("payment.success", DeliveryStatus.SUCCESS),
            ("refund.created", DeliveryStatus.SUCCESS),
        ]

    async def test_a_release_missed_by_a_concurrent_ending_is_repaired_by_the_chore(
        self, clean: Database, merchant: UUID, sender: Sender, receiver: Receiver
    ) -> None:
        db = clean
        await endpoint(db, merchant, receiver.url)
        async with db.transaction() as conn:
            [pending] = await service.receive_event(conn, event(merchant, "payment.pending"))
            [success] = await service.receive_event(conn, event(merchant))
            # the pending one ended in a transaction that could not see the success arrive
            await conn.execute("UPDATE delivery SET status = 'success' WHERE id = $1", pending.id)
        assert success.next_retry_at is None
        assert await deliver_all(db, sender) == []  # held, not due
        assert await service.release_held(db) == 1
        assert await service.release_held(db) == 0
        [sent] = await deliver_all(db, sender)
        assert (sent.event, sent.status) == ("payment.success", DeliveryStatus.SUCCESS)


class TestBoundedAttempts:
    async def test_a_dripping_receiver_is_cut_off_at_one_deadline(
        self, clean: Database, merchant: UUID
    ) -> None:
        """A client's read timeout restarts with every byte; the attempt's deadline does not."""
        body = b"x" * 200
        async with RawReceiver(response_head(len(body)), body, drip_seconds=0.1) as url:
            await endpoint(clean, merchant, url)
            await consume_event(clean, "drip-1", event(merchant), service.receive_event)
            async with outbound_session(4) as client:
                sender = Sender(client, parse_networks(["127.0.0.0/8"]), timeout=1)
                [delivery] = await deliver_all(clean, sender)
        assert delivery.status is DeliveryStatus.PENDING
        assert delivery.response_body == "timed out after 1 s"
        _, _, [attempt] = await service.get_delivery(clean, merchant, delivery.id)
        assert attempt["duration_ms"] < 5000  # not the 20 s the drip would take

    async def test_a_compressed_answer_is_neither_requested_nor_inflated(
        self, clean: Database, merchant: UUID, sender: Sender
    ) -> None:
        bomb = gzip.compress(b"0" * 20_000_000)  # 20 MB once inflated
        head = response_head(len(bomb), "Content-Encoding: gzip\r\n")
        raw = RawReceiver(head, bomb)
        async with raw as url:
            await endpoint(clean, merchant, url)
            await consume_event(clean, "bomb-1", event(merchant), service.receive_event)
            [delivery] = await deliver_all(clean, sender)
        [request] = raw.requests
        assert b"accept-encoding: identity" in request.lower()
        assert delivery.status is DeliveryStatus.SUCCESS
        assert len(delivery.response_body) <= RESPONSE_BODY_LIMIT
        assert "0000" not in delivery.response_body  # stored raw, never inflated

    async def test_nul_bytes_and_invalid_utf8_are_stored_safely(
        self, clean: Database, merchant: UUID, sender: Sender
    ) -> None:
        body = b"ok\x00\xff\xfe done"
        async with RawReceiver(response_head(len(body)), body) as url:
            await endpoint(clean, merchant, url)
            await consume_event(clean, "nul-1", event(merchant), service.receive_event)
            [delivery] = await deliver_all(clean, sender)
        assert delivery.status is DeliveryStatus.SUCCESS
        assert delivery.response_body == "ok\ufffd\ufffd\ufffd done"

    async def test_an_attempt_never_recorded_still_counts_so_nothing_is_resent_forever(
        self, clean: Database, merchant: UUID, receiver: Receiver
    ) -> None:
        """A worker that crashes (or loses its database) after claiming: the lease expires and
        the delivery is claimed again, but only MAX_ATTEMPTS times in all; then it fails."""
        await endpoint(clean, merchant, receiver.url)
        await consume_event(clean, "crash-1", event(merchant), service.receive_event)
        claims = []
        for _ in range(MAX_ATTEMPTS + 2):
            claims += await service.claim_due(clean, [], 8, 100, lease_seconds=0)
        assert [c.attempts for c in claims] == list(range(MAX_ATTEMPTS))
        assert await service.fail_abandoned(clean) == 1  # the worker's chore gives up on it
        async with clean.transaction() as conn:
            row = await conn.fetchrow("SELECT status, attempts FROM delivery WHERE event_id = $1",
                                      claims[0].event_id)  # fmt: skip
        assert row is not None
        assert (row["status"], row["attempts"]) == ("failed", MAX_ATTEMPTS)


def test_the_lease_must_outlast_an_attempt() -> None:
    from webhooks.settings import Settings

    with pytest.raises(ValueError, match="WEBHOOK_LEASE_SECONDS"):
        Settings(database_url="postgresql://unused", webhook_timeout_seconds=30)
