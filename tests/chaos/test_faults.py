"""Faults injected into the running gateway, then the invariants checked once things settle:
every accepted payment is final, every outbox message was acknowledged by its consumers,
webhooks arrive once per event, /health is 200 and no request was answered 500."""

import asyncio
import json
import os
import secrets
import subprocess
import sys
import threading
import time
from collections import Counter
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import asyncpg
import httpx
import pytest
import redis

from devstack.provision import with_credentials_of_admin
from devstack.stack import Stack
from tests.receiver import Receiver, running_receiver
from tests.waits import eventually

pytestmark = pytest.mark.e2e

TEST_HEADERS = {"X-Api-Key": "key_test_abc123", "X-Api-Secret": "secret_test_xyz789"}
TERMINATE_ALL = (
    "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity"
    " WHERE datname = $1 AND pid <> pg_backend_pid()"
)
SERVICES_WITH_OUTBOX = ["orders", "payments", "refunds", "webhooks"]


def sql(url: str, query: str, *args: Any) -> Any:
    async def run() -> Any:
        conn = await asyncpg.connect(url)
        try:
            return await conn.fetchval(query, *args)
        finally:
            await conn.close()

    return asyncio.run(run())


@pytest.fixture
def api(chaos_stack: Stack) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=chaos_stack.url("api"), timeout=30) as client:
        yield client


@pytest.fixture
def receiver(api: httpx.Client) -> Iterator[Receiver]:
    with running_receiver() as running:
        configured = api.put(
            "/api/v1/webhooks/config", json={"webhook_url": running.url}, headers=TEST_HEADERS
        )
        assert configured.status_code == 200
        yield running
    api.put("/api/v1/webhooks/config", json={"webhook_url": None}, headers=TEST_HEADERS)


def new_order(api: httpx.Client) -> str:
    response = api.post("/api/v1/orders", json={"amount": 10000}, headers=TEST_HEADERS)
    assert response.status_code == 201, response.text
    return str(response.json()["id"])


def status_of(api: httpx.Client, payment_id: str) -> str:
    return str(api.get(f"/api/v1/payments/{payment_id}", headers=TEST_HEADERS).json()["status"])


def settled(stack: Stack, api: httpx.Client, payment_ids: list[str]) -> None:
    """The invariants every fault must leave behind."""
    for payment_id in payment_ids:
        eventually(
            lambda p=payment_id: status_of(api, p) in ("success", "failed"),  # type: ignore[misc]
            f"payment {payment_id} to be final",
        )
    for service in SERVICES_WITH_OUTBOX:
        url = stack.database_urls[service]
        eventually(
            lambda u=url: sql(u, "SELECT count(*) FROM outbox WHERE confirmed_at IS NULL") == 0,  # type: ignore[misc]
            f"every {service} outbox message acknowledged by its consumers",
        )
    eventually(lambda: api.get("/health").status_code == 200, "/health to answer 200")


def test_the_stack_fails_safe_by_configuration(chaos_stack: Stack) -> None:
    """Redis refuses writes when full instead of evicting queued work; a session stuck in a
    transaction is ended instead of holding its locks."""
    client = redis.Redis.from_url(chaos_stack.redis_url)
    try:
        config: Any = client.config_get("maxmemory*")
        assert config["maxmemory-policy"] == "noeviction"
        assert int(config["maxmemory"]) > 0
    finally:
        client.close()
    for service in SERVICES_WITH_OUTBOX:
        timeout = sql(
            chaos_stack.database_urls[service], "SHOW idle_in_transaction_session_timeout"
        )
        assert timeout == "1min", service


def test_double_clicks_make_one_success_per_order_and_nothing_pending(
    chaos_stack: Stack, api: httpx.Client
) -> None:
    orders = [new_order(api) for _ in range(30)]

    def pay(order_id: str) -> httpx.Response:
        body = {"order_id": order_id, "method": "upi", "vpa": "buyer@okbank"}
        return api.post("/api/v1/payments/public", json=body)

    with ThreadPoolExecutor(max_workers=16) as pool:
        responses = list(pool.map(pay, [o for o in orders for _ in range(2)]))
    assert {r.status_code for r in responses} == {201}
    payment_ids = [r.json()["id"] for r in responses]
    settled(chaos_stack, api, payment_ids)
    for order_id in orders:
        payments = api.get(
            "/api/v1/payments", params={"order_id": order_id}, headers=TEST_HEADERS
        ).json()["data"]
        outcomes = sorted((p["status"], p.get("error_code")) for p in payments)
        assert outcomes == [("failed", "ORDER_ALREADY_PAID"), ("success", None)], order_id
        order = api.get(f"/api/v1/orders/{order_id}", headers=TEST_HEADERS).json()
        assert order["status"] == "paid"


def test_redis_flushed_while_the_webhooks_worker_lags_loses_no_webhook(
    chaos_stack: Stack, api: httpx.Client, receiver: Receiver
) -> None:
    chaos_stack.kill("webhooks-worker")
    try:
        orders = [new_order(api) for _ in range(10)]
        payment_ids = []
        for order_id in orders:
            body = {"order_id": order_id, "method": "upi", "vpa": "buyer@okbank"}
            created = api.post("/api/v1/payments", json=body, headers=TEST_HEADERS)
            assert created.status_code == 201
            payment_ids.append(created.json()["id"])
        for payment_id in payment_ids:
            eventually(lambda p=payment_id: status_of(api, p) == "success", "payment success")  # type: ignore[misc]
        payments_db = chaos_stack.database_urls["payments"]
        eventually(
            lambda: sql(payments_db, "SELECT count(*) FROM outbox WHERE published_at IS NULL") == 0,
            "the success events published to Redis",
        )
        client = redis.Redis.from_url(chaos_stack.redis_url)
        try:
            assert client.xlen("webhooks") > 0  # waiting there for the lagging consumer
            client.flushall()  # Redis loses everything
        finally:
            client.close()
    finally:
        chaos_stack.restart("webhooks-worker")
    wanted = {(p, e) for p in payment_ids for e in ("payment.created", "payment.pending",
                                                     "payment.success")}  # fmt: skip

    def received() -> set[tuple[str, str]]:
        with receiver.lock:
            return {(r.json["data"]["payment"]["id"], r.json["event"]) for r in receiver.requests}

    eventually(lambda: wanted <= received(), "every payment's webhooks after the flush")
    settled(chaos_stack, api, payment_ids)
    with receiver.lock:
        per_id = Counter(r.headers["webhook-id"] for r in receiver.requests)
    assert set(per_id.values()) == {1}, "a webhook arrived twice"


def test_database_connections_terminated_under_load_serve_no_500_and_strand_nothing(
    chaos_stack: Stack, api: httpx.Client, admin_url: str
) -> None:
    admin = with_credentials_of_admin(admin_url, chaos_stack.database)
    stop = threading.Event()
    kills = Counter[str]()

    def terminate_everything() -> None:
        while not stop.wait(0.5):
            kills["rounds"] += 1
            sql(admin, TERMINATE_ALL, chaos_stack.database)

    served = Counter[int]()
    accepted: list[str] = []
    killer = threading.Thread(target=terminate_everything, daemon=True)
    killer.start()
    try:
        deadline = time.monotonic() + 8  # bounded in time and in count
        for _ in range(400):
            if time.monotonic() > deadline:
                break
            key = secrets.token_hex(8)
            order = api.post("/api/v1/orders", json={"amount": 5000}, headers=TEST_HEADERS)
            served[order.status_code] += 1
            if order.status_code != 201:
                continue
            body = {"order_id": order.json()["id"], "method": "upi", "vpa": "buyer@okbank"}
            for _attempt in range(5):  # a client retrying 503s with its idempotency key
                response = api.post(
                    "/api/v1/payments", json=body, headers={**TEST_HEADERS, "Idempotency-Key": key}
                )
                served[response.status_code] += 1
                if response.status_code != 503:
                    break
            if response.status_code == 201:
                accepted.append(response.json()["id"])
    finally:
        stop.set()
        killer.join()
    assert kills["rounds"] > 5, served
    assert 500 not in served, served
    assert set(served) <= {201, 503}, served
    assert len(accepted) > 20, served
    settled(chaos_stack, api, accepted)


def test_a_poison_message_is_dead_lettered_and_the_queue_keeps_flowing(
    chaos_stack: Stack, api: httpx.Client
) -> None:
    poison_id = f"evt_poison{secrets.token_hex(6)}"
    message = {"task_id": secrets.token_hex(8), "task_name": "orders.handle_event",
               "labels": {"message_id": poison_id, "ack_type": "manual"},
               "args": [{"not": "an event"}], "kwargs": {}}  # fmt: skip
    client = redis.Redis.from_url(chaos_stack.redis_url)
    try:
        client.xadd("orders", {b"data": json.dumps(message).encode()})
    finally:
        client.close()
    env = {**os.environ, "DATABASE_URL": chaos_stack.database_urls["orders"]}

    def dead_letters() -> list[dict[str, Any]]:
        listed = subprocess.run(
            [sys.executable, "-m", "kit.messages", "list"],
            env=env, capture_output=True, text=True, check=True,
        )  # fmt: skip
        return [m for m in json.loads(listed.stdout) if m["message_id"] == poison_id]

    [dead] = eventually(dead_letters, "the poison message among the dead letters")
    assert dead["attempts"] == 3
    assert dead["last_error"].startswith("ValidationError")
    metrics = httpx.get(
        f"http://127.0.0.1:{chaos_stack.ports.worker_metrics['orders']}/metrics"
    ).text
    assert 'consumer_dead_letters_total{task_name="orders.handle_event"} 1.0' in metrics
    order_id = new_order(api)  # the orders worker still follows payments
    body = {"order_id": order_id, "method": "upi", "vpa": "buyer@okbank"}
    assert api.post("/api/v1/payments/public", json=body).status_code == 201
    eventually(
        lambda: api.get(f"/api/v1/orders/{order_id}/public").json()["status"] == "paid",
        "the order paid after the poison message",
    )


def test_sigterm_under_load_finishes_or_hands_back_everything(
    chaos_stack: Stack, api: httpx.Client, receiver: Receiver
) -> None:
    """Workers stopped as Kubernetes stops them, while payments are processed and webhooks are
    being delivered to a slow receiver: each exits by itself, nothing is lost or doubled."""
    receiver.delay = 1.0  # deliveries are in flight when the webhooks worker is told to stop
    payment_ids = []
    for _ in range(20):
        body = {"order_id": new_order(api), "method": "upi", "vpa": "buyer@okbank"}
        created = api.post("/api/v1/payments", json=body, headers=TEST_HEADERS)
        assert created.status_code == 201
        payment_ids.append(created.json()["id"])
    eventually(lambda: len(receiver.requests) > 0, "the first webhooks in flight")
    codes = {name: chaos_stack.terminate(name) for name in ("payments-worker", "webhooks-worker")}
    assert codes == {"payments-worker": 0, "webhooks-worker": 0}
    for name in codes:
        chaos_stack.restart(name)
    wanted = {(p, e) for p in payment_ids for e in ("payment.created", "payment.pending",
                                                     "payment.success")}  # fmt: skip

    def received() -> set[tuple[str, str]]:
        with receiver.lock:
            return {(r.json["data"]["payment"]["id"], r.json["event"]) for r in receiver.requests}

    eventually(lambda: wanted <= received(), "every payment's webhooks after the restarts")
    settled(chaos_stack, api, payment_ids)
    statuses = {status_of(api, p) for p in payment_ids}
    assert statuses == {"success"}
    with receiver.lock:
        per_id = Counter(r.headers["webhook-id"] for r in receiver.requests)
    assert set(per_id.values()) == {1}, "a webhook arrived twice"
