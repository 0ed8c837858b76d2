"""Producers match their published contracts, and consumers send and accept what they promise."""

import json
from typing import Any
from uuid import uuid4

import httpx
import jsonschema
import pytest

import orders.events
from kit.auth import Credentials, MerchantsAuthenticator
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


def test_order_created_event_matches_its_schema() -> None:
    from datetime import UTC, datetime

    now = datetime.now(UTC)
    order = Order(
        id=new_order_id(),
        merchant_id=uuid4(),
        amount=50000,
        currency="INR",
        receipt="r",
        notes={"a": "b"},
        status=OrderStatus.CREATED,
        created_at=now,
        updated_at=now,
    )
    envelope, messages = orders.events.order_created(order)
    event_schema = schema("orders.order.created.v1.json")
    for message in messages:
        jsonschema.validate(message.payload, event_schema)
    broken = {**envelope.model_dump(mode="json"), "data": {"id": order.id}}
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(broken, event_schema)


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
