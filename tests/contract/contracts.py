"""What each service promises other services and clients, as files committed beside the tests.

Run `./scripts/uv run python tests/contract/contracts.py` after an intended change to rewrite
them; the contract tests fail on any drift, so a breaking change is always a visible diff.
"""

import json
import re
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
from devstack.edge import Route, load_routes
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


# The documents of a development setup (test routes included), whatever the environment says.
_DEV: dict[str, Any] = {
    "database_url": "postgresql://unused@127.0.0.1/unused",
    "environment": "dev",
}
SERVICE_APPS: dict[str, Callable[[], Any]] = {
    "merchants": lambda: merchants.main.create_app(merchants.settings.Settings(**_DEV)),
    "orders": lambda: orders.main.create_app(orders.settings.Settings(**_DEV)),
    "payments": lambda: payments.main.create_app(payments.settings.Settings(**_DEV)),
    "refunds": lambda: refunds.main.create_app(refunds.settings.Settings(**_DEV)),
    "webhooks": lambda: webhooks.main.create_app(webhooks.settings.Settings(**_DEV)),
}
PUBLIC_OPENAPI = "services/ui/src/ui/openapi.json"


def routed_to(path: str, routes: list[Route]) -> str | None:
    """The service the edge sends `path` (an OpenAPI path template) to, or None."""
    for route in routes:
        if route.host != "api":
            continue
        if route.match == "exact":
            hit = path == route.path
        elif route.match == "prefix":
            hit = path == route.path or path.startswith(route.path.rstrip("/") + "/")
        else:
            hit = re.search(route.path, path) is not None
        if hit:
            return route.service
    return None


def is_public(path: str) -> bool:
    """Merchant-facing: not service-to-service, not the test-mode helpers production lacks, not
    the operators' health check (every service has one; the edge shows merchants')."""
    return path != "/health" and not path.startswith(("/internal/", "/api/v1/test/"))


def _referenced(node: object, schemas: dict[str, Any]) -> set[str]:
    """The schema names `node` refers to, directly or through other schemas."""
    found: set[str] = set()
    todo = [node]
    while todo:
        item = todo.pop()
        if isinstance(item, dict):
            ref = item.get("$ref")
            if isinstance(ref, str) and ref.startswith("#/components/schemas/"):
                name = ref.rsplit("/", 1)[1]
                if name not in found:
                    found.add(name)
                    todo.append(schemas[name])
            todo.extend(item.values())
        elif isinstance(item, list):
            todo.extend(item)
    return found


def public_openapi() -> dict[str, Any]:
    """The merchant-facing API in one document: every public operation of the five services,
    each checked to be routed by the edge to the service that declares it."""
    routes = load_routes().routes
    paths: dict[str, Any] = {}
    components: dict[str, dict[str, Any]] = {}
    for service, factory in SERVICE_APPS.items():
        document = factory().openapi()
        for path, operations in document["paths"].items():
            if not is_public(path):
                continue
            if routed_to(path, routes) != service:
                raise ValueError(f"{service} declares {path}, but the edge routes it elsewhere")
            if path in paths:
                raise ValueError(f"{path} is declared by two services")
            paths[path] = operations
        for kind, entries in document.get("components", {}).items():
            merged = components.setdefault(kind, {})
            for name, entry in entries.items():
                if merged.setdefault(name, entry) != entry:
                    raise ValueError(f"components.{kind}.{name} differs between services")
    schemas = components.get("schemas", {})
    used = _referenced(paths, schemas)
    components["schemas"] = {name: schemas[name] for name in sorted(used)}
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "Payment Gateway API",
            "version": "1",
            "description": "Every merchant-facing operation, as the edge routes it. Authenticate"
            " with `X-Api-Key` and `X-Api-Secret`; errors have the shape"
            ' `{"error": {"code": …, "description": …}}`.',
        },
        "paths": dict(sorted(paths.items())),
        "components": components,
    }


PAYMENT_EVENTS = ("payment.created", "payment.pending", "payment.success", "payment.failed",
                  "payment.captured")  # fmt: skip

# file (relative to the repo root) -> how to produce its content
CONTRACTS: dict[str, Callable[[], dict[str, Any]]] = {
    "tests/contract/schemas/merchants.authenticate.request.json": _model(
        merchants.schemas.AuthenticateRequest, "validation"
    ),
    "tests/contract/schemas/merchants.authenticate.response.json": _model(Principal),
    "tests/contract/schemas/orders.order.internal.json": _model(orders.schemas.OrderInternal),
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
    **{f"services/{name}/openapi.json": _openapi(app) for name, app in SERVICE_APPS.items()},
    PUBLIC_OPENAPI: public_openapi,
}


def render(content: dict[str, Any]) -> str:
    return json.dumps(content, indent=2, sort_keys=True) + "\n"


if __name__ == "__main__":
    for relative, produce in CONTRACTS.items():
        (ROOT / relative).write_text(render(produce()))
        print(f"wrote {relative}")  # noqa: T201
