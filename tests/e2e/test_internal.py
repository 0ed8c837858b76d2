"""Internal endpoints: never through the edge, only on a service's internal port, and there only
with the shared token."""

import httpx
import pytest

from devstack.stack import Stack

AS_TEST_MERCHANT = {"X-Api-Key": "key_test_abc123", "X-Api-Secret": "secret_test_xyz789"}


@pytest.fixture(scope="module")
def order_id(api: httpx.Client) -> str:
    order = api.post("/api/v1/orders", json={"amount": 5000}, headers=AS_TEST_MERCHANT)
    return str(order.json()["id"])


def test_an_internal_read_needs_the_internal_port_and_the_shared_token(
    stack: Stack, order_id: str
) -> None:
    path = f"/internal/v1/orders/{order_id}"
    token = {"X-Internal-Token": stack.internal_token}
    public = httpx.get(f"http://127.0.0.1:{stack.ports.api['orders']}{path}", headers=token)
    assert public.status_code == 404, public.text
    orders = f"http://127.0.0.1:{stack.ports.internal['orders']}{path}"
    for headers in ({}, {"X-Internal-Token": "guess"}, AS_TEST_MERCHANT):
        refused = httpx.get(orders, headers=headers)
        assert refused.status_code == 401, refused.text
        assert refused.json()["error"]["code"] == "AUTHENTICATION_ERROR"
    allowed = httpx.get(orders, headers=token)
    assert (allowed.status_code, allowed.json()["id"]) == (200, order_id)


def test_the_edge_routes_no_internal_path(api: httpx.Client, order_id: str) -> None:
    response = api.get(f"/internal/v1/orders/{order_id}", headers=AS_TEST_MERCHANT)
    assert response.status_code == 404


def test_services_calling_each_other_send_the_token(api: httpx.Client, order_id: str) -> None:
    # Every service asks merchants to authenticate the caller over the internal API, with the
    # token (payments reads orders through their published view, ADR 0011).
    body = {"order_id": order_id, "method": "upi", "vpa": "user@paytm"}
    created = api.post("/api/v1/payments", json=body, headers=AS_TEST_MERCHANT)
    assert created.status_code == 201, created.text


@pytest.mark.parametrize(
    ("host", "path"),
    [
        ("dashboard", "/metrics"),
        ("checkout", "/metrics"),
        ("dashboard", "/livez"),
        ("checkout", "/login"),  # the checkout host may be framed: no dashboard page on it
        ("checkout", "/dashboard"),
        ("checkout", "/"),
        ("dashboard", "/checkout"),
        ("api", "/metrics"),
    ],
)
def test_the_public_hosts_serve_no_metrics_and_no_page_of_the_other_host(
    stack: Stack, host: str, path: str
) -> None:
    response = httpx.get(f"{stack.url(host)}{path}")
    assert response.status_code == 404, response.text
    assert response.json()["error"]["code"] == "NOT_FOUND_ERROR"


@pytest.mark.parametrize(
    ("host", "path"),
    [("dashboard", "/login"), ("dashboard", "/static/style.css"), ("checkout", "/checkout.js"),
     ("checkout", "/static/style.css")],
)  # fmt: skip
def test_each_host_serves_its_own_pages(stack: Stack, host: str, path: str) -> None:
    assert httpx.get(f"{stack.url(host)}{path}").status_code == 200
