"""The native stack `make up` starts, driven through the Caddy edge like a merchant would."""

import json
import os
import re
import secrets
import subprocess
import sys
from pathlib import Path
from typing import Any

import httpx
import pytest
import redis

from devstack.stack import Stack
from tests.e2e.outbox import carried
from tests.waits import eventually

pytestmark = pytest.mark.e2e

TEST_HEADERS = {"X-Api-Key": "key_test_abc123", "X-Api-Secret": "secret_test_xyz789"}
AUTH_ERROR = {"error": {"code": "AUTHENTICATION_ERROR", "description": "Invalid API credentials"}}


def test_health_reports_database_redis_and_worker(api: httpx.Client) -> None:
    response = api.get("/health")
    assert response.status_code == 200
    body = response.json()
    assert {k: body[k] for k in ("status", "database", "redis", "worker")} == {
        "status": "healthy",
        "database": "connected",
        "redis": "connected",
        "worker": "running",
    }
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", body["timestamp"])


def test_order_lifecycle_through_the_edge(api: httpx.Client) -> None:
    body = {
        "amount": 50000,
        "currency": "INR",
        "receipt": "receipt_123",
        "notes": {"customer_name": "John Doe"},
    }
    created = api.post("/api/v1/orders", json=body, headers=TEST_HEADERS)
    assert created.status_code == 201
    order = created.json()
    assert re.fullmatch(r"order_[A-Za-z0-9]{16}", order["id"])
    assert order["merchant_id"] == "550e8400-e29b-41d4-a716-446655440000"
    assert api.get(f"/api/v1/orders/{order['id']}", headers=TEST_HEADERS).json() == order
    listed = api.get("/api/v1/orders", params={"limit": 5}, headers=TEST_HEADERS).json()
    assert listed["data"][0]["id"] == order["id"]
    assert (listed["limit"], listed["offset"]) == (5, 0)
    public = api.get(f"/api/v1/orders/{order['id']}/public")
    assert public.json() == {
        "id": order["id"],
        "amount": 50000,
        "currency": "INR",
        "status": "created",
    }


def test_order_paid_leaves_through_the_outbox_relay_and_a_new_order_sends_nothing(
    api: httpx.Client, stack: Stack
) -> None:
    order = api.post("/api/v1/orders", json={"amount": 777}, headers=TEST_HEADERS).json()
    body = {"order_id": order["id"], "method": "upi", "vpa": "payer@upi"}
    assert api.post("/api/v1/payments", json=body, headers=TEST_HEADERS).status_code == 201
    client = redis.Redis.from_url(stack.redis_url)

    def relayed() -> list[dict[str, Any]]:
        entries: Any = client.xrange("webhooks")
        tasks = [json.loads(fields[b"data"]) for _, fields in entries]
        events = [e for t in tasks if t["task_name"].startswith("webhooks.handle_event")
                  for e in carried(t["args"][0])]  # fmt: skip
        return [e for e in events if e["data"].get("id") == order["id"]]

    try:
        found = eventually(relayed, "order.paid in the webhooks stream")
        # Nothing subscribes to a new order (payments reads the orders view): once the order
        # is paid, the only message about it that ever reached a stream is order.paid.
        payments_stream: Any = client.xrange("payments")
    finally:
        client.close()
    [paid] = found  # alone, or with other orders paid in the same batch
    assert paid["type"] == "order.paid"
    about_order = [e for _, e in payments_stream if order["id"].encode() in e[b"data"]]
    assert about_order == []
    # The relay counts what it published only after its transaction commits, so the stream can
    # hold the entry before the orders worker's /metrics shows it: wait for the count itself.
    metrics = f"http://127.0.0.1:{stack.ports.worker_metrics['orders']}/metrics"
    eventually(
        lambda: (
            'outbox_published_total{task_name="webhooks.handle_event' in httpx.get(metrics).text
        ),
        "the orders worker's outbox_published_total for webhooks.handle_event(s)",
    )


def test_validation_errors_are_400(api: httpx.Client) -> None:
    low = api.post("/api/v1/orders", json={"amount": 50}, headers=TEST_HEADERS)
    assert (low.status_code, low.json()) == (
        400,
        {"error": {"code": "BAD_REQUEST_ERROR", "description": "amount must be at least 100"}},
    )
    garbage = api.post(
        "/api/v1/orders",
        content=b"{not json",
        headers={**TEST_HEADERS, "Content-Type": "application/json"},
    )
    assert garbage.status_code == 400
    assert garbage.json()["error"]["code"] == "BAD_REQUEST_ERROR"


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("POST", "/api/v1/orders"),
        ("GET", "/api/v1/orders"),
        ("GET", "/api/v1/orders/order_0000000000000000"),
        ("GET", "/api/v1/merchant"),
    ],
)
@pytest.mark.parametrize(
    "headers", [{}, {**TEST_HEADERS, "X-Api-Secret": "wrong"}, {"X-Api-Key": "key_test_abc123"}]
)
def test_authenticated_routes_refuse_missing_or_wrong_credentials(
    api: httpx.Client, method: str, path: str, headers: dict[str, str]
) -> None:
    response = api.request(method, path, headers=headers, json={"amount": 500})
    assert (response.status_code, response.json()) == (401, AUTH_ERROR)


def test_unknown_route_is_a_json_404_from_the_edge(api: httpx.Client) -> None:
    response = api.get("/api/v1/nothing-here")
    assert response.status_code == 404
    assert response.json() == {
        "error": {"code": "NOT_FOUND_ERROR", "description": "Route not found"}
    }
    assert api.get("/api/v1/ordersX").status_code == 404


def test_dashboard_session_is_accepted_by_the_orders_service(api: httpx.Client) -> None:
    login = api.post(
        "/api/v1/auth/login", json={"email": "test@example.com", "password": "anything"}
    )
    bearer = {"Authorization": f"Bearer {login.json()['token']}"}
    assert api.get("/api/v1/orders", headers=bearer).status_code == 200
    assert api.get("/api/v1/merchant", headers=bearer).json()["api_key"] == "key_test_abc123"


def test_merchants_are_isolated_from_each_other(api: httpx.Client, stack: Stack) -> None:
    env = {
        **os.environ,
        "DATABASE_URL": stack.database_urls["merchants"],
        "REDIS_URL": stack.redis_url,
    }
    created = subprocess.run(
        [sys.executable, "-m", "merchants.cli", "create-merchant", "--name", "E2E Shop",
         "--email", f"e2e-{secrets.token_hex(8)}@example.com"],
        env=env, capture_output=True, text=True, check=True, cwd=Path(__file__).parent,
    )  # fmt: skip
    creds = json.loads(created.stdout)
    other = {"X-Api-Key": creds["api_key"], "X-Api-Secret": creds["api_secret"]}
    mine = api.post("/api/v1/orders", json={"amount": 1000}, headers=TEST_HEADERS).json()
    theirs = api.post("/api/v1/orders", json={"amount": 2000}, headers=other).json()
    assert theirs["merchant_id"] == creds["id"]
    assert api.get(f"/api/v1/orders/{mine['id']}", headers=other).status_code == 404
    assert api.get(f"/api/v1/orders/{theirs['id']}", headers=TEST_HEADERS).status_code == 404
    assert [o["id"] for o in api.get("/api/v1/orders", headers=other).json()["data"]] == [
        theirs["id"]
    ]


def test_health_notices_a_dead_worker(api: httpx.Client, stack: Stack) -> None:
    """Kills the orders worker, sees /health report it, then starts it again."""
    stack.kill("orders-worker")
    try:
        wait_for_stopped(api)
    finally:
        stack.restart("orders-worker")
    stack.wait_healthy()


def wait_for_stopped(api: httpx.Client) -> None:
    def stopped() -> tuple[int, dict[str, Any]] | None:
        response = api.get("/health")
        body = response.json()
        return (response.status_code, body) if body["worker"] == "stopped" else None

    status, body = eventually(stopped, "/health to report the killed worker")
    assert status == 503
    assert (body["status"], body["worker"], body["database"]) == (
        "unhealthy",
        "stopped",
        "connected",
    )
