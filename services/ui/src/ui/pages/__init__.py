"""The dashboard (:3000) and the hosted checkout (:3001): server-rendered pages over the API."""

import contextlib
from pathlib import Path
from typing import Annotated, Any
from urllib.parse import quote, urlencode

from fastapi import APIRouter, Depends, Form, Query, Request, Response
from fastapi.responses import HTMLResponse, RedirectResponse
from starlette.templating import Jinja2Templates

from kit.errors import NotFound, Unauthenticated
from ui.formats import rupees, timestamp
from ui.gateway import ApiError, Gateway
from ui.session import (
    check_form,
    check_origin,
    csrf_input,
    end_session,
    remember_login_cookie,
    session_token,
    start_session,
)
from ui.settings import Settings

PAGE_SIZE = 20

templates = Jinja2Templates(directory=str(Path(__file__).parent / "templates"))
templates.env.filters["rupees"] = rupees
templates.env.filters["timestamp"] = timestamp
templates.env.globals["csrf_input"] = csrf_input

# Every state-changing dashboard request is a form POST with the page's CSRF token. The
# checkout's relay is called by checkout-page.js from the checkout's own origin (checkout.js on a
# merchant's site only frames that page), has no session to ride on, so it checks the origin.
dashboard = APIRouter(include_in_schema=False, dependencies=[Depends(check_form)])
checkout = APIRouter(include_in_schema=False, dependencies=[Depends(check_origin)])


def _gateway(request: Request) -> Gateway:
    gateway: Gateway = request.state.gateway
    return gateway.on_behalf_of(request)


def _settings(request: Request) -> Settings:
    settings: Settings = request.state.settings
    return settings


def _token(request: Request) -> str:
    token = session_token(request)
    if not token:
        raise Unauthenticated()
    return token


def _render(request: Request, name: str, code: int = 200, **context: Any) -> HTMLResponse:
    context.setdefault("notice", request.query_params.get("notice"))
    context.setdefault("problem", request.query_params.get("problem"))
    response = templates.TemplateResponse(request, name, context, status_code=code)
    remember_login_cookie(request, response)
    return response


def _back(path: str, **message: str) -> RedirectResponse:
    query = f"?{urlencode(message)}" if message else ""
    return RedirectResponse(path + query, status_code=303)


# ---- dashboard -----------------------------------------------------------------------------


@dashboard.get("/")
async def root(request: Request) -> HTMLResponse:
    """Sends old-style links (`/#/webhooks`, `/#/docs`…) to their page (static/app.js)."""
    return _render(request, "root.html")


@dashboard.get("/login")
async def login_page(request: Request) -> HTMLResponse:
    return _render(request, "login.html")


@dashboard.post("/login")
async def log_in(
    request: Request, email: Annotated[str, Form()] = "", password: Annotated[str, Form()] = ""
) -> Response:
    try:
        session = await _gateway(request).call(
            "POST", "/api/v1/auth/login", json={"email": email, "password": password}
        )
    except (Unauthenticated, ApiError):
        return _render(request, "login.html", 401, problem="Invalid email or password", email=email)
    response = RedirectResponse("/dashboard", status_code=303)
    start_session(response, _settings(request), session["token"])
    return response


@dashboard.post("/logout")
async def log_out(request: Request) -> Response:
    if token := session_token(request):
        with contextlib.suppress(Unauthenticated):
            await _gateway(request).call("POST", "/api/v1/auth/logout", token)
    response = RedirectResponse("/login", status_code=303)
    end_session(response, _settings(request))
    return response


@dashboard.get("/dashboard")
async def home(request: Request) -> HTMLResponse:
    token, gateway = _token(request), _gateway(request)
    merchant = await gateway.call("GET", "/api/v1/merchant", token)
    stats = await gateway.call("GET", "/api/v1/payments/stats", token)
    return _render(request, "home.html", merchant=merchant, stats=stats, page="home")


@dashboard.get("/dashboard/transactions")
async def transactions(
    request: Request,
    status: Annotated[str | None, Query(max_length=20)] = None,
    page: Annotated[int, Query(ge=1, le=100_000)] = 1,
) -> HTMLResponse:
    params: dict[str, Any] = {"limit": PAGE_SIZE, "offset": (page - 1) * PAGE_SIZE}
    if status in ("pending", "success", "failed"):
        params["status"] = status
    listed = await _gateway(request).call("GET", "/api/v1/payments", _token(request), params=params)
    pages = max(1, -(-listed["total"] // PAGE_SIZE))
    return _render(
        request, "transactions.html", payments=listed["data"], total=listed["total"], status=status,
        page_number=page, pages=pages, page="transactions",
    )  # fmt: skip


@dashboard.get("/dashboard/transactions/{payment_id}")
async def payment_detail(request: Request, payment_id: str) -> HTMLResponse:
    token, gateway = _token(request), _gateway(request)
    quoted = quote(payment_id, safe="")
    payment = await gateway.call("GET", f"/api/v1/payments/{quoted}", token)
    refunds = await gateway.call(
        "GET", f"/api/v1/payments/{quoted}/refunds", token, params={"limit": 100}
    )
    webhooks = await gateway.call(
        "GET", "/api/v1/webhooks", token, params={"payment_id": payment_id, "limit": 100}
    )
    return _render(
        request, "payment.html", payment=payment, refunds=refunds["data"],
        webhooks=webhooks["data"], page="transactions",
    )  # fmt: skip


@dashboard.post("/dashboard/transactions/{payment_id}/refund")
async def refund_payment(
    request: Request,
    payment_id: str,
    amount: Annotated[str, Form()] = "",
    reason: Annotated[str, Form()] = "",
) -> Response:
    back = f"/dashboard/transactions/{quote(payment_id, safe='')}"
    if not amount.strip().isdigit():
        return _back(back, problem="Enter the amount in paise, e.g. 5000 for ₹50")
    body = {"amount": int(amount), "reason": reason or None}
    try:
        await _gateway(request).call(
            "POST",
            f"/api/v1/payments/{quote(payment_id, safe='')}/refunds",
            _token(request),
            json=body,
        )
    except ApiError as error:
        return _back(back, problem=error.description)
    return _back(back, notice=f"Refund of {rupees(int(amount))} created")


@dashboard.get("/dashboard/webhooks")
async def webhooks(request: Request) -> HTMLResponse:
    token, gateway = _token(request), _gateway(request)
    config = await gateway.call("GET", "/api/v1/webhooks/config", token)
    logs = await gateway.call("GET", "/api/v1/webhooks", token, params={"limit": PAGE_SIZE})
    return _render(request, "webhooks.html", config=config, logs=logs["data"], page="webhooks")


@dashboard.post("/dashboard/webhooks/config")
async def save_webhook_config(
    request: Request, webhook_url: Annotated[str, Form()] = ""
) -> Response:
    body = {"webhook_url": webhook_url.strip() or None}
    try:
        await _gateway(request).call("PUT", "/api/v1/webhooks/config", _token(request), json=body)
    except ApiError as error:
        return _back("/dashboard/webhooks", problem=error.description)
    return _back("/dashboard/webhooks", notice="Webhook configuration saved")


@dashboard.post("/dashboard/webhooks/regenerate")
async def regenerate_secret(request: Request) -> Response:
    await _gateway(request).call("POST", "/api/v1/webhooks/regenerate-secret", _token(request))
    return _back("/dashboard/webhooks", notice="A new secret is in use; update your receiver")


@dashboard.post("/dashboard/webhooks/test")
async def send_test_webhook(request: Request) -> Response:
    try:
        sent = await _gateway(request).call("POST", "/api/v1/webhooks/test", _token(request))
    except ApiError as error:
        return _back("/dashboard/webhooks", problem=error.description)
    if sent["status"] == "success":
        return _back("/dashboard/webhooks", notice="Test webhook delivered")
    answer = sent.get("response_code") or sent.get("response_body") or "no answer"
    return _back(
        "/dashboard/webhooks", problem=f"Test webhook not delivered ({answer}); it will be retried"
    )


@dashboard.post("/dashboard/webhooks/{webhook_id}/retry")
async def retry_webhook(request: Request, webhook_id: str) -> Response:
    try:
        await _gateway(request).call(
            "POST", f"/api/v1/webhooks/{quote(webhook_id, safe='')}/retry", _token(request)
        )
    except (ApiError, NotFound) as error:
        return _back("/dashboard/webhooks", problem=error.description)
    return _back("/dashboard/webhooks", notice="Webhook retry scheduled")


# An API key's secret reaches the browser once: in the page that answers the create or roll
# POST (never a redirect, URL, cookie or log), marked no-store so no cache keeps it.
OVERLAPS = {0: "Now", 3600: "1 hour", 86_400: "24 hours", 604_800: "7 days"}
USABLE = ("active", "expiring")


async def _keys(request: Request) -> list[dict[str, Any]]:
    listed = await _gateway(request).call("GET", "/api/v1/merchant/keys", _token(request))
    keys: list[dict[str, Any]] = listed["data"]
    return keys


async def _keys_page(request: Request, **context: Any) -> HTMLResponse:
    response = _render(
        request, "keys.html", keys=await _keys(request), overlaps=OVERLAPS, usable=USABLE,
        page="keys", **context,
    )  # fmt: skip
    response.headers["Cache-Control"] = "no-store"
    return response


def _key_path(key_id: str, action: str) -> str:
    return f"/api/v1/merchant/keys/{quote(key_id, safe='')}/{action}"


@dashboard.get("/dashboard/keys")
async def api_keys(request: Request) -> HTMLResponse:
    return await _keys_page(request)


@dashboard.post("/dashboard/keys")
async def create_api_key(request: Request, label: Annotated[str, Form()] = "") -> Response:
    try:
        created = await _gateway(request).call(
            "POST", "/api/v1/merchant/keys", _token(request), json={"label": label.strip()}
        )
    except ApiError as error:
        return _back("/dashboard/keys", problem=error.description)
    return await _keys_page(request, created=created, notice=f"API key {created['key']} created")


@dashboard.post("/dashboard/keys/{key_id}/roll")
async def roll_api_key(
    request: Request, key_id: str, expires_in_seconds: Annotated[str, Form()] = "86400"
) -> Response:
    if not expires_in_seconds.isdigit():
        return _back("/dashboard/keys", problem="Choose how long the old key keeps working")
    body = {"expires_in_seconds": int(expires_in_seconds)}
    try:
        created = await _gateway(request).call(
            "POST", _key_path(key_id, "roll"), _token(request), json=body
        )
    except ApiError as error:
        return _back("/dashboard/keys", problem=error.description)
    overlap = OVERLAPS.get(int(expires_in_seconds), f"{expires_in_seconds} s").lower()
    ends = "stopped working now" if overlap == "now" else f"keeps working for {overlap}"
    notice = f"API key {created['key']} replaces the old key, which {ends}"
    return await _keys_page(request, created=created, notice=notice)


@dashboard.get("/dashboard/keys/{key_id}/revoke")
async def confirm_revoke(request: Request, key_id: str) -> Response:
    """Revoking breaks every integration that uses the key, so it takes a second step."""
    key = next((k for k in await _keys(request) if k["id"] == key_id), None)
    if key is None:
        return _back("/dashboard/keys", problem="API key not found")
    if key["status"] not in USABLE:
        return _back("/dashboard/keys", problem=f"API key {key['key']} is already {key['status']}")
    return _render(request, "key_revoke.html", key=key, page="keys")


@dashboard.post("/dashboard/keys/{key_id}/revoke")
async def revoke_api_key(request: Request, key_id: str) -> Response:
    try:
        revoked = await _gateway(request).call("POST", _key_path(key_id, "revoke"), _token(request))
    except ApiError as error:
        return _back("/dashboard/keys", problem=error.description)
    return _back("/dashboard/keys", notice=f"API key {revoked['key']} revoked; it no longer works")


@dashboard.get("/dashboard/docs")
async def docs(request: Request) -> HTMLResponse:
    token = _token(request)
    merchant = await _gateway(request).call("GET", "/api/v1/merchant", token)
    return _render(
        request, "docs.html", merchant=merchant, settings=_settings(request), page="docs"
    )


# ---- checkout ------------------------------------------------------------------------------


@checkout.get("/checkout")
async def checkout_page(
    request: Request,
    order_id: Annotated[str, Query(max_length=64)] = "",
    embedded: bool = False,
) -> HTMLResponse:
    try:
        order = await _gateway(request).call(
            "GET", f"/api/v1/orders/{quote(order_id, safe='')}/public"
        )
    except (NotFound, ApiError):
        return _render(request, "checkout_missing.html", 404, order_id=order_id)
    return _render(request, "checkout.html", order=order, embedded=embedded)


@checkout.post("/checkout/api/payments")
async def create_checkout_payment(request: Request) -> Response:
    """Same-origin relay to `POST /api/v1/payments/public` (the page needs no CORS), with the
    page's per-attempt `Idempotency-Key`."""
    headers = {"Content-Type": "application/json"}
    if key := request.headers.get("Idempotency-Key"):
        headers["Idempotency-Key"] = key
    answer = await _gateway(request).raw(
        "POST", "/api/v1/payments/public", content=await request.body(), headers=headers
    )
    return Response(answer.content, status_code=answer.status_code, media_type="application/json")


@checkout.get("/checkout/api/payments/{payment_id}")
async def poll_checkout_payment(request: Request, payment_id: str) -> Response:
    """Same-origin relay to `GET /api/v1/payments/{id}/public`."""
    answer = await _gateway(request).raw(
        "GET", f"/api/v1/payments/{quote(payment_id, safe='')}/public"
    )
    return Response(answer.content, status_code=answer.status_code, media_type="application/json")
