"""What each service promises other services and clients, as files committed beside the tests.

Run `./scripts/uv run python tests/contract/contracts.py` after an intended change to rewrite
them; the contract tests fail on any drift, so a breaking change is always a visible diff.
"""

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel

import merchants.main
import merchants.schemas
import merchants.settings
import orders.main
import orders.schemas
import orders.settings
import payments.main
import payments.schemas
import payments.settings
import refunds.main
import refunds.schemas
import refunds.settings
import webhooks.main
import webhooks.schemas
import webhooks.settings
from kit.auth import Principal
from kit.events import Envelope

ROOT = Path(__file__).resolve().parents[2]
SCHEMAS = Path(__file__).parent / "schemas"


def event_schema(name: str, data: type[BaseModel]) -> dict[str, Any]:
    """The envelope with `data` narrowed to the resource the event carries."""
    schema = Envelope.model_json_schema(mode="serialization")
    data_schema = data.model_json_schema(mode="serialization")
    schema["title"] = name
    schema["$defs"] = {**schema.get("$defs", {}), **data_schema.pop("$defs", {})}
    schema["properties"]["data"] = data_schema
    schema["properties"]["type"] = {"const": name.rsplit(".v", 1)[0]}
    return schema


def _model(
    model: type[BaseModel], mode: Literal["validation", "serialization"] = "serialization"
) -> Callable[[], dict[str, Any]]:
    return lambda: model.model_json_schema(mode=mode)


def _payment_event(kind: str) -> Callable[[], dict[str, Any]]:
    return lambda: event_schema(f"{kind}.v1", payments.schemas.PaymentPublic)


def _openapi(app_factory: Callable[[], Any]) -> Callable[[], dict[str, Any]]:
    return lambda: app_factory().openapi()


_DSN = "postgresql://unused@127.0.0.1/unused"
PAYMENT_EVENTS = ("payment.created", "payment.pending", "payment.success", "payment.failed",
                  "payment.captured")  # fmt: skip

# file (relative to the repo root) -> how to produce its content
CONTRACTS: dict[str, Callable[[], dict[str, Any]]] = {
    "tests/contract/schemas/merchants.authenticate.request.json": _model(
        merchants.schemas.AuthenticateRequest, "validation"
    ),
    "tests/contract/schemas/merchants.authenticate.response.json": _model(Principal),
    "tests/contract/schemas/orders.order.internal.json": _model(orders.schemas.OrderInternal),
    "tests/contract/schemas/orders.order.created.v1.json": lambda: event_schema(
        "order.created.v1", orders.schemas.OrderInEvent
    ),
    "tests/contract/schemas/orders.order.paid.v1.json": lambda: event_schema(
        "order.paid.v1", orders.schemas.OrderInEvent
    ),
    **{
        f"tests/contract/schemas/payments.{kind}.v1.json": _payment_event(kind)
        for kind in PAYMENT_EVENTS
    },
    "tests/contract/schemas/payments.payment.internal.json": _model(
        payments.schemas.PaymentInternal
    ),
    "tests/contract/schemas/refunds.refund.created.v1.json": lambda: event_schema(
        "refund.created.v1", refunds.schemas.RefundPublic
    ),
    "tests/contract/schemas/refunds.refund.processed.v1.json": lambda: event_schema(
        "refund.processed.v1", refunds.schemas.RefundPublic
    ),
    "tests/contract/schemas/webhooks.payload.payment.json": _model(webhooks.schemas.PaymentWebhook),
    "tests/contract/schemas/webhooks.payload.refund.json": _model(webhooks.schemas.RefundWebhook),
    "tests/contract/schemas/webhooks.payload.order.json": _model(webhooks.schemas.OrderWebhook),
    "services/merchants/openapi.json": _openapi(
        lambda: merchants.main.create_app(merchants.settings.Settings(database_url=_DSN))
    ),
    "services/orders/openapi.json": _openapi(
        lambda: orders.main.create_app(orders.settings.Settings(database_url=_DSN))
    ),
    "services/payments/openapi.json": _openapi(
        lambda: payments.main.create_app(payments.settings.Settings(database_url=_DSN))
    ),
    "services/refunds/openapi.json": _openapi(
        lambda: refunds.main.create_app(refunds.settings.Settings(database_url=_DSN))
    ),
    "services/webhooks/openapi.json": _openapi(
        lambda: webhooks.main.create_app(webhooks.settings.Settings(database_url=_DSN))
    ),
}


def render(content: dict[str, Any]) -> str:
    return json.dumps(content, indent=2, sort_keys=True) + "\n"


if __name__ == "__main__":
    for relative, produce in CONTRACTS.items():
        (ROOT / relative).write_text(render(produce()))
        print(f"wrote {relative}")  # noqa: T201
