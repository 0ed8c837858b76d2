import secrets
from collections.abc import AsyncIterator

import pytest
from redis.asyncio import Redis

from kit import health
from kit.db import Database


@pytest.fixture
async def redis(redis_url: str) -> AsyncIterator[Redis]:
    client = Redis.from_url(redis_url)
    yield client
    await client.aclose()


async def test_healthy_only_when_database_redis_and_workers_are_up(
    scratch_db: Database, redis: Redis
) -> None:
    worker = f"w-{secrets.token_hex(3)}"
    stopped = await health.report(scratch_db, redis, [worker])
    assert (stopped["status"], stopped["worker"]) == ("unhealthy", "stopped")
    assert (stopped["database"], stopped["redis"]) == ("connected", "connected")

    await redis.set(health.heartbeat_key(worker), "now", ex=health.HEARTBEAT_TTL)
    running = await health.report(scratch_db, redis, [worker])
    assert running["status"] == "healthy"
    assert running["worker"] == "running"
    assert running["timestamp"].endswith("Z")


async def test_unreachable_redis_is_reported_disconnected(scratch_db: Database) -> None:
    dead = Redis.from_url("redis://127.0.0.1:1/0", socket_connect_timeout=0.5)
    report = await health.report(scratch_db, dead, ["w"])
    await dead.aclose()
    assert report["redis"] == "disconnected"
    assert report["worker"] == "stopped"
    assert report["status"] == "unhealthy"
