"""Orders over HTTP, authenticated by the real merchants service (in process)."""

import re
import time
import uuid
from typing import Any
from uuid import UUID

import httpx
import pytest
from asgi_lifespan import LifespanManager

from orders.main import create_app
from orders.settings import Settings
from tests.waits import eventually_async

TEST_HEADERS = {"X-Api-Key": "key_test_abc123", "X-Api-Secret": "secret_test_xyz789"}
AUTH_ERROR = {"error": {"code": "AUTHENTICATION_ERROR", "description": "Invalid API credentials"}}
ORDER_FIELDS = {"id", "merchant_id", "amount", "currency", "receipt", "notes", "status"} | {
    "created_at",
    "updated_at",
    "callback_url",
}
TIMESTAMP = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$")


async def create(
    client: httpx.AsyncClient, body: object, headers: dict[str, str] = TEST_HEADERS
) -> httpx.Response:
    return await client.post("/api/v1/orders", json=body, headers=headers)


async def test_create_returns_201_with_the_contract_fields(client: httpx.AsyncClient) -> None:
    body = {
        "amount": 50000,
        "currency": "INR",
        "receipt": "receipt_123",
        "notes": {"customer_name": "John Doe"},
    }
    response = await create(client, body)
    assert response.status_code == 201
    order = response.json()
    assert set(order) == ORDER_FIELDS
    assert re.fullmatch(r"order_[A-Za-z0-9]{16}", order["id"])
    assert order["merchant_id"] == "550e8400-e29b-41d4-a716-446655440000"
    assert (order["amount"], order["currency"], order["status"]) == (50000, "INR", "created")
    assert (order["receipt"], order["notes"]) == ("receipt_123", {"customer_name": "John Doe"})
    assert TIMESTAMP.match(order["created_at"])


async def test_a_retried_create_with_its_key_replays_byte_for_byte(
    client: httpx.AsyncClient,
) -> None:
    headers = {**TEST_HEADERS, "Idempotency-Key": f"order-{uuid.uuid4()}"}
    body = {"amount": 4200, "receipt": "retry-me"}
    first, retried = [await create(client, body, headers) for _ in range(2)]
    assert (first.status_code, retried.status_code) == (201, 201)
    assert retried.content == first.content
    changed = await create(client, {**body, "amount": 4300}, headers)
    assert changed.status_code == 400
    assert "Idempotency-Key" in changed.json()["error"]["description"]


async def test_get_and_public_views(client: httpx.AsyncClient) -> None:
    order = (await create(client, {"amount": 12345})).json()
    fetched = await client.get(f"/api/v1/orders/{order['id']}", headers=TEST_HEADERS)
    assert fetched.json() == order
    public = await client.get(f"/api/v1/orders/{order['id']}/public")
    contract = {"id": order["id"], "amount": 12345, "currency": "INR", "status": "created"}
    assert public.json() == contract  # the contract's "only" these four
    hosted = await client.get(f"/api/v1/orders/{order['id']}/checkout")
    assert hosted.json() == {
        **contract,
        "merchant_id": "550e8400-e29b-41d4-a716-446655440000",
        "callback_url": None,
    }


async def test_a_callback_url_is_kept_and_given_to_the_checkout(client: httpx.AsyncClient) -> None:
    url = "https://shop.example/orders/42/paid?from=gateway"
    order = (await create(client, {"amount": 5000, "callback_url": url})).json()
    assert order["callback_url"] == url
    fetched = await client.get(f"/api/v1/orders/{order['id']}", headers=TEST_HEADERS)
    assert fetched.json()["callback_url"] == url
    hosted = await client.get(f"/api/v1/orders/{order['id']}/checkout")
    assert hosted.json()["callback_url"] == url


@pytest.mark.parametrize(
    "url",
    [
        "javascript:alert(1)",
        "ftp://shop.example/x",
        "https://",
        "/relative/path",
        " https://shop.example/",
        "https://shop.example/a b",
        "https://shop.example/\x00",
        "https://shop.example/" + "x" * 2048,
        42,
    ],
)
async def test_a_callback_url_must_be_a_bounded_http_url(
    client: httpx.AsyncClient, url: object
) -> None:
    response = await create(client, {"amount": 5000, "callback_url": url})
    assert response.status_code == 400
    error = response.json()["error"]
    assert error["code"] == "BAD_REQUEST_ERROR"
    assert "callback_url" in error["description"]


async def test_orders_are_found_by_their_exact_receipt(client: httpx.AsyncClient) -> None:
    receipt = f"rcpt-{uuid.uuid4()}"
    ids = [(await create(client, {"amount": 100, "receipt": receipt})).json()["id"] for _ in "ab"]
    await create(client, {"amount": 100, "receipt": receipt + "-other"})
    found = await client.get("/api/v1/orders", params={"receipt": receipt}, headers=TEST_HEADERS)
    assert found.status_code == 200
    assert found.json()["total"] == 2
    assert [o["id"] for o in found.json()["data"]] == ids[::-1]
    none = await client.get("/api/v1/orders", params={"receipt": "x" * 256}, headers=TEST_HEADERS)
    assert none.status_code == 400


async def test_list_has_the_envelope_and_newest_first(client: httpx.AsyncClient) -> None:
    ids = [(await create(client, {"amount": 100 + i})).json()["id"] for i in range(3)]
    page = (await client.get("/api/v1/orders?limit=2&offset=0", headers=TEST_HEADERS)).json()
    assert set(page) == {"data", "total", "limit", "offset", "has_more"}
    assert (page["limit"], page["offset"], page["has_more"]) == (2, 0, True)
    assert page["total"] >= 3
    assert [o["id"] for o in page["data"]] == ids[::-1][:2]
    defaults = (await client.get("/api/v1/orders", headers=TEST_HEADERS)).json()
    assert (defaults["limit"], defaults["offset"]) == (10, 0)


async def test_notes_are_replaced_with_a_post(client: httpx.AsyncClient) -> None:
    order = (await create(client, {"amount": 100, "notes": {"a": 1}})).json()
    path = f"/api/v1/orders/{order['id']}"
    updated = await client.post(path, json={"notes": {"b": "two"}}, headers=TEST_HEADERS)
    assert (updated.status_code, updated.json()["notes"]) == (200, {"b": "two"})
    assert (updated.json()["amount"], updated.json()["status"]) == (100, order["status"])
    assert (await client.get(path, headers=TEST_HEADERS)).json()["notes"] == {"b": "two"}
    refused = await client.post(path, json={"amount": 5}, headers=TEST_HEADERS)  # notes only
    assert refused.status_code == 400
    gone = await client.post("/api/v1/orders/order_x", json={"notes": {}}, headers=TEST_HEADERS)
    assert gone.status_code == 404


async def test_a_note_finds_the_orders_that_hold_it(
    client: httpx.AsyncClient, other_merchant: dict[str, str]
) -> None:
    """`note=key:value`: the text as stored, or the number or true/false it spells."""
    invoice, seq = f"INV-{uuid.uuid4()}", time.time_ns()
    first = await create(client, {"amount": 100, "notes": {"invoice": invoice, "seq": seq}})
    second = await create(client, {"amount": 100, "notes": {"invoice": f"{invoice}:2"}})
    await create(client, {"amount": 100})  # no notes at all

    async def found(note: str, headers: dict[str, str] = TEST_HEADERS) -> list[str]:
        listed = await client.get("/api/v1/orders", params={"note": note}, headers=headers)
        assert listed.status_code == 200, listed.text
        return [o["id"] for o in listed.json()["data"]]

    assert await found(f"invoice:{invoice}") == [first.json()["id"]]
    assert await found(f"invoice:{invoice}:2") == [second.json()["id"]]  # the first `:` splits
    assert await found(f"seq:{seq}") == [first.json()["id"]]  # a number, typed as text
    assert await found(f"seq:{seq + 1}") == []
    assert await found(f"invoice:{invoice}", other_merchant) == []  # another merchant's
    for bad in ("no-colon", ":no-key"):
        refused = await client.get("/api/v1/orders", params={"note": bad}, headers=TEST_HEADERS)
        assert (refused.status_code, refused.json()["error"]["code"]) == (400, "BAD_REQUEST_ERROR")


async def test_a_cursor_pages_the_list_stably_and_by_creation_time(
    client: httpx.AsyncClient,
) -> None:
    receipt = f"cursor-{uuid.uuid4()}"
    made = [(await create(client, {"amount": 100, "receipt": receipt})).json() for _ in range(3)]
    mine: dict[str, str | int] = {"receipt": receipt, "limit": 2}
    first = (await client.get("/api/v1/orders", params=mine, headers=TEST_HEADERS)).json()
    await create(client, {"amount": 100, "receipt": receipt})  # added while paging
    after = {**mine, "starting_after": first["data"][-1]["id"]}
    second = (await client.get("/api/v1/orders", params=after, headers=TEST_HEADERS)).json()
    assert [o["id"] for o in first["data"] + second["data"]] == [o["id"] for o in made[::-1]]
    assert (second["has_more"], second["total"]) == (False, None)
    for bound, total in (("created[gte]", 4), ("created[lt]", 0)):  # (exact bounds: kit's tests)
        dated = {"receipt": receipt, bound: "2026-01-01T00:00:00Z"}
        listed = (await client.get("/api/v1/orders", params=dated, headers=TEST_HEADERS)).json()
        assert (listed["total"], len(listed["data"])) == (total, total)


@pytest.mark.parametrize(
    "query",
    ["limit=0", "limit=101", "offset=-1", "limit=abc", "created[gte]=yesterday",
     "starting_after=order_AAAAAAAAAAAAAAAA", "starting_after=a&ending_before=b",
     "offset=5&starting_after=a"],
)  # fmt: skip
async def test_bad_paging_is_400(client: httpx.AsyncClient, query: str) -> None:
    response = await client.get(f"/api/v1/orders?{query}", headers=TEST_HEADERS)
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "BAD_REQUEST_ERROR"


@pytest.mark.parametrize(
    ("body", "description"),
    [
        ({"amount": 99}, "amount must be at least 100"),
        ({"amount": 100.5}, "amount must be an integer"),
        ({"amount": "100"}, "amount must be an integer"),
        ({}, "amount: Field required"),
        ({"amount": 100, "currency": "inr"}, "currency: String should match pattern '^[A-Z]{3}$'"),
        ({"amount": 999, "currency": "KWD"}, "amount must be at least 1000"),
        (
            {"amount": 100, "currency": "ABC"},
            "currency must be the ISO 4217 code of a currency in use, such as INR",
        ),
    ],
)
async def test_validation_errors_are_400_bad_request(
    client: httpx.AsyncClient, body: object, description: str
) -> None:
    response = await create(client, body)
    assert response.status_code == 400
    assert response.json() == {"error": {"code": "BAD_REQUEST_ERROR", "description": description}}


async def test_a_currency_outside_the_merchants_list_is_refused(
    client: httpx.AsyncClient, merchants_app: Any, other_merchant: dict[str, str]
) -> None:
    transport = httpx.ASGITransport(merchants_app)
    async with httpx.AsyncClient(transport=transport, base_url="http://merchants") as merchants:
        before = await client.post(
            "/api/v1/orders", json={"amount": 100, "currency": "USD"}, headers=other_merchant
        )  # its principal is cached now: the change below drops it (announced, or its TTL)
        limited = await merchants.put(
            "/api/v1/merchant/currencies", json={"currencies": ["INR"]}, headers=other_merchant
        )
        assert limited.status_code == 200, limited.text

        async def refused() -> httpx.Response | None:
            answer = await client.post(
                "/api/v1/orders", json={"amount": 100, "currency": "USD"}, headers=other_merchant
            )
            return answer if answer.status_code == 400 else None

        after = await eventually_async(refused, "the USD order refused after the change")
        inr = await client.post("/api/v1/orders", json={"amount": 100}, headers=other_merchant)
    assert before.status_code == 201
    assert after.json()["error"] == {
        "code": "BAD_REQUEST_ERROR",
        "description": "currency USD is not enabled for this merchant",
    }
    assert inr.status_code == 201


@pytest.mark.parametrize(("amount", "currency"), [(1, "JPY"), (100, "USD"), (1000, "KWD")])
async def test_an_order_of_one_major_unit_is_created_in_any_currency(
    client: httpx.AsyncClient, amount: int, currency: str
) -> None:
    response = await create(client, {"amount": amount, "currency": currency})
    assert response.status_code == 201, response.text
    assert (response.json()["amount"], response.json()["currency"]) == (amount, currency)


async def test_missing_order_is_404(client: httpx.AsyncClient) -> None:
    not_found = {"error": {"code": "NOT_FOUND_ERROR", "description": "Order not found"}}
    for path in (
        "/api/v1/orders/order_0000000000000000",
        "/api/v1/orders/order_0000000000000000/public",
        "/api/v1/orders/order_0000000000000000/checkout",
    ):
        response = await client.get(path, headers=TEST_HEADERS)
        assert (response.status_code, response.json()) == (404, not_found)


async def test_another_merchant_sees_none_of_these_orders(
    client: httpx.AsyncClient, other_merchant_account: tuple[UUID, dict[str, str]]
) -> None:
    merchant_id, other = other_merchant_account
    mine = (await create(client, {"amount": 700})).json()
    receipt = f"theirs-{uuid.uuid4()}"
    theirs = (await create(client, {"amount": 800, "receipt": receipt}, other)).json()
    assert UUID(theirs["merchant_id"]) == merchant_id
    assert (await client.get(f"/api/v1/orders/{mine['id']}", headers=other)).status_code == 404
    assert (
        await client.get(f"/api/v1/orders/{theirs['id']}", headers=TEST_HEADERS)
    ).status_code == 404
    listed = (await client.get("/api/v1/orders?limit=100", headers=other)).json()
    assert [o["id"] for o in listed["data"]] == [theirs["id"]]
    by_receipt = await client.get(
        "/api/v1/orders", params={"receipt": receipt}, headers=TEST_HEADERS
    )
    assert by_receipt.json()["total"] == 0


@pytest.mark.parametrize(
    ("method", "path"),
    [("POST", "/api/v1/orders"), ("GET", "/api/v1/orders"), ("GET", "/api/v1/orders/order_x")],
)
@pytest.mark.parametrize(
    "headers",
    [
        {},
        {"X-Api-Key": "key_test_abc123", "X-Api-Secret": "wrong"},
        {"Authorization": "Bearer nope"},
    ],
)
async def test_every_authenticated_route_is_401_without_valid_credentials(
    client: httpx.AsyncClient, method: str, path: str, headers: dict[str, str]
) -> None:
    response = await client.request(method, path, headers=headers, json={"amount": 500})
    assert (response.status_code, response.json()) == (401, AUTH_ERROR)


async def test_credentials_are_checked_once_then_cached(
    client: httpx.AsyncClient, merchants_transport: Any
) -> None:
    for _ in range(5):
        assert (await client.get("/api/v1/orders", headers=TEST_HEADERS)).status_code == 200
    assert merchants_transport.requests == 1
    for _ in range(2):
        await client.get("/api/v1/orders", headers={**TEST_HEADERS, "X-Api-Secret": "bad"})
    assert merchants_transport.requests == 3  # failures are never cached


async def test_internal_read_gives_payments_what_it_needs(client: httpx.AsyncClient) -> None:
    order = (await create(client, {"amount": 4200})).json()
    internal = await client.get(f"/internal/v1/orders/{order['id']}")
    assert internal.json() == {
        "id": order["id"],
        "merchant_id": order["merchant_id"],
        "amount": 4200,
        "currency": "INR",
        "status": "created",
    }


async def test_a_merchant_over_its_quota_gets_429_and_another_merchant_does_not(
    database_urls: dict[str, str],
    redis_url: str,
    merchants_transport: httpx.AsyncBaseTransport,
    other_merchant: dict[str, str],
) -> None:
    settings = Settings(
        database_url=database_urls["orders"],
        redis_url=redis_url,
        merchants_url="http://merchants",
        rate_limits="on",
        rate_limit_per_merchant=3,
        rate_limit_window_seconds=3600,  # a test's requests never straddle two windows
    )
    app = create_app(settings, merchants_transport=merchants_transport)
    async with (
        LifespanManager(app) as manager,
        httpx.AsyncClient(transport=httpx.ASGITransport(manager.app), base_url="http://t") as c,
    ):
        statuses = [
            (await c.get("/api/v1/orders", headers=other_merchant)).status_code for _ in range(4)
        ]
        assert (await c.get("/api/v1/orders", headers=TEST_HEADERS)).status_code == 200
    assert statuses == [200, 200, 200, 429]
