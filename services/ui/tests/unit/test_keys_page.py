"""The API keys page against a fake keys API: the secret is shown once, in the POST's answer."""

import json
import re
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from asgi_lifespan import LifespanManager

from ui.main import create_app
from ui.settings import Settings

DEV = "http://dashboard.test"
TOKEN = re.compile(r'name="csrf_token" value="([0-9a-f]{64})"')
ACTIVE = {"id": "00000000-0000-0000-0000-000000000001", "key": "key_old", "label": "Shop",
          "status": "active", "created_at": "2024-01-15T10:31:00Z", "expires_at": None,
          "revoked_at": None}  # fmt: skip
REVOKED = {**ACTIVE, "id": "00000000-0000-0000-0000-000000000002", "key": "key_gone",
           "status": "revoked", "revoked_at": "2024-01-16T09:00:00Z"}  # fmt: skip


class FakeKeysApi:
    """`/api/v1/merchant/keys` as the merchants service answers a dashboard session."""

    def __init__(self) -> None:
        self.keys: list[dict[str, Any]] = [dict(ACTIVE), dict(REVOKED)]
        self.posts: list[tuple[str, Any]] = []
        self.full = False

    def __call__(self, request: httpx.Request) -> httpx.Response:
        path = request.url.path
        if request.method == "POST" and path == "/api/v1/auth/login":
            return httpx.Response(200, json={"token": "session-token-1"})
        if request.method == "GET" and path == "/api/v1/merchant/keys":
            return httpx.Response(200, json={"data": self.keys})
        body = json.loads(request.content) if request.content else None
        self.posts.append((path, body))
        if path == "/api/v1/merchant/keys" and self.full:
            error = {"code": "CONFLICT_ERROR", "description": "At most 10 usable API keys"}
            return httpx.Response(409, json={"error": error})
        if path == "/api/v1/merchant/keys" or path.endswith("/roll"):
            n = len(self.keys) + 1
            new = {**ACTIVE, "id": f"00000000-0000-0000-0000-00000000000{n}", "key": f"key_{n}"}
            self.keys.insert(0, new)
            return httpx.Response(201, json={**new, "api_secret": f"secret_{n}"})
        if path.endswith("/revoke"):
            [key] = [k for k in self.keys if path == f"/api/v1/merchant/keys/{k['id']}/revoke"]
            key.update(status="revoked", revoked_at="2024-01-17T08:00:00Z")
            return httpx.Response(200, json=key)
        return httpx.Response(404, json={"error": {"code": "NOT_FOUND_ERROR"}})


@pytest.fixture
def api() -> FakeKeysApi:
    return FakeKeysApi()


@pytest.fixture
async def browser(api: FakeKeysApi) -> AsyncIterator[httpx.AsyncClient]:
    """A browser signed in to the dashboard."""
    app = create_app(Settings(environment="dev"), httpx.MockTransport(api))
    async with (
        LifespanManager(app) as manager,
        httpx.AsyncClient(transport=httpx.ASGITransport(manager.app), base_url=DEV) as client,
    ):
        login = {"email": "test@example.com", "password": "x", "csrf_token": await token(client)}
        await client.post("/login", data=login, headers={"Origin": DEV})
        yield client


async def token(client: httpx.AsyncClient, path: str = "/login") -> str:
    found = TOKEN.search((await client.get(path)).text)
    assert found, "the page has no CSRF field"
    return found.group(1)


async def post(client: httpx.AsyncClient, path: str, **form: str) -> httpx.Response:
    form["csrf_token"] = await token(client, "/dashboard/keys")
    return await client.post(path, data=form, headers={"Origin": DEV})


async def test_a_created_key_shows_its_secret_in_the_answer_only(
    browser: httpx.AsyncClient, api: FakeKeysApi
) -> None:
    created = await post(browser, "/dashboard/keys", label="  Backend  ")
    assert created.status_code == 200
    assert api.posts == [("/api/v1/merchant/keys", {"label": "Backend"})]
    assert '<code data-test-id="new-key-secret">secret_3</code>' in created.text
    assert "it will not be shown again" in created.text
    assert created.headers["cache-control"] == "no-store"
    assert "secret_3" not in str(created.headers)
    assert 'data-key="key_3"' in created.text
    listed = await browser.get("/dashboard/keys")
    assert 'data-key="key_3"' in listed.text
    assert "secret_3" not in listed.text
    assert "new-key-secret" not in listed.text


async def test_a_full_key_set_is_a_problem_banner(
    browser: httpx.AsyncClient, api: FakeKeysApi
) -> None:
    api.full = True
    refused = await post(browser, "/dashboard/keys", label="one too many")
    assert refused.status_code == 303
    shown = await browser.get(refused.headers["location"])
    assert '<p class="problem" role="alert">At most 10 usable API keys</p>' in shown.text
    assert "new-key-secret" not in shown.text


async def test_roll_defaults_to_a_day_of_overlap_and_shows_the_new_secret(
    browser: httpx.AsyncClient, api: FakeKeysApi
) -> None:
    page = (await browser.get("/dashboard/keys")).text
    assert '<option value="86400" selected>24 hours</option>' in page
    assert page.count('data-test-id="roll-key-button"') == 1  # not on the revoked key
    assert page.count('data-test-id="revoke-key-button"') == 1
    rolled = await post(browser, f"/dashboard/keys/{ACTIVE['id']}/roll", expires_in_seconds="0")
    assert api.posts == [(f"/api/v1/merchant/keys/{ACTIVE['id']}/roll", {"expires_in_seconds": 0})]
    assert '<code data-test-id="new-key-secret">secret_3</code>' in rolled.text
    assert "which stopped working now" in rolled.text
    assert rolled.headers["cache-control"] == "no-store"


async def test_revoke_asks_first_and_changes_nothing_until_confirmed(
    browser: httpx.AsyncClient, api: FakeKeysApi
) -> None:
    path = f"/dashboard/keys/{ACTIVE['id']}/revoke"
    asked = await browser.get(path)
    assert 'data-test-id="confirm-revoke-button"' in asked.text
    assert api.posts == []
    revoked = await post(browser, path)
    assert revoked.status_code == 303
    assert api.posts == [(f"/api/v1/merchant/keys/{ACTIVE['id']}/revoke", None)]
    again = await browser.get(path)
    assert again.headers["location"].startswith("/dashboard/keys?problem=")
