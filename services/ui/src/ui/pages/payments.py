"""Payments, their orders and refunds: the transactions list, one payment (capture, refund after
a confirmation), one order, and the search that finds any of them by id or receipt."""

from typing import Annotated, Any

from fastapi import Form, Query, Request, Response
from fastapi.responses import HTMLResponse

from ui.formats import money
from ui.gateway import ApiError
from ui.pages.base import (
    PAGE_SIZE,
    PageNumber,
    back,
    dashboard,
    form_key,
    gateway_of,
    idempotency_header,
    page_count,
    render,
    segment,
    token_of,
    whole_number,
)

STATUSES = ("pending", "success", "failed")
# A refund that did not fail holds its amount: the API refuses more than the rest.
HOLDING = ("pending", "processed")


@dashboard.get("/dashboard/transactions")
async def transactions(
    request: Request,
    status: Annotated[str | None, Query(max_length=20)] = None,
    page: PageNumber = 1,
) -> HTMLResponse:
    params: dict[str, Any] = {"limit": PAGE_SIZE, "offset": (page - 1) * PAGE_SIZE}
    if status in STATUSES:
        params["status"] = status
    listed = await gateway_of(request).call(
        "GET", "/api/v1/payments", token_of(request), params=params
    )
    return render(
        request, "transactions.html", payments=listed["data"], total=listed["total"],
        status=status, page_number=page, pages=page_count(listed["total"]), page="transactions",
    )  # fmt: skip


async def _payment(request: Request, payment_id: str) -> tuple[dict[str, Any], list[Any], int]:
    """The payment, its refunds and what can still be refunded."""
    token, gateway = token_of(request), gateway_of(request)
    payment = await gateway.call("GET", f"/api/v1/payments/{segment(payment_id)}", token)
    refunds = await gateway.call(
        "GET", f"/api/v1/payments/{segment(payment_id)}/refunds", token, params={"limit": 100}
    )
    held = sum(r["amount"] for r in refunds["data"] if r["status"] in HOLDING)
    refundable = max(0, payment["amount"] - held) if payment["status"] == "success" else 0
    return payment, refunds["data"], refundable


def _payment_path(payment_id: str) -> str:
    return f"/dashboard/transactions/{segment(payment_id)}"


@dashboard.get("/dashboard/transactions/{payment_id}")
async def payment_detail(request: Request, payment_id: str) -> HTMLResponse:
    payment, refunds, refundable = await _payment(request, payment_id)
    webhooks = await gateway_of(request).call(
        "GET", "/api/v1/webhooks", token_of(request),
        params={"payment_id": payment_id, "limit": 100},
    )  # fmt: skip
    return render(
        request, "payment.html", payment=payment, refunds=refunds, refundable=refundable,
        webhooks=webhooks["data"], page="transactions", form_key=form_key(),
    )  # fmt: skip


@dashboard.post("/dashboard/transactions/{payment_id}/capture")
async def capture_payment(
    request: Request,
    payment_id: str,
    amount: Annotated[str, Form(max_length=20)] = "",
    idempotency_key: Annotated[str, Form(max_length=64)] = "",
) -> Response:
    value = whole_number(amount)
    if value is None:
        return back(
            request, _payment_path(payment_id), problem="Capture needs the payment's amount"
        )
    try:
        captured = await gateway_of(request).call(
            "POST", f"/api/v1/payments/{segment(payment_id)}/capture", token_of(request),
            json={"amount": value}, headers=idempotency_header(idempotency_key),
        )  # fmt: skip
    except ApiError as error:
        return back(
            request, _payment_path(payment_id), problem=f"Not captured: {error.description}"
        )
    shown = money(captured["amount"], captured["currency"])
    return back(request, _payment_path(payment_id), notice=f"Captured {shown}")


def _refund_amount(amount: str, refundable: int, currency: str) -> int | str:
    """The amount asked for, or what is wrong with it."""
    value = whole_number(amount)
    if value is None or value < 1:
        return "Enter the amount in paise, e.g. 5000 for ₹50"
    if value > refundable:
        return f"At most {money(refundable, currency)} ({refundable}) can be refunded"
    return value


@dashboard.get("/dashboard/transactions/{payment_id}/refund")
async def confirm_refund(
    request: Request,
    payment_id: str,
    amount: Annotated[str, Query(max_length=20)] = "",
    reason: Annotated[str, Query(max_length=500)] = "",
) -> Response:
    """Money leaves the merchant for good, so a refund takes a second step."""
    payment, _, refundable = await _payment(request, payment_id)
    checked = _refund_amount(amount, refundable, payment["currency"])
    if isinstance(checked, str):
        return back(request, _payment_path(payment_id), problem=checked)
    return render(
        request, "refund_confirm.html", payment=payment, amount=checked, reason=reason.strip(),
        refundable=refundable, page="transactions", form_key=form_key(),
    )  # fmt: skip


@dashboard.post("/dashboard/transactions/{payment_id}/refund")
async def refund_payment(
    request: Request,
    payment_id: str,
    amount: Annotated[str, Form(max_length=20)] = "",
    reason: Annotated[str, Form(max_length=500)] = "",
    idempotency_key: Annotated[str, Form(max_length=64)] = "",
) -> Response:
    """One refund per confirmation page: its key makes a double click or a resubmitted page
    replay the first refund instead of making another."""
    here = _payment_path(payment_id)
    value = whole_number(amount)
    if value is None:
        return back(request, here, problem="Enter the amount in paise, e.g. 5000 for ₹50")
    body = {"amount": value, "reason": reason.strip() or None}
    try:
        refund = await gateway_of(request).call(
            "POST", f"/api/v1/payments/{segment(payment_id)}/refunds", token_of(request),
            json=body, headers=idempotency_header(idempotency_key),
        )  # fmt: skip
    except ApiError as error:
        return back(request, here, problem=f"Not refunded: {error.description}")
    return back(request, here, notice=f"Refund {refund['id']} of {money(value)} created")


@dashboard.get("/dashboard/orders/{order_id}")
async def order_detail(request: Request, order_id: str) -> HTMLResponse:
    token, gateway = token_of(request), gateway_of(request)
    order = await gateway.call("GET", f"/api/v1/orders/{segment(order_id)}", token)
    payments = await gateway.call(
        "GET", "/api/v1/payments", token, params={"order_id": order_id, "limit": 100}
    )
    return render(
        request, "order.html", order=order, payments=payments["data"], page="transactions"
    )


async def _found(request: Request, path: str) -> dict[str, Any] | None:
    try:
        found: dict[str, Any] = await gateway_of(request).call("GET", path, token_of(request))
    except ApiError:  # not found, or not an id at all
        return None
    return found


@dashboard.get("/dashboard/search")
async def search(request: Request, q: Annotated[str, Query(max_length=255)] = "") -> Response:
    """A payment, order or refund id opens its page; anything else is looked up as a receipt,
    and `key:value` as a note of orders, payments and refunds."""
    query = q.strip()
    if not query:
        return back(
            request,
            "/dashboard/transactions",
            problem="Enter a payment, order, refund or receipt id",
        )
    if query.startswith("pay_") and await _found(request, f"/api/v1/payments/{segment(query)}"):
        return back(request, _payment_path(query))
    if query.startswith("order_") and await _found(request, f"/api/v1/orders/{segment(query)}"):
        return back(request, f"/dashboard/orders/{segment(query)}")
    if query.startswith("rfnd_") and (
        refund := await _found(request, f"/api/v1/refunds/{segment(query)}")
    ):
        return back(request, f"{_payment_path(refund['payment_id'])}#{segment(query)}")
    gateway, token = gateway_of(request), token_of(request)
    orders = await gateway.call(
        "GET", "/api/v1/orders", token, params={"receipt": query, "limit": 100}
    )
    noted: dict[str, list[dict[str, Any]]] = {}
    if not query.startswith(":") and ":" in query:  # `key:value`: the objects with that note
        for kind in ("orders", "payments", "refunds"):
            listed = await gateway.call(
                "GET", f"/api/v1/{kind}", token, params={"note": query, "limit": 100}
            )
            noted[kind] = listed["data"]
    if orders["total"] == 1 and not any(noted.values()):
        return back(request, f"/dashboard/orders/{segment(orders['data'][0]['id'])}")
    return render(
        request, "search.html", query=query, orders=orders["data"], total=orders["total"],
        noted=noted, page="transactions",
    )  # fmt: skip
