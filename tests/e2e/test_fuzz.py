"""Every public operation, fuzzed through the edge: never a 5xx, every 4xx in the error shape.

Requests are generated from each service's own OpenAPI document (internal routes left out) by
schemathesis, both valid ones and ones that break the schema (wrong types, NUL bytes, huge
strings, missing fields), and sent as a fresh merchant through the edge, as a client would.
Derandomized, so a run is repeatable and a failure names its example.
"""

from typing import Any

import httpx
import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from schemathesis.generation import GenerationMode

from devstack.stack import Stack

SERVICES = ["merchants", "orders", "payments", "refunds", "webhooks"]
EXAMPLES = 40  # per operation and mode; enough to reach every field's edge cases, still quick


def public_document(stack: Stack, service: str) -> dict[str, Any]:
    port = stack.ports.api[service]
    document: dict[str, Any] = httpx.get(f"http://127.0.0.1:{port}/openapi.json").json()
    document["paths"] = {
        path: item
        for path, item in document["paths"].items()
        if path.startswith("/api/") and "/test/" not in path
    }
    return document


def check(case: Any, response: Any) -> None:
    status = response.status_code
    sent = f"{case.method} {case.formatted_path} query={case.query} body={case.body!r}"
    assert status < 500, f"{sent} -> {status}: {response.text[:500]}"
    if status >= 400:
        error = response.json()["error"]
        assert isinstance(error["code"], str), f"{sent} -> {response.text}"
        assert isinstance(error["description"], str), f"{sent} -> {response.text}"


@pytest.fixture(scope="module")
def fuzz_headers(stack: Stack) -> dict[str, str]:
    return stack.onboard_merchant("Fuzz Shop")


@pytest.mark.parametrize("mode", [GenerationMode.POSITIVE, GenerationMode.NEGATIVE])
@pytest.mark.parametrize("service", SERVICES)
def test_no_public_operation_answers_5xx_or_outside_the_error_shape(
    stack: Stack, fuzz_headers: dict[str, str], service: str, mode: GenerationMode
) -> None:
    schema = schemathesis.openapi.from_dict(public_document(stack, service))
    operations = [result.ok() for result in schema.get_all_operations()]  # type: ignore[union-attr]
    assert operations, f"{service} documents no public operation"
    base_url = stack.url("api")
    for operation in operations:
        if operation.path == "/api/v1/webhooks/test":
            continue  # sends a real request to the merchant's URL; covered by its own tests
        if operation.path == "/api/v1/events/stream":
            continue  # answers for five minutes; its refusals are tested in test_listen.py

        @settings(
            max_examples=EXAMPLES,
            derandomize=True,
            deadline=None,
            database=None,
            suppress_health_check=list(HealthCheck),
        )
        @given(case=operation.as_strategy(generation_mode=mode))
        def fuzz(case: Any) -> None:
            check(case, case.call(base_url=base_url, headers=fuzz_headers, timeout=30))

        fuzz()


AS_TEST_MERCHANT = {"X-Api-Key": "key_test_abc123", "X-Api-Secret": "secret_test_xyz789"}
JSON = {**AS_TEST_MERCHANT, "Content-Type": "application/json"}


@pytest.mark.parametrize(
    ("method", "path", "headers", "body", "status"),
    [
        ("POST", "/api/v1/orders", JSON, '{"amount": 5000, "receipt": "a\\u0000b"}', 400),
        ("POST", "/api/v1/orders", JSON, '{"amount": 5000, "notes": {"k\\u0000": 1}}', 400),
        ("POST", "/api/v1/orders", JSON, '{"amount": 5000, "notes": {"x": NaN}}', 400),
        ("POST", "/api/v1/orders", JSON, '{"amount": 5000, "notes": {"x": Infinity}}', 400),
        ("GET", "/api/v1/payments/%00", AS_TEST_MERCHANT, None, 400),
        ("GET", "/api/v1/orders/order_%00", AS_TEST_MERCHANT, None, 400),
        ("GET", "/api/v1/refunds?payment_id=%00", AS_TEST_MERCHANT, None, 400),
        ("GET", "/api/v1/orders", {**AS_TEST_MERCHANT, "X-Api-Key": "k" * 300}, None, 401),
        ("GET", "/api/v1/orders", {**AS_TEST_MERCHANT, "X-Api-Secret": "s" * 5000}, None, 401),
        ("GET", "/api/v1/orders", {"Authorization": "Bearer " + "t" * 300}, None, 401),
    ],
)
def test_hostile_values_are_answered_4xx_in_the_error_shape(
    api: httpx.Client,
    method: str,
    path: str,
    headers: dict[str, str],
    body: str | None,
    status: int,
) -> None:
    response = api.request(method, path, headers=headers, content=body)
    assert response.status_code == status, response.text
    assert set(response.json()["error"]) == {"code", "description"}


def test_a_vpa_with_a_trailing_newline_is_invalid(api: httpx.Client) -> None:
    order = api.post("/api/v1/orders", json={"amount": 5000}, headers=AS_TEST_MERCHANT).json()
    body = {"order_id": order["id"], "method": "upi", "vpa": "user@paytm\n"}
    response = api.post("/api/v1/payments", json=body, headers=AS_TEST_MERCHANT)
    assert response.status_code == 400, response.text
    assert response.json()["error"]["code"] == "INVALID_VPA"
