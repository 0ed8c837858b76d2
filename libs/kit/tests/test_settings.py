import pytest
from pydantic import ValidationError

from kit.settings import ServiceSettings

REAL = "postgresql://orders:Xq8-real-secret@pg.internal/payment_gateway"


TOKEN = "k3Jd9-internal-token-of-forty-characters"


def settings(**values: object) -> ServiceSettings:
    return ServiceSettings(**{"database_url": REAL, "internal_token": TOKEN, **values})  # type: ignore[arg-type]


def test_production_accepts_real_credentials() -> None:
    assert settings(environment="production", redis_url="rediss://:r3al@redis:6380/0").production


@pytest.mark.parametrize(
    ("values", "named"),
    [
        ({"test_mode": True}, "TEST_MODE"),
        ({"database_url": "postgresql://orders:gateway-dev@127.0.0.1/gw"}, "DATABASE_URL"),
        ({"database_url": "postgresql://orders:dev-orders@postgres/gw"}, "DATABASE_URL"),
        ({"database_url": "postgresql://gateway:gateway_pass@postgres/gw"}, "DATABASE_URL"),
        ({"redis_url": "redis://:password@redis:6379/0"}, "REDIS_URL"),
        ({"internal_token": None}, "INTERNAL_TOKEN"),
        ({"internal_token": "short"}, "INTERNAL_TOKEN"),
    ],
)
def test_production_refuses_test_mode_and_development_passwords(
    values: dict[str, object], named: str
) -> None:
    with pytest.raises(ValidationError, match=named):
        settings(environment="production", **values)


def test_development_keeps_its_defaults() -> None:
    dev = settings(database_url="postgresql://orders:gateway-dev@127.0.0.1/gw", test_mode=True)
    assert not dev.production
