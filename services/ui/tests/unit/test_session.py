"""The dashboard's cookies and CSRF defence, against a fake API (no stack needed)."""

import json
import re
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from http.cookies import SimpleCookie

import httpx
import pytest
from asgi_lifespan import LifespanManager
from fastapi.routing import APIRoute
from pydantic import ValidationError

from ui import pages
from ui.main import create_app
from ui.settings import Settings

SECRET = "s" * 32
TOKEN = re.compile(r'name="csrf_token" value="([0-9a-f]{64})"')


class FakeApi:
    """The public API as the UI uses it; records each call."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, str]] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.calls.append((request.method, request.url.path))
        match request.method, request.url.path:
            case "POST", "/api/v1/auth/login":
                return httpx.Response(200, json={"token": "session-token-1"})
            case "POST", "/api/v1/auth/logout":
                return httpx.Response(204)
            case "GET", "/api/v1/merchant":
                return httpx.Response(200, json={"name": "Shop", "api_key": "key_x"})
            case "GET", "/api/v1/payments/stats":
                return httpx.Response(200, json={"total": 0, "successful_amount": 0,
                                                 "success_rate": 0})  # fmt: skip
            case "GET", "/api/v1/webhooks/config":
                return httpx.Response(200, json={"webhook_url": None, "webhook_secret": "whsec_x"})
            case "GET", "/api/v1/webhooks":
                return httpx.Response(200, json={"data": [], "total": 0})
            case "PUT", "/api/v1/webhooks/config":
                return httpx.Response(200, json=json.loads(request.content))
            case "POST", "/api/v1/payments/public":
                return httpx.Response(201, json={"id": "pay_1", "status": "pending"})
        return httpx.Response(404, json={"error": {"code": "NOT_FOUND_ERROR"}})

    def changed(self) -> list[tuple[str, str]]:
        return [c for c in self.calls if c[0] != "GET"]


@pytest.fixture
def api() -> FakeApi:
    return FakeApi()


@asynccontextmanager
async def _client(
    settings: Settings, api: FakeApi, origin: str
) -> AsyncIterator[httpx.AsyncClient]:
    app = create_app(settings, httpx.MockTransport(api))
    async with (
        LifespanManager(app) as manager,
        httpx.AsyncClient(transport=httpx.ASGITransport(manager.app), base_url=origin) as client,
    ):
        yield client


DEV = "http://dashboard.test"
PROD = "https://dashboard.pay.example"


@pytest.fixture
async def browser(api: FakeApi) -> AsyncIterator[httpx.AsyncClient]:
    """A browser on the dashboard in development (plain http)."""
    async with _client(Settings(environment="dev"), api, DEV) as client:
        yield client


@pytest.fixture
async def production(api: FakeApi) -> AsyncIterator[httpx.AsyncClient]:
    settings = Settings(environment="production", csrf_secret=SECRET)
    async with _client(settings, api, PROD) as client:
        yield client


def token_of(page: httpx.Response) -> str:
    found = TOKEN.search(page.text)
    assert found, "the page has no CSRF field"
    return found.group(1)


async def log_in(client: httpx.AsyncClient, origin: str = DEV) -> httpx.Response:
    token = token_of(await client.get("/login"))
    return await client.post(
        "/login",
        data={"email": "test@example.com", "password": "x", "csrf_token": token},
        headers={"Origin": origin},
    )


def set_cookies(response: httpx.Response) -> dict[str, dict[str, str | bool]]:
    """Each Set-Cookie of a response: name → its attributes (lowercased)."""
    parsed: dict[str, dict[str, str | bool]] = {}
    for header in response.headers.get_list("set-cookie"):
        cookie = SimpleCookie()
        cookie.load(header)
        for name, morsel in cookie.items():
            parsed[name] = {k: v for k, v in morsel.items() if v} | {"value": morsel.value}
    return parsed


async def test_login_with_the_pages_token_from_this_origin_opens_the_dashboard(
    browser: httpx.AsyncClient, api: FakeApi
) -> None:
    response = await log_in(browser)
    assert response.status_code == 303
    assert response.headers["location"] == "/dashboard"
    assert (await browser.get("/dashboard")).status_code == 200


@pytest.mark.parametrize(
    ("token", "headers"),
    [
        (None, {"Origin": DEV}),  # no token
        ("0" * 64, {"Origin": DEV}),  # a made-up token
        ("page", {"Origin": "https://evil.example"}),  # another origin
        ("page", {"Origin": "null"}),  # an opaque origin (sandboxed frame)
        ("page", {"Referer": "https://evil.example/form"}),  # no Origin: the Referer judges
        ("page", {}),  # neither: refused
    ],
)
async def test_login_post_without_the_token_or_from_elsewhere_is_403(
    browser: httpx.AsyncClient, api: FakeApi, token: str | None, headers: dict[str, str]
) -> None:
    page_token = token_of(await browser.get("/login"))
    form = {"email": "test@example.com", "password": "x"}
    if token is not None:
        form["csrf_token"] = page_token if token == "page" else token
    response = await browser.post("/login", data=form, headers=headers)
    assert response.status_code == 403
    assert "Request refused" in response.text
    assert "reload the page" in response.text
    assert api.changed() == []
    assert "session" not in browser.cookies


async def test_every_dashboard_post_needs_the_token(
    browser: httpx.AsyncClient, api: FakeApi
) -> None:
    await log_in(browser)
    api.calls.clear()
    posts = [
        route.path.replace("{payment_id}", "pay_1")
        .replace("{webhook_id}", "wh_1")
        .replace("{key_id}", "key_1")
        for route in pages.dashboard.routes
        if isinstance(route, APIRoute) and "POST" in (route.methods or ())
    ]
    # login, logout, refund, save, regenerate, test, retry, key create, roll, revoke
    assert len(posts) == 10
    for path in posts:
        response = await browser.post(path, data={"amount": "100"}, headers={"Origin": DEV})
        assert response.status_code == 403, path
    assert api.changed() == []
    assert (await browser.get("/dashboard")).status_code == 200  # still signed in


async def test_a_signed_in_form_works_with_its_token_and_origin_only(
    browser: httpx.AsyncClient, api: FakeApi
) -> None:
    await log_in(browser)
    token = token_of(await browser.get("/dashboard/webhooks"))
    api.calls.clear()
    form = {"webhook_url": "https://shop.example/hook", "csrf_token": token}

    elsewhere = await browser.post(
        "/dashboard/webhooks/config", data=form, headers={"Origin": "http://evil.example"}
    )
    other_port = await browser.post(
        "/dashboard/webhooks/config", data=form, headers={"Origin": "http://dashboard.test:3001"}
    )
    assert (elsewhere.status_code, other_port.status_code) == (403, 403)
    assert api.changed() == []

    saved = await browser.post(
        "/dashboard/webhooks/config", data=form, headers={"Referer": f"{DEV}/dashboard/webhooks"}
    )
    assert saved.status_code == 303
    assert saved.headers["location"].startswith("/dashboard/webhooks?notice=")
    assert api.changed() == [("PUT", "/api/v1/webhooks/config")]


async def test_the_token_is_bound_to_the_session(browser: httpx.AsyncClient, api: FakeApi) -> None:
    login_token = token_of(await browser.get("/login"))
    await log_in(browser)
    session_token = token_of(await browser.get("/dashboard/webhooks"))
    assert session_token != login_token
    form = {"webhook_url": "", "csrf_token": login_token}
    response = await browser.post("/dashboard/webhooks/config", data=form, headers={"Origin": DEV})
    assert response.status_code == 403
    browser.cookies.set("session", "someone-elses-session")
    form["csrf_token"] = session_token
    response = await browser.post("/dashboard/webhooks/config", data=form, headers={"Origin": DEV})
    assert response.status_code == 403


async def test_logout_is_a_form_with_the_token(browser: httpx.AsyncClient, api: FakeApi) -> None:
    await log_in(browser)
    page = await browser.get("/dashboard")
    assert 'action="/logout"><input type="hidden" name="csrf_token"' in page.text
    out = await browser.post(
        "/logout", data={"csrf_token": token_of(page)}, headers={"Origin": DEV}
    )
    assert out.status_code == 303
    assert ("POST", "/api/v1/auth/logout") in api.calls
    assert "session" not in browser.cookies


async def test_checkout_relay_accepts_only_its_own_origin(
    browser: httpx.AsyncClient, api: FakeApi
) -> None:
    body = {"order_id": "order_1", "method": "upi", "vpa": "a@b"}
    refused = await browser.post(
        "/checkout/api/payments", json=body, headers={"Origin": "https://shop.example"}
    )
    assert refused.status_code == 403
    assert refused.json()["error"]["code"] == "FORBIDDEN_ERROR"
    assert (await browser.post("/checkout/api/payments", json=body)).status_code == 403
    assert api.changed() == []
    paid = await browser.post("/checkout/api/payments", json=body, headers={"Origin": DEV})
    assert paid.status_code == 201
    assert api.changed() == [("POST", "/api/v1/payments/public")]


async def test_production_cookies_are_host_prefixed_secure_strict_and_httponly(
    production: httpx.AsyncClient,
) -> None:
    login_page = await production.get("/login")
    response = await log_in(production, PROD)
    assert response.status_code == 303
    cookies = set_cookies(login_page) | set_cookies(response)
    assert set(cookies) == {"__Host-csrf", "__Host-session"}
    for cookie in cookies.values():
        assert cookie["secure"] is True
        assert cookie["httponly"] is True
        assert cookie["samesite"] == "strict"
        assert cookie["path"] == "/"
        assert "domain" not in cookie  # `__Host-` forbids it
    assert cookies["__Host-session"]["value"] == "session-token-1"

    page = await production.get("/dashboard")
    out = await production.post(
        "/logout", data={"csrf_token": token_of(page)}, headers={"Origin": PROD}
    )
    cleared = set_cookies(out)["__Host-session"]
    assert (cleared["value"], cleared["max-age"], cleared["secure"]) == ("", "0", True)


async def test_production_judges_the_origin_as_https(production: httpx.AsyncClient) -> None:
    assert (await log_in(production, "http://dashboard.pay.example")).status_code == 403


async def test_development_cookies_have_plain_names_without_secure(
    browser: httpx.AsyncClient,
) -> None:
    cookies = set_cookies(await browser.get("/login")) | set_cookies(await log_in(browser))
    assert set(cookies) == {"csrf", "session"}
    assert all("secure" not in c and c["samesite"] == "strict" for c in cookies.values())


async def test_an_unsent_session_cookie_is_not_cleared(browser: httpx.AsyncClient) -> None:
    # A cross-site link to the dashboard arrives without the SameSite=Strict cookie.
    response = await browser.get("/dashboard")
    assert response.status_code == 303
    assert "set-cookie" not in response.headers


def test_production_needs_a_csrf_secret_and_defaults_to_secure_cookies(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    for name in ("ENVIRONMENT", "SECURE_COOKIES", "CSRF_SECRET"):
        monkeypatch.delenv(name, raising=False)
    with pytest.raises(ValidationError, match="CSRF_SECRET must be set"):
        Settings(environment="production")
    with pytest.raises(ValidationError, match="at least 32"):
        Settings(csrf_secret="short")
    monkeypatch.setenv("ENVIRONMENT", "production")
    monkeypatch.setenv("CSRF_SECRET", SECRET)
    assert Settings().secure_cookies is True
    monkeypatch.setenv("SECURE_COOKIES", "false")
    assert Settings().secure_cookies is False
    monkeypatch.delenv("SECURE_COOKIES")
    monkeypatch.setenv("ENVIRONMENT", "dev")
    monkeypatch.delenv("CSRF_SECRET")
    first, second = Settings(), Settings()
    assert first.secure_cookies is False
    assert first.csrf_secret.get_secret_value() != second.csrf_secret.get_secret_value()
