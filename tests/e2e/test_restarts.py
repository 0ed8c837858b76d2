"""Restarting Redis, or Redis and every worker, loses and duplicates nothing (a stack of its own,
with a persistent Redis, as `make up` runs it)."""

import secrets
import time
from collections import Counter
from collections.abc import Iterator

import httpx
import pytest
import redis

from devstack.edge import load_routes
from devstack.stack import Ports, Stack
from tests.receiver import Receiver, payment_events, running_receiver
from tests.waits import eventually

pytestmark = pytest.mark.e2e

TEST_HEADERS = {"X-Api-Key": "key_test_abc123", "X-Api-Secret": "secret_test_xyz789"}


@pytest.fixture(scope="module")
def durable_stack(admin_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    table = load_routes()
    services = ["merchants", *(s for s in table.services if s != "merchants")]
    stack = Stack(
        tmp_path_factory.mktemp("durable"),
        Ports.free(table, services),
        table,
        database=f"gw_restart_{secrets.token_hex(4)}",
        durable=True,  # Redis keeps an append-only file, as under `make up`
        admin_url=admin_url,
        extra_env={
            "TEST_MODE": "true",
            "TEST_PROCESSING_DELAY": "300",
            "WEBHOOK_RETRY_INTERVALS_TEST": "true",
            "QUEUE_IDLE_TIMEOUT_MS": "5000",
            "TASK_TIMEOUT_SECONDS": "4",
            "QUEUE_RECLAIM_INTERVAL_SECONDS": "0.5",
            "WORKER_HEARTBEAT_SECONDS": "2",
        },
    )
    stack.start()
    yield stack
    stack.stop()


@pytest.fixture(scope="module")
def receiver() -> Iterator[Receiver]:
    with running_receiver() as running:
        yield running


def pay(api: httpx.Client) -> str:
    order = api.post("/api/v1/orders", json={"amount": 1000}, headers=TEST_HEADERS).json()
    body = {"order_id": order["id"], "method": "upi", "vpa": "payer@upi"}
    response = api.post("/api/v1/payments", json=body, headers=TEST_HEADERS)
    assert response.status_code == 201
    return str(response.json()["id"])


def delivered_exactly_once(
    receiver: Receiver, payments: list[str], killed_at: float | None = None
) -> None:
    """Every payment's three webhooks arrived, each once; with workers SIGKILLed at `killed_at`,
    a delivery already sent then (its answer not yet recorded) may arrive a second time, as
    docs/webhooks.md promises (at least once). Nothing else may repeat."""
    wanted = {
        (p, e) for p in payments for e in ("payment.created", "payment.pending", "payment.success")
    }

    def received() -> set[tuple[str, str]]:
        with receiver.lock:
            return payment_events(receiver.requests)

    eventually(lambda: wanted <= received(), "every payment's three webhooks")
    with receiver.lock:
        got = payment_events(receiver.requests)
        per_id = Counter(r.headers["webhook-id"] for r in receiver.requests)
        first_at = {r.headers["webhook-id"]: r.at for r in reversed(receiver.requests)}
    assert wanted <= got, f"missing {sorted(wanted - got)}"
    again = {i: n for i, n in per_id.items() if n > 1}
    in_flight = {i for i, n in again.items() if killed_at and n == 2 and first_at[i] < killed_at}
    assert set(again) == in_flight, f"webhooks repeated that were not in flight: {again}"


@pytest.mark.parametrize("workers_too", [False, True], ids=["redis", "redis-and-workers"])
def test_restart_loses_and_duplicates_nothing(
    durable_stack: Stack, receiver: Receiver, workers_too: bool
) -> None:
    with httpx.Client(base_url=durable_stack.url("api"), timeout=10) as api:
        api.put("/api/v1/webhooks/config", json={"webhook_url": receiver.url}, headers=TEST_HEADERS)
        with receiver.lock:
            receiver.requests.clear()
        before = [pay(api) for _ in range(3)]  # in flight while Redis goes down
        workers = [p.name for p in durable_stack.processes if p.name.endswith("-worker")]
        killed_at = None
        if workers_too:
            for name in workers:
                durable_stack.kill(name)
        run_id = redis.Redis.from_url(durable_stack.redis_url).info("server")["run_id"]
        durable_stack.restart_redis(down_for=1.0)
        assert redis.Redis.from_url(durable_stack.redis_url).info("server")["run_id"] != run_id
        if workers_too:
            for name in workers:
                if name == "webhooks-worker":
                    # The receiver records before this only what the killed worker sent (a
                    # request may be recorded a moment after the kill); after it, the new one.
                    killed_at = time.monotonic()
                durable_stack.restart(name)
        after = [pay(api) for _ in range(3)]
        delivered_exactly_once(receiver, before + after, killed_at)
        durable_stack.wait_healthy(timeout=30)
        for payment_id in before + after:
            status = api.get(f"/api/v1/payments/{payment_id}", headers=TEST_HEADERS).json()[
                "status"
            ]
            assert status == "success"
