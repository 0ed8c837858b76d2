"""API keys with a lifecycle: several per merchant, created, rolled with an overlap, revoked."""

import secrets
from typing import Any

import asyncpg
import httpx
import pytest

from kit.db import Database, init_connection
from merchants import service

PASSWORD = "a-long-dashboard-password"


async def authenticate(client: httpx.AsyncClient, key: str, secret: str) -> int:
    body = {"api_key": key, "api_secret": secret}
    return (await client.post("/internal/v1/authenticate", json=body)).status_code


@pytest.fixture
async def shop(client: httpx.AsyncClient, database_urls: dict[str, str]) -> dict[str, Any]:
    """A fresh merchant: its first key pair and a dashboard session's headers."""
    email = f"keys-{secrets.token_hex(4)}@example.com"
    pool = await asyncpg.create_pool(database_urls["merchants"], init=init_connection)
    assert pool is not None
    try:
        _, creds = await service.create_merchant(Database(pool), "Key Shop", email, PASSWORD)
    finally:
        await pool.close()
    login = await client.post("/api/v1/auth/login", json={"email": email, "password": PASSWORD})
    return {
        "key": creds.api_key,
        "secret": creds.api_secret,
        "session": {"Authorization": f"Bearer {login.json()['token']}"},
        "api": {"X-Api-Key": creds.api_key, "X-Api-Secret": creds.api_secret},
    }


async def test_a_new_key_works_beside_the_first_and_its_secret_is_shown_once(
    client: httpx.AsyncClient, shop: dict[str, Any]
) -> None:
    created = await client.post(
        "/api/v1/merchant/keys", json={"label": "staging"}, headers=shop["session"]
    )
    assert created.status_code == 201
    new = created.json()
    assert (new["label"], new["status"], new["expires_at"]) == ("staging", "active", None)
    assert new["key"].startswith("key_")
    assert new["api_secret"].startswith("secret_")
    assert await authenticate(client, new["key"], new["api_secret"]) == 200
    assert await authenticate(client, shop["key"], shop["secret"]) == 200
    listed = (await client.get("/api/v1/merchant/keys", headers=shop["session"])).json()["data"]
    assert [k["key"] for k in listed] == [new["key"], shop["key"]]
    assert new["api_secret"] not in str(listed)
    assert "api_secret" not in listed[0]


async def test_a_rolled_key_keeps_working_for_its_overlap_and_a_zero_overlap_ends_it_now(
    client: httpx.AsyncClient, shop: dict[str, Any]
) -> None:
    [first] = (await client.get("/api/v1/merchant/keys", headers=shop["session"])).json()["data"]
    rolled = await client.post(
        f"/api/v1/merchant/keys/{first['id']}/roll", json={}, headers=shop["session"]
    )
    assert rolled.status_code == 201
    second = rolled.json()
    assert await authenticate(client, second["key"], second["api_secret"]) == 200
    assert await authenticate(client, shop["key"], shop["secret"]) == 200  # the 24 h overlap
    listed = (await client.get("/api/v1/merchant/keys", headers=shop["session"])).json()["data"]
    assert [k["status"] for k in listed] == ["active", "expiring"]
    assert listed[1]["expires_at"] is not None
    for _ in range(2):  # each roll of the expiring key would mint another usable one
        twice = await client.post(
            f"/api/v1/merchant/keys/{first['id']}/roll", json={}, headers=shop["session"]
        )
        assert (twice.status_code, twice.json()["error"]["code"]) == (409, "CONFLICT_ERROR")
    listed = (await client.get("/api/v1/merchant/keys", headers=shop["session"])).json()["data"]
    assert len(listed) == 2

    now = await client.post(
        f"/api/v1/merchant/keys/{second['id']}/roll",
        json={"expires_in_seconds": 0},
        headers=shop["session"],
    )
    assert now.status_code == 201
    assert await authenticate(client, second["key"], second["api_secret"]) == 401
    third = now.json()
    assert await authenticate(client, third["key"], third["api_secret"]) == 200
    again = await client.post(
        f"/api/v1/merchant/keys/{second['id']}/roll", json={}, headers=shop["session"]
    )
    assert again.status_code == 409  # an expired key cannot be rolled again


async def test_a_revoked_key_stops_at_once(client: httpx.AsyncClient, shop: dict[str, Any]) -> None:
    [first] = (await client.get("/api/v1/merchant/keys", headers=shop["session"])).json()["data"]
    revoked = await client.post(
        f"/api/v1/merchant/keys/{first['id']}/revoke", headers=shop["session"]
    )
    assert (revoked.status_code, revoked.json()["status"]) == (200, "revoked")
    assert await authenticate(client, shop["key"], shop["secret"]) == 401
    profile = await client.get("/api/v1/merchant", headers=shop["session"])
    assert profile.json()["api_key"] is None  # no usable key left


async def test_keys_are_managed_only_from_a_dashboard_session_and_only_ones_own(
    client: httpx.AsyncClient, shop: dict[str, Any], other_merchant: dict[str, str]
) -> None:
    refused = await client.post("/api/v1/merchant/keys", json={}, headers=shop["api"])
    assert (refused.status_code, refused.json()["error"]["code"]) == (403, "FORBIDDEN_ERROR")
    assert (await client.get("/api/v1/merchant/keys")).status_code == 401
    [mine] = (await client.get("/api/v1/merchant/keys", headers=shop["session"])).json()["data"]
    foreign_key = other_merchant["X-Api-Key"]
    assert foreign_key != mine["key"]
    unknown = "00000000-0000-0000-0000-000000000000"
    for path in (f"{unknown}/revoke", f"{unknown}/roll"):
        response = await client.post(
            f"/api/v1/merchant/keys/{path}", json={}, headers=shop["session"]
        )
        assert response.status_code == 404


async def test_a_merchant_has_at_most_ten_usable_keys(
    client: httpx.AsyncClient, shop: dict[str, Any]
) -> None:
    statuses = [
        (await client.post("/api/v1/merchant/keys", json={}, headers=shop["session"])).status_code
        for _ in range(10)
    ]
    assert statuses == [201] * 9 + [409]
