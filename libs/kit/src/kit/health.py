"""Liveness, readiness and the contract's `/health`, with worker heartbeats kept in Redis."""

import asyncio
import logging
from datetime import UTC, datetime
from typing import Any

from redis.asyncio import Redis
from redis.exceptions import RedisError

from kit.db import Database

log = logging.getLogger("kit.health")

HEARTBEAT_TTL = 15  # seconds; a worker silent for longer counts as stopped (the default)


def heartbeat_key(worker: str) -> str:
    return f"gateway:worker:{worker}:heartbeat"


async def beat(redis: Redis, worker: str, ttl: int = HEARTBEAT_TTL) -> None:
    """Run inside a worker every third of `ttl`: keep its heartbeat key alive."""
    try:
        await redis.set(heartbeat_key(worker), datetime.now(UTC).isoformat(), ex=ttl)
    except RedisError:
        log.warning("heartbeat to redis failed", extra={"worker": worker})


async def redis_ok(redis: Redis) -> bool:
    try:
        return bool(await redis.ping())
    except (RedisError, OSError):
        return False


async def workers_running(redis: Redis, workers: list[str]) -> bool:
    if not workers:
        return True
    try:
        found = await redis.exists(*(heartbeat_key(w) for w in workers))
    except (RedisError, OSError):
        return False
    return bool(found == len(workers))


async def report(db: Database, redis: Redis, workers: list[str]) -> dict[str, Any]:
    """The contract's health shape, reflecting the real state of each dependency."""
    database, cache, running = await asyncio.gather(
        db.ping(), redis_ok(redis), workers_running(redis, workers)
    )
    healthy = database and cache and running
    return {
        "status": "healthy" if healthy else "unhealthy",
        "database": "connected" if database else "disconnected",
        "redis": "connected" if cache else "disconnected",
        "worker": "running" if running else "stopped",
        "timestamp": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
    }
