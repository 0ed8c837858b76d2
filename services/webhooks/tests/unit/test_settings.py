"""What the webhooks service refuses to start with."""

import pytest
from pydantic import ValidationError

from webhooks.settings import Settings

REAL = "postgresql://webhooks:Xq8-real-secret@pg.internal/payment_gateway"
TOKEN = "k3Jd9-internal-token-of-forty-characters"


def settings(**values: object) -> Settings:
    return Settings(**{"database_url": REAL, "internal_token": TOKEN, "rate_limits": "on",
                       **values})  # type: ignore[arg-type]  # fmt: skip


def test_production_refuses_any_allowed_private_network() -> None:
    for networks in (["127.0.0.0/8"], ["10.0.0.0/8", "::1/128"]):
        with pytest.raises(ValidationError, match="WEBHOOK_ALLOWED_NETWORKS is refused"):
            settings(environment="production", webhook_allowed_networks=networks)
        assert settings(environment="dev", webhook_allowed_networks=networks)
    assert settings(environment="production", webhook_allowed_networks=[]).production


@pytest.mark.parametrize("prefixes", [["2a00:1450:64::/64"], ["10.0.0.0/8"], ["not a prefix"]])
def test_nat64_prefixes_are_ipv6_96s(prefixes: list[str]) -> None:
    with pytest.raises(ValidationError, match="WEBHOOK_NAT64_PREFIXES"):
        settings(environment="dev", webhook_nat64_prefixes=prefixes)
    assert settings(environment="dev", webhook_nat64_prefixes=["2a00:1450:64::/96"])
