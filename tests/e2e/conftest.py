"""One native stack for the whole e2e session, started like `make up` on free ports."""

import json
import os
import secrets
import subprocess
import sys
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
    env = {
        **os.environ,
        "DATABASE_URL": stack.database_urls["merchants"],
        "REDIS_URL": stack.redis_url,
    }
    created = subprocess.run(
        [sys.executable, "-m", "merchants.cli", "create-merchant", "--name", "E2E Shop",
         "--email", f"e2e-{secrets.token_hex(4)}@example.com"],
        env=env, capture_output=True, text=True, check=True,
    )  # fmt: skip
    creds = json.loads(created.stdout)
    return {"X-Api-Key": creds["api_key"], "X-Api-Secret": creds["api_secret"]}
