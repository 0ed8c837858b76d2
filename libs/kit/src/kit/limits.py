"""Rate limits shared by every replica: fixed one-window counters in Redis.

Authenticated calls count per merchant (`CurrentMerchant` checks it); unauthenticated public
ones per client address (`ClientLimited`). A request over its quota gets a 429 with
`Retry-After` and the `RateLimit-*` fields. Off in test mode unless `RATE_LIMITS=on`.
If Redis cannot answer, the request goes through: a limiter must not turn a Redis hiccup into
an outage of the API.
"""

import ipaddress
import logging
import time
from collections.abc import Iterable, Sequence
from typing import Annotated

import redis.exceptions
from fastapi import Depends, Request
from redis.asyncio import Redis

from kit.errors import RateLimited
from kit.settings import ServiceSettings

log = logging.getLogger("kit.limits")

Network = ipaddress.IPv4Network | ipaddress.IPv6Network


def networks(names: Iterable[str]) -> list[Network]:
    return [ipaddress.ip_network(name) for name in names]


def client_address(request: Request, trusted: Sequence[Network]) -> str:
    """The nearest address that is not one of our proxies (`TRUSTED_PROXY_NETWORKS`): the peer,
    then X-Forwarded-For read from the right (each proxy appends the address it was called
    from). A hop outside the trusted networks ends the walk, so what a client writes into the
    header itself is never read. When every hop is trusted (a laptop, all loopback) the
    farthest one."""
    hops = [h.strip() for h in request.headers.get("x-forwarded-for", "").split(",")]
    nearest_first = [request.client.host if request.client else "", *reversed(hops)]
    addresses = []
    for hop in nearest_first:
        try:
            addresses.append(ipaddress.ip_address(hop))
        except ValueError:
            continue
    for address in addresses:
        if not any(address in network for network in trusted):
            return str(address)
    return str(addresses[-1]) if addresses else "unknown"


class RateLimits:
    def __init__(self, settings: ServiceSettings) -> None:
        mode = settings.rate_limits
        self.enabled = mode == "on" or (mode == "auto" and not settings.test_mode)
        self.window = settings.rate_limit_window_seconds
        self.quota = {
            "merchant": settings.rate_limit_per_merchant,
            "address": settings.rate_limit_per_address,
        }
        self.trusted = networks(settings.trusted_proxy_networks)

    async def hit(self, client: Redis, scope: str, key: str) -> None:
        """Count one request of `key`; RateLimited when its window's quota is spent."""
        if not self.enabled:
            return
        now = time.time()
        window = int(now) // self.window
        name = f"ratelimit:{scope}:{key}:{window}"
        try:
            async with client.pipeline(transaction=False) as pipe:
                pipe.incr(name)
                pipe.expire(name, self.window + 1)
                count, _ = await pipe.execute()
        except (redis.exceptions.RedisError, OSError) as exc:
            log.warning("rate limit not checked", extra={"error": type(exc).__name__})
            return
        limit = self.quota[scope]
        if count > limit:
            raise RateLimited(limit, retry_after=max(1, (window + 1) * self.window - int(now)))


async def limit_by_address(request: Request) -> None:
    limits: RateLimits = request.app.state.rate_limits
    await limits.hit(request.state.redis, "address", client_address(request, limits.trusted))


ClientLimited = Annotated[None, Depends(limit_by_address)]
