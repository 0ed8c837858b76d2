"""One native stack for the whole e2e session, started like `make up` on free ports."""

import json
import os
import secrets
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass

import httpx
import pytest

from devstack.edge import load_routes
from devstack.stack import Ports, Stack


@pytest.fixture(scope="session")
def stack(admin_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    """The gateway on the session's Postgres and a Redis of its own, where each service has
    its own ACL user (a Redis named by REDIS_URL instead, as given)."""
    table = load_routes()
    services = ["merchants", *(s for s in table.services if s != "merchants")]
    gateway = Stack(
        tmp_path_factory.mktemp("stack"),
        Ports.free(table, services),
        table,
        database=f"gw_e2e_{secrets.token_hex(4)}",
        durable=False,
        admin_url=admin_url,
        given_redis_url=os.environ.get("REDIS_URL"),
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


@dataclass(frozen=True)
class Merchant:
    """A merchant who signs in to the dashboard: its email, password and API headers."""

    email: str
    password: str
    headers: dict[str, str]


@pytest.fixture
def merchant_with_password(stack: Stack) -> Merchant:
    """A fresh merchant with a dashboard password, onboarded with the operator CLI: for tests
    that change a merchant's state, which the shared test merchant must keep."""
    email, password = f"{secrets.token_hex(6)}@example.com", secrets.token_urlsafe(16)
    created = subprocess.run(
        [sys.executable, "-m", "merchants.cli", "create-merchant", "--name", "Dashboard Shop",
         "--email", email, f"--password={password}"],  # it may start with "-"
        env={**os.environ, "DATABASE_URL": stack.database_urls["merchants"],
             "REDIS_URL": stack.redis_url},
        capture_output=True, text=True, check=True,
    )  # fmt: skip
    creds = json.loads(created.stdout)
    return Merchant(
        email, password, {"X-Api-Key": creds["api_key"], "X-Api-Secret": creds["api_secret"]}
    )
