"""Webhooks through the edge to a receiver the test runs: signatures, retries, restarts."""

import hashlib
import hmac
import itertools
import time
from collections import Counter
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from standardwebhooks import Webhook

from devstack.stack import Stack
from tests.receiver import Received, Receiver, running_receiver
from tests.waits import eventually

pytestmark = pytest.mark.e2e


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    with running_receiver() as running:
        yield running


def configure(api: httpx.Client, headers: dict[str, str], url: str) -> str:
    response = api.put("/api/v1/webhooks/config", json={"webhook_url": url}, headers=headers)
    assert response.status_code == 200
    return str(response.json()["webhook_secret"])


def pay(api: httpx.Client, headers: dict[str, str]) -> dict[str, Any]:
    order = api.post("/api/v1/orders", json={"amount": 12300}, headers=headers).json()
    body = {"order_id": order["id"], "method": "upi", "vpa": "payer@upi"}
    payment = api.post("/api/v1/payments", json=body, headers=headers)
    assert payment.status_code == 201
    return payment.json()  # type: ignore[no-any-return]


def verify(received: Received, secret: str) -> None:
    """What docs/webhooks.md tells merchants to do, for both schemes; the Standard Webhooks
    headers checked by that standard's own library."""
    body = received.body
    expected = hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()
    assert received.headers["X-Webhook-Signature"] == expected
    standard = {
        k: received.headers[k] for k in ("webhook-id", "webhook-timestamp", "webhook-signature")
    }
    Webhook(secret).verify(body, standard)  # raises WebhookVerificationError if it does not verify
    assert abs(int(received.headers["webhook-timestamp"]) - time.time()) < 60
    assert received.headers["Content-Type"] == "application/json"


def of_payment(receiver: Receiver, payment_id: str) -> list[Received]:
    with receiver.lock:
        return [
            r
            for r in receiver.requests
            if r.json["data"].get("payment", {}).get("id") == payment_id
        ]


def wait_for_events(receiver: Receiver, payment_id: str, count: int) -> list[Received]:
    return eventually(
        lambda: len(found := of_payment(receiver, payment_id)) >= count and found,
        f"{count} webhooks about {payment_id}",
    )


def settled_logs(
    api: httpx.Client, headers: dict[str, str], payment_id: str, count: int
) -> list[dict[str, Any]] | None:
    """The payment's webhook logs once there are `count` and none is pending, else None."""
    params: dict[str, str | int] = {"payment_id": payment_id, "limit": 20}
    logs = api.get("/api/v1/webhooks", params=params, headers=headers).json()["data"]
    settled = len(logs) == count and all(d["status"] != "pending" for d in logs)
    return logs if settled else None


def test_payment_events_arrive_signed(
    api: httpx.Client, merchant_headers: dict[str, str], receiver: Receiver
) -> None:
    secret = configure(api, merchant_headers, receiver.url)
    payment = pay(api, merchant_headers)
    received = wait_for_events(receiver, payment["id"], 3)
    assert sorted(r.json["event"] for r in received) == [
        "payment.created",
        "payment.pending",
        "payment.success",
    ]
    for request in received:
        verify(request, secret)
    success = next(r for r in received if r.json["event"] == "payment.success")
    assert list(success.json) == ["event", "timestamp", "data"]
    assert list(success.json["data"]["payment"]) == [
        "id",
        "order_id",
        "amount",
        "currency",
        "method",
        "vpa",
        "status",
        "created_at",
    ]
    assert success.body == success.body.replace(b": ", b":")  # compact JSON, as signed
    [paid] = eventually(
        lambda: [
            r
            for r in list(receiver.requests)
            if r.json["event"] == "order.paid"
            and r.json["data"]["order"]["id"] == payment["order_id"]
        ],
        "order.paid for the paid order",
    )
    verify(paid, secret)
    assert paid.json["data"]["order"]["status"] == "paid"
    # The receiver answered before the worker recorded the attempt: wait for all three logs to
    # leave `pending` (a failed first attempt would settle too, and fail the assertion below).
    mine = eventually(
        lambda: settled_logs(api, merchant_headers, payment["id"], 3),
        f"three settled webhook logs of {payment['id']}",
    )
    assert {(d["status"], d["attempts"], d["response_code"]) for d in mine} == {("success", 1, 200)}


def test_failures_retry_on_the_test_schedule_and_manual_retry_delivers_again(
    api: httpx.Client, merchant_headers: dict[str, str], receiver: Receiver
) -> None:
    configure(api, merchant_headers, receiver.url)
    receiver.fail_next = 2
    first = api.post("/api/v1/webhooks/test", headers=merchant_headers).json()
    assert (first["status"], first["attempts"], first["response_code"]) == ("pending", 1, 500)
    arrivals = receiver.wait_for(3)
    gaps = [b.at - a.at for a, b in itertools.pairwise(arrivals)]
    # Never before the schedule's 5 s and 10 s; late by a few seconds on a loaded machine.
    assert 4.5 <= gaps[0] < 9, gaps
    assert 9.5 <= gaps[1] < 14, gaps

    def log() -> dict[str, Any]:
        return api.get(f"/api/v1/webhooks/{first['id']}", headers=merchant_headers).json()  # type: ignore[no-any-return]

    detail = eventually(lambda: (d := log())["status"] == "success" and d, "the delivery's success")
    assert (detail["status"], detail["attempts"]) == ("success", 3)
    assert [a["response_code"] for a in detail["attempt_history"]] == [500, 500, 200]

    retried = api.post(f"/api/v1/webhooks/{first['id']}/retry", headers=merchant_headers)
    assert retried.json() == {
        "id": first["id"],
        "status": "pending",
        "message": "Webhook retry scheduled",
    }
    receiver.wait_for(4)
    assert {r.headers["webhook-id"] for r in receiver.requests} == {
        arrivals[0].headers["webhook-id"]
    }


def test_a_worker_restart_loses_and_duplicates_nothing(
    api: httpx.Client, stack: Stack, merchant_headers: dict[str, str], receiver: Receiver
) -> None:
    configure(api, merchant_headers, receiver.url)
    stack.kill("webhooks-worker")
    try:
        payments = [pay(api, merchant_headers)["id"] for _ in range(3)]
        for payment_id in payments:  # processed while nobody takes webhook events

            def succeeded(p: str = payment_id) -> bool:
                payment = api.get(f"/api/v1/payments/{p}", headers=merchant_headers).json()
                return bool(payment["status"] == "success")

            eventually(succeeded, f"payment {payment_id} success")
        assert receiver.requests == []
    finally:
        stack.restart("webhooks-worker")
    for payment_id in payments:
        wait_for_events(receiver, payment_id, 3)

    def settled_logs() -> list[dict[str, Any]]:
        logs = api.get("/api/v1/webhooks?limit=100", headers=merchant_headers).json()["data"]
        return [x for x in logs if x["status"] != "pending"]

    # three payment events and one order.paid per payment
    logs = eventually(lambda: len(found := settled_logs()) >= 12 and found, "12 settled deliveries")
    assert len(logs) == 12  # one delivery per event: a redelivered event made no second one
    assert {(x["status"], x["attempts"]) for x in logs} == {("success", 1)}
    ids = Counter(r.headers["webhook-id"] for r in receiver.requests)
    assert len(ids) == 12
    assert set(ids.values()) == {1}
    stack.wait_healthy()


def test_several_endpoints_a_rotation_overlap_and_the_events_api_through_the_edge(
    api: httpx.Client, merchant_headers: dict[str, str], receiver: Receiver
) -> None:
    headers = merchant_headers
    old_secret = configure(api, headers, receiver.url)
    rotated = api.post("/api/v1/webhooks/regenerate-secret", json={"expires_in_seconds": 600},
                       headers=headers).json()  # fmt: skip
    new_secret = rotated["webhook_secret"]
    with running_receiver() as successes:
        second = api.post(
            "/api/v1/webhooks/endpoints",
            json={"url": successes.url, "event_types": ["payment.success"]},
            headers=headers,
        )
        assert second.status_code == 201
        payment = pay(api, headers)
        for request in wait_for_events(receiver, payment["id"], 3):
            # both secrets verify during the overlap; X-Webhook-Signature is the new one's
            verify(request, new_secret)
            standard = {k: request.headers[k] for k in ("webhook-id", "webhook-timestamp",
                                                        "webhook-signature")}  # fmt: skip
            Webhook(old_secret).verify(request.body, standard)
        [success] = wait_for_events(successes, payment["id"], 1)
        assert success.json["event"] == "payment.success"
        verify(success, second.json()["secret"])

        events = api.get("/api/v1/events", params={"object_id": payment["id"]}, headers=headers)
        assert events.status_code == 200
        listed = {e["type"]: e for e in events.json()["data"]}
        assert set(listed) == {"payment.created", "payment.pending", "payment.success"}
        assert listed["payment.success"]["id"] == success.headers["webhook-id"]
        resent = api.post(f"/api/v1/events/{listed['payment.success']['id']}/resend",
                          json={"endpoint_id": second.json()["id"]}, headers=headers)  # fmt: skip
        assert resent.status_code == 200
        again = successes.wait_for(2)[1]
        assert again.body == success.body
        verify(again, second.json()["secret"])
