"""One native stack for the whole e2e session, started like `make up` on free ports."""

import secrets
from collections.abc import Iterator

import httpx
import pytest

from devstack.edge import load_routes
from devstack.stack import Ports, Stack


@pytest.fixture(scope="session")
def stack(
    admin_url: str, redis_url: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Stack]:
    table = load_routes()
    services = ["merchants", *(s for s in table.services if s != "merchants")]
    gateway = Stack(
        tmp_path_factory.mktemp("stack"),
        Ports.free(table, services),
        table,
        database=f"gw_e2e_{secrets.token_hex(4)}",
        durable=False,
        admin_url=admin_url,
        given_redis_url=redis_url,
        extra_env={
            "WORKER_HEARTBEAT_SECONDS": "2",
            "TEST_MODE": "true",
            "TEST_PROCESSING_DELAY": "1000",
            "QUEUE_IDLE_TIMEOUT_MS": "10000",
            "TASK_TIMEOUT_SECONDS": "8",
            "QUEUE_RECLAIM_INTERVAL_SECONDS": "0.5",
            "LOG_LEVEL": "DEBUG",
            "WEBHOOK_RETRY_INTERVALS_TEST": "true",
        },
    )
    gateway.start()
    yield gateway
    gateway.stop()


@pytest.fixture(scope="session")
def api(stack: Stack) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=stack.url("api"), timeout=10) as client:
        yield client


@pytest.fixture
def merchant_headers(stack: Stack) -> dict[str, str]:
    """API headers of a fresh merchant, onboarded with the operator CLI."""
    return stack.onboard_merchant("E2E Shop")
