"""Refunds over HTTP, with the real merchants service in process."""

import asyncio
import re
import uuid
from collections.abc import Awaitable, Callable

import httpx
import pytest

from kit.db import Database

SuccessfulPayment = Callable[..., Awaitable[str]]
TEST_HEADERS = {"X-Api-Key": "key_test_abc123", "X-Api-Secret": "secret_test_xyz789"}
AUTH_ERROR = {"error": {"code": "AUTHENTICATION_ERROR", "description": "Invalid API credentials"}}


async def refund(
    client: httpx.AsyncClient, payment_id: str, body: object, **headers: str
) -> httpx.Response:
    return await client.post(
        f"/api/v1/payments/{payment_id}/refunds", json=body, headers={**TEST_HEADERS, **headers}
    )


async def test_create_has_the_contract_fields_and_reads_back(
    client: httpx.AsyncClient, successful_payment: SuccessfulPayment
) -> None:
    payment_id = await successful_payment(50000)
    created = await refund(
        client, payment_id, {"amount": 20000, "reason": "Customer requested refund"}
    )
    assert created.status_code == 201
    body = created.json()
    assert list(body) == ["id", "payment_id", "amount", "reason", "status", "created_at"]
    assert re.fullmatch(r"rfnd_[A-Za-z0-9]{16}", body["id"])
    assert (body["payment_id"], body["amount"], body["status"]) == (payment_id, 20000, "pending")
    fetched = (await client.get(f"/api/v1/refunds/{body['id']}", headers=TEST_HEADERS)).json()
    assert fetched == {**body, "processed_at": None, "notes": {}}
    by_payment = (
        await client.get(f"/api/v1/payments/{payment_id}/refunds", headers=TEST_HEADERS)
    ).json()
    assert [r["id"] for r in by_payment["data"]] == [body["id"]]
    listed = (
        await client.get("/api/v1/refunds", params={"payment_id": payment_id}, headers=TEST_HEADERS)
    ).json()
    assert (listed["total"], listed["data"][0]["id"]) == (1, body["id"])
    via_body = await client.post(
        "/api/v1/refunds", json={"payment_id": payment_id, "amount": 30000}, headers=TEST_HEADERS
    )
    assert via_body.status_code == 201
    over = await refund(client, payment_id, {"amount": 1})
    assert (over.status_code, over.json()) == (
        400,
        {
            "error": {
                "code": "BAD_REQUEST_ERROR",
                "description": "Refund amount exceeds available amount",
            }
        },
    )


async def test_notes_are_kept_and_replaced(
    client: httpx.AsyncClient, successful_payment: SuccessfulPayment
) -> None:
    payment_id = await successful_payment(50000)
    created = await refund(client, payment_id, {"amount": 100, "notes": {"rma": "R-7"}})
    assert (created.status_code, "notes" in created.json()) == (201, False)  # the contract's 201
    path = f"/api/v1/refunds/{created.json()['id']}"
    assert (await client.get(path, headers=TEST_HEADERS)).json()["notes"] == {"rma": "R-7"}
    updated = await client.post(path, json={"notes": {"rma": "R-8"}}, headers=TEST_HEADERS)
    assert (updated.status_code, updated.json()["notes"]) == (200, {"rma": "R-8"})
    refused = await client.post(path, json={"notes": [1]}, headers=TEST_HEADERS)
    assert refused.status_code == 400
    missing = await client.post("/api/v1/refunds/rfnd_x", json={"notes": {}}, headers=TEST_HEADERS)
    assert missing.status_code == 404


async def test_a_note_finds_the_refunds_that_hold_it(
    client: httpx.AsyncClient, successful_payment: SuccessfulPayment
) -> None:
    payment_id = await successful_payment(50000)
    rma = f"R-{uuid.uuid4()}"
    made = [(await refund(client, payment_id, {"amount": 100, "notes": notes})).json()["id"]
            for notes in ({"rma": rma}, {"rma": f"{rma}-2"}, {})]  # fmt: skip
    listed = await client.get("/api/v1/refunds", params={"note": f"rma:{rma}"},
                              headers=TEST_HEADERS)  # fmt: skip
    assert [r["id"] for r in listed.json()["data"]] == made[:1]


@pytest.mark.parametrize(
    ("body", "description"),
    [
        ({"amount": 0}, "amount must be greater than 0"),
        ({"amount": 1.5}, "amount must be an integer"),
        ({}, "amount: Field required"),
        ({"amount": 100, "extra": 1}, "extra: Extra inputs are not permitted"),
    ],
)
async def test_bad_bodies_are_400(
    client: httpx.AsyncClient, successful_payment: SuccessfulPayment, body: object, description: str
) -> None:
    response = await refund(client, await successful_payment(), body)
    assert (response.status_code, response.json()["error"]) == (
        400,
        {"code": "BAD_REQUEST_ERROR", "description": description},
    )


async def test_fifty_concurrent_refunds_never_exceed_the_payment(
    client: httpx.AsyncClient, successful_payment: SuccessfulPayment, pooled_db: Database
) -> None:
    payment_id = await successful_payment(50000)
    responses = await asyncio.gather(
        *(refund(client, payment_id, {"amount": 1500}) for _ in range(50))
    )
    statuses = [r.status_code for r in responses]
    assert (statuses.count(201), statuses.count(400)) == (33, 17)  # 33 * 1500 = 49500 <= 50000
    async with pooled_db.transaction() as conn:
        refunded = await conn.fetchval(
            "SELECT sum(amount_minor) FROM refund WHERE payment_id = $1", payment_id
        )
        reserved = await conn.fetchval(
            "SELECT refunded_minor FROM payment_balance WHERE payment_id = $1", payment_id
        )
    assert refunded == reserved == 49500


async def test_idempotent_create_replays_byte_for_byte(
    client: httpx.AsyncClient, successful_payment: SuccessfulPayment
) -> None:
    payment_id = await successful_payment(9000)
    first = await refund(
        client, payment_id, {"amount": 1000}, **{"Idempotency-Key": "refund-key-1"}
    )
    again = await refund(
        client, payment_id, {"amount": 1000}, **{"Idempotency-Key": "refund-key-1"}
    )
    assert (first.status_code, again.status_code, again.content) == (201, 201, first.content)
    other = await refund(
        client, payment_id, {"amount": 2000}, **{"Idempotency-Key": "refund-key-1"}
    )
    assert other.status_code == 400


async def test_another_merchant_can_neither_refund_nor_read(
    client: httpx.AsyncClient, successful_payment: SuccessfulPayment, other_merchant: dict[str, str]
) -> None:
    payment_id = await successful_payment(5000)
    mine = (await refund(client, payment_id, {"amount": 100})).json()
    theirs = await client.post(
        f"/api/v1/payments/{payment_id}/refunds", json={"amount": 100}, headers=other_merchant
    )
    assert (theirs.status_code, theirs.json()["error"]["code"]) == (404, "NOT_FOUND_ERROR")
    read = await client.get(f"/api/v1/refunds/{mine['id']}", headers=other_merchant)
    assert read.status_code == 404
    assert (await client.get("/api/v1/refunds", headers=other_merchant)).json()["total"] == 0


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("POST", "/api/v1/payments/pay_x/refunds"),
        ("GET", "/api/v1/payments/pay_x/refunds"),
        ("POST", "/api/v1/refunds"),
        ("GET", "/api/v1/refunds"),
        ("GET", "/api/v1/refunds/rfnd_x"),
    ],
)
async def test_every_route_needs_credentials(
    client: httpx.AsyncClient, method: str, path: str
) -> None:
    response = await client.request(method, path, json={"amount": 100, "payment_id": "pay_x"})
    assert (response.status_code, response.json()) == (401, AUTH_ERROR)
