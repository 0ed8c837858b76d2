"""/api/v1/webhooks/endpoints with the real merchants service in process (a fresh merchant per
test: the shared test merchant's endpoints would outlive the test)."""

from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest

from tests.receiver import Receiver
from webhooks.tasks import Dispatcher

ENDPOINTS = "/api/v1/webhooks/endpoints"
PUBLIC_FIELDS = {"id", "url", "description", "event_types", "enabled", "is_default",
                 "previous_secret_expires_at", "created_at", "updated_at"}  # fmt: skip


def error_of(response: httpx.Response) -> tuple[int, str]:
    return response.status_code, response.json()["error"]["code"]


async def test_crud(client: httpx.AsyncClient, other_merchant: dict[str, str]) -> None:
    headers = other_merchant
    [default] = (await client.get(ENDPOINTS, headers=headers)).json()["data"]
    assert set(default) >= PUBLIC_FIELDS
    assert (default["is_default"], default["url"], default["enabled"]) == (True, None, True)
    config = (await client.get("/api/v1/webhooks/config", headers=headers)).json()
    assert config["webhook_secret"].startswith("whsec_")  # the contract's config shows it

    body = {"url": "https://shop.example/orders-hook", "description": "orders",
            "event_types": ["order.paid"]}  # fmt: skip
    created = await client.post(ENDPOINTS, json=body, headers=headers)
    assert created.status_code == 201
    endpoint = created.json()
    assert {k: endpoint[k] for k in body} == body
    assert (endpoint["is_default"], endpoint["enabled"]) == (False, True)
    assert endpoint["secret"].startswith("whsec_")
    assert endpoint["secret"] != config["webhook_secret"]
    one = f"{ENDPOINTS}/{endpoint['id']}"
    assert (await client.get(one, headers=headers)).json() == {
        k: v for k, v in endpoint.items() if k != "secret"
    }

    patched = await client.patch(one, json={"enabled": False}, headers=headers)
    assert patched.status_code == 200
    assert (patched.json()["enabled"], patched.json()["url"]) == (False, body["url"])
    listed = (await client.get(ENDPOINTS, headers=headers)).json()
    assert (listed["total"], [e["id"] for e in listed["data"]]) == (
        2,
        [default["id"], endpoint["id"]],
    )
    # The contract's config API still reads and writes the default endpoint only.
    await client.put(
        "/api/v1/webhooks/config", json={"webhook_url": "https://shop.example/all"}, headers=headers
    )
    by_id = {e["id"]: e for e in (await client.get(ENDPOINTS, headers=headers)).json()["data"]}
    assert (by_id[default["id"]]["url"], by_id[endpoint["id"]]["url"]) == (
        "https://shop.example/all",
        body["url"],
    )

    deleted = await client.delete(one, headers=headers)
    assert (deleted.status_code, deleted.content) == (204, b"")
    assert error_of(await client.get(one, headers=headers)) == (404, "NOT_FOUND_ERROR")
    refused = await client.delete(f"{ENDPOINTS}/{default['id']}", headers=headers)
    assert error_of(refused) == (400, "BAD_REQUEST_ERROR")


@pytest.mark.parametrize(
    "body",
    [
        {"url": "ftp://x.example/"},
        {"url": "https://user:pw@x.example/"},
        {"url": "not a url"},
        {"url": None},
        {"url": 42},
        {},
        {"url": "https://x.example/", "event_types": ["order.created"]},
        {"url": "https://x.example/", "event_types": "payment.success"},
        {"url": "https://x.example/", "description": "x" * 201},
        {"url": "https://x.example/", "secret": "whsec_mine"},
        {"url": "https://x.example/" + "a" * 2048},
    ],
)
async def test_bad_endpoints_are_400(
    client: httpx.AsyncClient, other_merchant: dict[str, str], body: dict[str, Any]
) -> None:
    response = await client.post(ENDPOINTS, json=body, headers=other_merchant)
    assert error_of(response) == (400, "BAD_REQUEST_ERROR")


async def test_a_non_default_endpoint_cannot_lose_its_url(
    client: httpx.AsyncClient, other_merchant: dict[str, str]
) -> None:
    created = await client.post(
        ENDPOINTS, json={"url": "https://x.example/"}, headers=other_merchant
    )
    one = f"{ENDPOINTS}/{created.json()['id']}"
    response = await client.patch(one, json={"url": None}, headers=other_merchant)
    assert error_of(response) == (400, "BAD_REQUEST_ERROR")
    assert "url is required" in response.json()["error"]["description"]


async def test_the_cap_is_409(client: httpx.AsyncClient, other_merchant: dict[str, str]) -> None:
    for n in range(9):
        created = await client.post(
            ENDPOINTS, json={"url": f"https://{n}.example/"}, headers=other_merchant
        )
        assert created.status_code == 201
    response = await client.post(
        ENDPOINTS, json={"url": "https://x.example/"}, headers=other_merchant
    )
    assert error_of(response) == (409, "CONFLICT_ERROR")


async def test_another_merchants_endpoint_is_404(
    client: httpx.AsyncClient, other_merchant: dict[str, str]
) -> None:
    mine = await client.post(ENDPOINTS, json={"url": "https://x.example/"}, headers=other_merchant)
    one = f"{ENDPOINTS}/{mine.json()['id']}"
    test_headers = {"X-Api-Key": "key_test_abc123", "X-Api-Secret": "secret_test_xyz789"}
    for method in ("GET", "PATCH", "DELETE"):
        response = await client.request(method, one, json={}, headers=test_headers)
        assert error_of(response) == (404, "NOT_FOUND_ERROR")
    response = await client.post(f"{one}/test", headers=test_headers)
    assert error_of(response) == (404, "NOT_FOUND_ERROR")


async def test_each_endpoint_can_be_tested_and_ssrf_is_refused_as_for_the_config(
    client: httpx.AsyncClient,
    other_merchant: dict[str, str],
    receiver: Receiver,
    worker: Dispatcher,
) -> None:
    good = await client.post(ENDPOINTS, json={"url": receiver.url}, headers=other_merchant)
    tested = await client.post(f"{ENDPOINTS}/{good.json()['id']}/test", headers=other_merchant)
    log = tested.json()
    assert (log["event"], log["status"], log["endpoint_id"]) == (
        "webhook.test",
        "success",
        good.json()["id"],
    )
    assert receiver.requests[0].json["event"] == "webhook.test"
    metadata = {"url": "http://169.254.169.254/latest/meta-data/"}
    bad = await client.post(ENDPOINTS, json=metadata, headers=other_merchant)
    refused = await client.post(f"{ENDPOINTS}/{bad.json()['id']}/test", headers=other_merchant)
    assert refused.json()["response_body"] == "destination address is not allowed"
    assert len(receiver.requests) == 1


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("GET", ENDPOINTS),
        ("POST", ENDPOINTS),
        ("GET", f"{ENDPOINTS}/ep_x"),
        ("PATCH", f"{ENDPOINTS}/ep_x"),
        ("DELETE", f"{ENDPOINTS}/ep_x"),
        ("POST", f"{ENDPOINTS}/ep_x/test"),
        ("POST", f"{ENDPOINTS}/ep_x/rotate-secret"),
        ("GET", f"{ENDPOINTS}/changes"),
    ],
)
async def test_every_route_needs_credentials(
    client: httpx.AsyncClient, method: str, path: str
) -> None:
    response = await client.request(method, path, json={"url": "https://x.example/"})
    assert error_of(response) == (401, "AUTHENTICATION_ERROR")


class TestRotation:
    async def test_rotate_keeps_the_old_secret_for_a_day_unless_told(
        self, client: httpx.AsyncClient, other_merchant: dict[str, str]
    ) -> None:
        created = (
            await client.post(ENDPOINTS, json={"url": "https://x.example/"}, headers=other_merchant)
        ).json()
        assert created["previous_secret_expires_at"] is None
        rotate = f"{ENDPOINTS}/{created['id']}/rotate-secret"
        rotated = (await client.post(rotate, headers=other_merchant)).json()
        assert rotated["secret"] != created["secret"]
        expires = datetime.fromisoformat(rotated["previous_secret_expires_at"])
        assert expires - datetime.now(UTC) == pytest.approx(
            timedelta(hours=24), abs=timedelta(minutes=1)
        )
        now = await client.post(rotate, json={"expires_in_seconds": 0}, headers=other_merchant)
        assert now.json()["previous_secret_expires_at"] is None

    @pytest.mark.parametrize(
        "body", [{"expires_in_seconds": -1}, {"expires_in_seconds": 7 * 86400 + 1},
                 {"expires_in_seconds": "soon"}, {"overlap": 5}],
    )  # fmt: skip
    async def test_bad_overlaps_are_400(
        self, client: httpx.AsyncClient, other_merchant: dict[str, str], body: dict[str, Any]
    ) -> None:
        created = (
            await client.post(ENDPOINTS, json={"url": "https://x.example/"}, headers=other_merchant)
        ).json()
        for path in (
            f"{ENDPOINTS}/{created['id']}/rotate-secret",
            "/api/v1/webhooks/regenerate-secret",
        ):
            response = await client.post(path, json=body, headers=other_merchant)
            assert error_of(response) == (400, "BAD_REQUEST_ERROR")

    async def test_regenerate_secret_has_no_overlap_unless_asked(
        self, client: httpx.AsyncClient, other_merchant: dict[str, str]
    ) -> None:
        async def default() -> dict[str, Any]:
            listed = (await client.get(ENDPOINTS, headers=other_merchant)).json()
            return listed["data"][0]  # type: ignore[no-any-return]

        async def secret() -> str:
            config = await client.get("/api/v1/webhooks/config", headers=other_merchant)
            return config.json()["webhook_secret"]  # type: ignore[no-any-return]

        before = await secret()
        regenerated = await client.post(
            "/api/v1/webhooks/regenerate-secret", headers=other_merchant
        )
        assert set(regenerated.json()) == {"webhook_url", "webhook_secret"}
        assert (await secret(), (await default())["previous_secret_expires_at"]) == (
            regenerated.json()["webhook_secret"],
            None,
        )
        assert regenerated.json()["webhook_secret"] != before
        overlapping = await client.post(
            "/api/v1/webhooks/regenerate-secret",
            json={"expires_in_seconds": 3600},
            headers=other_merchant,
        )
        assert overlapping.status_code == 200
        assert (await default())["previous_secret_expires_at"] is not None


async def test_a_secret_is_shown_on_create_and_rotate_only(
    client: httpx.AsyncClient, other_merchant: dict[str, str]
) -> None:
    created = await client.post(
        ENDPOINTS, json={"url": "https://x.example/"}, headers=other_merchant
    )
    one = f"{ENDPOINTS}/{created.json()['id']}"
    rotated = await client.post(f"{one}/rotate-secret", headers=other_merchant)
    secrets = {created.json()["secret"], rotated.json()["secret"]}
    assert all(s.startswith("whsec_") for s in secrets)
    assert len(secrets) == 2
    answers = [
        await client.get(ENDPOINTS, headers=other_merchant),
        await client.get(one, headers=other_merchant),
        await client.patch(one, json={"description": "d"}, headers=other_merchant),
        await client.post(f"{one}/enable", headers=other_merchant),
        await client.get(f"{ENDPOINTS}/changes", headers=other_merchant),
    ]
    for answer in answers:
        assert answer.status_code == 200, answer.text
        assert "whsec_" not in answer.text, answer.request.url


async def test_changes_to_where_webhooks_go_are_recorded_with_the_credential(
    client: httpx.AsyncClient, other_merchant: dict[str, str]
) -> None:
    headers = other_merchant
    created = await client.post(ENDPOINTS, json={"url": "https://a.example/"}, headers=headers)
    one = f"{ENDPOINTS}/{created.json()['id']}"
    await client.patch(one, json={"url": "https://b.example/"}, headers=headers)
    await client.patch(one, json={"description": "not a change of destination"}, headers=headers)
    await client.post(f"{one}/rotate-secret", headers=headers)
    await client.delete(one, headers=headers)
    await client.put("/api/v1/webhooks/config", json={"webhook_url": "https://c.example/"},
                     headers=headers)  # fmt: skip
    await client.post("/api/v1/webhooks/regenerate-secret", headers=headers)
    changes = (await client.get(f"{ENDPOINTS}/changes", headers=headers)).json()["data"]
    default = (await client.get(ENDPOINTS, headers=headers)).json()["data"][0]["id"]
    ep = created.json()["id"]
    assert [
        (c["endpoint_id"], c["change"], c["previous_url"], c["url"], c["credential"])
        for c in changes
    ] == [
        (default, "secret_rotated", None, "https://c.example/", "api_key"),
        (default, "url_changed", None, "https://c.example/", "api_key"),
        (ep, "deleted", None, "https://b.example/", "api_key"),
        (ep, "secret_rotated", None, "https://b.example/", "api_key"),
        (ep, "url_changed", "https://a.example/", "https://b.example/", "api_key"),
        (ep, "created", None, "https://a.example/", "api_key"),
    ]
    latest = await client.get(f"{ENDPOINTS}/changes?limit=2", headers=headers)
    assert [c["change"] for c in latest.json()["data"]] == ["secret_rotated", "url_changed"]
    others = {"X-Api-Key": "key_test_abc123", "X-Api-Secret": "secret_test_xyz789"}
    theirs = (await client.get(f"{ENDPOINTS}/changes", headers=others)).json()["data"]
    assert ep not in {c["endpoint_id"] for c in theirs}
