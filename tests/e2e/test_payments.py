"""Payments through the edge with real worker processes: the journey, crash safety, card data."""

import asyncio
import json
import subprocess
from typing import Any

import asyncpg
import httpx
import pytest
import redis

from devstack.provision import with_credentials_of_admin
from devstack.servers import PG_BIN
from devstack.stack import Stack
from tests.e2e.outbox import carried, count_events
from tests.waits import eventually

pytestmark = pytest.mark.e2e

TEST_HEADERS = {"X-Api-Key": "key_test_abc123", "X-Api-Secret": "secret_test_xyz789"}
CARD_NUMBER = "5555555555554444"
CVV = "937"


def published(stack: Stack, event_type: str, resource_id: str) -> bool:
    """Whether an event of that type about that resource waits in the webhooks stream."""
    client = redis.Redis.from_url(stack.redis_url)
    try:
        entries: Any = client.xrange("webhooks")
    finally:
        client.close()
    events = [e for _, fields in entries for e in carried(json.loads(fields[b"data"])["args"][0])]
    return any(e["type"] == event_type and e["data"]["id"] == resource_id for e in events)


def new_order(api: httpx.Client, amount: int = 50000) -> dict[str, Any]:
    response = api.post("/api/v1/orders", json={"amount": amount}, headers=TEST_HEADERS)
    assert response.status_code == 201
    return response.json()  # type: ignore[no-any-return]


def payment_status(api: httpx.Client, payment_id: str) -> str:
    return str(api.get(f"/api/v1/payments/{payment_id}", headers=TEST_HEADERS).json()["status"])


def test_pay_capture_and_the_order_becomes_paid(api: httpx.Client) -> None:
    order = new_order(api, 50000)
    body = {"order_id": order["id"], "method": "upi", "vpa": "user@paytm"}
    created = api.post(
        "/api/v1/payments", json=body, headers={**TEST_HEADERS, "Idempotency-Key": order["id"]}
    )
    replay = api.post(
        "/api/v1/payments", json=body, headers={**TEST_HEADERS, "Idempotency-Key": order["id"]}
    )
    assert (created.status_code, replay.status_code) == (201, 201)
    assert replay.content == created.content
    payment = created.json()
    assert payment["status"] == "pending"
    eventually(lambda: payment_status(api, payment["id"]) == "success", "payment success")
    captured = api.post(
        f"/api/v1/payments/{payment['id']}/capture", json={"amount": 50000}, headers=TEST_HEADERS
    )
    assert (captured.status_code, captured.json()["captured"]) == (200, True)
    eventually(
        lambda: api.get(f"/api/v1/orders/{order['id']}/public").json()["status"] == "paid",
        "order paid",
    )
    polled = api.get(f"/api/v1/payments/{payment['id']}/public").json()
    assert polled["status"] == "success"


def test_jobs_status_counts_real_work(api: httpx.Client) -> None:
    before = api.get("/api/v1/test/jobs/status").json()
    assert before["worker_status"] == "running"
    order = new_order(api)
    pid = api.post(
        "/api/v1/payments/public", json={"order_id": order["id"], "method": "upi", "vpa": "a@b"}
    ).json()["id"]
    eventually(lambda: payment_status(api, pid) == "success", "payment success")
    after = eventually(
        lambda: (
            (s := api.get("/api/v1/test/jobs/status").json())["completed"] > before["completed"]
            and s
        ),
        "completed count to rise",
    )
    assert set(after) == {"pending", "processing", "completed", "failed", "worker_status"}


def test_a_payment_due_while_no_worker_runs_is_finished_once_by_the_next(
    api: httpx.Client, stack: Stack
) -> None:
    """No message carries a payment to the worker: it is claimed from the payments table when
    due, so a worker killed at any instant leaves nothing that a new one does not finish."""
    stack.kill("payments-worker")
    try:
        order = new_order(api)
        pid = api.post(
            "/api/v1/payments",
            json={"order_id": order["id"], "method": "upi", "vpa": "user@paytm"},
            headers=TEST_HEADERS,
        ).json()["id"]

        async def due_at_passed() -> bool:
            conn = await asyncpg.connect(stack.database_urls["payments"])
            try:
                return bool(
                    await conn.fetchval(
                        "SELECT due_at <= clock_timestamp() FROM payment WHERE id = $1", pid
                    )
                )
            finally:
                await conn.close()

        eventually(lambda: asyncio.run(due_at_passed()), "the payment to fall due")
        assert payment_status(api, pid) == "pending"  # due, and no worker to finish it
    finally:
        stack.restart("payments-worker")
    eventually(lambda: payment_status(api, pid) == "success", "the next worker to finish it")

    successes = count_events(stack.database_urls["payments"], "payment.success", pid)
    assert asyncio.run(successes) == 2  # once, fanned out to webhooks and orders
    stack.wait_healthy()


def test_card_number_and_cvv_are_nowhere(api: httpx.Client, stack: Stack, admin_url: str) -> None:
    order = new_order(api)
    card = {
        "number": "5555 5555 5555 4444",
        "expiry_month": "12",
        "expiry_year": "2035",
        "cvv": CVV,
        "holder_name": "Card Holder",
    }
    created = api.post(
        "/api/v1/payments",
        json={"order_id": order["id"], "method": "card", "card": card},
        headers=TEST_HEADERS,
    )
    assert created.status_code == 201
    assert (created.json()["card_network"], created.json()["card_last4"]) == ("mastercard", "4444")
    eventually(lambda: payment_status(api, created.json()["id"]) == "success", "payment success")
    eventually(lambda: published(stack, "payment.success", created.json()["id"]),
               "the payment's success events in the streams")  # fmt: skip

    dump = subprocess.run(
        [PG_BIN / "pg_dump", with_credentials_of_admin(admin_url, stack.database)],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    assert created.json()["id"] in dump  # the dump does hold the payment...
    logs = "".join(p.read_text(errors="replace") for p in (stack.state_dir / "logs").glob("*.log"))
    assert created.json()["id"] in logs  # ...and the DEBUG logs mention it
    client = redis.Redis.from_url(stack.redis_url)
    try:
        queued = "".join(str(client.xrange(key)) for key in client.scan_iter(_type="stream"))
    finally:
        client.close()
    assert created.json()["id"] in queued
    for place, text in (("database", dump), ("logs", logs), ("queues", queued)):
        for secret in (CARD_NUMBER, "5555 5555 5555 4444", f'"{CVV}"', f"cvv={CVV}"):
            assert secret not in text, f"{secret!r} found in the {place}"
