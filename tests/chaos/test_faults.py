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
from kit.signing import signer
from tests.receiver import Receiver, payment_events, running_receiver
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


def status_of(api: httpx.Client, payment_id: str) -> str | None:
    """The payment's status; None while a dependency is still coming back (503, never a 500:
    right after a fault a pooled connection may be found dead by this very request)."""
    answer = api.get(f"/api/v1/payments/{payment_id}", headers=TEST_HEADERS)
    assert answer.status_code in (200, 503), answer.text
    return str(answer.json()["status"]) if answer.status_code == 200 else None


def unacknowledged(stack: Stack, database_url: str) -> str | None:
    """None when every outbox row is confirmed; else what the oldest one waits for."""
    row = asyncio.run(_oldest_unconfirmed(database_url))
    if row is None:
        return None
    if row["stream_id"] is None:
        return f"{row}: not published (again) yet"
    client = redis.Redis.from_url(stack.redis_url)
    try:
        groups = client.xinfo_groups(row["queue"])
        pending = client.xpending(row["queue"], "taskiq")
        entry = client.xrange(row["queue"], row["stream_id"], row["stream_id"])
    finally:
        client.close()
    return f"{row}; groups {groups}; pending {pending}; entry present {bool(entry)}"


async def _oldest_unconfirmed(database_url: str) -> dict[str, Any] | None:
    conn = await asyncpg.connect(database_url)
    try:
        row = await conn.fetchrow(
            "SELECT queue, task_name, stream_id, published_at, now() - created_at AS age,"
            " (SELECT count(*) FROM outbox WHERE confirmed_at IS NULL) AS unconfirmed"
            " FROM outbox WHERE confirmed_at IS NULL ORDER BY id LIMIT 1"
        )
    finally:
        await conn.close()
    return None if row is None else dict(row)


def stream_counts_now(client: redis.Redis, queue: str) -> tuple[int, int]:
    """(waiting, taken but unacknowledged) entries of `queue` for its consumer group."""
    groups: Any = client.xinfo_groups(queue)
    [group] = [g for g in groups if g["name"] in (b"taskiq", "taskiq")]
    if group.get("lag") is not None:
        return int(group["lag"]), int(group["pending"])
    last = group["last-delivered-id"]  # no lag (Redis < 7, or entries trimmed): count them
    after = f"({last.decode() if isinstance(last, bytes) else last}"
    entries: Any = client.xrange(queue, min=after)
    return len(entries), int(group["pending"])


def settled(stack: Stack, api: httpx.Client, payment_ids: list[str]) -> None:
    """The invariants every fault must leave behind."""
    for payment_id in payment_ids:
        eventually(
            lambda p=payment_id: status_of(api, p) in ("success", "failed"),  # type: ignore[misc]
            f"payment {payment_id} to be final",
        )
    for service in SERVICES_WITH_OUTBOX:
        url = stack.database_urls[service]
        waiting: list[str | None] = [None]

        def acknowledged(u: str = url, last: list[str | None] = waiting) -> bool:
            last[0] = unacknowledged(stack, u)
            return last[0] is None

        try:
            eventually(acknowledged, f"every {service} outbox message acknowledged")
        except AssertionError as error:
            raise AssertionError(f"{error}: the oldest waits: {waiting[0]}") from None
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
    # A second click that arrives once the first payment succeeded is refused at once; one
    # that arrives before makes a payment that fails as ORDER_ALREADY_PAID. Either way: one
    # success per order, nothing left pending.
    refused = [r for r in responses if r.status_code != 201]
    assert all(
        (r.status_code, r.json()["error"]["description"]) == (400, "Order is already paid")
        for r in refused
    ), [r.text for r in refused]
    payment_ids = [r.json()["id"] for r in responses if r.status_code == 201]
    settled(chaos_stack, api, payment_ids)
    for order_id in orders:
        payments = api.get(
            "/api/v1/payments", params={"order_id": order_id}, headers=TEST_HEADERS
        ).json()["data"]
        outcomes = sorted((p["status"], p.get("error_code")) for p in payments)
        assert outcomes in (
            [("failed", "ORDER_ALREADY_PAID"), ("success", None)],
            [("success", None)],
        ), order_id
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
            return payment_events(receiver.requests)

    eventually(lambda: wanted <= received(), "every payment's webhooks after the flush")
    settled(chaos_stack, api, payment_ids)
    with receiver.lock:
        per_id = Counter(r.headers["webhook-id"] for r in receiver.requests)
    assert set(per_id.values()) == {1}, "a webhook arrived twice"


def pay_for_a_while(
    api: httpx.Client, seconds: float, rate: float = 20
) -> tuple[Counter[int], list[str]]:
    """Orders and keyed payments, one after another, at most `rate` a second for `seconds`:
    what was served, and the payments accepted. A 503 is retried with the same key, as a
    client would. (The pace keeps the backlog small enough to settle within a minute.)"""
    served = Counter[int]()
    accepted: list[str] = []
    started = time.monotonic()
    for n in range(int(seconds * rate)):
        time.sleep(max(0.0, started + n / rate - time.monotonic()))  # pacing, not waiting
        if time.monotonic() > started + seconds:
            break
        order = api.post("/api/v1/orders", json={"amount": 5000}, headers=TEST_HEADERS)
        served[order.status_code] += 1
        if order.status_code != 201:
            continue
        body = {"order_id": order.json()["id"], "method": "upi", "vpa": "buyer@okbank"}
        headers = {**TEST_HEADERS, "Idempotency-Key": secrets.token_hex(8)}
        for _attempt in range(5):
            response = api.post("/api/v1/payments", json=body, headers=headers)
            served[response.status_code] += 1
            if response.status_code != 503:
                break
        if response.status_code == 201:
            accepted.append(response.json()["id"])
    return served, accepted


def test_database_connections_terminated_under_load_serve_no_500_and_strand_nothing(
    chaos_stack: Stack, api: httpx.Client
) -> None:
    admin = with_credentials_of_admin(chaos_stack.postgres_url, chaos_stack.database)
    stop = threading.Event()
    kills = Counter[str]()

    def terminate_everything() -> None:
        while not stop.wait(0.5):
            kills["rounds"] += 1
            sql(admin, TERMINATE_ALL, chaos_stack.database)

    killer = threading.Thread(target=terminate_everything, daemon=True)
    killer.start()
    try:
        served, accepted = pay_for_a_while(api, seconds=8)
    finally:
        stop.set()
        killer.join()
    assert kills["rounds"] > 5, served
    assert 500 not in served, served
    assert set(served) <= {201, 503}, served
    assert len(accepted) > 20, served  # the load went on through the kills
    settled(chaos_stack, api, accepted)


def test_postgres_stopped_and_restarted_under_load_strands_nothing(
    chaos_stack: Stack, api: httpx.Client
) -> None:
    outage = threading.Thread(target=chaos_stack.restart_postgres, kwargs={"down_for": 3.0})
    served, before = pay_for_a_while(api, seconds=2)
    outage.start()
    try:
        during, accepted = pay_for_a_while(api, seconds=8)
    finally:
        outage.join()
    served += during
    assert 503 in served, served  # the outage was seen...
    assert set(served) <= {201, 503}, served  # ...and answered 503, never 500
    eventually(lambda: api.get("/health").status_code == 200, "/health after the restart")
    _, after = pay_for_a_while(api, seconds=2)
    assert after, "payments are accepted again after the restart"
    settled(chaos_stack, api, before + accepted + after)


def test_redis_sigkilled_and_restarted_under_load_loses_and_doubles_nothing(
    chaos_stack: Stack, api: httpx.Client, receiver: Receiver
) -> None:
    outage = threading.Thread(
        target=chaos_stack.restart_redis, kwargs={"down_for": 2.0, "kill": True}
    )
    _, before = pay_for_a_while(api, seconds=2)
    outage.start()
    try:
        served, during = pay_for_a_while(api, seconds=6)
    finally:
        outage.join()
    assert set(served) <= {201, 503}, served
    _, after = pay_for_a_while(api, seconds=2)
    payment_ids = before + during + after
    assert after, "payments are accepted again after the restart"
    settled(chaos_stack, api, payment_ids)
    wanted = {(p, "payment.success") for p in payment_ids}
    eventually(
        lambda: wanted <= {(r.json["data"].get("payment", {}).get("id"), r.json["event"])
                           for r in list(receiver.requests)},
        "every payment.success webhook after the Redis crash",
    )  # fmt: skip
    with receiver.lock:
        per_id = Counter(r.headers["webhook-id"] for r in receiver.requests)
    assert set(per_id.values()) == {1}, "a webhook arrived twice"


def test_a_poison_message_is_dead_lettered_and_the_queue_keeps_flowing(
    chaos_stack: Stack, api: httpx.Client
) -> None:
    poison_id = f"evt_poison{secrets.token_hex(6)}"
    # A bug of the entitled producer (signed by payments), not a forgery: retried, then dead.
    message = {"task_id": secrets.token_hex(8), "task_name": "orders.handle_event",
               "labels": {"message_id": poison_id, "ack_type": "manual"},
               "args": [{"type": "payment.created", "not": "an event"}], "kwargs": {}}  # fmt: skip
    send(chaos_stack, "orders", message, "payments")
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
    # The worker counts the dead letter after the transaction that parks it commits: the list
    # above can show it before /metrics does, so wait for the count itself.
    metrics = f"http://127.0.0.1:{chaos_stack.ports.worker_metrics['orders']}/metrics"
    eventually(
        lambda: (
            'consumer_dead_letters_total{task_name="orders.handle_event"} 1.0'
            in httpx.get(metrics).text
        ),
        "the orders worker's consumer_dead_letters_total at 1",
    )
    order_id = new_order(api)  # the orders worker still follows payments
    body = {"order_id": order_id, "method": "upi", "vpa": "buyer@okbank"}
    assert api.post("/api/v1/payments/public", json=body).status_code == 201
    eventually(
        lambda: api.get(f"/api/v1/orders/{order_id}/public").json()["status"] == "paid",
        "the order paid after the poison message",
    )


def send(stack: Stack, queue: str, message: dict[str, Any], sender: str | None) -> str:
    """Write a task message straight to a stream, signed with `sender`'s key (the stack runs
    with development keys, which anyone can derive) or unsigned; its entry id."""
    data = json.dumps(message).encode()
    fields: Any = {b"data": data}
    if sender:
        fields |= signer(sender, None, production=False).fields(queue, data)
    client = redis.Redis.from_url(stack.redis_url)
    try:
        entry: Any = client.xadd(queue, fields)
        return str(entry.decode())
    finally:
        client.close()


def test_an_event_not_signed_by_its_owner_is_refused_and_never_applied(
    chaos_stack: Stack, api: httpx.Client
) -> None:
    """A compromised pod that can write to Redis forges `payment.success` for an unpaid order:
    unsigned, signed by webhooks (whose messages orders never takes), and signed by orders
    itself (a key orders knows, but not the owner of payment events). All three are refused
    as dead letters and the order stays unpaid; the same event signed by payments pays it, so
    the refusals are what kept it unpaid."""
    order_id = new_order(api)
    merchant_id = api.get(f"/api/v1/orders/{order_id}/checkout").json()["merchant_id"]
    data = {"id": "pay_" + "f" * 16, "order_id": order_id, "status": "success"}
    event = {"id": "evt_" + secrets.token_hex(12), "type": "payment.success", "version": 1,
             "occurred_at": "2026-12-07T00:00:00Z", "merchant_id": merchant_id,
             "data": data}  # fmt: skip

    def message() -> dict[str, Any]:
        return {"task_id": secrets.token_hex(8), "task_name": "orders.handle_event",
                "labels": {"message_id": f"msg_{secrets.token_hex(12)}", "ack_type": "manual"},
                "args": [event], "kwargs": {}}  # fmt: skip

    forged = {
        send(chaos_stack, "orders", message(), None): "refused: unsigned",
        send(chaos_stack, "orders", message(), "webhooks"): "signed by 'webhooks', whose key",
        send(chaos_stack, "orders", message(), "orders"): "'orders' may not send payment.success",
    }
    env = {**os.environ, "DATABASE_URL": chaos_stack.database_urls["orders"]}

    def refusals() -> dict[str, str]:
        listed = subprocess.run(
            [sys.executable, "-m", "kit.messages", "list"],
            env=env, capture_output=True, text=True, check=True,
        )  # fmt: skip
        return {m["message_id"]: str(m["last_error"]) for m in json.loads(listed.stdout)}

    entries = {f"orders:{entry}" for entry in forged}
    reasons = eventually(lambda: r if entries <= set(r := refusals()) else None, "all refused")
    for entry, reason in forged.items():
        assert reason in reasons[f"orders:{entry}"], reasons
    assert api.get(f"/api/v1/orders/{order_id}/public").json()["status"] == "created"
    send(chaos_stack, "orders", message(), "payments")
    eventually(
        lambda: api.get(f"/api/v1/orders/{order_id}/public").json()["status"] == "paid",
        "the order paid by the same event signed by its owner",
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
            return payment_events(receiver.requests)

    eventually(lambda: wanted <= received(), "every payment's webhooks after the restarts")
    settled(chaos_stack, api, payment_ids)
    statuses = {status_of(api, p) for p in payment_ids}
    assert statuses == {"success"}
    with receiver.lock:
        per_id = Counter(r.headers["webhook-id"] for r in receiver.requests)
    assert set(per_id.values()) == {1}, "a webhook arrived twice"


def test_every_worker_sigkilled_mid_load_loses_and_doubles_nothing(
    chaos_stack: Stack, api: httpx.Client, receiver: Receiver
) -> None:
    """Payments processing, refunds processing and webhooks in flight when all four workers
    die at once; refunds must add up to what each payment shows as refunded."""
    paid = []
    for _ in range(4):
        body = {"order_id": new_order(api), "method": "upi", "vpa": "buyer@okbank"}
        paid.append(api.post("/api/v1/payments", json=body, headers=TEST_HEADERS).json()["id"])
    for payment_id in paid:
        eventually(lambda p=payment_id: status_of(api, p) == "success", "payment success")  # type: ignore[misc]
    refunds = []
    for payment_id in paid:
        for amount in (3000, 2000):
            refund = api.post(f"/api/v1/payments/{payment_id}/refunds", json={"amount": amount},
                              headers=TEST_HEADERS)  # fmt: skip
            assert refund.status_code == 201, refund.text
            refunds.append(refund.json()["id"])
    payment_ids = list(paid)
    for _ in range(12):
        body = {"order_id": new_order(api), "method": "upi", "vpa": "buyer@okbank"}
        payment_ids.append(
            api.post("/api/v1/payments", json=body, headers=TEST_HEADERS).json()["id"]
        )
    workers = ["orders-worker", "payments-worker", "refunds-worker", "webhooks-worker"]
    for name in workers:
        chaos_stack.kill(name)
    for name in workers:
        if name == "webhooks-worker":
            # Whatever the receiver records before this came from the killed worker (a request
            # it had sent may be recorded a moment after the kill); after it, from the new one.
            killed_at = time.monotonic()  # the clock of Received.at
        chaos_stack.restart(name)
    settled(chaos_stack, api, payment_ids)
    for refund_id in refunds:
        eventually(
            lambda r=refund_id: (  # type: ignore[misc]
                api.get(f"/api/v1/refunds/{r}", headers=TEST_HEADERS).json()["status"]
                == "processed"
            ),
            f"refund {refund_id} processed",
        )
    for payment_id in paid:
        eventually(
            lambda p=payment_id: (  # type: ignore[misc]
                api.get(f"/api/v1/payments/{p}", headers=TEST_HEADERS).json()["amount_refunded"]
                == 5000
            ),
            f"payment {payment_id} to show both refunds once",
        )
    settled(chaos_stack, api, payment_ids)
    wanted = {(p, "payment.success") for p in payment_ids}
    eventually(
        lambda: wanted <= {(r.json["data"].get("payment", {}).get("id"), r.json["event"])
                           for r in list(receiver.requests)},
        "every payment.success webhook",
    )  # fmt: skip
    with receiver.lock:
        per_id = Counter(r.headers["webhook-id"] for r in receiver.requests)
        first_at = {r.headers["webhook-id"]: r.at for r in reversed(receiver.requests)}
    # At least once, as docs/webhooks.md promises: a delivery the worker had sent when it was
    # killed, before it could record the answer, is sent again. Nothing else may repeat.
    again = {i: n for i, n in per_id.items() if n > 1}
    assert all(n == 2 and first_at[i] < killed_at for i, n in again.items()), (
        f"webhooks repeated that were not in flight at the kill: {again}"
    )


def test_an_api_killed_under_keyed_retries_makes_one_payment_per_order(
    chaos_stack: Stack, api: httpx.Client
) -> None:
    """Some requests die with the API (perhaps after their commit, before their answer); the
    client retries each with its key once the API is back, and gets exactly one payment."""
    orders = [new_order(api) for _ in range(12)]
    keys = {order_id: secrets.token_hex(8) for order_id in orders}

    def pay(order_id: str) -> int:
        body = {"order_id": order_id, "method": "upi", "vpa": "buyer@okbank"}
        headers = {**TEST_HEADERS, "Idempotency-Key": keys[order_id]}
        try:
            return api.post("/api/v1/payments", json=body, headers=headers).status_code
        except httpx.HTTPError:
            return 0

    with ThreadPoolExecutor(max_workers=12) as pool:
        first = [pool.submit(pay, order_id) for order_id in orders]
        chaos_stack.kill("payments-api")
        [f.result() for f in first]
    chaos_stack.restart("payments-api")
    retried = [pay(order_id) for order_id in orders]
    assert retried == [201] * len(orders)
    for order_id in orders:
        listed = api.get("/api/v1/payments", params={"order_id": order_id}, headers=TEST_HEADERS)
        assert listed.json()["total"] == 1, order_id


def test_a_slow_merchant_endpoint_does_not_hold_up_another_merchant(
    chaos_stack: Stack, api: httpx.Client, merchant_headers: dict[str, str]
) -> None:
    """At most WEBHOOK_MAX_IN_FLIGHT_PER_MERCHANT (4 here) deliveries per merchant at once."""
    with running_receiver() as slow, running_receiver() as healthy:
        slow.delay = 3.0
        for headers, receiver in ((TEST_HEADERS, slow), (merchant_headers, healthy)):
            put = api.put("/api/v1/webhooks/config", json={"webhook_url": receiver.url},
                          headers=headers)  # fmt: skip
            assert put.status_code == 200
        try:
            for headers, count in ((TEST_HEADERS, 10), (merchant_headers, 3)):
                for _ in range(count):
                    order = api.post("/api/v1/orders", json={"amount": 900}, headers=headers)
                    body = {"order_id": order.json()["id"], "method": "upi", "vpa": "a@okbank"}
                    assert (
                        api.post("/api/v1/payments", json=body, headers=headers).status_code == 201
                    )
            healthy.wait_for(9)  # created, pending and success of its three payments
            with slow.lock:
                # 30 slow deliveries, 4 at a time, 3 s each, take at least 22 s.
                assert len(slow.requests) < 30
            slow.wait_for(30)
        finally:
            api.put("/api/v1/webhooks/config", json={"webhook_url": None}, headers=TEST_HEADERS)


def test_a_receiver_down_and_back_gets_every_webhook_on_the_retry_schedule(
    chaos_stack: Stack, api: httpx.Client, receiver: Receiver
) -> None:
    receiver.fail_next = 10**6  # the merchant's endpoint answers 500 to everything
    payment_ids = []
    for _ in range(5):
        body = {"order_id": new_order(api), "method": "upi", "vpa": "buyer@okbank"}
        payment_ids.append(
            api.post("/api/v1/payments", json=body, headers=TEST_HEADERS).json()["id"]
        )
    wanted = {(p, e) for p in payment_ids for e in ("payment.created", "payment.pending",
                                                     "payment.success")}  # fmt: skip
    firsts = {(p, "payment.created") for p in payment_ids}

    def all_refused_once() -> bool:  # each payment's first event tried at least once; the
        with receiver.lock:  # later ones wait behind it (one object's webhooks go in order)
            return firsts <= payment_events(receiver.requests)

    eventually(all_refused_once, "a first (failing) attempt of each payment.created")
    with receiver.lock:
        receiver.fail_next = 0  # back up
        failed_attempts = len(receiver.requests)

    def delivered() -> list[tuple[str, str]]:
        with receiver.lock:
            bodies = [r.json for r in receiver.requests[failed_attempts:]]
        return [(b["data"]["payment"]["id"], b["event"]) for b in bodies if "payment" in b["data"]]

    eventually(lambda: wanted <= set(delivered()), "every webhook once the receiver is back")
    for payment_id in payment_ids:  # in the order each payment's state changed
        events = [e for p, e in delivered() if p == payment_id]
        assert events == ["payment.created", "payment.pending", "payment.success"], events
    settled(chaos_stack, api, payment_ids)

    def all_recorded_successful() -> list[dict[str, Any]] | None:
        # Each payment's own three deliveries (its order's `order.paid` is not among them: it may
        # have been created after the receiver came back and so succeed at the first attempt).
        logs = [
            log
            for payment_id in payment_ids
            for log in api.get(
                "/api/v1/webhooks", params={"payment_id": payment_id, "limit": 50},
                headers=TEST_HEADERS,
            ).json()["data"]
            if log["event"].startswith("payment.")
        ]  # fmt: skip
        done = len(logs) == 15 and all(x["status"] == "success" for x in logs)
        return logs if done else None

    mine = eventually(all_recorded_successful, "the 15 deliveries recorded as successful")
    # created was refused and retried on the schedule; pending and success waited behind it
    attempts = {(x["event"], x["attempts"]) for x in mine}
    assert all(2 <= n <= 5 for e, n in attempts if e == "payment.created"), attempts
    assert all(1 <= n <= 5 for e, n in attempts), attempts


def test_a_retried_payment_pending_holds_back_its_payment_success(
    api: httpx.Client, merchant_headers: dict[str, str]
) -> None:
    """A receiver that fails the first attempt of every `payment.pending`: each payment's
    `payment.success` waits for the retry (5 s on the test schedule) instead of overtaking it,
    and other payments are not held up behind it."""
    with running_receiver() as receiver:
        receiver.fail_first_of = {"payment.pending"}
        configured = api.put(
            "/api/v1/webhooks/config", json={"webhook_url": receiver.url}, headers=merchant_headers
        )
        assert configured.status_code == 200
        paid = []
        for _ in range(10):
            order = api.post("/api/v1/orders", json={"amount": 1000}, headers=merchant_headers)
            body = {"order_id": order.json()["id"], "method": "upi", "vpa": "payer@upi"}
            created = api.post("/api/v1/payments", json=body, headers=merchant_headers)
            assert created.status_code == 201, created.text
            paid.append(created.json()["id"])

        def arrivals() -> dict[str, list[str]]:
            seen: dict[str, list[str]] = {p: [] for p in paid}
            with receiver.lock:
                for request in receiver.requests:
                    payment = request.json["data"].get("payment", {}).get("id")
                    if payment in seen:
                        seen[payment].append(request.json["event"])
            return seen

        eventually(
            lambda: all("payment.success" in events for events in arrivals().values()),
            "payment.success of all ten payments at the receiver",
        )
        in_order = ["payment.created", "payment.pending", "payment.pending", "payment.success"]
        assert arrivals() == dict.fromkeys(paid, in_order)  # the second pending: the retry


def test_a_stopped_consumer_and_a_capped_redis_stop_nobody_else(
    chaos_stack: Stack, api: httpx.Client, receiver: Receiver
) -> None:
    """The webhooks worker is stopped and Redis capped near its working size: the webhooks
    stream holds at most its window (the rest waits in the outbox), so payments, orders and
    their own streams keep working; once the worker is back every webhook arrives. (Before
    ADR 0011 the webhooks stream filled Redis, every XADD then failed, and the relays of every
    service stalled behind it.)"""
    client = redis.Redis.from_url(chaos_stack.redis_url)
    limit = str(client.config_get("maxmemory")["maxmemory"])
    chaos_stack.kill("webhooks-worker")
    try:
        probe = []
        for _ in range(5):  # what one payment's messages cost Redis here
            body = {"order_id": new_order(api), "method": "upi", "vpa": "buyer@okbank"}
            probe.append(api.post("/api/v1/payments", json=body, headers=TEST_HEADERS).json()["id"])
        eventually(lambda: client.xlen("webhooks") >= 10, "the first payments' webhook messages")
        entry = int(client.memory_usage("webhooks") or 0) // max(1, client.xlen("webhooks"))
        window = int(chaos_stack.extra_env["OUTBOX_STREAM_WINDOW"])
        count = 150
        # Room for the capped window and every other stream's messages, not for all of the
        # stopped consumer's: it would need about 4 entries per payment more than this.
        room = 3 * (window + 10) * entry + 3 * count * entry
        client.config_set("maxmemory", int(client.info("memory")["used_memory"]) + room)
        paid = [*probe]
        for _ in range(count):
            body = {"order_id": new_order(api), "method": "upi", "vpa": "buyer@okbank"}
            created = api.post("/api/v1/payments", json=body, headers=TEST_HEADERS)
            assert created.status_code == 201, created.text
            paid.append(created.json()["id"])
        for payment_id in paid:  # processed, and their orders paid: the orders stream flows
            eventually(
                lambda p=payment_id: status_of(api, p) == "success",  # type: ignore[misc]
                f"payment {payment_id} to succeed with the webhooks worker stopped",
            )
        last = api.get(f"/api/v1/payments/{paid[-1]}", headers=TEST_HEADERS).json()
        eventually(
            lambda: api.get(f"/api/v1/orders/{last['order_id']}/public").json()["status"] == "paid",
            "the last order to be paid",
        )
        # Held back: at most its window from each of the two services that publish to it
        # (payments and orders), far from the three or four messages of every payment.
        waiting, taken = stream_counts_now(client, "webhooks")
        assert waiting + taken <= 2 * window + 10, (waiting, taken)
        held = sql(
            chaos_stack.database_urls["payments"],
            "SELECT count(*) FROM outbox WHERE queue = 'webhooks' AND published_at IS NULL",
        )
        assert held > 0  # waiting in the outbox for the consumer to catch up
    finally:
        client.config_set("maxmemory", limit)
        chaos_stack.restart("webhooks-worker")
        client.close()
    wanted = {(p, "payment.success") for p in paid}

    def received() -> set[tuple[str, str]]:
        with receiver.lock:
            return payment_events(receiver.requests)

    eventually(  # some 600 webhooks, four at a time to this merchant
        lambda: wanted <= received(), "every payment.success once the worker is back", 240
    )
    settled(chaos_stack, api, paid)
