"""Refunds through the edge: partial, the rest, one too many; both refund webhooks, signed."""

import hashlib
import hmac
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from devstack.stack import Stack
from tests.e2e.outbox import count_events
from tests.receiver import Receiver, running_receiver
from tests.waits import eventually

pytestmark = pytest.mark.e2e


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    with running_receiver() as running:
        yield running


def test_refund_part_then_the_rest_then_nothing_more(
    api: httpx.Client, merchant_headers: dict[str, str], receiver: Receiver
) -> None:
    headers = merchant_headers
    secret = api.put(
        "/api/v1/webhooks/config", json={"webhook_url": receiver.url}, headers=headers
    ).json()["webhook_secret"]
    order = api.post("/api/v1/orders", json={"amount": 50000}, headers=headers).json()
    payment = api.post(
        "/api/v1/payments",
        json={"order_id": order["id"], "method": "upi", "vpa": "p@upi"},
        headers=headers,
    ).json()
    eventually(
        lambda: (
            api.get(f"/api/v1/payments/{payment['id']}", headers=headers).json()["status"]
            == "success"
        ),
        "payment success",
    )
    path = f"/api/v1/payments/{payment['id']}/refunds"
    first = api.post(path, json={"amount": 20000, "reason": "partial"}, headers=headers)
    rest = api.post(
        "/api/v1/refunds", json={"payment_id": payment["id"], "amount": 30000}, headers=headers
    )
    third = api.post(path, json={"amount": 1}, headers=headers)
    assert (first.status_code, rest.status_code) == (201, 201)
    assert (third.status_code, third.json()["error"]["description"]) == (
        400,
        "Refund amount exceeds available amount",
    )
    refund_ids = {first.json()["id"], rest.json()["id"]}
    for refund_id in refund_ids:

        def processed(rid: str = refund_id) -> bool:
            return bool(
                api.get(f"/api/v1/refunds/{rid}", headers=headers).json()["status"] == "processed"
            )

        eventually(processed, f"refund {refund_id} processed")
    eventually(
        lambda: (
            api.get(f"/api/v1/payments/{payment['id']}", headers=headers).json()["amount_refunded"]
            == 50000
        ),
        "amount_refunded",
    )

    def refund_webhooks() -> list[Any]:
        with receiver.lock:
            return [
                r
                for r in receiver.requests
                if r.json["data"].get("refund", {}).get("id") in refund_ids
            ]

    received = eventually(
        lambda: len(refund_webhooks()) >= 4 and refund_webhooks(), "refund webhooks"
    )
    kinds = sorted((r.json["data"]["refund"]["id"], r.json["event"]) for r in received)
    assert kinds == sorted(
        (rid, kind) for rid in refund_ids for kind in ("refund.created", "refund.processed")
    )
    for request in received:
        expected = hmac.new(secret.encode(), request.body, hashlib.sha256).hexdigest()
        assert request.headers["X-Webhook-Signature"] == expected


def test_refund_worker_killed_mid_refund_finishes_it_once(
    api: httpx.Client, stack: Stack, merchant_headers: dict[str, str]
) -> None:
    import asyncio

    import redis

    headers = merchant_headers
    stack.kill("refunds-worker")  # a long delay, so the kill surely lands mid-refund
    stack.restart("refunds-worker", TEST_PROCESSING_DELAY="6000")
    order = api.post("/api/v1/orders", json={"amount": 9000}, headers=headers).json()
    payment = api.post(
        "/api/v1/payments",
        json={"order_id": order["id"], "method": "upi", "vpa": "p@upi"},
        headers=headers,
    ).json()
    eventually(
        lambda: (
            api.get(f"/api/v1/payments/{payment['id']}", headers=headers).json()["status"]
            == "success"
        ),
        "payment success",
    )
    refund = api.post(
        f"/api/v1/payments/{payment['id']}/refunds", json={"amount": 9000}, headers=headers
    ).json()
    client = redis.Redis.from_url(stack.redis_url)
    try:  # the worker took the job and sleeps its 6 s delay
        eventually(lambda: client.xpending("refunds", "taskiq")["pending"] > 0, "the job taken")
    finally:
        client.close()
    stack.kill("refunds-worker")  # mid-delay: nobody finished it
    assert api.get(f"/api/v1/refunds/{refund['id']}", headers=headers).json()["status"] == "pending"
    stack.restart("refunds-worker")
    eventually(
        lambda: (
            api.get(f"/api/v1/refunds/{refund['id']}", headers=headers).json()["status"]
            == "processed"
        ),
        "the redelivered refund job",
    )

    processed = count_events(stack.database_urls["refunds"], "refund.processed", refund["id"])
    assert asyncio.run(processed) == 2  # once, to webhooks and payments
    stack.wait_healthy()
