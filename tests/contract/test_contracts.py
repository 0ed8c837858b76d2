"""Producers match their published contracts, and consumers send and accept what they promise."""

import json
from typing import Any
from uuid import uuid4

import httpx
import jsonschema
import pytest

import orders.events
from kit.auth import Credentials, MerchantsAuthenticator
from kit.events import Envelope
from orders.domain import Order, OrderStatus, new_order_id
from tests.contract.contracts import CONTRACTS, ROOT, SCHEMAS, render


def schema(name: str) -> dict[str, Any]:
    return json.loads((SCHEMAS / name).read_text())  # type: ignore[no-any-return]


@pytest.mark.parametrize("relative", sorted(CONTRACTS))
def test_committed_contract_matches_the_code(relative: str) -> None:
    committed = (ROOT / relative).read_text()
    current = render(CONTRACTS[relative]())
    assert committed == current, (
        f"{relative} drifted from the code; if the change is intended (and compatible), run "
        "`./scripts/uv run python tests/contract/contracts.py` and commit the result"
    )


async def test_auth_client_sends_what_merchants_accepts_and_reads_what_it_answers() -> None:
    sent: list[dict[str, Any]] = []
    answer = {"merchant_id": str(uuid4()), "credential": "api_key"}
    jsonschema.validate(answer, schema("merchants.authenticate.response.json"))

    def merchants_side(request: httpx.Request) -> httpx.Response:
        sent.append(json.loads(request.content))
        return httpx.Response(200, json=answer)

    async with httpx.AsyncClient(
        transport=httpx.MockTransport(merchants_side), base_url="http://merchants"
    ) as client:
        principal = await MerchantsAuthenticator(client).authenticate(Credentials("k", "s"))
    assert principal is not None
    assert str(principal.merchant_id) == answer["merchant_id"]
    [body] = sent
    jsonschema.validate(body, schema("merchants.authenticate.request.json"))


async def test_orders_publishes_to_payments_exactly_the_view_it_reads_and_nothing_else(
    database_urls: dict[str, str],
) -> None:
    """DESIGN §3.1: a view published by its owner, versioned, granted to a named role. The
    payments role reads `orders.order_ref_v1` (what `payments.repository.get_order_ref` selects)
    and cannot read the orders table behind it."""
    import asyncpg

    conn = await asyncpg.connect(database_urls["payments"])
    try:
        columns = await conn.fetch(
            "SELECT column_name, data_type FROM information_schema.columns"
            " WHERE table_schema = 'orders' AND table_name = 'order_ref_v1'"
            " ORDER BY ordinal_position"
        )
        assert [tuple(c) for c in columns] == [
            ("id", "character varying"),
            ("merchant_id", "uuid"),
            ("amount_minor", "bigint"),
            ("currency", "character"),
        ]
        await conn.fetch(
            "SELECT id, merchant_id, amount_minor, currency FROM orders.order_ref_v1 LIMIT 1"
        )
        with pytest.raises(asyncpg.InsufficientPrivilegeError):
            await conn.fetch("SELECT 1 FROM orders.merchant_order LIMIT 1")
        with pytest.raises(asyncpg.InsufficientPrivilegeError):
            await conn.execute("DELETE FROM orders.order_ref_v1")
    finally:
        await conn.close()
    assert "order.created" not in orders.events.CONSUMERS  # nothing subscribes to new orders


def test_order_paid_reaches_webhooks_and_becomes_the_merchants_payload() -> None:
    import json as jsonlib
    from datetime import UTC, datetime

    from webhooks.domain import MERCHANT_EVENTS, webhook_body

    now = datetime.now(UTC)
    order = Order(
        id=new_order_id(), merchant_id=uuid4(), amount=50000, currency="INR", receipt="r",
        notes={"a": "b"}, status=OrderStatus.PAID, created_at=now, updated_at=now,
    )  # fmt: skip
    envelope, messages = orders.events.order_event(orders.events.ORDER_PAID, order)
    assert [m.task_name for m in messages] == ["webhooks.handle_event"]  # routed to webhooks only
    assert "order.paid" in MERCHANT_EVENTS
    for message in messages:
        jsonschema.validate(message.payload, schema("orders.order.paid.v1.json"))
    body = jsonlib.loads(webhook_body("order.paid", envelope.occurred_at, envelope.data))
    jsonschema.validate(body, schema("webhooks.payload.order.json"))
    assert body["data"]["order"]["id"] == order.id
    assert "merchant_id" not in body["data"]["order"]


def test_order_internal_example_matches_what_payments_will_read() -> None:
    example = {
        "id": "order_NXhj67fGH2jk9mPq",
        "merchant_id": str(uuid4()),
        "amount": 50000,
        "currency": "INR",
        "status": "created",
    }
    jsonschema.validate(example, schema("orders.order.internal.json"))
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate({**example, "amount": "50000"}, schema("orders.order.internal.json"))


def _payment(method: str) -> "Any":
    from datetime import UTC, datetime

    from payments.domain import Payment, PaymentId, PaymentMethod, PaymentStatus

    now = datetime.now(UTC)
    upi = method == "upi"
    return Payment(
        id=PaymentId("pay_AbCdEfGhIjKlMnOp"),
        order_id="order_NXhj67fGH2jk9mPq",
        merchant_id=uuid4(),
        amount=50000,
        currency="INR",
        method=PaymentMethod(method),
        status=PaymentStatus.SUCCESS,
        vpa="user@paytm" if upi else None,
        card_network=None if upi else "visa",
        card_last4=None if upi else "1111",
        error_code=None,
        error_description=None,
        captured=False,
        captured_at=None,
        amount_refunded=0,
        created_at=now,
        updated_at=now,
    )


@pytest.mark.parametrize("method", ["upi", "card"])
@pytest.mark.parametrize("kind", ["payment.created", "payment.pending", "payment.success",
                                  "payment.captured"])  # fmt: skip
def test_payment_events_match_their_schemas(kind: str, method: str) -> None:
    import payments.events

    messages = payments.events.payment_event(kind, _payment(method))
    assert messages
    for message in messages:
        jsonschema.validate(message.payload, schema(f"payments.{kind}.v1.json"))


def test_each_stream_receives_exactly_the_event_types_its_consumer_subscribes_to() -> None:
    import orders.service
    import payments.events
    import payments.service
    import refunds.events
    import webhooks.service

    routed = {
        (kind, consumer)
        for producer in (orders.events, payments.events, refunds.events)
        for kind, consumers in producer.CONSUMERS.items()
        for consumer in consumers
    }
    subscribed = {
        (kind, consumer.__name__.removesuffix(".service"))
        for consumer in (orders.service, payments.service, webhooks.service)
        for kind in consumer.EVENTS_IN
    }
    assert routed == subscribed


def test_orders_reads_the_order_id_every_payment_event_it_consumes_promises() -> None:
    for kind in orders.events.ORDER_STATUS_AFTER:
        assert "order_id" in schema(f"payments.{kind}.v1.json")["properties"]["data"]["required"]


SPEC_PAYMENT_WEBHOOK = {  # the contract's example, field for field and in its order
    "event": "payment.success",
    "timestamp": 1705315870,
    "data": {
        "payment": {
            "id": "pay_H8sK3jD9s2L1pQr",
            "order_id": "order_NXhj67fGH2jk9mPq",
            "amount": 50000,
            "currency": "INR",
            "method": "upi",
            "vpa": "user@paytm",
            "status": "success",
            "created_at": "2024-01-15T10:31:00Z",
        }
    },
}
SPEC_REFUND = {
    "id": "rfnd_K9pL2mN4oQ5rXyZa",
    "payment_id": "pay_H8sK3jD9s2L1pQr",
    "amount": 50000,
    "reason": "Customer requested refund",
    "status": "processed",
    "created_at": "2024-01-15T10:33:00Z",
    "processed_at": "2024-01-15T10:33:05Z",
}


@pytest.mark.parametrize("method", ["upi", "card"])
@pytest.mark.parametrize(
    "kind",
    ["payment.created", "payment.pending", "payment.success", "payment.failed", "payment.captured"],
)
def test_webhook_body_of_every_payment_event_matches_the_spec(kind: str, method: str) -> None:
    import json as jsonlib

    import payments.events
    from webhooks.domain import webhook_body

    jsonschema.validate(SPEC_PAYMENT_WEBHOOK, schema("webhooks.payload.payment.json"))
    [message, *_] = payments.events.payment_event(kind, _payment(method))
    envelope = Envelope.model_validate(message.payload)
    body = jsonlib.loads(webhook_body(kind, envelope.occurred_at, envelope.data))
    jsonschema.validate(body, schema("webhooks.payload.payment.json"))
    assert list(body) == list(SPEC_PAYMENT_WEBHOOK)
    spec_keys = list(SPEC_PAYMENT_WEBHOOK["data"]["payment"])  # type: ignore[index]
    if method == "card":
        spec_keys[spec_keys.index("vpa")] = "card_network"
        spec_keys.insert(spec_keys.index("card_network") + 1, "card_last4")
    extra = {
        "payment.failed": ["error_code", "error_description"],
        "payment.captured": ["captured"],
    }
    assert list(body["data"]["payment"]) == spec_keys + extra.get(kind, [])


@pytest.mark.parametrize("kind", ["refund.created", "refund.processed"])
def test_webhook_body_of_refund_events_matches_the_spec(kind: str) -> None:
    import json as jsonlib
    from datetime import UTC, datetime

    from webhooks.domain import webhook_body

    body = jsonlib.loads(webhook_body(kind, datetime.now(UTC), {**SPEC_REFUND, "merchant_only": 1}))
    jsonschema.validate(body, schema("webhooks.payload.refund.json"))
    assert body["data"] == {"refund": SPEC_REFUND}
    assert list(body["data"]["refund"]) == list(SPEC_REFUND)


def test_webhooks_handles_every_event_routed_to_it() -> None:
    import payments.events
    from webhooks.domain import MERCHANT_EVENTS

    payment_kinds = {k for k, c in payments.events.CONSUMERS.items() if "webhooks" in c}
    assert payment_kinds <= MERCHANT_EVENTS


def _refund(status: str) -> Any:
    from datetime import UTC, datetime

    from refunds.domain import Refund, RefundId, RefundStatus

    now = datetime.now(UTC)
    processed = status == "processed"
    return Refund(
        RefundId("rfnd_AbCdEfGhIjKlMnOp"),
        "pay_AbCdEfGhIjKlMnOp",
        uuid4(),
        2500,
        "INR",
        "Customer requested refund",
        RefundStatus(status),
        now,
        now if processed else None,
    )


@pytest.mark.parametrize(
    ("kind", "status"), [("refund.created", "pending"), ("refund.processed", "processed")]
)
def test_refund_events_match_their_schemas_and_their_consumers(kind: str, status: str) -> None:
    import json as jsonlib

    import refunds.events
    from webhooks.domain import MERCHANT_EVENTS, webhook_body

    for message in refunds.events.refund_event(kind, _refund(status)):
        jsonschema.validate(message.payload, schema(f"refunds.{kind}.v1.json"))
        envelope = Envelope.model_validate(message.payload)
        body = jsonlib.loads(webhook_body(kind, envelope.occurred_at, envelope.data))
        jsonschema.validate(body, schema("webhooks.payload.refund.json"))
    assert kind in MERCHANT_EVENTS
    data = schema("refunds.refund.processed.v1.json")["properties"]["data"]
    assert {"payment_id", "amount"} <= set(data["required"])  # what payments reads


async def test_refunds_reads_the_payments_internal_api_as_published() -> None:
    from refunds.clients import PaymentsClient

    answer = {
        "id": "pay_AbCdEfGhIjKlMnOp",
        "merchant_id": str(uuid4()),
        "amount": 50000,
        "currency": "INR",
        "status": "success",
    }
    jsonschema.validate(answer, schema("payments.payment.internal.json"))

    def payments_side(request: httpx.Request) -> httpx.Response:
        assert request.url.path == "/internal/v1/payments/pay_AbCdEfGhIjKlMnOp"
        return httpx.Response(200, json=answer)

    async with httpx.AsyncClient(
        transport=httpx.MockTransport(payments_side), base_url="http://payments"
    ) as client:
        payment = await PaymentsClient(client).get_payment("pay_AbCdEfGhIjKlMnOp")
    assert payment is not None
    assert (payment.amount, payment.status) == (50000, "success")
