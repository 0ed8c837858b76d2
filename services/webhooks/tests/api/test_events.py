"""/api/v1/events and /api/v1/webhooks/replay with the real merchants service in process."""

from datetime import UTC, datetime, timedelta
from typing import Any
from uuid import UUID

import httpx
import pytest

from kit.consumer import consume_event
from kit.db import Database
from kit.events import Envelope
from webhooks import service

EVENTS = "/api/v1/events"
PAYMENT = {"id": "pay_JJJJJJJJJJJJJJJJ", "order_id": "order_KKKKKKKKKKKKKKKK", "amount": 700,
           "currency": "INR", "method": "upi", "vpa": "a@b", "status": "success",
           "created_at": "2026-11-26T10:00:00Z"}  # fmt: skip


def error_of(response: httpx.Response) -> tuple[int, str]:
    return response.status_code, response.json()["error"]["code"]


async def receive(db: Database, merchant: UUID, kind: str) -> Envelope:
    event = Envelope.new(kind, merchant, PAYMENT)
    await consume_event(db, f"api-{event.id}", event, service.receive_event)
    return event


async def test_list_get_and_resend(
    client: httpx.AsyncClient,
    pooled_db: Database,
    other_merchant_account: tuple[UUID, dict[str, str]],
) -> None:
    merchant, headers = other_merchant_account
    await client.put(
        "/api/v1/webhooks/config", json={"webhook_url": "https://shop.example/"}, headers=headers
    )
    created = await receive(pooled_db, merchant, "payment.created")
    success = await receive(pooled_db, merchant, "payment.success")

    page = (await client.get(EVENTS, params={"limit": 1}, headers=headers)).json()
    assert (set(page), page["total"], page["limit"], page["offset"]) == (
        {"data", "total", "limit", "offset", "has_more"},
        2,
        1,
        0,
    )
    [newest] = page["data"]
    assert set(newest) == {"id", "type", "object_id", "created_at", "payload"}
    assert (newest["id"], newest["type"], newest["object_id"]) == (
        success.id,
        "payment.success",
        PAYMENT["id"],
    )
    assert newest["payload"]["data"]["payment"]["id"] == PAYMENT["id"]
    by_type = (await client.get(EVENTS, params={"type": "payment.created"}, headers=headers)).json()
    assert [e["id"] for e in by_type["data"]] == [created.id]
    by_object = await client.get(EVENTS, params={"object_id": "pay_other"}, headers=headers)
    assert by_object.json()["total"] == 0
    later = (datetime.now(UTC) + timedelta(minutes=1)).isoformat()
    assert (await client.get(EVENTS, params={"created_from": later}, headers=headers)).json()[
        "data"
    ] == []

    detail = (await client.get(f"{EVENTS}/{success.id}", headers=headers)).json()
    [delivery] = detail["deliveries"]
    assert (delivery["event"], delivery["status"]) == ("payment.success", "pending")
    log = (await client.get(f"/api/v1/webhooks/{delivery['id']}", headers=headers)).json()
    assert log["event_id"] == success.id  # a log leads back to its event

    resent = await client.post(f"{EVENTS}/{success.id}/resend", headers=headers)
    assert resent.status_code == 200
    assert resent.json()["event_id"] == success.id
    assert [d["id"] for d in resent.json()["deliveries"]] == [delivery["id"]]
    one = await client.post(
        f"{EVENTS}/{success.id}/resend", json={"endpoint_id": "ep_nope"}, headers=headers
    )
    assert error_of(one) == (404, "NOT_FOUND_ERROR")

    test_headers = {"X-Api-Key": "key_test_abc123", "X-Api-Secret": "secret_test_xyz789"}
    for method, path in (
        ("GET", f"{EVENTS}/{success.id}"),
        ("POST", f"{EVENTS}/{success.id}/resend"),
    ):
        response = await client.request(method, path, headers=test_headers)
        assert error_of(response) == (404, "NOT_FOUND_ERROR")
    theirs = (await client.get(EVENTS, params={"limit": 100}, headers=test_headers)).json()
    assert success.id not in [e["id"] for e in theirs["data"]]


@pytest.mark.parametrize(
    "params",
    [{"limit": 0}, {"limit": 101}, {"offset": -1}, {"created_from": "yesterday"},
     {"created_from": "2026-11-30T12:00:00Z", "created_to": "2026-11-30T11:00:00Z"},
     {"type": "x" * 51}],
)  # fmt: skip
async def test_bad_event_queries_are_400(
    client: httpx.AsyncClient, other_merchant: dict[str, str], params: dict[str, Any]
) -> None:
    response = await client.get(EVENTS, params=params, headers=other_merchant)
    assert error_of(response) == (400, "BAD_REQUEST_ERROR")


async def test_replay_failed_deliveries_in_a_window(
    client: httpx.AsyncClient,
    pooled_db: Database,
    other_merchant_account: tuple[UUID, dict[str, str]],
) -> None:
    merchant, headers = other_merchant_account
    await client.put(
        "/api/v1/webhooks/config", json={"webhook_url": "https://shop.example/"}, headers=headers
    )
    sent = await receive(pooled_db, merchant, "payment.failed")
    async with pooled_db.transaction() as conn:
        await conn.execute(
            "UPDATE delivery SET status = 'failed', attempts = 5, next_retry_at = NULL"
            " WHERE event_id = $1",
            sent.id,
        )
    now = datetime.now(UTC)
    window = {
        "from": (now - timedelta(hours=1)).isoformat(),
        "to": (now + timedelta(hours=1)).isoformat(),
    }
    replayed = await client.post("/api/v1/webhooks/replay", json=window, headers=headers)
    assert (replayed.status_code, replayed.json()) == (200, {"replayed": 1})
    detail = (await client.get(f"{EVENTS}/{sent.id}", headers=headers)).json()
    assert [(d["status"], d["attempts"]) for d in detail["deliveries"]] == [("pending", 0)]
    again = await client.post("/api/v1/webhooks/replay", json=window, headers=headers)
    assert again.json() == {"replayed": 0}


@pytest.mark.parametrize(
    "body",
    [{}, {"from": "2026-11-30T12:00:00Z"},
     {"from": "2026-11-30T12:00:00Z", "to": "2026-11-30T12:00:00Z"},
     {"from": "soon", "to": "2026-11-30T12:00:00Z"},
     {"from": "2026-11-30T11:00:00Z", "to": "2026-11-30T12:00:00Z", "status": "failed"}],
)  # fmt: skip
async def test_bad_replays_are_400(
    client: httpx.AsyncClient, other_merchant: dict[str, str], body: dict[str, Any]
) -> None:
    response = await client.post("/api/v1/webhooks/replay", json=body, headers=other_merchant)
    assert error_of(response) == (400, "BAD_REQUEST_ERROR")


@pytest.mark.parametrize(
    ("method", "path"),
    [("GET", EVENTS), ("GET", f"{EVENTS}/evt_x"), ("POST", f"{EVENTS}/evt_x/resend"),
     ("POST", "/api/v1/webhooks/replay")],
)  # fmt: skip
async def test_every_route_needs_credentials(
    client: httpx.AsyncClient, method: str, path: str
) -> None:
    response = await client.request(method, path)
    assert error_of(response) == (401, "AUTHENTICATION_ERROR")
