"""A revoked key or ended session stops working on every service at once, not after the
services' 30 s credential cache."""

import httpx

from tests.e2e.conftest import Merchant
from tests.waits import eventually

# Well inside the 30 s the services cache a successful check: passing proves the revocation was
# announced to them, not waited out.
BEFORE_THE_CACHE_EXPIRES = 10.0


def test_revoking_a_key_and_logging_out_reach_every_service_within_seconds(
    api: httpx.Client, merchant_with_password: Merchant
) -> None:
    merchant, key = merchant_with_password, merchant_with_password.headers
    credentials = {"email": merchant.email, "password": merchant.password}
    login = api.post("/api/v1/auth/login", json=credentials)
    session = {"Authorization": f"Bearer {login.json()['token']}"}
    surfaces = ["/api/v1/orders", "/api/v1/payments", "/api/v1/refunds", "/api/v1/webhooks"]
    for path in surfaces:  # each service now holds both credentials in its cache
        assert api.get(path, headers=key).status_code == 200, path
        assert api.get(path, headers=session).status_code == 200, path

    [listed] = api.get("/api/v1/merchant/keys", headers=session).json()["data"]
    assert api.post(f"/api/v1/merchant/keys/{listed['id']}/revoke", headers=session).is_success
    for path in surfaces:
        eventually(
            lambda p=path: api.get(p, headers=key).status_code == 401,  # type: ignore[misc]
            f"the revoked key refused by {path}",
            timeout=BEFORE_THE_CACHE_EXPIRES,
        )

    assert api.post("/api/v1/auth/logout", headers=session).status_code == 204
    for path in surfaces:
        eventually(
            lambda p=path: api.get(p, headers=session).status_code == 401,  # type: ignore[misc]
            f"the ended session refused by {path}",
            timeout=BEFORE_THE_CACHE_EXPIRES,
        )
