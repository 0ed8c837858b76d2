"""A native stack of its own for fault injection: short deadlines, so repairs show up within a
test, and its own Postgres and Redis, so stopping or flushing them disturbs nothing else."""

import secrets
from collections.abc import Iterator

import pytest

from devstack.edge import load_routes
from devstack.stack import Ports, Stack


@pytest.fixture(scope="session")
def chaos_stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    table = load_routes()
    services = ["merchants", *(s for s in table.services if s != "merchants")]
    stack = Stack(
        tmp_path_factory.mktemp("chaos"),
        Ports.free(table, services),
        table,
        database=f"gw_chaos_{secrets.token_hex(4)}",
        durable=True,  # its own Postgres and Redis, on disk: both get stopped and restarted
        extra_env={
            "TEST_MODE": "true",
            "TEST_PROCESSING_DELAY": "300",
            "WEBHOOK_RETRY_INTERVALS_TEST": "true",
            "WORKER_HEARTBEAT_SECONDS": "2",
            "QUEUE_IDLE_TIMEOUT_MS": "5000",
            "QUEUE_RECLAIM_INTERVAL_SECONDS": "0.5",
            "TASK_TIMEOUT_SECONDS": "4",
            "CONSUMER_RETRY_BASE_SECONDS": "0.5",
            "CONSUMER_MAX_ATTEMPTS": "3",
            "OUTBOX_CONFIRM_GRACE_SECONDS": "2",
            "PROCESSING_DEADLINE_SECONDS": "10",
            "WEBHOOK_MAX_IN_FLIGHT_PER_MERCHANT": "4",
            # A window the other faults' few dozen messages fit in, and 155 payments do not.
            "OUTBOX_STREAM_WINDOW": "60",
        },
    )
    stack.start()
    yield stack
    stack.stop()


@pytest.fixture
def merchant_headers(chaos_stack: Stack) -> dict[str, str]:
    return chaos_stack.onboard_merchant("Chaos Shop")
