"""The webhooks page: URL and secret (regenerated after a confirmation), a test delivery, the
deliveries a page at a time (filtered by payment, status or event type, if asked) and one
delivery with every attempt."""

import json
from typing import Annotated, Any, Literal
from urllib.parse import urlencode
from uuid import UUID

from fastapi import Form, Query, Request, Response
from fastapi.responses import HTMLResponse

from kit.errors import NotFound
from ui.gateway import ApiError
from ui.pages.base import (
    OVERLAPS,
    PAGE_SIZE,
    PageNumber,
    back,
    dashboard,
    gateway_of,
    page_count,
    render,
    token_of,
    whole_number,
)
from ui.pages.endpoints import event_types

HERE = "/dashboard/webhooks"


def _delivery_id(value: str) -> UUID:
    try:
        return UUID(value)
    except ValueError:
        raise NotFound("Webhook delivery not found") from None


@dashboard.get(HERE)
async def webhooks(
    request: Request,
    page: PageNumber = 1,
    payment_id: Annotated[str, Query(max_length=64)] = "",
    status: Annotated[Literal["", "pending", "success", "failed"], Query()] = "",
    event: Annotated[str, Query(max_length=50)] = "",
) -> HTMLResponse:
    token, gateway = token_of(request), gateway_of(request)
    config = await gateway.call("GET", "/api/v1/webhooks/config", token)
    filters = {"payment_id": payment_id.strip(), "status": status, "event": event.strip()}
    chosen = {name: value for name, value in filters.items() if value}
    params: dict[str, Any] = {"limit": PAGE_SIZE, "offset": (page - 1) * PAGE_SIZE, **chosen}
    logs = await gateway.call("GET", "/api/v1/webhooks", token, params=params)
    return render(
        request, "webhooks.html", config=config, logs=logs["data"], total=logs["total"],
        page_number=page, pages=page_count(logs["total"]), filters=filters,
        filter_query=urlencode(chosen), event_types=event_types(), page="webhooks",
    )  # fmt: skip


@dashboard.post(f"{HERE}/config")
async def save_webhook_config(
    request: Request, webhook_url: Annotated[str, Form()] = ""
) -> Response:
    body = {"webhook_url": webhook_url.strip() or None}
    try:
        await gateway_of(request).call(
            "PUT", "/api/v1/webhooks/config", token_of(request), json=body
        )
    except ApiError as error:
        return back(request, HERE, problem=f"Not saved: {error.description}")
    return back(request, HERE, notice="Webhook configuration saved")


@dashboard.get(f"{HERE}/regenerate")
async def confirm_regenerate(request: Request) -> HTMLResponse:
    """A new secret makes the merchant's receiver reject deliveries until it is updated, so
    regenerating takes a second step."""
    config = await gateway_of(request).call("GET", "/api/v1/webhooks/config", token_of(request))
    return render(
        request, "regenerate_confirm.html", config=config, overlaps=OVERLAPS, page="webhooks"
    )


@dashboard.post(f"{HERE}/regenerate")
async def regenerate_secret(
    request: Request, expires_in_seconds: Annotated[str, Form(max_length=10)] = "86400"
) -> Response:
    overlap = whole_number(expires_in_seconds)
    if overlap is None or overlap not in OVERLAPS:
        return back(request, HERE, problem="Choose how long the old secret keeps signing")
    try:
        await gateway_of(request).call(
            "POST", "/api/v1/webhooks/regenerate-secret", token_of(request),
            json={"expires_in_seconds": overlap},
        )  # fmt: skip
    except ApiError as error:
        return back(request, HERE, problem=f"Secret not regenerated: {error.description}")
    if overlap == 0:
        return back(request, HERE, notice="A new secret is in use; update your receiver")
    return back(
        request,
        HERE,
        notice=f"A new secret is in use; the old one signs too for {OVERLAPS[overlap].lower()}",
    )


@dashboard.post(f"{HERE}/test")
async def send_test_webhook(request: Request) -> Response:
    try:
        sent = await gateway_of(request).call("POST", "/api/v1/webhooks/test", token_of(request))
    except ApiError as error:
        return back(request, HERE, problem=error.description)
    if sent["status"] == "success":
        return back(request, HERE, notice="Test webhook delivered")
    answer = sent.get("response_code") or sent.get("response_body") or "no answer"
    return back(request, HERE, problem=f"Test webhook not delivered ({answer}); it will be retried")


@dashboard.get(HERE + "/{webhook_id}")
async def webhook_detail(request: Request, webhook_id: str) -> HTMLResponse:
    delivery = await gateway_of(request).call(
        "GET", f"/api/v1/webhooks/{_delivery_id(webhook_id)}", token_of(request)
    )
    payload = json.dumps(delivery["payload"], indent=2, ensure_ascii=False)
    return render(request, "webhook.html", delivery=delivery, payload=payload, page="webhooks")


@dashboard.post(HERE + "/{webhook_id}/retry")
async def retry_webhook(
    request: Request, webhook_id: str, return_to: Annotated[str, Form()] = HERE
) -> Response:
    """Deliver again, whatever the delivery's status (a handler that mishandled a 200 needs it
    too); back to the list or to the delivery's own page."""
    there = return_to if return_to == HERE or return_to.startswith(f"{HERE}/") else HERE
    try:
        await gateway_of(request).call(
            "POST", f"/api/v1/webhooks/{_delivery_id(webhook_id)}/retry", token_of(request)
        )
    except (ApiError, NotFound) as error:
        return back(request, there, problem=f"Not retried: {error.description}")
    return back(request, there, notice="Webhook retry scheduled")
