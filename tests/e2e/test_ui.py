"""The dashboard, the hosted checkout and checkout.js in a real Chromium (Debian's, via
Playwright), against the native stack. Set SCREENSHOTS_DIR to keep a screenshot of each page."""

import hashlib
import hmac
import json
import os
import re
import secrets
import threading
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx
import pytest
from playwright.sync_api import Browser, Locator, Page, Route, expect, sync_playwright

from devstack.stack import Stack
from tests.e2e.conftest import Merchant
from tests.receiver import Receiver, running_receiver
from tests.waits import WAIT_SECONDS, eventually
from ui.apidocs import DOCUMENT

pytestmark = pytest.mark.e2e
# Playwright's `expect` gives up after 5 s by default: too short for a worker on a loaded machine.
expect.set_options(timeout=WAIT_SECONDS * 1000)

TEST_HEADERS = {"X-Api-Key": "key_test_abc123", "X-Api-Secret": "secret_test_xyz789"}
CHROMIUM = os.environ.get("CHROMIUM", "/usr/bin/chromium")
SHOTS = Path(os.environ["SCREENSHOTS_DIR"]) if os.environ.get("SCREENSHOTS_DIR") else None

SPEC_IDS = {
    "login": ["login-form", "email-input", "password-input", "login-button"],
    "home": ["dashboard", "api-credentials", "api-key", "api-secret", "stats-container",
             "total-transactions", "total-amount", "success-rate"],
    "transactions": ["transactions-table", "transaction-row", "payment-id", "order-id", "amount",
                     "method", "status", "created-at"],
    "webhooks": ["webhook-config", "webhook-config-form", "webhook-url-input", "webhook-secret",
                 "regenerate-secret-button", "save-webhook-button", "test-webhook-button",
                 "webhook-logs-table", "webhook-log-item", "webhook-event", "webhook-status",
                 "webhook-attempts", "webhook-last-attempt", "webhook-response-code"],
    "docs": ["api-docs", "section-create-order", "code-snippet-create-order",
             "section-sdk-integration", "code-snippet-sdk", "section-webhook-verification",
             "code-snippet-webhook"],
    "checkout": ["checkout-container", "order-summary", "order-amount", "order-id",
                 "payment-methods", "method-upi", "method-card", "upi-form", "vpa-input",
                 "pay-button", "card-form",
                 "card-number-input", "expiry-input", "cvv-input", "cardholder-name-input",
                 "processing-state", "processing-message", "success-state", "success-message",
                 "error-state", "error-message", "retry-button"],
}  # fmt: skip


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(
            executable_path=CHROMIUM,
            args=["--no-sandbox", "--disable-gpu", "--disable-background-networking",
                  "--disable-component-update", "--disable-sync", "--no-first-run"],
        )  # fmt: skip
        yield launched
        launched.close()


@pytest.fixture
def page(browser: Browser) -> Iterator[Page]:
    context = browser.new_context(viewport={"width": 1200, "height": 860})
    opened = context.new_page()
    opened.set_default_timeout(WAIT_SECONDS * 1000)
    yield opened
    context.close()


def shot(page: Page, name: str) -> None:
    if SHOTS:
        SHOTS.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(SHOTS / f"{name}.png"), full_page=True)


def ids_present(page: Page, names: list[str]) -> None:
    missing = [n for n in names if page.locator(f"[data-test-id='{n}']").count() == 0]
    assert not missing, f"missing data-test-ids: {missing}"


def log_in(
    page: Page,
    stack: Stack,
    email: str = "test@example.com",
    password: str = "anything",  # noqa: S107 - the test merchant takes any password
) -> None:
    page.goto(f"{stack.url('dashboard')}/login")
    ids_present(page, SPEC_IDS["login"])
    shot(page, "login")
    page.get_by_label("Email").fill(email)
    page.get_by_label("Password").fill(password)
    page.get_by_label("Password").press("Enter")  # the keyboard works
    expect(page.locator("[data-test-id=dashboard]")).to_be_visible()


def new_order(
    api: httpx.Client, amount: int = 50000, headers: dict[str, str] = TEST_HEADERS, **extra: Any
) -> str:
    created = api.post("/api/v1/orders", json={"amount": amount, **extra}, headers=headers)
    assert created.status_code == 201, created.text
    return str(created.json()["id"])


def search(page: Page, text: str) -> None:
    page.get_by_label(
        "Search by payment, order, refund or receipt id, or key:value of a note"
    ).fill(text)
    page.click("[data-test-id=search-button]")


def pay_upi(page: Page, stack: Stack, order_id: str) -> None:
    page.goto(f"{stack.url('checkout')}/checkout?order_id={order_id}")
    page.click("[data-test-id=method-upi]")
    page.fill("[data-test-id=vpa-input]", "customer@okbank")
    page.locator("[data-test-id=upi-form] [data-test-id=pay-button]").click()


def test_login_home_stats_match_the_api(page: Page, stack: Stack, api: httpx.Client) -> None:
    log_in(page, stack)
    ids_present(page, SPEC_IDS["home"])
    stats = api.get("/api/v1/payments/stats", headers=TEST_HEADERS).json()
    expect(page.locator("[data-test-id=api-key]")).to_have_text("key_test_abc123")
    expect(page.locator("[data-test-id=api-secret]")).to_have_text("secret_test_xyz789")
    expect(page.locator("[data-test-id=total-transactions]")).to_have_text(str(stats["total"]))
    rate = f"{round(stats['success_rate'])}%"
    expect(page.locator("[data-test-id=success-rate]")).to_have_text(rate)
    amount = page.locator("[data-test-id=total-amount]").inner_text()
    assert re.fullmatch(r"₹[\d,]+(\.\d\d)?", amount)
    assert int(re.sub(r"[₹,.]", "", amount.split(".")[0])) == stats["successful_amount"] // 100
    shot(page, "dashboard")
    assert (
        page.evaluate("() => Object.keys(localStorage).length + Object.keys(sessionStorage).length")
        == 0
    )
    assert "secret_test_xyz789" not in page.evaluate("() => document.cookie")


def test_upi_and_card_payments_through_the_hosted_checkout(
    page: Page, stack: Stack, api: httpx.Client
) -> None:
    upi_order = new_order(api)
    page.goto(f"{stack.url('checkout')}/checkout?order_id={upi_order}")
    ids_present(page, SPEC_IDS["checkout"])
    expect(page.locator("[data-test-id=order-amount]")).to_have_text("₹500.00")
    expect(page.locator("[data-test-id=order-id]")).to_have_text(upi_order)
    shot(page, "checkout")
    pay_upi(page, stack, upi_order)
    expect(page.locator("[data-test-id=processing-state]")).to_be_visible()
    expect(page.locator("[data-test-id=success-state]")).to_be_visible()
    upi_payment = page.locator(
        "[data-test-id=success-state] [data-test-id=payment-id]"
    ).inner_text()
    shot(page, "checkout-success")

    card_order = new_order(api, 12345)
    page.goto(f"{stack.url('checkout')}/checkout?order_id={card_order}")
    page.click("[data-test-id=method-card]")
    page.fill("[data-test-id=card-number-input]", "4111 1111 1111 1112")
    page.fill("[data-test-id=expiry-input]", "12/30")
    page.fill("[data-test-id=cvv-input]", "123")
    page.fill("[data-test-id=cardholder-name-input]", "Card Holder")
    page.locator("[data-test-id=card-form] [data-test-id=pay-button]").click()
    expect(page.locator("[data-test-id=card-form] .field-error")).to_have_text(
        "Card validation failed"
    )
    page.fill("[data-test-id=card-number-input]", "4111 1111 1111 1111")
    page.locator("[data-test-id=card-form] [data-test-id=pay-button]").click()
    expect(page.locator("[data-test-id=success-state]")).to_be_visible()
    card_payment = page.locator(
        "[data-test-id=success-state] [data-test-id=payment-id]"
    ).inner_text()

    log_in(page, stack)
    page.goto(f"{stack.url('dashboard')}/dashboard/transactions")
    ids_present(page, SPEC_IDS["transactions"])
    for payment_id, method in ((upi_payment, "upi"), (card_payment, "card")):
        row = page.locator(f"[data-test-id=transaction-row][data-payment-id='{payment_id}']")
        expect(row.locator("[data-test-id=status]")).to_have_text("success")
        expect(row.locator("[data-test-id=method]")).to_have_text(method)
    expect(page.locator(f"[data-payment-id='{card_payment}'] [data-test-id=amount]")).to_have_text(
        "12345"
    )
    assert re.fullmatch(
        r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d",
        page.locator(f"[data-payment-id='{card_payment}'] [data-test-id=created-at]").inner_text(),
    )
    shot(page, "transactions")
    page.click(f"a[href='/dashboard/transactions/{card_payment}']")
    page.get_by_label("Amount (paise)").fill("2345")
    page.click("[data-test-id=refund-button]")
    page.click("[data-test-id=confirm-refund-button]")
    expect(page.locator("[data-test-id=refund-row]")).to_have_count(1)
    expect(page.locator("[data-test-id=refundable-amount]")).to_contain_text("₹100.00")


def test_a_double_click_on_pay_makes_one_payment(
    page: Page, stack: Stack, api: httpx.Client
) -> None:
    order_id = new_order(api)
    sent: list[str | None] = []
    page.on(
        "request",
        lambda r: (
            sent.append(r.headers.get("idempotency-key"))
            if r.url.endswith("/checkout/api/payments") and r.method == "POST"
            else None
        ),
    )
    page.goto(f"{stack.url('checkout')}/checkout?order_id={order_id}")
    page.click("[data-test-id=method-upi]")
    page.fill("[data-test-id=vpa-input]", "customer@okbank")
    page.locator("[data-test-id=upi-form] [data-test-id=pay-button]").dblclick()
    expect(page.locator("[data-test-id=success-state]")).to_be_visible()
    [key] = set(sent)  # every request of this attempt carries the same key
    assert key is not None
    assert key.startswith("chk_")
    listed = api.get("/api/v1/payments", params={"order_id": order_id}, headers=TEST_HEADERS)
    assert listed.json()["total"] == 1


def test_a_declined_payment_shows_the_error_state(
    page: Page, stack: Stack, api: httpx.Client
) -> None:
    stack.kill("payments-worker")
    stack.restart("payments-worker", TEST_PAYMENT_SUCCESS="false")
    try:
        pay_upi(page, stack, new_order(api))
        expect(page.locator("[data-test-id=error-state]")).to_be_visible()
        expect(page.locator("[data-test-id=error-message]")).to_have_text(
            "Payment processing failed"
        )
        failed = page.locator("[data-test-id=failed-payment-id]").inner_text()
        assert re.fullmatch(r"pay_[A-Za-z0-9]{16}", failed)
        shown = api.get(f"/api/v1/payments/{failed}", headers=TEST_HEADERS).json()
        assert shown["status"] == "failed"
        shot(page, "checkout-failed")
        page.click("[data-test-id=retry-button]")
        expect(page.locator("[data-test-id=payment-methods]")).to_be_visible()
    finally:
        stack.kill("payments-worker")
        stack.restart("payments-worker", TEST_PAYMENT_SUCCESS="true")
    stack.wait_healthy()


def test_unknown_order_has_a_clear_error_page(page: Page, stack: Stack) -> None:
    response = page.goto(f"{stack.url('checkout')}/checkout?order_id=order_doesnotexist000")
    assert response is not None
    assert response.status == 404
    expect(page.get_by_role("heading", name="Order not found")).to_be_visible()


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    with running_receiver() as running:
        yield running


def test_webhooks_page_saves_regenerates_lists_and_retries(
    page: Page, stack: Stack, api: httpx.Client, receiver: Receiver
) -> None:
    log_in(page, stack)
    page.goto(f"{stack.url('dashboard')}/dashboard/webhooks")
    page.get_by_label("Webhook URL").fill(receiver.url)
    page.click("[data-test-id=save-webhook-button]")
    expect(page.locator("[data-test-id=webhook-url-input]")).to_have_value(receiver.url)
    old_secret = page.locator("[data-test-id=webhook-secret]").inner_text()
    page.click("[data-test-id=regenerate-secret-button]")
    expect(page.locator("[data-test-id=regenerate-confirmation]")).to_contain_text(old_secret)
    config = api.get("/api/v1/webhooks/config", headers=TEST_HEADERS).json()
    assert config["webhook_secret"] == old_secret  # asking changed nothing
    page.click("[data-test-id=cancel-regenerate-link]")
    expect(page.locator("[data-test-id=webhook-secret]")).to_have_text(old_secret)
    page.click("[data-test-id=regenerate-secret-button]")
    expect(page.locator("[data-test-id=regenerate-overlap-select]")).to_have_value("86400")
    page.click("[data-test-id=confirm-regenerate-button]")
    expect(page.get_by_role("status")).to_have_text(
        "A new secret is in use; the old one signs too for 24 hours"
    )
    expect(page.locator("[data-test-id=webhook-secret]")).not_to_have_text(old_secret)
    endpoints = api.get("/api/v1/webhooks/endpoints", headers=TEST_HEADERS).json()["data"]
    [default] = [e for e in endpoints if e["is_default"]]
    assert default["previous_secret_expires_at"] is not None  # the overlap was asked for
    assert page.locator("[data-test-id=webhook-secret]").inner_text().startswith("whsec_")
    receiver.fail_next = 1
    page.click("[data-test-id=test-webhook-button]")
    expect(page.get_by_role("alert")).to_contain_text("Test webhook not delivered (500)")
    ids_present(page, SPEC_IDS["webhooks"])
    # The test merchant's log is shared with the other tests' events: this test webhook's row
    # is found by its id, not taken to be the newest row.
    params: dict[str, str | int] = {"event": "webhook.test", "limit": 1}
    [sent] = api.get("/api/v1/webhooks", params=params, headers=TEST_HEADERS).json()["data"]
    row = page.locator(f"[data-test-id=webhook-log-item][data-webhook-id='{sent['id']}']")
    expect(row.locator("[data-test-id=webhook-event]")).to_have_text("webhook.test")
    expect(row.locator("[data-test-id=webhook-response-code]")).to_have_text("500")
    expect(row.locator("[data-test-id=webhook-attempts]")).to_have_text("1")
    shot(page, "webhooks")
    row.locator("[data-test-id=retry-webhook-button]").click()
    expect(page.get_by_role("status")).to_have_text("Webhook retry scheduled")

    def delivered() -> bool:
        page.reload()
        return row.locator("[data-test-id=webhook-status]").inner_text() == "success"

    eventually(delivered, "the retried webhook's success on the reloaded page")
    # A delivered row can be sent again too (a handler that mishandled its 200).
    before = len(receiver.requests)
    row.locator("[data-test-id=retry-webhook-button]").click()
    expect(page.get_by_role("status")).to_have_text("Webhook retry scheduled")
    eventually(lambda: len(receiver.requests) > before, "the delivered webhook sent again")
    api.put("/api/v1/webhooks/config", json={"webhook_url": None}, headers=TEST_HEADERS)


def test_a_form_on_another_site_cannot_change_the_dashboard(
    page: Page, stack: Stack, api: httpx.Client
) -> None:
    log_in(page, stack)
    before = api.get("/api/v1/webhooks/config", headers=TEST_HEADERS).json()
    attack = f"""<form method="post" action="{stack.url("dashboard")}/dashboard/webhooks/config">
<input name="webhook_url" value="https://attacker.example/hook">
<input name="csrf_token" value="guessed"><button>Win a prize</button></form>"""
    page.route(
        "http://attacker.example/",
        lambda route: route.fulfill(body=attack, content_type="text/html"),
    )
    page.goto("http://attacker.example/")
    with page.expect_response(re.compile(r"/dashboard/webhooks/config$")) as answer:
        page.click("button")
    assert answer.value.status == 403
    expect(page.get_by_role("heading", name="Request refused")).to_be_visible()
    assert api.get("/api/v1/webhooks/config", headers=TEST_HEADERS).json() == before
    cookies = {c["name"]: c for c in page.context.cookies()}
    assert cookies["session"]["httpOnly"]
    assert cookies["session"]["sameSite"] == "Strict"


def test_docs_page_and_old_style_links(page: Page, stack: Stack) -> None:
    log_in(page, stack)
    page.goto(f"{stack.url('dashboard')}/#/docs")
    expect(page).to_have_url(re.compile(r"/dashboard/docs$"))
    ids_present(page, SPEC_IDS["docs"])
    assert "/checkout.js" in page.locator("[data-test-id=code-snippet-sdk]").inner_text()
    shot(page, "docs")
    page.goto(f"{stack.url('dashboard')}/#/webhook-config")
    expect(page).to_have_url(re.compile(r"/dashboard/webhooks$"))
    headers = page.request.get(f"{stack.url('dashboard')}/dashboard/docs").headers
    assert "frame-ancestors 'none'" in headers["content-security-policy"]


# How soon a revoked or rolled-now key must be refused: well inside the services' 30 s
# credential cache, so passing proves the revocation was announced (as in test_keys.py).
REFUSED_WITHIN = 10.0


def orders_status(api: httpx.Client, key: str, secret: str) -> int:
    return api.get("/api/v1/orders", headers={"X-Api-Key": key, "X-Api-Secret": secret}).status_code


def new_key_pair(page: Page) -> tuple[str, str]:
    """The key and secret the page shows once, after a create or a roll."""
    expect(page.locator("[data-test-id=new-key-warning]")).to_contain_text(
        "it will not be shown again"
    )
    return (
        page.locator("[data-test-id=new-key-id]").inner_text(),
        page.locator("[data-test-id=new-key-secret]").inner_text(),
    )


@pytest.fixture
def key_label(api: httpx.Client) -> Iterator[str]:
    """A label for the keys one test creates; whatever of them is still usable afterwards is
    revoked, so the test merchant's profile key stays key_test_abc123 for the other tests."""
    label = f"e2e {secrets.token_hex(4)}"
    yield label
    login = api.post(
        "/api/v1/auth/login", json={"email": "test@example.com", "password": "anything"}
    )
    session = {"Authorization": f"Bearer {login.json()['token']}"}
    for key in api.get("/api/v1/merchant/keys", headers=session).json()["data"]:
        if key["label"] == label and key["status"] in ("active", "expiring"):
            api.post(f"/api/v1/merchant/keys/{key['id']}/revoke", headers=session)


def test_home_sets_the_currencies_new_orders_may_be_in(
    page: Page, stack: Stack, api: httpx.Client, merchant_with_password: Merchant
) -> None:
    merchant = merchant_with_password
    log_in(page, stack, merchant.email, merchant.password)
    accepted = page.locator("[data-test-id=accepted-currencies]")
    expect(accepted).to_contain_text("every currency in use")

    def order_in(currency: str) -> int:
        body = {"amount": 50000, "currency": currency}
        return api.post("/api/v1/orders", json=body, headers=merchant.headers).status_code

    assert order_in("EUR") == 201
    page.get_by_label("Accept only").fill("inr usd, INR")
    page.click("[data-test-id=currencies-button]")
    expect(page.get_by_role("status")).to_contain_text("New orders may be in INR, USD")
    expect(accepted).to_contain_text("INR, USD")
    expect(page.get_by_label("Accept only")).to_have_value("INR, USD")
    eventually(lambda: order_in("EUR") == 400, "EUR refused")  # caches dropped everywhere
    assert order_in("USD") == 201

    page.get_by_label("Accept only").fill("INR, XYZ")  # not a currency in use
    page.click("[data-test-id=currencies-button]")
    expect(page.get_by_role("alert")).to_be_visible()
    expect(accepted).to_contain_text("INR, USD")  # unchanged

    page.get_by_label("Accept only").fill("")
    page.click("[data-test-id=currencies-button]")
    expect(accepted).to_contain_text("every currency in use")
    eventually(lambda: order_in("EUR") == 201, "EUR accepted again")


def test_api_keys_page_creates_rolls_and_revokes_a_key(
    page: Page, stack: Stack, api: httpx.Client, key_label: str
) -> None:
    log_in(page, stack)
    page.get_by_role("link", name="API keys").click()
    expect(page).to_have_url(re.compile(r"/dashboard/keys$"))
    ids_present(page, ["api-keys-table", "api-key-row", "create-key-form", "key-label-input",
                       "create-key-button"])  # fmt: skip
    page.get_by_label("Label").fill(key_label)
    page.click("[data-test-id=create-key-button]")
    key, secret = new_key_pair(page)
    assert re.fullmatch(r"key_\w+", key)
    assert key != "key_test_abc123"
    row = page.locator(f"[data-test-id=api-key-row][data-key='{key}']")
    expect(row.locator("[data-test-id=api-key-label]")).to_have_text(key_label)
    expect(row.locator("[data-test-id=api-key-status]")).to_have_text("active")
    created_at = row.locator("[data-test-id=api-key-created-at]").inner_text()
    assert re.fullmatch(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d", created_at)
    shot(page, "api-keys")
    assert orders_status(api, key, secret) == 200

    page.reload()  # shown once: the list again, without the secret and without a second key
    expect(page.locator("[data-test-id=api-keys-table]")).to_be_visible()
    expect(page.locator("[data-test-id=new-key-secret]")).to_have_count(0)
    assert secret not in page.content()
    expect(page.locator("[data-test-id=api-key-row]", has_text=key_label)).to_have_count(1)

    row.locator("[data-test-id=roll-overlap-select]").select_option(label="Now")
    row.locator("[data-test-id=roll-key-button]").click()
    expect(page.get_by_role("status")).to_contain_text("replaces the old key")
    rolled_key, rolled_secret = new_key_pair(page)
    assert rolled_key != key
    expect(row.locator("[data-test-id=api-key-status]")).to_have_text("expired")
    new_row = page.locator(f"[data-test-id=api-key-row][data-key='{rolled_key}']")
    expect(new_row.locator("[data-test-id=api-key-status]")).to_have_text("active")
    expect(new_row.locator("[data-test-id=api-key-label]")).to_have_text(key_label)
    eventually(
        lambda: orders_status(api, key, secret) == 401,
        "the rolled-now key refused",
        timeout=REFUSED_WITHIN,
    )
    assert orders_status(api, rolled_key, rolled_secret) == 200

    new_row.locator("[data-test-id=revoke-key-button]").click()
    expect(page.locator("[data-test-id=revoke-key-confirmation]")).to_contain_text(rolled_key)
    assert orders_status(api, rolled_key, rolled_secret) == 200  # asking changed nothing
    page.click("[data-test-id=confirm-revoke-button]")
    expect(page.get_by_role("status")).to_have_text(
        f"API key {rolled_key} revoked; it no longer works"
    )
    expect(new_row.locator("[data-test-id=api-key-status]")).to_have_text("revoked")
    expect(new_row.locator("[data-test-id=revoke-key-button]")).to_have_count(0)
    eventually(
        lambda: orders_status(api, rolled_key, rolled_secret) == 401,
        "the revoked key refused",
        timeout=REFUSED_WITHIN,
    )
    home = api.get("/api/v1/merchant", headers=TEST_HEADERS)
    assert home.json()["api_key"] == "key_test_abc123"  # the test merchant's key is untouched
    assert orders_status(api, *TEST_HEADERS.values()) == 200


@pytest.fixture
def merchant_site(stack: Stack) -> Iterator[str]:
    """A merchant's page on another origin that embeds the checkout with checkout.js."""
    html = """<!doctype html><html><body>
<button id="buy">Buy</button><p id="result"></p>
<script src="{checkout}/checkout.js"></script>
<script>
  document.getElementById("buy").onclick = function () {{
    var result = document.getElementById("result");
    new PaymentGateway({{ key: "key_test_abc123",
      orderId: new URLSearchParams(location.search).get("order"),
      onSuccess: function (r) {{ result.textContent = "paid " + r.paymentId; }},
      onFailure: function () {{ result.textContent = "failed"; }},
      onClose: function () {{ document.title = "closed"; }} }}).open();
  }};
</script></body></html>""".format(checkout=stack.url("checkout"))

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            self.send_response(200)
            self.send_header("Content-Type", "text/html")
            self.end_headers()
            self.wfile.write(html.encode())

        def log_message(self, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


def test_checkout_js_modal_pays_and_calls_on_success(
    page: Page, stack: Stack, api: httpx.Client, merchant_site: str
) -> None:
    order_id = new_order(api, 7500)
    page.goto(f"{merchant_site}/?order={order_id}")
    assert page.evaluate("() => typeof window.PaymentGateway") == "function"
    page.click("#buy")
    modal = page.locator("#payment-gateway-modal[data-test-id=payment-modal]")
    expect(modal).to_be_visible()
    src = modal.locator("[data-test-id=payment-iframe]").get_attribute("src")
    assert src == f"{stack.url('checkout')}/checkout?order_id={order_id}&embedded=true"
    shot(page, "sdk-modal")
    frame = page.frame_locator("[data-test-id=payment-iframe]")
    frame.locator("[data-test-id=method-upi]").click()
    frame.locator("[data-test-id=vpa-input]").fill("buyer@okbank")
    frame.locator("[data-test-id=upi-form] [data-test-id=pay-button]").click()
    expect(page.locator("#result")).to_have_text(re.compile(r"^paid pay_[A-Za-z0-9]{16}$"))
    expect(modal).to_have_count(0)  # onSuccess closes the modal
    expect(page).to_have_title("closed")

    page.click("#buy")
    expect(modal).to_be_visible()
    page.click("[data-test-id=close-modal-button]")
    expect(modal).to_have_count(0)


def test_checkout_fits_a_phone(browser: Browser, stack: Stack, api: httpx.Client) -> None:
    context = browser.new_context(viewport={"width": 375, "height": 740}, is_mobile=True)
    phone = context.new_page()
    try:
        phone.goto(f"{stack.url('checkout')}/checkout?order_id={new_order(api)}")
        phone.click("[data-test-id=method-card]")
        expect(phone.locator("[data-test-id=card-number-input]")).to_be_visible()
        assert phone.evaluate("() => document.documentElement.scrollWidth") <= 375
        shot(phone, "checkout-phone")
    finally:
        context.close()


def test_support_finds_captures_and_refunds_a_payment(
    page: Page, stack: Stack, api: httpx.Client
) -> None:
    receipt = f"rcpt-{secrets.token_hex(6)}"
    order_id = new_order(api, 50000, receipt=receipt)
    pay_upi(page, stack, order_id)
    expect(page.locator("[data-test-id=success-state]")).to_be_visible()
    payment_id = page.locator("[data-test-id=success-state] [data-test-id=payment-id]").inner_text()
    dashboard = stack.url("dashboard")

    log_in(page, stack)
    search(page, payment_id)
    expect(page).to_have_url(f"{dashboard}/dashboard/transactions/{payment_id}")
    expect(page.locator("[data-test-id=payment-amount]")).to_have_text("₹500.00")
    expect(page.locator("[data-test-id=payment-captured]")).to_have_text("not captured")
    page.click("[data-test-id=capture-button]")
    expect(page.get_by_role("status")).to_have_text("Captured ₹500.00")
    expect(page.locator("[data-test-id=payment-captured]")).to_have_text("captured")
    expect(page.locator("[data-test-id=capture-button]")).to_have_count(0)
    assert api.get(f"/api/v1/payments/{payment_id}", headers=TEST_HEADERS).json()["captured"]

    refundable = page.locator("[data-test-id=refundable-amount]")
    expect(refundable).to_contain_text("Up to ₹500.00 (50000 paise) can be refunded")
    assert page.locator("[data-test-id=refund-amount-input]").get_attribute("max") == "50000"
    page.goto(f"{dashboard}/dashboard/transactions/{payment_id}/refund?amount=50001")
    expect(page.get_by_role("alert")).to_have_text("At most ₹500.00 (50000) can be refunded")
    page.get_by_label("Amount (paise)").fill("20000")
    page.get_by_label("Reason").fill("damaged in transit")
    page.click("[data-test-id=refund-button]")
    expect(page.locator("[data-test-id=refund-confirm-amount]")).to_have_text("₹200.00")
    shot(page, "refund-confirm")
    page.click("[data-test-id=cancel-refund-link]")
    refunds_url = f"/api/v1/payments/{payment_id}/refunds"
    assert api.get(refunds_url, headers=TEST_HEADERS).json()["total"] == 0  # asking refunds nothing
    page.get_by_label("Amount (paise)").fill("20000")
    page.get_by_label("Reason").fill("damaged in transit")
    page.click("[data-test-id=refund-button]")
    expect(page.locator("[data-test-id=refund-confirmation]")).to_contain_text("damaged in transit")
    page.click("[data-test-id=confirm-refund-button]")
    expect(page.get_by_role("status")).to_contain_text("of ₹200.00 created")
    expect(refundable).to_contain_text("Up to ₹300.00 (30000 paise)")
    [refund] = api.get(refunds_url, headers=TEST_HEADERS).json()["data"]
    assert (refund["amount"], refund["reason"]) == (20000, "damaged in transit")
    shot(page, "payment")

    search(page, refund["id"])
    expect(page).to_have_url(f"{dashboard}/dashboard/transactions/{payment_id}#{refund['id']}")
    expect(page.locator(f"[data-test-id=refund-row][id='{refund['id']}']")).to_be_visible()
    search(page, order_id)
    expect(page).to_have_url(f"{dashboard}/dashboard/orders/{order_id}")
    expect(page.locator("[data-test-id=order-receipt]")).to_have_text(receipt)
    expect(
        page.locator(f"[data-test-id=order-payment-row][data-payment-id='{payment_id}']")
    ).to_be_visible()
    shot(page, "order")
    search(page, "/")  # back to a page with the search box
    search(page, receipt)
    expect(page).to_have_url(f"{dashboard}/dashboard/orders/{order_id}")
    search(page, f"no-such-{secrets.token_hex(4)}")
    expect(page.locator("[data-test-id=search-nothing]")).to_contain_text("No payment, order")
    # a note finds the order, the payment and the refund holding it, and nothing else
    invoice = {"notes": {"invoice": f"INV-{receipt}"}}
    for path in (f"/api/v1/orders/{order_id}", f"/api/v1/payments/{payment_id}",
                 f"/api/v1/refunds/{refund['id']}"):  # fmt: skip
        assert api.post(path, json=invoice, headers=TEST_HEADERS).status_code == 200
    search(page, f"invoice:INV-{receipt}")
    results = page.locator("[data-test-id=search-result]")
    expect(results).to_have_count(3)
    expect(results.locator("code").first).to_have_text(order_id)
    expect(page.locator("[data-test-id=search-result][data-kind=payment]")).to_contain_text(
        payment_id
    )
    expect(page.locator("[data-test-id=search-result][data-kind=refund]")).to_contain_text(
        refund["id"]
    )
    search(page, f"invoice:INV-{receipt}-other")
    expect(page.locator("[data-test-id=search-nothing]")).to_be_visible()
    page.goto(f"{dashboard}/dashboard/transactions")
    expect(page.locator("[data-test-id=time-zone]")).to_have_text("UTC")
    row = page.locator(f"[data-test-id=transaction-row][data-payment-id='{payment_id}']")
    expect(row.locator("[data-test-id=amount]")).to_have_text("50000")  # raw paise, as the contract
    expect(row.locator("[data-test-id=amount]")).to_have_attribute("title", "₹500.00")


def twenty_test_webhooks_delivered(
    api: httpx.Client, headers: dict[str, str], receiver: Receiver
) -> None:
    """A page's worth of deliveries: the merchant's URL set to `receiver`, 20 test webhooks."""
    url = {"webhook_url": receiver.url}
    assert api.put("/api/v1/webhooks/config", json=url, headers=headers).is_success
    for _ in range(20):
        assert api.post("/api/v1/webhooks/test", headers=headers).json()["status"] == "success"


def test_webhook_log_pages_filters_and_shows_every_attempt(
    page: Page, stack: Stack, api: httpx.Client, receiver: Receiver,
    merchant_with_password: Merchant,
) -> None:  # fmt: skip
    merchant = merchant_with_password
    headers = merchant.headers
    twenty_test_webhooks_delivered(api, headers, receiver)
    receiver.fail_next = 1000  # the newest delivery keeps failing, so it keeps a next retry
    failing = api.post("/api/v1/webhooks/test", headers=headers).json()
    assert (failing["status"], failing["response_code"]) == ("pending", 500)

    log_in(page, stack, merchant.email, merchant.password)
    page.goto(f"{stack.url('dashboard')}/dashboard/webhooks")
    expect(page.locator("[data-test-id=webhooks-page]")).to_have_text("Page 1 of 2")
    expect(page.locator("[data-test-id=webhook-log-item]")).to_have_count(20)
    row = page.locator(f"[data-test-id=webhook-log-item][data-webhook-id='{failing['id']}']")
    expect(row.locator("[data-test-id=webhook-status]")).to_have_text("pending")
    next_retry = row.locator("[data-test-id=webhook-next-retry]").inner_text()
    assert re.fullmatch(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d", next_retry)
    expect(page.locator("[data-test-id=retry-webhook-button]")).to_have_count(20)  # every row
    page.click("[data-test-id=webhooks-next]")
    expect(page.locator("[data-test-id=webhooks-page]")).to_have_text("Page 2 of 2")
    expect(page.locator("[data-test-id=webhook-log-item]")).to_have_count(1)
    expect(page.locator("[data-test-id=webhook-status]")).to_have_text("success")

    page.get_by_label("Payment", exact=True).fill("pay_0000000000000000")
    page.get_by_role("button", name="Filter").click()
    expect(page.locator("[data-test-id=webhook-total]")).to_contain_text("0 deliveries")
    expect(page.locator("[data-test-id=webhook-log-item]")).to_have_count(0)
    page.get_by_role("link", name="Show all").click()
    expect(page.locator("[data-test-id=webhook-total]")).to_contain_text("21 deliveries")
    page.select_option("[data-test-id=webhook-status-filter]", "pending")
    page.get_by_role("button", name="Filter").click()
    expect(page.locator("[data-test-id=webhook-total]")).to_contain_text("1 delivery")
    expect(page.locator("[data-test-id=webhook-log-item]")).to_have_attribute(
        "data-webhook-id", failing["id"]
    )
    page.select_option("[data-test-id=webhook-status-filter]", "success")
    page.select_option("[data-test-id=webhook-event-filter]", "payment.success")
    page.get_by_role("button", name="Filter").click()
    expect(page.locator("[data-test-id=webhook-total]")).to_contain_text("0 deliveries")
    page.get_by_role("link", name="Show all").click()

    page.click(f"[data-webhook-id='{failing['id']}'] [data-test-id=webhook-detail-link]")
    expect(page.locator("[data-test-id=webhook-detail]")).to_contain_text(failing["id"])
    expect(page.locator("[data-test-id=webhook-payload]")).to_contain_text(
        '"event": "webhook.test"'
    )
    expect(page.locator("[data-test-id=webhook-attempt-code]").first).to_have_text("500")
    expect(page.locator("[data-test-id=webhook-response-body]")).not_to_have_text("(none)")
    shot(page, "webhook-detail")
    attempts = page.locator("[data-test-id=webhook-attempt-row]").count()
    receiver.fail_next = 0
    page.click("[data-test-id=webhook-detail] [data-test-id=retry-webhook-button]")
    expect(page.get_by_role("status")).to_have_text("Webhook retry scheduled")
    expect(page).to_have_url(re.compile(rf"/dashboard/webhooks/{failing['id']}\?"))

    def delivered() -> bool:
        page.reload()
        status = page.locator("[data-test-id=webhook-detail-status]").inner_text()
        return status == "success" and (
            page.locator("[data-test-id=webhook-attempt-row]").count() > attempts
        )

    eventually(delivered, "the retried delivery's success and its new attempt on the page")
    expect(page.locator("[data-test-id=webhook-detail-next-retry]")).to_have_text("—")


def test_checkout_names_the_merchant_returns_to_it_and_shows_a_paid_order(
    page: Page, stack: Stack, api: httpx.Client, merchant_site: str
) -> None:
    callback = f"{merchant_site}/thanks?cart=7"
    order_id = new_order(api, 4200, callback_url=callback)
    checkout = f"{stack.url('checkout')}/checkout?order_id={order_id}"
    page.goto(checkout)
    expect(page.locator("[data-test-id=merchant-name]")).to_have_text("Test Merchant")
    pay_upi(page, stack, order_id)
    expect(page.locator("[data-test-id=success-state]")).to_be_visible()
    payment_id = page.locator("[data-test-id=success-state] [data-test-id=payment-id]").inner_text()
    expect(page.locator("[data-test-id=return-to-merchant]")).to_be_visible()
    expect(page).to_have_url(f"{callback}&payment_id={payment_id}&order_id={order_id}")

    def shown_as_paid() -> bool:
        page.goto(checkout)
        return page.locator("[data-test-id=order-paid-state]").count() == 1

    eventually(shown_as_paid, "the checkout showing the order as paid")
    expect(page.locator("[data-test-id=payment-methods]")).to_have_count(0)
    expect(page.locator("[data-test-id=order-amount]")).to_have_text("₹42.00")
    expect(page.locator("[data-test-id=return-to-merchant]")).to_have_attribute("href", callback)
    shot(page, "checkout-paid")


def test_the_api_reference_renders_and_tries_calls_with_nothing_but_the_gateway(
    page: Page, stack: Stack, api: httpx.Client
) -> None:
    document = api.get("/api/v1/openapi.json")
    assert document.status_code == 200
    assert document.json() == json.loads(DOCUMENT.read_text())
    gateway = urlsplit(stack.url("api")).netloc
    elsewhere: list[str] = []

    def only_the_gateway(route: Route) -> None:  # as without internet, or air-gapped
        if urlsplit(route.request.url).netloc == gateway:
            route.continue_()
        else:
            elsewhere.append(route.request.url)
            route.abort()

    page.route("**/*", only_the_gateway)
    page.goto(f"{stack.url('api')}/api/docs")
    operations = page.locator(".opblock")
    expected = [f"{m.upper()} {p}" for p, ops in document.json()["paths"].items() for m in ops]
    expect(operations).to_have_count(len(expected))
    listed = operations.evaluate_all(
        "els => els.map(e => e.querySelector('.opblock-summary-method').textContent + ' '"
        " + e.querySelector('.opblock-summary-path').dataset.path)"
    )
    assert sorted(listed) == sorted(expected)

    def operation(method: str, path: str) -> Locator:
        summary = page.locator(f".opblock-summary-path[data-path='{path}']")
        return page.locator(f".opblock-{method}").filter(has=summary)

    create = operation("post", "/api/v1/orders")
    create.locator(".opblock-summary-control").click()
    expect(create).to_contain_text("Idempotency-Key")  # its parameters, body and answers
    expect(create).to_contain_text("201")
    schema = page.locator("section.models .json-schema-2020-12__title:text-is('OrderCreate')")
    expect(schema).to_be_visible()  # the schemas

    # Try it: the test keys in "Authorize", then a call from the page to this same host.
    page.locator(".auth-wrapper button.authorize").click()
    for scheme, value in (("ApiKey", TEST_HEADERS["X-Api-Key"]),
                          ("ApiSecret", TEST_HEADERS["X-Api-Secret"])):  # fmt: skip
        form = page.locator(".auth-container").filter(has=page.locator(f"code:text-is('{scheme}')"))
        form.locator("input").fill(value)
        form.locator("button[type=submit]").click()
    page.locator("button.close-modal").click()
    listing = operation("get", "/api/v1/orders")
    listing.locator(".opblock-summary-control").click()
    listing.locator("button.try-out__btn").click()
    listing.locator("button.execute").click()
    status = listing.locator(".live-responses-table tr.response .response-col_status")
    expect(status).to_have_text("200")
    expect(listing.locator(".live-responses-table")).to_contain_text('"total"')
    shot(page, "api-reference")
    assert elsewhere == []


def endpoint_of(api: httpx.Client, headers: dict[str, str], endpoint_id: str) -> dict[str, Any]:
    found = api.get(f"/api/v1/webhooks/endpoints/{endpoint_id}", headers=headers)
    assert found.status_code == 200, found.text
    return found.json()  # type: ignore[no-any-return]


def signs_with(
    api: httpx.Client, headers: dict[str, str], receiver: Receiver, endpoint_id: str, secret: str
) -> bool:
    """Whether the endpoint signs with `secret` now: the API shows a secret only once, so a test
    webhook is sent and its `X-Webhook-Signature` checked."""
    sent = api.post(f"/api/v1/webhooks/endpoints/{endpoint_id}/test", headers=headers)
    assert sent.status_code == 200, sent.text
    [received] = [
        r for r in receiver.requests if r.headers["webhook-id"] == sent.json()["event_id"]
    ]
    expected = hmac.new(secret.encode(), received.body, hashlib.sha256).hexdigest()
    return received.headers["X-Webhook-Signature"] == expected


def new_secret(page: Page) -> tuple[str, str]:
    """The endpoint id and secret the page shows once, after a create or a rotation."""
    expect(page.locator("[data-test-id=new-endpoint-secret-warning]")).to_contain_text(
        "it will not be shown again"
    )
    return (
        page.locator("[data-test-id=new-endpoint-id]").inner_text(),
        page.locator("[data-test-id=new-endpoint-secret-value]").inner_text(),
    )


def test_endpoints_page_creates_edits_rotates_reenables_and_deletes(
    page: Page, stack: Stack, api: httpx.Client, receiver: Receiver,
    merchant_with_password: Merchant,
) -> None:  # fmt: skip
    merchant = merchant_with_password
    headers = merchant.headers
    log_in(page, stack, merchant.email, merchant.password)
    page.goto(f"{stack.url('dashboard')}/dashboard/webhooks")
    page.click("[data-test-id=endpoints-link]")
    expect(page).to_have_url(re.compile(r"/dashboard/endpoints$"))
    rows = page.locator("[data-test-id=endpoint-row]")
    expect(rows).to_have_count(1)
    default_id = rows.first.get_attribute("data-endpoint-id")
    expect(rows.first.locator("[data-test-id=endpoint-default]")).to_have_text("default")
    expect(rows.first.locator("[data-test-id=delete-endpoint-link]")).to_have_count(0)

    page.click("[data-test-id=create-endpoint-button]")  # no URL: said, nothing created
    expect(page.get_by_role("alert")).to_have_text("Enter the endpoint's URL")
    page.get_by_label("URL").fill("ftp://example.com/hook")
    page.get_by_label("Description").fill("refunds desk")
    page.click("[data-test-id=create-endpoint-button]")
    expect(page.get_by_role("alert")).to_contain_text("Endpoint not created:")
    expect(page.get_by_label("Description")).to_have_value("refunds desk")  # kept
    assert api.get("/api/v1/webhooks/endpoints", headers=headers).json()["total"] == 1

    page.get_by_label("URL").fill(receiver.url)
    page.get_by_label("refund.created").check()
    page.get_by_label("refund.processed").check()
    page.click("[data-test-id=create-endpoint-button]")
    endpoint_id, secret = new_secret(page)
    assert re.fullmatch(r"whsec_\S+", secret)
    created = endpoint_of(api, headers, endpoint_id)
    assert (created["url"], created["description"]) == (receiver.url, "refunds desk")
    assert signs_with(api, headers, receiver, endpoint_id, secret)
    assert created["event_types"] == ["refund.created", "refund.processed"]
    row = page.locator(f"[data-test-id=endpoint-row][data-endpoint-id='{endpoint_id}']")
    expect(row.locator("[data-test-id=endpoint-events]")).to_have_text(
        "refund.created, refund.processed"
    )
    expect(row.locator("[data-test-id=endpoint-state]")).to_have_text("enabled")
    shot(page, "endpoints")
    page.reload()  # shown once
    expect(page.locator("[data-test-id=endpoints-table]")).to_be_visible()
    assert secret not in page.content()

    row.locator("[data-test-id=edit-endpoint-link]").click()
    expect(page.get_by_label("refund.created")).to_be_checked()
    page.get_by_label("Description").fill("successful payments")
    page.get_by_label("refund.created").uncheck()
    page.get_by_label("refund.processed").uncheck()
    page.get_by_label("payment.success").check()
    shot(page, "endpoint-edit")
    page.click("[data-test-id=save-endpoint-button]")
    expect(page.get_by_role("status")).to_have_text(f"Endpoint {receiver.url} saved")
    expect(row.locator("[data-test-id=endpoint-description]")).to_have_text("successful payments")
    expect(row.locator("[data-test-id=endpoint-events]")).to_have_text("payment.success")
    assert endpoint_of(api, headers, endpoint_id)["event_types"] == ["payment.success"]

    row.locator("[data-test-id=rotate-endpoint-link]").click()
    expect(page.locator("[data-test-id=rotate-endpoint-confirmation]")).to_contain_text(
        receiver.url
    )
    assert signs_with(api, headers, receiver, endpoint_id, secret)  # asking changed nothing
    page.get_by_label("The old secret keeps signing for").select_option(label="1 hour")
    shot(page, "endpoint-rotate")
    page.click("[data-test-id=confirm-rotate-button]")
    expect(page.get_by_role("status")).to_have_text(
        f"New secret for {receiver.url}; the old one signs too for 1 hour"
    )
    rotated_id, rotated = new_secret(page)
    assert (rotated_id, rotated != secret) == (endpoint_id, True)
    assert signs_with(api, headers, receiver, endpoint_id, rotated)
    assert endpoint_of(api, headers, endpoint_id)["previous_secret_expires_at"] is not None
    changes = page.locator("[data-test-id=endpoint-change-row]")
    expect(changes.first.locator("[data-test-id=endpoint-change]")).to_have_text("secret rotated")
    expect(changes.first.locator("[data-test-id=endpoint-change-url]")).to_have_text(receiver.url)
    expect(changes.first.locator("[data-test-id=endpoint-change-by]")).to_have_text("dashboard")
    expect(changes).to_have_count(2)  # created, then rotated

    page.goto(f"{stack.url('dashboard')}/dashboard/endpoints/{default_id}/delete")
    expect(page.get_by_role("alert")).to_have_text("The default endpoint cannot be deleted")

    # Auto-disable, provoked with a disable period of seconds in the worker that retries.
    stack.kill("webhooks-worker")
    stack.restart("webhooks-worker", WEBHOOK_DISABLE_AFTER_SECONDS="2")
    try:
        receiver.fail_next = 1000
        body = {"order_id": new_order(api, 4500, headers), "method": "upi", "vpa": "payer@upi"}
        paid = api.post("/api/v1/payments", json=body, headers=headers)
        assert paid.status_code == 201, paid.text
        eventually(
            lambda: not endpoint_of(api, headers, endpoint_id)["enabled"],
            "the failing endpoint disabled",
        )
    finally:
        stack.kill("webhooks-worker")
        stack.restart("webhooks-worker")
    page.goto(f"{stack.url('dashboard')}/dashboard/endpoints")
    expect(row.locator("[data-test-id=endpoint-state]")).to_have_text("disabled")
    expect(row.locator("[data-test-id=endpoint-disabled-reason]")).to_contain_text(
        re.compile(r"every attempt failed since .*, at \d{4}-\d\d-\d\d \d\d:\d\d:\d\d")
    )
    shot(page, "endpoints-disabled")
    receiver.fail_next = 0
    row.locator("[data-test-id=enable-replay-checkbox]").check()
    row.locator("[data-test-id=enable-endpoint-button]").click()
    expect(page.get_by_role("status")).to_have_text(
        re.compile(rf"^Endpoint {re.escape(receiver.url)} enabled; [1-9]\d* missed deliver")
    )
    expect(row.locator("[data-test-id=endpoint-state]")).to_have_text("enabled")

    def delivered_after_replay() -> bool:
        query = {"endpoint_id": endpoint_id, "payment_id": paid.json()["id"]}
        logs = api.get("/api/v1/webhooks", params=query, headers=headers).json()["data"]
        return [(log["event"], log["status"]) for log in logs] == [("payment.success", "success")]

    eventually(delivered_after_replay, "the missed payment.success delivered after the replay")

    row.locator("[data-test-id=delete-endpoint-link]").click()
    expect(page.locator("[data-test-id=delete-endpoint-confirmation]")).to_contain_text(
        receiver.url
    )
    endpoint_of(api, headers, endpoint_id)  # asking deleted nothing
    page.click("[data-test-id=confirm-delete-endpoint-button]")
    expect(page.get_by_role("status")).to_have_text("Endpoint deleted; its logs are kept")
    expect(rows).to_have_count(1)
    gone = api.get(f"/api/v1/webhooks/endpoints/{endpoint_id}", headers=headers)
    assert gone.status_code == 404


def utc_minute(delta: timedelta = timedelta()) -> str:
    """A `datetime-local` field's value, in UTC as the dashboard reads it."""
    return (datetime.now(UTC) + delta).strftime("%Y-%m-%dT%H:%M")


def test_events_page_filters_pages_resends_and_replays(
    page: Page, stack: Stack, api: httpx.Client, receiver: Receiver,
    merchant_with_password: Merchant,
) -> None:  # fmt: skip
    merchant = merchant_with_password
    headers = merchant.headers
    twenty_test_webhooks_delivered(api, headers, receiver)
    order_id = new_order(api, 12300, headers)
    body = {"order_id": order_id, "method": "upi", "vpa": "payer@upi"}
    payment = api.post("/api/v1/payments", json=body, headers=headers)
    assert payment.status_code == 201, payment.text
    payment_id = payment.json()["id"]

    def success_event() -> dict[str, Any] | None:
        query = {"type": "payment.success", "object_id": payment_id}
        found = api.get("/api/v1/events", params=query, headers=headers).json()["data"]
        return found[0] if found else None

    event = eventually(success_event, "the payment.success event")
    log_in(page, stack, merchant.email, merchant.password)
    page.get_by_role("link", name="Events").click()
    expect(page).to_have_url(re.compile(r"/dashboard/events$"))
    expect(page.locator("[data-test-id=event-row]")).to_have_count(20)
    expect(page.locator("[data-test-id=events-page]")).to_have_text(re.compile(r"Page 1 of 2"))
    shot(page, "events")
    page.click("[data-test-id=events-next]")
    expect(page.locator("[data-test-id=events-page]")).to_have_text("Page 2 of 2")

    page.get_by_label("Type").select_option("payment.success")
    page.get_by_label("Object").fill(payment_id)
    page.get_by_label("From (UTC)").fill(utc_minute(timedelta(hours=-1)))
    page.get_by_label("To (UTC)").fill(utc_minute(timedelta(hours=1)))
    page.click("[data-test-id=event-filter-button]")
    expect(page.locator("[data-test-id=event-total]")).to_contain_text("1 event ")
    row = page.locator(f"[data-test-id=event-row][data-event-id='{event['id']}']")
    expect(row.locator("[data-test-id=event-object]")).to_have_text(payment_id)
    page.get_by_label("From (UTC)").fill(utc_minute(timedelta(hours=1)))
    page.click("[data-test-id=event-filter-button]")
    expect(page.get_by_role("alert")).to_have_text(  # the API's 400, as it came
        "The time window's start must be before its end"
    )
    expect(page.locator("[data-test-id=event-row]")).to_have_count(0)
    response = page.goto(f"{stack.url('dashboard')}/dashboard/events?created_from=soon")
    assert response is not None
    assert response.status == 400
    expect(page.get_by_role("alert")).to_have_text(
        "From “soon” is not a date and time (YYYY-MM-DDTHH:MM)"
    )

    page.goto(f"{stack.url('dashboard')}/dashboard/events/{event['id']}")
    expect(page.locator("[data-test-id=event-detail-id]")).to_have_text(event["id"])
    expect(page.locator("[data-test-id=event-payload]")).to_contain_text(payment_id)
    [delivery] = page.locator("[data-test-id=event-delivery-row]").all()
    expect(delivery.locator("[data-test-id=event-delivery-endpoint]")).to_have_text(receiver.url)
    shot(page, "event-detail")

    def sent_again(times: int) -> bool:
        with receiver.lock:
            ids = [r.headers.get("webhook-id") for r in receiver.requests]
        return ids.count(event["id"]) >= times

    eventually(lambda: sent_again(1), "the event at the receiver")
    page.click("[data-test-id=resend-event-button]")
    expect(page.get_by_role("status")).to_have_text(f"Event {event['id']} resent to 1 endpoint")
    eventually(lambda: sent_again(2), "the resent event at the receiver")
    page.get_by_label("Send to").select_option(label=f"Only {receiver.url}")
    page.click("[data-test-id=resend-event-button]")
    expect(page.get_by_role("status")).to_have_text(f"Event {event['id']} resent to 1 endpoint")
    eventually(lambda: sent_again(3), "the event resent to the one endpoint")
    delivery.locator("[data-test-id=event-delivery-link]").click()
    expect(page).to_have_url(re.compile(r"/dashboard/webhooks/[0-9a-f-]{36}$"))
    page.click("[data-test-id=webhook-event-link]")
    expect(page.locator("[data-test-id=event-detail-id]")).to_have_text(event["id"])

    page.goto(f"{stack.url('dashboard')}/dashboard/webhooks")  # a log row's Resend
    log_row = page.locator("[data-test-id=webhook-log-item]", has_text="payment.success")
    log_row.locator("[data-test-id=resend-event-button]").click()
    expect(page.get_by_role("status")).to_have_text(f"Event {event['id']} resent to 1 endpoint")
    expect(page).to_have_url(re.compile(r"/dashboard/webhooks\?"))
    eventually(lambda: sent_again(4), "the event resent from its log row")

    # A failed delivery to replay: an endpoint disabled while its delivery fails, then enabled.
    receiver.fail_next = 1000
    extra = api.post(
        "/api/v1/webhooks/endpoints", json={"url": receiver.url, "description": "replays"},
        headers=headers,
    ).json()  # fmt: skip
    failing = api.post(f"/api/v1/webhooks/endpoints/{extra['id']}/test", headers=headers).json()
    for enabled in (False, True):
        patch = {"enabled": enabled}
        assert api.patch(
            f"/api/v1/webhooks/endpoints/{extra['id']}", json=patch, headers=headers
        ).is_success
    failed = api.get(f"/api/v1/webhooks/{failing['id']}", headers=headers).json()
    assert failed["status"] == "failed"
    receiver.fail_next = 0
    page.goto(f"{stack.url('dashboard')}/dashboard/events")
    page.get_by_label("From", exact=True).fill(utc_minute(timedelta(hours=1)))
    page.get_by_label("To", exact=True).fill(utc_minute(timedelta(hours=-1)))
    page.click("[data-test-id=replay-button]")
    expect(page.get_by_role("alert")).to_contain_text("Nothing replayed:")
    page.get_by_label("From", exact=True).fill(utc_minute(timedelta(hours=-1)))
    page.get_by_label("To", exact=True).fill(utc_minute(timedelta(minutes=2)))
    page.get_by_label("Endpoint").select_option(extra["id"])
    page.click("[data-test-id=replay-button]")
    expect(page.get_by_role("status")).to_have_text("1 failed delivery sent again")
    eventually(
        lambda: (
            api.get(f"/api/v1/webhooks/{failing['id']}", headers=headers).json()["status"]
            == "success"
        ),
        "the replayed delivery delivered",
    )
