"""The dashboard's cookies, its CSRF defence and its API keys page, against the real gateway.

The ui app runs in this process and calls the native stack's public API over HTTP, as it does in
production; an httpx client on the app is the browser. What a form did (or did not do) is read
back from the API with the merchant's own credentials. Chromium drives the same pages in
test_ui.py; these tests reach what a real browser will not send (a made-up token, a forged
Origin) and the exact cookie attributes.
"""

import asyncio
import re
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime, timedelta
from http.cookies import SimpleCookie
from typing import Any

import httpx
import pytest
from asgi_lifespan import LifespanManager
from fastapi.routing import APIRoute

from devstack.stack import Stack
from tests.e2e.conftest import Merchant
from tests.receiver import running_receiver
from tests.waits import eventually_async
from ui import pages
from ui.main import create_app
from ui.settings import Settings

pytestmark = pytest.mark.e2e

DEV = "http://dashboard.test"
PROD = "https://dashboard.pay.example"
SECRET = "k3Jd9-csrf-secret-of-forty-characters-x"
TOKEN = re.compile(r'name="csrf_token" value="([0-9a-f]{64})"')


@asynccontextmanager
async def dashboard(settings: Settings, origin: str) -> AsyncIterator[httpx.AsyncClient]:
    """A browser at `origin` on the ui app, which calls the API at `settings.api_url`."""
    app = create_app(settings)
    async with (
        LifespanManager(app) as manager,
        httpx.AsyncClient(transport=httpx.ASGITransport(manager.app), base_url=origin) as client,
    ):
        yield client


@pytest.fixture
async def browser(stack: Stack) -> AsyncIterator[httpx.AsyncClient]:
    """A browser on the dashboard in development (plain http)."""
    async with dashboard(Settings(environment="dev", api_url=stack.url("api")), DEV) as client:
        yield client


@pytest.fixture
async def production(stack: Stack) -> AsyncIterator[httpx.AsyncClient]:
    settings = Settings(environment="production", csrf_secret=SECRET, api_url=stack.url("api"))
    async with dashboard(settings, PROD) as client:
        yield client


@pytest.fixture
async def gateway(stack: Stack) -> AsyncIterator[httpx.AsyncClient]:
    """The public API, called directly: to set things up and to see what the dashboard did."""
    async with httpx.AsyncClient(base_url=stack.url("api"), timeout=10) as client:
        yield client


def token_of(page: httpx.Response) -> str:
    found = TOKEN.search(page.text)
    assert found, "the page has no CSRF field"
    return found.group(1)


async def log_in(
    client: httpx.AsyncClient, merchant: Merchant, origin: str = DEV
) -> httpx.Response:
    token = token_of(await client.get("/login"))
    return await client.post(
        "/login",
        data={"email": merchant.email, "password": merchant.password, "csrf_token": token},
        headers={"Origin": origin},
    )


async def signed_in(client: httpx.AsyncClient, merchant: Merchant) -> dict[str, str]:
    """Log the browser in; the API headers of its session (the token in its cookie)."""
    assert (await log_in(client, merchant)).status_code == 303
    return bearer(client.cookies["session"])


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


async def submit(client: httpx.AsyncClient, page: str, action: str, **form: str) -> httpx.Response:
    """Post a form of `page` to `action` as a browser does: with the page's token, from DEV."""
    form["csrf_token"] = token_of(await client.get(page))
    return await client.post(action, data=form, headers={"Origin": DEV})


def set_cookies(response: httpx.Response) -> dict[str, dict[str, str | bool]]:
    """Each Set-Cookie of a response: name → its attributes (lowercased)."""
    parsed: dict[str, dict[str, str | bool]] = {}
    for header in response.headers.get_list("set-cookie"):
        cookie = SimpleCookie()
        cookie.load(header)
        for name, morsel in cookie.items():
            parsed[name] = {k: v for k, v in morsel.items() if v} | {"value": morsel.value}
    return parsed


async def webhook_config(gateway: httpx.AsyncClient, merchant: Merchant) -> dict[str, Any]:
    answer = await gateway.get("/api/v1/webhooks/config", headers=merchant.headers)
    assert answer.status_code == 200
    config: dict[str, Any] = answer.json()
    return config


async def keys_of(gateway: httpx.AsyncClient, session: dict[str, str]) -> list[dict[str, Any]]:
    answer = await gateway.get("/api/v1/merchant/keys", headers=session)
    assert answer.status_code == 200
    keys: list[dict[str, Any]] = answer.json()["data"]
    return keys


async def new_order(gateway: httpx.AsyncClient, merchant: Merchant) -> str:
    created = await gateway.post("/api/v1/orders", json={"amount": 50000}, headers=merchant.headers)
    assert created.status_code == 201
    return str(created.json()["id"])


async def payments_of(gateway: httpx.AsyncClient, merchant: Merchant, order_id: str) -> list[str]:
    listed = await gateway.get(
        "/api/v1/payments", params={"order_id": order_id}, headers=merchant.headers
    )
    assert listed.status_code == 200
    return [p["id"] for p in listed.json()["data"]]


# ---- sign-in, cookies and the CSRF defence ------------------------------------------------


async def test_login_with_the_pages_token_from_this_origin_opens_the_dashboard(
    browser: httpx.AsyncClient, gateway: httpx.AsyncClient, merchant_with_password: Merchant
) -> None:
    merchant = merchant_with_password
    response = await log_in(browser, merchant)
    assert response.status_code == 303
    assert response.headers["location"] == "/dashboard"
    home = await browser.get("/dashboard")
    assert home.status_code == 200
    assert merchant.headers["X-Api-Key"] in home.text
    token = browser.cookies["session"]  # the API's session token, which the API honours
    assert token
    me = await gateway.get("/api/v1/merchant", headers=bearer(token))
    assert (me.status_code, me.json()["email"]) == (200, merchant.email)


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
    browser: httpx.AsyncClient,
    merchant_with_password: Merchant,
    token: str | None,
    headers: dict[str, str],
) -> None:
    merchant = merchant_with_password
    page_token = token_of(await browser.get("/login"))
    form = {"email": merchant.email, "password": merchant.password}
    if token is not None:
        form["csrf_token"] = page_token if token == "page" else token
    response = await browser.post("/login", data=form, headers=headers)
    assert response.status_code == 403
    assert "Request refused" in response.text
    assert "reload the page" in response.text
    assert "session" not in browser.cookies  # no session was opened
    assert (await browser.get("/dashboard")).headers["location"] == "/login"
    # The same credentials with the page's token from this origin do sign in.
    assert (await log_in(browser, merchant)).status_code == 303


async def test_every_dashboard_post_needs_the_token(
    browser: httpx.AsyncClient, gateway: httpx.AsyncClient, merchant_with_password: Merchant
) -> None:
    merchant = merchant_with_password
    key = merchant.headers
    # Something for every form to change: a paid payment, a delivered webhook, an API key.
    order_id = await new_order(gateway, merchant)
    body = {"order_id": order_id, "method": "upi", "vpa": "customer@okbank"}
    payment_id = (await gateway.post("/api/v1/payments", json=body, headers=key)).json()["id"]

    async def paid() -> bool:
        answer = await gateway.get(f"/api/v1/payments/{payment_id}", headers=key)
        return bool(answer.json()["status"] == "success")

    await eventually_async(paid, "the payment processed")
    with running_receiver() as receiver:
        url = {"webhook_url": receiver.url}
        assert (await gateway.put("/api/v1/webhooks/config", json=url, headers=key)).is_success
        delivered = (await gateway.post("/api/v1/webhooks/test", headers=key)).json()
        assert delivered["status"] == "success"
        session = await signed_in(browser, merchant)
        [key_id] = [k["id"] for k in await keys_of(gateway, session)]
        endpoints = await gateway.get("/api/v1/webhooks/endpoints", headers=key)
        [endpoint_id] = [e["id"] for e in endpoints.json()["data"]]

        async def state() -> list[Any]:
            """What the forms change, as the API tells it (payment events may still add
            deliveries of their own: only the test webhooks are compared)."""
            logs = await gateway.get("/api/v1/webhooks", params={"limit": 100}, headers=key)
            refunds = await gateway.get(f"/api/v1/payments/{payment_id}/refunds", headers=key)
            test_webhook = await gateway.get(f"/api/v1/webhooks/{delivered['id']}", headers=key)
            payment = await gateway.get(f"/api/v1/payments/{payment_id}", headers=key)
            return [
                payment.json(),  # not captured
                await webhook_config(gateway, merchant),
                [w for w in logs.json()["data"] if w["event"] == "webhook.test"],
                test_webhook.json(),
                refunds.json(),
                await keys_of(gateway, session),  # and the session still works
                (await gateway.get("/api/v1/webhooks/endpoints", headers=key)).json(),
                (await gateway.get("/api/v1/merchant", headers=key)).json()["currencies"],
            ]

        before = await state()
        posts = [
            route.path.replace("{payment_id}", payment_id)
            .replace("{webhook_id}", delivered["id"])
            .replace("{key_id}", key_id)
            .replace("{endpoint_id}", endpoint_id)
            .replace("{event_id}", delivered["event_id"])
            for route in pages.dashboard.routes
            if isinstance(route, APIRoute) and "POST" in (route.methods or ())
        ]
        # login, logout, capture, refund, save, regenerate, test, retry, key create, roll, revoke,
        # endpoint create, edit, delete, rotate, enable, event resend, replay, currencies
        assert len(posts) == 19
        form = {"amount": "100", "webhook_url": "https://attacker.example/hook", "label": "x",
                "url": "https://attacker.example/hook", "expires_in_seconds": "0",
                "created_from": "2000-01-01T00:00", "created_to": "2100-01-01T00:00",
                "currencies": "USD"}  # fmt: skip
        for path in posts:
            response = await browser.post(path, data=form, headers={"Origin": DEV})
            assert response.status_code == 403, path
        assert await state() == before
    assert (await browser.get("/dashboard")).status_code == 200  # still signed in


async def test_a_signed_in_form_works_with_its_token_and_origin_only(
    browser: httpx.AsyncClient, gateway: httpx.AsyncClient, merchant_with_password: Merchant
) -> None:
    merchant = merchant_with_password
    await signed_in(browser, merchant)
    token = token_of(await browser.get("/dashboard/webhooks"))
    before = await webhook_config(gateway, merchant)
    form = {"webhook_url": "https://shop.example/hook", "csrf_token": token}

    elsewhere = await browser.post(
        "/dashboard/webhooks/config", data=form, headers={"Origin": "http://evil.example"}
    )
    other_port = await browser.post(
        "/dashboard/webhooks/config", data=form, headers={"Origin": "http://dashboard.test:3001"}
    )
    assert (elsewhere.status_code, other_port.status_code) == (403, 403)
    assert await webhook_config(gateway, merchant) == before

    saved = await browser.post(
        "/dashboard/webhooks/config", data=form, headers={"Referer": f"{DEV}/dashboard/webhooks"}
    )
    assert saved.status_code == 303
    assert saved.headers["location"].startswith("/dashboard/webhooks?notice=")
    shown = await browser.get(saved.headers["location"])
    assert '<p class="notice" role="status">Webhook configuration saved</p>' in shown.text
    assert shown.headers["cache-control"] == "no-store"  # the page shows the webhook secret
    after = await webhook_config(gateway, merchant)
    assert after == {**before, "webhook_url": "https://shop.example/hook"}


async def test_the_token_is_bound_to_the_session(
    browser: httpx.AsyncClient, gateway: httpx.AsyncClient, merchant_with_password: Merchant
) -> None:
    merchant = merchant_with_password
    url = {"webhook_url": "https://shop.example/hook"}
    put = await gateway.put("/api/v1/webhooks/config", json=url, headers=merchant.headers)
    assert put.is_success
    before = await webhook_config(gateway, merchant)
    login_token = token_of(await browser.get("/login"))
    await signed_in(browser, merchant)
    session_token = token_of(await browser.get("/dashboard/webhooks"))
    assert session_token != login_token
    form = {"webhook_url": "", "csrf_token": login_token}  # would stop the webhooks
    response = await browser.post("/dashboard/webhooks/config", data=form, headers={"Origin": DEV})
    assert response.status_code == 403

    # Another session (of this very merchant) with the first session's token: refused too.
    credentials = {"email": merchant.email, "password": merchant.password}
    other = (await gateway.post("/api/v1/auth/login", json=credentials)).json()["token"]
    browser.cookies.set("session", other, domain="dashboard.test")
    form["csrf_token"] = session_token
    response = await browser.post("/dashboard/webhooks/config", data=form, headers={"Origin": DEV})
    assert response.status_code == 403
    assert await webhook_config(gateway, merchant) == before

    # That session's own page's token works.
    cleared = await submit(browser, "/dashboard/webhooks", "/dashboard/webhooks/config")
    assert cleared.status_code == 303
    assert (await webhook_config(gateway, merchant))["webhook_url"] is None


async def test_logout_is_a_form_with_the_token_and_ends_the_session(
    browser: httpx.AsyncClient, gateway: httpx.AsyncClient, merchant_with_password: Merchant
) -> None:
    session = await signed_in(browser, merchant_with_password)
    assert (await gateway.get("/api/v1/merchant", headers=session)).status_code == 200
    page = await browser.get("/dashboard")
    assert 'action="/logout"><input type="hidden" name="csrf_token"' in page.text
    out = await browser.post(
        "/logout", data={"csrf_token": token_of(page)}, headers={"Origin": DEV}
    )
    assert out.status_code == 303
    assert "session" not in browser.cookies

    async def ended() -> bool:
        return (await gateway.get("/api/v1/merchant", headers=session)).status_code == 401

    await eventually_async(ended, "the API refusing the logged-out session")


async def test_checkout_relay_accepts_only_its_own_origin(
    browser: httpx.AsyncClient, gateway: httpx.AsyncClient, merchant_with_password: Merchant
) -> None:
    merchant = merchant_with_password
    order_id = await new_order(gateway, merchant)
    body = {"order_id": order_id, "method": "upi", "vpa": "customer@okbank"}
    refused = await browser.post(
        "/checkout/api/payments", json=body, headers={"Origin": "https://shop.example"}
    )
    assert refused.status_code == 403
    assert refused.json()["error"]["code"] == "FORBIDDEN_ERROR"
    assert (await browser.post("/checkout/api/payments", json=body)).status_code == 403
    assert await payments_of(gateway, merchant, order_id) == []
    paid = await browser.post("/checkout/api/payments", json=body, headers={"Origin": DEV})
    assert paid.status_code == 201
    assert await payments_of(gateway, merchant, order_id) == [paid.json()["id"]]


async def test_production_cookies_are_host_prefixed_secure_strict_and_httponly(
    production: httpx.AsyncClient, gateway: httpx.AsyncClient, merchant_with_password: Merchant
) -> None:
    merchant = merchant_with_password
    login_page = await production.get("/login")
    response = await log_in(production, merchant, PROD)
    assert response.status_code == 303
    cookies = set_cookies(login_page) | set_cookies(response)
    assert set(cookies) == {"__Host-csrf", "__Host-session"}
    for cookie in cookies.values():
        assert cookie["secure"] is True
        assert cookie["httponly"] is True
        assert cookie["samesite"] == "strict"
        assert cookie["path"] == "/"
        assert "domain" not in cookie  # `__Host-` forbids it
    token = cookies["__Host-session"]["value"]
    assert isinstance(token, str)
    assert token
    me = await gateway.get("/api/v1/merchant", headers=bearer(token))
    assert (me.status_code, me.json()["email"]) == (200, merchant.email)

    page = await production.get("/dashboard")
    assert page.status_code == 200
    out = await production.post(
        "/logout", data={"csrf_token": token_of(page)}, headers={"Origin": PROD}
    )
    cleared = set_cookies(out)["__Host-session"]
    assert (cleared["value"], cleared["max-age"], cleared["secure"]) == ("", "0", True)


async def test_production_judges_the_origin_as_https(
    production: httpx.AsyncClient, merchant_with_password: Merchant
) -> None:
    response = await log_in(production, merchant_with_password, "http://dashboard.pay.example")
    assert response.status_code == 403
    assert "__Host-session" not in production.cookies


async def test_development_cookies_have_plain_names_without_secure(
    browser: httpx.AsyncClient, merchant_with_password: Merchant
) -> None:
    login_page = await browser.get("/login")
    cookies = set_cookies(login_page) | set_cookies(await log_in(browser, merchant_with_password))
    assert set(cookies) == {"csrf", "session"}
    assert all("secure" not in c and c["samesite"] == "strict" for c in cookies.values())


async def test_an_unsent_session_cookie_is_not_cleared(browser: httpx.AsyncClient) -> None:
    # A cross-site link to the dashboard arrives without the SameSite=Strict cookie.
    response = await browser.get("/dashboard")
    assert response.status_code == 303
    assert "set-cookie" not in response.headers


# ---- the API keys page (create, roll and revoke in Chromium: test_ui.py) ------------------

SHOWN_SECRET = re.compile(r'<code data-test-id="new-key-secret">([^<]+)</code>')


async def test_a_new_keys_secret_is_in_the_answer_to_its_post_only(
    browser: httpx.AsyncClient, gateway: httpx.AsyncClient, merchant_with_password: Merchant
) -> None:
    session = await signed_in(browser, merchant_with_password)
    created = await submit(browser, "/dashboard/keys", "/dashboard/keys", label="  Backend  ")
    assert created.status_code == 200
    assert created.headers["cache-control"] == "no-store"
    assert "it will not be shown again" in created.text
    [new] = [k for k in await keys_of(gateway, session) if k["label"] == "Backend"]  # trimmed
    found = SHOWN_SECRET.search(created.text)
    assert found, "the answer shows no secret"
    secret = found.group(1)
    assert f'<code data-test-id="new-key-id">{new["key"]}</code>' in created.text
    assert secret not in str(created.headers)
    orders = await gateway.get(
        "/api/v1/orders", headers={"X-Api-Key": new["key"], "X-Api-Secret": secret}
    )
    assert orders.status_code == 200  # the real secret of the new key

    listed = await browser.get("/dashboard/keys")
    assert f'data-key="{new["key"]}"' in listed.text
    assert secret not in listed.text
    assert "new-key-secret" not in listed.text


async def test_a_full_key_set_is_a_problem_banner(
    browser: httpx.AsyncClient, gateway: httpx.AsyncClient, merchant_with_password: Merchant
) -> None:
    session = await signed_in(browser, merchant_with_password)
    for n in range(len(await keys_of(gateway, session)), 10):
        made = await gateway.post("/api/v1/merchant/keys", json={"label": f"k{n}"}, headers=session)
        assert made.status_code == 201
    full = await keys_of(gateway, session)
    assert len(full) == 10

    refused = await submit(browser, "/dashboard/keys", "/dashboard/keys", label="one too many")
    assert refused.status_code == 303
    shown = await browser.get(refused.headers["location"])
    assert re.search(r'<p class="problem" role="alert">[^<]*at most 10 usable API keys', shown.text)
    assert "new-key-secret" not in shown.text
    assert await keys_of(gateway, session) == full


async def test_roll_defaults_to_a_day_of_overlap_and_shows_the_new_secret(
    browser: httpx.AsyncClient, gateway: httpx.AsyncClient, merchant_with_password: Merchant
) -> None:
    session = await signed_in(browser, merchant_with_password)
    [old] = await keys_of(gateway, session)
    page = (await browser.get("/dashboard/keys")).text
    [chosen] = re.findall(r'<option value="(\d+)" selected>([^<]+)</option>', page)
    assert chosen == ("86400", "24 hours")

    rolled = await submit(
        browser, "/dashboard/keys", f"/dashboard/keys/{old['id']}/roll",
        expires_in_seconds=chosen[0],
    )  # fmt: skip
    assert rolled.status_code == 200
    assert rolled.headers["cache-control"] == "no-store"
    assert "which keeps working for 24 hours" in rolled.text
    found = SHOWN_SECRET.search(rolled.text)
    assert found, "the answer shows no secret"
    new, still = await keys_of(gateway, session)
    assert f'<code data-test-id="new-key-id">{new["key"]}</code>' in rolled.text
    assert (still["id"], still["status"]) == (old["id"], "expiring")
    expires = datetime.fromisoformat(still["expires_at"]) - datetime.now(UTC)
    assert timedelta(hours=23) < expires <= timedelta(hours=24)
    listed = (await browser.get("/dashboard/keys")).text  # a rolled key is not offered again
    assert f'action="/dashboard/keys/{new["id"]}/roll"' in listed
    assert f'action="/dashboard/keys/{old["id"]}/roll"' not in listed
    assert f'data-key-id="{old["id"]}">Revoke' in listed  # it can still be revoked


async def test_revoke_asks_first_and_changes_nothing_until_confirmed(
    browser: httpx.AsyncClient, gateway: httpx.AsyncClient, merchant_with_password: Merchant
) -> None:
    session = await signed_in(browser, merchant_with_password)
    [key] = await keys_of(gateway, session)
    spare = await gateway.post("/api/v1/merchant/keys", json={"label": "spare"}, headers=session)
    assert spare.status_code == 201
    before = await keys_of(gateway, session)

    path = f"/dashboard/keys/{key['id']}/revoke"
    asked = await browser.get(path)
    assert asked.status_code == 200
    assert 'data-test-id="confirm-revoke-button"' in asked.text
    assert key["key"] in asked.text
    assert await keys_of(gateway, session) == before  # asking changed nothing

    revoked = await submit(browser, path, path)
    assert revoked.status_code == 303
    assert revoked.headers["location"].startswith("/dashboard/keys?notice=")
    statuses = {k["id"]: k["status"] for k in await keys_of(gateway, session)}
    assert statuses == {key["id"]: "revoked", spare.json()["id"]: "active"}

    again = await browser.get(path)
    assert again.status_code == 303
    assert again.headers["location"].startswith("/dashboard/keys?problem=")
    page = (await browser.get("/dashboard/keys")).text  # actions on the usable key only
    assert page.count('data-test-id="roll-key-button"') == 1
    assert page.count('data-test-id="revoke-key-button"') == 1


# ---- money forms are idempotent ------------------------------------------------------------


async def paid_payment(gateway: httpx.AsyncClient, merchant: Merchant) -> str:
    order_id = await new_order(gateway, merchant)
    body = {"order_id": order_id, "method": "upi", "vpa": "customer@okbank"}
    created = await gateway.post("/api/v1/payments", json=body, headers=merchant.headers)
    payment_id = str(created.json()["id"])

    async def paid() -> bool:
        answer = await gateway.get(f"/api/v1/payments/{payment_id}", headers=merchant.headers)
        return bool(answer.json()["status"] == "success")

    await eventually_async(paid, f"payment {payment_id} to succeed")
    return payment_id


async def test_a_refund_confirmation_submitted_twice_at_once_makes_one_refund(
    browser: httpx.AsyncClient, gateway: httpx.AsyncClient, merchant_with_password: Merchant
) -> None:
    """A double click or a resubmitted page posts the same rendered form twice: its key makes
    the API replay the first refund instead of making a second."""
    merchant = merchant_with_password
    payment_id = await paid_payment(gateway, merchant)
    await signed_in(browser, merchant)
    page = await browser.get(
        f"/dashboard/transactions/{payment_id}/refund", params={"amount": "1000"}
    )
    assert page.status_code == 200
    key = re.search(r'name="idempotency_key" value="([^"]+)"', page.text)
    assert key, "the confirmation carries no idempotency key"
    form = {"amount": "1000", "reason": "", "idempotency_key": key.group(1),
            "csrf_token": token_of(page)}  # fmt: skip
    action = f"/dashboard/transactions/{payment_id}/refund"
    answers = await asyncio.gather(
        *(browser.post(action, data=form, headers={"Origin": DEV}) for _ in range(2))
    )
    assert [a.status_code for a in answers] == [303, 303]
    refunds = await gateway.get(f"/api/v1/payments/{payment_id}/refunds", headers=merchant.headers)
    assert [r["amount"] for r in refunds.json()["data"]] == [1000]
    again = await browser.get(
        f"/dashboard/transactions/{payment_id}/refund", params={"amount": "1000"}
    )
    fresh = re.search(r'name="idempotency_key" value="([^"]+)"', again.text)
    assert fresh
    assert fresh.group(1) != key.group(1)  # a new page is a new refund


# Full-width 1000, a superscript 2, Arabic-Indic 400: `str.isdigit` takes all three.
@pytest.mark.parametrize("amount", ["\uff11\uff10\uff10\uff10", "\u00b2", "\u0664\u0660\u0660"])
async def test_an_amount_in_other_digits_is_a_clear_message_not_a_500(
    browser: httpx.AsyncClient, gateway: httpx.AsyncClient, merchant_with_password: Merchant,
    amount: str,
) -> None:  # fmt: skip
    merchant = merchant_with_password
    payment_id = await paid_payment(gateway, merchant)
    await signed_in(browser, merchant)
    asked = await browser.get(
        f"/dashboard/transactions/{payment_id}/refund", params={"amount": amount}
    )
    assert asked.status_code == 303
    assert "Enter+the+amount+in+paise" in asked.headers["location"]
    for action in ("refund", "capture"):
        posted = await submit(
            browser, f"/dashboard/transactions/{payment_id}", f"/dashboard/transactions/"
            f"{payment_id}/{action}", amount=amount,
        )  # fmt: skip
        assert posted.status_code == 303, (action, posted.text)
        assert "problem=" in posted.headers["location"]
    refunds = await gateway.get(f"/api/v1/payments/{payment_id}/refunds", headers=merchant.headers)
    assert refunds.json()["data"] == []


@pytest.mark.parametrize(
    "query",
    [
        {"problem": "Call support at +1-800-555-0100 now"},
        {"notice": "Call support at +1-800-555-0100 now"},
        {"problem": "Call support at +1-800-555-0100 now", "signature": "0" * 32},
    ],
)
async def test_a_link_cannot_put_its_own_words_in_a_banner(
    browser: httpx.AsyncClient, query: dict[str, str]
) -> None:
    page = await browser.get("/login", params=query)
    assert page.status_code == 200
    assert "+1-800" not in page.text
    assert 'role="alert"' not in page.text
    assert 'role="status"' not in page.text


async def test_a_banner_is_shown_only_on_the_page_it_was_written_for(
    browser: httpx.AsyncClient, merchant_with_password: Merchant
) -> None:
    await signed_in(browser, merchant_with_password)
    revoked = await submit(browser, "/dashboard/keys", "/dashboard/keys/key_nope/revoke")
    assert revoked.status_code == 303
    location = revoked.headers["location"]
    shown = await browser.get(location)
    assert 'role="alert"' in shown.text
    kind, text = next(iter(httpx.URL(location).params.items()))
    swapped = await browser.get(
        location.replace(f"{kind}=", "notice=" if kind == "problem" else "problem=")
    )
    assert text not in swapped.text
