"""The hosted checkout (:3001) and the same-origin relays its script calls."""

import logging
from typing import Annotated

from fastapi import Query, Request, Response
from fastapi.responses import HTMLResponse

from kit.errors import GatewayError, NotFound
from ui.gateway import ApiError, Gateway
from ui.pages.base import checkout, gateway_of, render, segment

log = logging.getLogger("ui.checkout")


@checkout.get("/checkout")
async def checkout_page(
    request: Request,
    order_id: Annotated[str, Query(max_length=64)] = "",
    embedded: bool = False,
) -> HTMLResponse:
    """The order's summary with the merchant's name, then the payment methods; a paid order
    says so instead (and offers the way back to the merchant)."""
    gateway = gateway_of(request)
    try:
        order = await gateway.call("GET", f"/api/v1/orders/{segment(order_id)}/checkout")
    except (NotFound, ApiError):
        return render(request, "checkout_missing.html", 404, order_id=order_id)
    return render(
        request, "checkout.html", order=order, embedded=embedded,
        merchant_name=await _merchant_name(gateway, str(order["merchant_id"])),
    )  # fmt: skip


async def _merchant_name(gateway: Gateway, merchant_id: str) -> str | None:
    """Whom the customer pays; without it the page still takes the payment."""
    try:
        merchant = await gateway.call("GET", f"/api/v1/merchant/{segment(merchant_id)}/public")
    except GatewayError:
        log.warning("no merchant name for the checkout", extra={"merchant_id": merchant_id})
        return None
    return str(merchant["name"])


@checkout.post("/checkout/api/payments")
async def create_checkout_payment(request: Request) -> Response:
    """Same-origin relay to `POST /api/v1/payments/public` (the page needs no CORS), with the
    page's per-attempt `Idempotency-Key`."""
    headers = {"Content-Type": "application/json"}
    if key := request.headers.get("Idempotency-Key"):
        headers["Idempotency-Key"] = key
    answer = await gateway_of(request).raw(
        "POST", "/api/v1/payments/public", content=await request.body(), headers=headers
    )
    return Response(answer.content, status_code=answer.status_code, media_type="application/json")


@checkout.get("/checkout/api/payments/{payment_id}")
async def poll_checkout_payment(request: Request, payment_id: str) -> Response:
    """Same-origin relay to `GET /api/v1/payments/{id}/public`."""
    answer = await gateway_of(request).raw("GET", f"/api/v1/payments/{segment(payment_id)}/public")
    return Response(answer.content, status_code=answer.status_code, media_type="application/json")
