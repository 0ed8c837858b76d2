"""Payments over HTTP with the real merchants and orders services in process."""

import asyncio
import logging
import re
import uuid
from collections.abc import Awaitable, Callable
from typing import Any

import httpx
import pytest

from kit.db import Database
from payments.domain import ProcessingRules

MakeOrder = Callable[..., Awaitable[dict[str, Any]]]
Process = Callable[..., Awaitable[dict[str, Any]]]
TEST_HEADERS = {"X-Api-Key": "key_test_abc123", "X-Api-Secret": "secret_test_xyz789"}
CARD = {
    "number": "4111111111111111",
    "expiry_month": "12",
    "expiry_year": "2030",
    "cvv": "123",
    "holder_name": "John Doe",
}
INSTANT = ProcessingRules(True, True, 0, 0.9, 0.95, 5000, 10000)
AUTH_ERROR = {"error": {"code": "AUTHENTICATION_ERROR", "description": "Invalid API credentials"}}


async def pay(client: httpx.AsyncClient, body: dict[str, Any], **headers: str) -> httpx.Response:
    return await client.post("/api/v1/payments", json=body, headers={**TEST_HEADERS, **headers})


async def test_upi_create_has_exactly_the_contract_fields(
    client: httpx.AsyncClient, make_order: MakeOrder
) -> None:
    order = await make_order(50000)
    response = await pay(client, {"order_id": order["id"], "method": "upi", "vpa": "user@paytm"})
    assert response.status_code == 201
    body = response.json()
    assert list(body) == [
        "id",
        "order_id",
        "amount",
        "currency",
        "method",
        "vpa",
        "status",
        "created_at",
    ]
    assert re.fullmatch(r"pay_[A-Za-z0-9]{16}", body["id"])
    assert (body["order_id"], body["amount"], body["currency"]) == (order["id"], 50000, "INR")
    assert (body["method"], body["vpa"], body["status"]) == ("upi", "user@paytm", "pending")
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", body["created_at"])


async def test_card_create_shows_network_and_last_four_only(
    client: httpx.AsyncClient, make_order: MakeOrder, caplog: pytest.LogCaptureFixture
) -> None:
    order = await make_order()
    with caplog.at_level(logging.DEBUG):
        response = await pay(client, {"order_id": order["id"], "method": "card", "card": CARD})
    body = response.json()
    assert response.status_code == 201
    assert list(body) == [
        "id",
        "order_id",
        "amount",
        "currency",
        "method",
        "card_network",
        "card_last4",
        "status",
        "created_at",
    ]
    assert (body["card_network"], body["card_last4"]) == ("visa", "1111")
    fetched = (await client.get(f"/api/v1/payments/{body['id']}", headers=TEST_HEADERS)).text
    assert "4111111111111111" not in response.text + fetched
    assert "4111111111111111" not in caplog.text
    assert caplog.records  # the request did log; just never the number


@pytest.mark.parametrize(
    ("body", "status", "code"),
    [
        ({"method": "upi", "vpa": "user@@bank"}, 400, "INVALID_VPA"),
        ({"method": "card", "card": {**CARD, "number": "4111111111111112"}}, 400, "INVALID_CARD"),
        ({"method": "card", "card": {**CARD, "expiry_year": "2020"}}, 400, "EXPIRED_CARD"),
        (
            {"method": "card", "card": {k: v for k, v in CARD.items() if k != "cvv"}},
            400,
            "BAD_REQUEST_ERROR",
        ),
        ({"method": "wallet"}, 400, "BAD_REQUEST_ERROR"),
        (
            {"method": "upi", "vpa": "x@y", "order_id": "order_0000000000000000"},
            404,
            "NOT_FOUND_ERROR",
        ),
    ],
)
async def test_invalid_payments_get_the_contract_error(
    client: httpx.AsyncClient, make_order: MakeOrder, body: dict[str, Any], status: int, code: str
) -> None:
    order = await make_order()
    response = await pay(client, {"order_id": order["id"], **body})
    assert (response.status_code, response.json()["error"]["code"]) == (status, code)


@pytest.mark.parametrize(
    ("field", "value", "code"),
    [
        ("number", "411111111111111²", "INVALID_CARD"),
        ("number", "\uff14" + "\uff11" * 15, "INVALID_CARD"),  # full-width
        ("number", "٤١١١١١١١١١١١١١١١", "INVALID_CARD"),  # Arabic-Indic
        ("cvv", "\uff11\uff12\uff13", "INVALID_CARD"),
        ("cvv", "12³", "INVALID_CARD"),
        ("expiry_month", "1²", "EXPIRED_CARD"),
        ("expiry_month", "\uff11\uff12", "EXPIRED_CARD"),
        ("expiry_year", "\uff12\uff10\uff13\uff10", "EXPIRED_CARD"),
        ("expiry_year", "20³0", "EXPIRED_CARD"),
    ],
)
@pytest.mark.parametrize("route", ["/api/v1/payments", "/api/v1/payments/public"])
async def test_a_card_with_digits_outside_ascii_is_refused_400(
    client: httpx.AsyncClient, make_order: MakeOrder, route: str, field: str, value: str, code: str
) -> None:
    order = await make_order()
    body = {"order_id": order["id"], "method": "card", "card": {**CARD, field: value}}
    response = await client.post(route, json=body, headers=TEST_HEADERS)
    assert (response.status_code, response.json()["error"]["code"]) == (400, code)


async def test_validation_error_never_echoes_the_card_number(
    client: httpx.AsyncClient, make_order: MakeOrder
) -> None:
    order = await make_order()
    response = await pay(
        client,
        {
            "order_id": order["id"],
            "method": "card",
            "card": {**CARD, "cvv": 123, "number": 4111111111111111},
        },
    )
    assert response.status_code == 400
    assert "4111111111111111" not in response.text


async def test_idempotent_replay_is_byte_for_byte_and_a_changed_body_is_refused(
    client: httpx.AsyncClient, make_order: MakeOrder
) -> None:
    order = await make_order()
    body = {"order_id": order["id"], "method": "upi", "vpa": "user@paytm"}
    first = await pay(client, body, **{"Idempotency-Key": "replay-1"})
    second = await pay(client, body, **{"Idempotency-Key": "replay-1"})
    assert (first.status_code, second.status_code) == (201, 201)
    assert second.content == first.content
    changed = await pay(client, {**body, "vpa": "someone@else"}, **{"Idempotency-Key": "replay-1"})
    assert changed.status_code == 400
    assert changed.json()["error"]["code"] == "BAD_REQUEST_ERROR"
    listed = await client.get(
        "/api/v1/payments", params={"order_id": order["id"]}, headers=TEST_HEADERS
    )
    assert listed.json()["total"] == 1


async def test_fifty_concurrent_requests_with_one_key_create_one_payment(
    client: httpx.AsyncClient, make_order: MakeOrder
) -> None:
    order = await make_order()
    body = {"order_id": order["id"], "method": "upi", "vpa": "user@paytm"}
    responses = await asyncio.gather(
        *(pay(client, body, **{"Idempotency-Key": f"burst-{order['id']}"}) for _ in range(50))
    )
    statuses = [r.status_code for r in responses]
    assert set(statuses) <= {201, 409}
    created = {r.content for r in responses if r.status_code == 201}
    assert len(created) == 1
    listed = await client.get(
        "/api/v1/payments", params={"order_id": order["id"]}, headers=TEST_HEADERS
    )
    assert listed.json()["total"] == 1


async def test_get_list_public_and_capture(
    client: httpx.AsyncClient, make_order: MakeOrder, pooled_db: Database, process: Process
) -> None:
    order = await make_order(2500)
    created = (
        await pay(client, {"order_id": order["id"], "method": "upi", "vpa": "user@paytm"})
    ).json()
    pid = created["id"]
    not_yet = await client.post(
        f"/api/v1/payments/{pid}/capture", json={"amount": 2500}, headers=TEST_HEADERS
    )
    assert (not_yet.status_code, not_yet.json()["error"]) == (
        400,
        {"code": "BAD_REQUEST_ERROR", "description": "Payment not in capturable state"},
    )
    await process(pooled_db, pid)
    fetched = (await client.get(f"/api/v1/payments/{pid}", headers=TEST_HEADERS)).json()
    assert (fetched["status"], fetched["captured"], fetched["updated_at"].endswith("Z")) == (
        "success",
        False,
        True,
    )
    public = (await client.get(f"/api/v1/payments/{pid}/public")).json()
    assert public["status"] == "success"
    assert "vpa" not in public
    captured = await client.post(
        f"/api/v1/payments/{pid}/capture", json={"amount": 2500}, headers=TEST_HEADERS
    )
    assert captured.status_code == 200
    assert (captured.json()["captured"], captured.json()["status"]) == (True, "success")
    again = await client.post(
        f"/api/v1/payments/{pid}/capture", json={"amount": 2500}, headers=TEST_HEADERS
    )
    assert again.status_code == 400
    assert captured.json().keys() == fetched.keys()  # the same resource shape as GET
    by_status = await client.get(
        "/api/v1/payments", params={"status": "success", "limit": 100}, headers=TEST_HEADERS
    )
    assert pid in [p["id"] for p in by_status.json()["data"]]
    assert all(p["status"] == "success" for p in by_status.json()["data"])


async def test_public_create_needs_no_credentials(
    client: httpx.AsyncClient, make_order: MakeOrder
) -> None:
    order = await make_order(900)
    response = await client.post(
        "/api/v1/payments/public", json={"order_id": order["id"], "method": "upi", "vpa": "a@b"}
    )
    assert response.status_code == 201
    assert response.json()["amount"] == 900


async def test_a_retried_capture_with_its_key_replays_the_first_answer(
    client: httpx.AsyncClient, make_order: MakeOrder, pooled_db: Database, process: Process
) -> None:
    order = await make_order(1200)
    pid = (await pay(client, {"order_id": order["id"], "method": "upi", "vpa": "u@p"})).json()["id"]
    await process(pooled_db, pid)
    headers = {**TEST_HEADERS, "Idempotency-Key": f"capture-{pid}"}
    first = await client.post(f"/api/v1/payments/{pid}/capture", headers=headers)
    retried = await client.post(f"/api/v1/payments/{pid}/capture", headers=headers)
    assert (first.status_code, retried.status_code) == (200, 200)
    assert retried.content == first.content
    assert first.json()["captured"] is True


async def test_a_double_click_in_the_checkout_makes_one_payment(
    client: httpx.AsyncClient, make_order: MakeOrder
) -> None:
    """The checkout sends one key per attempt; both clicks carry it, without credentials."""
    order = await make_order(800)
    body = {"order_id": order["id"], "method": "upi", "vpa": "buyer@okbank"}
    headers = {"Idempotency-Key": f"attempt-{order['id']}"}
    responses = await asyncio.gather(
        *(client.post("/api/v1/payments/public", json=body, headers=headers) for _ in range(2))
    )
    assert {r.status_code for r in responses} <= {201, 409}
    assert len({r.content for r in responses if r.status_code == 201}) == 1
    listed = await client.get(
        "/api/v1/payments", params={"order_id": order["id"]}, headers=TEST_HEADERS
    )
    assert listed.json()["total"] == 1
    changed = await client.post(
        "/api/v1/payments/public", json={**body, "vpa": "other@bank"}, headers=headers
    )
    assert changed.status_code == 400


async def test_another_merchants_payment_is_not_found(
    client: httpx.AsyncClient, make_order: MakeOrder, other_merchant: dict[str, str]
) -> None:
    order = await make_order()
    pid = (await pay(client, {"order_id": order["id"], "method": "upi", "vpa": "a@b"})).json()["id"]
    for method, path in (
        ("GET", f"/api/v1/payments/{pid}"),
        ("POST", f"/api/v1/payments/{pid}/capture"),
    ):
        response = await client.request(method, path, headers=other_merchant)
        assert (response.status_code, response.json()["error"]["code"]) == (404, "NOT_FOUND_ERROR")
    mine = await pay(
        client, {"order_id": order["id"], "method": "upi", "vpa": "a@b"}, **other_merchant
    )
    assert mine.status_code == 404  # nor may it pay this merchant's order through the API


async def test_notes_are_kept_replaced_and_bounded(
    client: httpx.AsyncClient, make_order: MakeOrder, other_merchant: dict[str, str]
) -> None:
    order = await make_order()
    body = {"order_id": order["id"], "method": "upi", "vpa": "a@b", "notes": {"cart": "c-1"}}
    created = await pay(client, body)
    assert created.status_code == 201
    assert "notes" not in created.json()  # the 201 is exactly the contract's
    path = f"/api/v1/payments/{created.json()['id']}"
    assert (await client.get(path, headers=TEST_HEADERS)).json()["notes"] == {"cart": "c-1"}
    updated = await client.post(path, json={"notes": {"ticket": 7}}, headers=TEST_HEADERS)
    assert (updated.status_code, updated.json()["notes"]) == (200, {"ticket": 7})
    cleared = await client.post(path, json={"notes": None}, headers=TEST_HEADERS)
    assert cleared.json()["notes"] == {}
    too_many = {"notes": {f"k{i}": i for i in range(16)}}
    for refused in (too_many, {"notes": {"k": "v" * 513}}, {"notes": {}, "status": "failed"}):
        answer = await client.post(path, json=refused, headers=TEST_HEADERS)
        assert (answer.status_code, answer.json()["error"]["code"]) == (400, "BAD_REQUEST_ERROR")
    foreign = await client.post(path, json={"notes": {}}, headers=other_merchant)
    assert foreign.status_code == 404
    assert (await client.get(path, headers=TEST_HEADERS)).json()["status"] == "pending"


async def test_a_note_finds_the_payments_that_hold_it(
    client: httpx.AsyncClient, make_order: MakeOrder
) -> None:
    cart = f"c-{uuid.uuid4()}"
    bodies = [
        {"order_id": (await make_order())["id"], "method": "upi", "vpa": "a@b", "notes": notes}
        for notes in ({"cart": cart}, {"cart": f"{cart}-2"}, {})
    ]
    made = [(await pay(client, body)).json()["id"] for body in bodies]
    listed = await client.get("/api/v1/payments", params={"note": f"cart:{cart}"},
                              headers=TEST_HEADERS)  # fmt: skip
    assert [p["id"] for p in listed.json()["data"]] == made[:1]
    refused = await client.get("/api/v1/payments", params={"note": "cart"}, headers=TEST_HEADERS)
    assert refused.status_code == 400


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("POST", "/api/v1/payments"),
        ("GET", "/api/v1/payments"),
        ("GET", "/api/v1/payments/pay_x"),
        ("POST", "/api/v1/payments/pay_x/capture"),
    ],
)
async def test_authenticated_routes_refuse_bad_credentials(
    client: httpx.AsyncClient, method: str, path: str
) -> None:
    for headers in ({}, {**TEST_HEADERS, "X-Api-Secret": "wrong"}):
        response = await client.request(method, path, headers=headers, json={})
        assert (response.status_code, response.json()) == (401, AUTH_ERROR)


async def test_jobs_status_has_the_contract_shape(client: httpx.AsyncClient) -> None:
    response = await client.get("/api/v1/test/jobs/status")
    body = response.json()
    assert list(body) == ["pending", "processing", "completed", "failed", "worker_status"]
    assert all(isinstance(body[k], int) for k in ("pending", "processing", "completed", "failed"))
    assert body["worker_status"] in ("running", "stopped")


async def test_metrics_count_payments_by_method_and_status(
    client: httpx.AsyncClient, make_order: MakeOrder
) -> None:
    def pending_upi(text: str) -> float:
        prefix = 'payments_total{method="upi",status="pending"}'
        lines = [line for line in text.splitlines() if line.startswith(prefix)]
        return float(lines[0].split()[-1]) if lines else 0.0

    before = pending_upi((await client.get("/metrics")).text)
    order = await make_order()
    await pay(client, {"order_id": order["id"], "method": "upi", "vpa": "a@b"})
    after = pending_upi((await client.get("/metrics")).text)
    assert after == before + 1
