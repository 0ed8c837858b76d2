"""A native stack of its own for fault injection: short deadlines, so repairs show up within a
test, and its own Postgres and Redis, so stopping or flushing them disturbs nothing else."""

import secrets
from collections.abc import Iterator

import pytest

from devstack.edge import load_routes
from devstack.stack import Ports, Stack
from tests.chaos.environment import CHAOS_ENV


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
        extra_env=CHAOS_ENV,
    )
    stack.start()
    yield stack
    stack.stop()


@pytest.fixture
def merchant_headers(chaos_stack: Stack) -> dict[str, str]:
    return chaos_stack.onboard_merchant("Chaos Shop")
