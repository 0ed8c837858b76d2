"""Rate limits against the real Redis: quotas, the 429's fields, who counts as the client."""

from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from fastapi import FastAPI, Request
from redis.asyncio import Redis

from kit.http import install_error_handlers
from kit.limits import ClientLimited, RateLimits
from kit.settings import ServiceSettings

QUOTA = 3


def limits(**values: Any) -> RateLimits:
    # An hour's window: a test's few requests never straddle two windows in practice.
    values = {
        "rate_limits": "on",
        "rate_limit_per_address": QUOTA,
        "rate_limit_window_seconds": 3600,
        **values,
    }
    return RateLimits(ServiceSettings(database_url="postgresql://x@h/d", **values))


def app_with(rate_limits: RateLimits, redis: Redis) -> FastAPI:
    app = FastAPI()
    install_error_handlers(app)
    app.state.rate_limits = rate_limits

    @app.middleware("http")
    async def state(request: Request, call_next):  # type: ignore[no-untyped-def]
        request.state.redis = redis
        return await call_next(request)

    @app.get("/public")
    async def public(_: ClientLimited) -> dict[str, bool]:
        return {"ok": True}

    return app


# Fixed, distinct addresses (never drawn at random: two draws can collide). The `redis`
# fixture clears their counters first, so a rerun against a kept REDIS_URL starts at zero.
CLIENT = "203.0.113.7"
REAL = "198.51.100.7"
OTHER = "198.51.100.8"
UNTRUSTED = "10.1.0.5"


@pytest.fixture
async def redis(redis_url: str) -> AsyncIterator[Redis]:
    client = Redis.from_url(redis_url)
    for address in (CLIENT, REAL, OTHER, UNTRUSTED):
        async for name in client.scan_iter(match=f"ratelimit:address:{address}:*"):
            await client.delete(name)
    yield client
    await client.aclose()


def client_for(app: FastAPI, peer: str) -> httpx.AsyncClient:
    transport = httpx.ASGITransport(app=app, client=(peer, 50000))
    return httpx.AsyncClient(transport=transport, base_url="http://t")


async def test_an_address_over_its_quota_gets_429_with_retry_after_and_ratelimit_fields(
    redis: Redis,
) -> None:
    async with client_for(app_with(limits(), redis), CLIENT) as client:
        statuses = [(await client.get("/public")).status_code for _ in range(QUOTA)]
        refused = await client.get("/public")
    assert statuses == [200] * QUOTA
    assert refused.status_code == 429
    assert refused.json() == {
        "error": {"code": "RATE_LIMIT_ERROR", "description": "Too many requests; retry later"}
    }
    assert 1 <= int(refused.headers["Retry-After"]) <= 3600
    assert refused.headers["RateLimit-Limit"] == str(QUOTA)
    assert refused.headers["RateLimit-Remaining"] == "0"
    assert refused.headers["RateLimit-Reset"] == refused.headers["Retry-After"]


async def test_the_client_is_the_nearest_untrusted_hop_so_a_forged_header_does_not_help(
    redis: Redis,
) -> None:
    rate_limits = limits(trusted_proxy_networks="10.0.0.0/24")
    async with client_for(app_with(rate_limits, redis), "10.0.0.5") as via_proxy:
        for forged in range(QUOTA):  # each claims another origin; the proxy appended the real one
            headers = {"X-Forwarded-For": f"192.0.2.{forged}, {REAL}"}
            assert (await via_proxy.get("/public", headers=headers)).status_code == 200
        headers = {"X-Forwarded-For": f"192.0.2.99, {REAL}"}
        assert (await via_proxy.get("/public", headers=headers)).status_code == 429
        other = {"X-Forwarded-For": f"{OTHER}, 10.0.0.9"}
        assert (await via_proxy.get("/public", headers=other)).status_code == 200


async def test_only_configured_proxies_are_believed_not_every_private_address(
    redis: Redis,
) -> None:
    # 10.1.0.5 is private but not a configured proxy (the default trusts loopback only): it is
    # the client, whatever origin it writes into the header.
    async with client_for(app_with(limits(), redis), UNTRUSTED) as private_peer:
        for forged in range(QUOTA):
            headers = {"X-Forwarded-For": f"192.0.2.{forged}"}
            assert (await private_peer.get("/public", headers=headers)).status_code == 200
        headers = {"X-Forwarded-For": "192.0.2.99"}
        assert (await private_peer.get("/public", headers=headers)).status_code == 429


async def test_test_mode_turns_limits_off_unless_asked_for() -> None:
    assert not limits(rate_limits="auto", test_mode=True).enabled
    assert limits(rate_limits="auto").enabled
    assert limits(rate_limits="on", test_mode=True).enabled
    assert not limits(rate_limits="off").enabled


async def test_an_unreachable_redis_lets_requests_through() -> None:
    down = Redis.from_url("redis://127.0.0.1:9/0", socket_connect_timeout=1)
    async with client_for(app_with(limits(), down), "203.0.113.7") as client:
        statuses = [(await client.get("/public")).status_code for _ in range(QUOTA + 1)]
    await down.aclose()
    assert statuses == [200] * (QUOTA + 1)
