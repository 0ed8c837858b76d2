"""The webhooks API with the real merchants service in process."""

import re
from typing import Any
from uuid import UUID

import httpx
import pytest

from kit.consumer import consume_event
from kit.db import Database
from kit.events import Envelope
from tests.receiver import Receiver
from webhooks import service
from webhooks.tasks import Dispatcher

TEST_HEADERS = {"X-Api-Key": "key_test_abc123", "X-Api-Secret": "secret_test_xyz789"}
TEST_MERCHANT = UUID("550e8400-e29b-41d4-a716-446655440000")
AUTH_ERROR = {"error": {"code": "AUTHENTICATION_ERROR", "description": "Invalid API credentials"}}
PAYMENT = {
    "id": "pay_CCCCCCCCCCCCCCCC",
    "order_id": "order_DDDDDDDDDDDDDDDD",
    "amount": 700,
    "currency": "INR",
    "method": "upi",
    "vpa": "a@b",
    "status": "success",
    "created_at": "2026-11-26T10:00:00Z",
}


async def configure(
    client: httpx.AsyncClient, url: str | None, headers: dict[str, str] = TEST_HEADERS
) -> httpx.Response:
    return await client.put("/api/v1/webhooks/config", json={"webhook_url": url}, headers=headers)


async def test_config_set_clear_and_regenerate(client: httpx.AsyncClient) -> None:
    current = (await client.get("/api/v1/webhooks/config", headers=TEST_HEADERS)).json()
    assert set(current) == {"webhook_url", "webhook_secret"}
    assert current["webhook_secret"].startswith("whsec_")
    updated = await configure(client, "https://shop.example/webhook")
    assert updated.json()["webhook_url"] == "https://shop.example/webhook"
    regenerated = (
        await client.post("/api/v1/webhooks/regenerate-secret", headers=TEST_HEADERS)
    ).json()
    assert regenerated["webhook_secret"] != current["webhook_secret"]
    assert re.fullmatch(r"whsec_[A-Za-z0-9+/]{43}=", regenerated["webhook_secret"])  # base64 key
    cleared = await configure(client, None)
    assert cleared.json()["webhook_url"] is None
    assert (await client.post("/api/v1/webhooks/test", headers=TEST_HEADERS)).status_code == 400


@pytest.mark.parametrize("url", ["ftp://x.example/", "not a url", "https://user:pw@x.example/", 42])
async def test_bad_urls_are_400(client: httpx.AsyncClient, url: Any) -> None:
    response = await configure(client, url)
    assert (response.status_code, response.json()["error"]["code"]) == (400, "BAD_REQUEST_ERROR")


async def test_logs_detail_and_retry(
    client: httpx.AsyncClient, pooled_db: Database, receiver: Receiver
) -> None:
    await configure(client, receiver.url)
    sent = Envelope.new("payment.success", TEST_MERCHANT, PAYMENT)
    [created] = await consume_event(pooled_db, f"api-{sent.id}", sent, service.receive_event) or []
    page = (await client.get("/api/v1/webhooks?limit=5&offset=0", headers=TEST_HEADERS)).json()
    assert set(page) == {"data", "total", "limit", "offset", "has_more"}
    assert (page["limit"], page["offset"]) == (5, 0)
    log = page["data"][0]
    assert log["id"] == str(created.id)
    newer = f"/api/v1/webhooks?ending_before={created.id}"
    assert (await client.get(newer, headers=TEST_HEADERS)).json()["data"] == []
    for cursor in ("not-a-uuid", "00000000-0000-0000-0000-000000000000"):  # no such delivery
        refused = await client.get(
            f"/api/v1/webhooks?starting_after={cursor}", headers=TEST_HEADERS
        )
        assert (refused.status_code, refused.json()["error"]["code"]) == (400, "BAD_REQUEST_ERROR")
    for field in (
        "id",
        "event",
        "status",
        "attempts",
        "created_at",
        "last_attempt_at",
        "response_code",
    ):
        assert field in log
    assert (log["event"], log["status"], log["attempts"], log["payment_id"]) == (
        "payment.success",
        "pending",
        0,
        PAYMENT["id"],
    )
    detail = (await client.get(f"/api/v1/webhooks/{created.id}", headers=TEST_HEADERS)).json()
    assert detail["payload"]["data"]["payment"]["id"] == PAYMENT["id"]
    assert detail["attempt_history"] == []
    retried = await client.post(f"/api/v1/webhooks/{created.id}/retry", headers=TEST_HEADERS)
    assert retried.status_code == 200
    assert retried.json() == {
        "id": str(created.id),
        "status": "pending",
        "message": "Webhook retry scheduled",
    }


async def test_send_test_returns_the_delivered_log(
    client: httpx.AsyncClient, receiver: Receiver, worker: Dispatcher
) -> None:
    await configure(client, receiver.url)
    response = await client.post("/api/v1/webhooks/test", headers=TEST_HEADERS)
    assert response.status_code == 200
    assert (
        response.json()["event"],
        response.json()["status"],
        response.json()["response_code"],
    ) == ("webhook.test", "success", 200)
    assert receiver.requests[0].json["event"] == "webhook.test"


@pytest.mark.parametrize(
    "url",
    ["http://169.254.169.254/latest/meta-data/", "http://[64:ff9b::a9fe:a9fe]/hook",
     "http://[2002:a00:1::1]/hook"],
)  # fmt: skip
async def test_send_test_to_a_refused_destination_says_so_generically(
    client: httpx.AsyncClient, url: str, worker: Dispatcher
) -> None:
    await configure(client, url)
    response = await client.post("/api/v1/webhooks/test", headers=TEST_HEADERS)
    log = response.json()
    assert (response.status_code, log["status"], log["response_code"]) == (200, "pending", None)
    assert log["response_body"] == "destination address is not allowed"
    detail = (await client.get(f"/api/v1/webhooks/{log['id']}", headers=TEST_HEADERS)).json()
    assert [a["error"] for a in detail["attempt_history"]] == [log["response_body"]]


async def test_another_merchants_log_is_not_found(
    client: httpx.AsyncClient,
    pooled_db: Database,
    receiver: Receiver,
    other_merchant: dict[str, str],
) -> None:
    await configure(client, receiver.url)
    sent = Envelope.new("payment.created", TEST_MERCHANT, PAYMENT)
    [created] = await consume_event(pooled_db, f"api-{sent.id}", sent, service.receive_event) or []
    for method, path in (
        ("GET", f"/api/v1/webhooks/{created.id}"),
        ("POST", f"/api/v1/webhooks/{created.id}/retry"),
    ):
        response = await client.request(method, path, headers=other_merchant)
        assert (response.status_code, response.json()["error"]["code"]) == (404, "NOT_FOUND_ERROR")
    theirs = (await client.get("/api/v1/webhooks", headers=other_merchant)).json()
    assert str(created.id) not in [d["id"] for d in theirs["data"]]
    assert (
        await client.get("/api/v1/webhooks/not-a-uuid", headers=TEST_HEADERS)
    ).status_code == 400


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("GET", "/api/v1/webhooks/config"),
        ("PUT", "/api/v1/webhooks/config"),
        ("POST", "/api/v1/webhooks/regenerate-secret"),
        ("POST", "/api/v1/webhooks/test"),
        ("GET", "/api/v1/webhooks"),
        ("GET", "/api/v1/webhooks/00000000-0000-0000-0000-000000000000"),
        ("POST", "/api/v1/webhooks/00000000-0000-0000-0000-000000000000/retry"),
    ],
)
async def test_every_route_needs_credentials(
    client: httpx.AsyncClient, method: str, path: str
) -> None:
    response = await client.request(method, path, json={"webhook_url": None})
    assert (response.status_code, response.json()) == (401, AUTH_ERROR)


async def test_logs_filter_by_status_and_event(
    client: httpx.AsyncClient, pooled_db: Database, receiver: Receiver
) -> None:
    await configure(client, receiver.url)
    payment = {**PAYMENT, "id": "pay_FFFFFFFFFFFFFFFF"}
    for kind in ("payment.pending", "payment.failed"):
        sent = Envelope.new(kind, TEST_MERCHANT, payment)
        await consume_event(pooled_db, f"api-{sent.id}", sent, service.receive_event)

    async def listed(query: str) -> list[tuple[str, str]]:
        url = f"/api/v1/webhooks?limit=100&payment_id={payment['id']}&{query}"
        page = (await client.get(url, headers=TEST_HEADERS)).json()
        assert page["total"] == len(page["data"])
        return sorted((log["event"], log["status"]) for log in page["data"])

    both = [("payment.failed", "pending"), ("payment.pending", "pending")]
    assert await listed("status=pending") == both
    assert await listed("event=payment.failed") == [("payment.failed", "pending")]
    assert await listed("status=pending&event=payment.pending") == [("payment.pending", "pending")]
    assert await listed("status=success") == []
    refused = await client.get("/api/v1/webhooks?status=delivered", headers=TEST_HEADERS)
    assert (refused.status_code, refused.json()["error"]["code"]) == (400, "BAD_REQUEST_ERROR")
