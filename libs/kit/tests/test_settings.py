import pytest
from pydantic import ValidationError

from kit.settings import ServiceSettings

REAL = "postgresql://orders:Xq8-real-secret@pg.internal/payment_gateway"


TOKEN = "k3Jd9-internal-token-of-forty-characters"


def settings(**values: object) -> ServiceSettings:
    # rate_limits: the test session turns them off in the environment (the root conftest).
    return ServiceSettings(**{"database_url": REAL, "internal_token": TOKEN, "rate_limits": "auto",
                              **values})  # type: ignore[arg-type]  # fmt: skip


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
        ({"database_url": "postgresql://orders@pg/gw", "pgpassword": "dev-orders"}, "PGPASSWORD"),
        ({"redis_password": "dev-redis"}, "REDIS_URL"),
        ({"internal_token": None}, "INTERNAL_TOKEN"),
        ({"internal_token": "short"}, "INTERNAL_TOKEN"),
        ({"rate_limits": "off"}, "RATE_LIMITS=off"),
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


def test_a_redis_password_from_a_secret_may_hold_any_character() -> None:
    """The chart hands REDIS_PASSWORD over unchanged; the URL gets it percent-encoded, which
    redis-py decodes back."""
    from redis.asyncio import ConnectionPool

    password = "p@ss:w/o#rd?%"
    url = settings(redis_url="rediss://gw@redis.internal:6380/2", redis_password=password).redis_url
    assert url == "rediss://gw:p%40ss%3Aw%2Fo%23rd%3F%25@redis.internal:6380/2"
    parsed = ConnectionPool.from_url(url).connection_kwargs
    assert (parsed["username"], parsed["password"], parsed["host"]) == (
        "gw",
        password,
        "redis.internal",
    )
    assert settings(redis_password=password).redis_url.endswith("@127.0.0.1:6379/0")


def test_a_redis_password_in_the_url_and_beside_it_is_refused() -> None:
    with pytest.raises(ValidationError, match="already holds a password"):
        settings(redis_url="redis://:one@redis:6379/0", redis_password="two")


def test_a_worker_may_not_count_as_stalled_before_its_longest_task_ends() -> None:
    with pytest.raises(ValidationError, match="WORKER_STALL_SECONDS"):
        settings(task_timeout_seconds=30, worker_stall_seconds=30)


def test_a_process_that_is_not_told_where_it_runs_does_not_start(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv("ENVIRONMENT", raising=False)
    with pytest.raises(ValidationError, match="ENVIRONMENT must be set"):
        ServiceSettings(database_url=REAL)
    with pytest.raises(ValidationError, match="ENVIRONMENT must be set"):
        ServiceSettings(database_url=REAL, environment="")
    monkeypatch.setenv("ENVIRONMENT", "dev")
    assert not ServiceSettings(database_url=REAL).production
