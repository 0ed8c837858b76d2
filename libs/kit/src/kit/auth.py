"""Merchant authentication for API routes.

A request carries `X-Api-Key` + `X-Api-Secret`, or `Authorization: Bearer <session token>` from
the dashboard login. Only the merchants service can check them; every other service asks it
through its internal API and caches a positive answer for a short TTL, so a request does not pay
a network hop every time. Failures are never cached.
"""

import asyncio
import hashlib
import hmac
import time
from collections import OrderedDict
from collections.abc import Awaitable, Callable
from contextlib import suppress
from dataclasses import astuple, dataclass
from typing import Annotated, Literal, Protocol
from uuid import UUID

import httpx
from fastapi import Depends, Request, Security
from fastapi.security import APIKeyHeader, HTTPAuthorizationCredentials, HTTPBearer
from pydantic import BaseModel, SecretStr
from redis.asyncio import Redis
from redis.exceptions import RedisError

from kit.errors import NotFound, Unauthenticated, Unavailable


@dataclass(frozen=True)
class Credentials:
    api_key: str | None = None
    api_secret: str | None = None
    session_token: str | None = None

    def fingerprint(self) -> str:
        raw = f"{self.api_key}\0{self.api_secret}\0{self.session_token}"
        return hashlib.sha256(raw.encode()).hexdigest()


class Principal(BaseModel):
    """Who is calling: the merchant, and how they proved it."""

    merchant_id: UUID
    credential: Literal["api_key", "session"]
    # The merchant's allow-list of order currencies; None: every currency in use.
    currencies: list[str] | None = None


class Authenticator(Protocol):
    async def authenticate(self, credentials: Credentials) -> Principal | None: ...


class TtlCache:
    """A small bounded map whose entries expire; enough for per-process credential caching."""

    def __init__(self, ttl: float, max_entries: int = 10_000) -> None:
        self.ttl = ttl
        self.max_entries = max_entries
        self._items: OrderedDict[str, tuple[float, Principal]] = OrderedDict()

    def get(self, key: str) -> Principal | None:
        item = self._items.get(key)
        if item is None or item[0] < time.monotonic():
            self._items.pop(key, None)
            return None
        return item[1]

    def forget(self, merchant_id: str) -> None:
        for key in [k for k, (_, p) in self._items.items() if str(p.merchant_id) == merchant_id]:
            del self._items[key]

    def clear(self) -> None:
        self._items.clear()

    def put(self, key: str, value: Principal) -> None:
        self._items[key] = (time.monotonic() + self.ttl, value)
        self._items.move_to_end(key)
        while len(self._items) > self.max_entries:
            self._items.popitem(last=False)


# Merchants publishes a merchant id here when one of its keys or sessions stops working.
REVOCATIONS = "auth:revocations"


class MerchantsAuthenticator:
    """Asks the merchants service (`POST /internal/v1/authenticate`), caching successes.

    Concurrent requests with the same uncached credentials share one question (when the cache
    expires under load, 32 requests ask once, not 32 times), and an answer that was in flight
    while a revocation arrived is returned but not cached."""

    def __init__(self, client: httpx.AsyncClient, ttl: float = 30.0) -> None:
        self._client = client
        self._cache = TtlCache(ttl)
        self._asking: dict[str, asyncio.Future[Principal | None]] = {}
        self._revocations = 0  # how many revocations (or cache drops) this process has seen

    async def authenticate(self, credentials: Credentials) -> Principal | None:
        key = credentials.fingerprint()
        if cached := self._cache.get(key):
            return cached
        if asking := self._asking.get(key):
            return await asyncio.shield(asking)
        asking = asyncio.get_running_loop().create_future()
        self._asking[key] = asking
        try:
            principal = await self._ask(key, credentials)
        except BaseException as error:
            asking.set_exception(error)
            asking.exception()  # retrieved: the waiters get it, nobody else has to
            raise
        else:
            asking.set_result(principal)
            return principal
        finally:
            del self._asking[key]

    async def _ask(self, key: str, credentials: Credentials) -> Principal | None:
        revocations = self._revocations
        body = {
            "api_key": credentials.api_key,
            "api_secret": credentials.api_secret,
            "session_token": credentials.session_token,
        }
        try:
            response = await self._client.post("/internal/v1/authenticate", json=body)
        except httpx.HTTPError as exc:
            raise Unavailable("Authentication service unavailable") from exc
        if response.status_code == 401:
            return None
        if response.status_code != 200:
            raise Unavailable("Authentication service unavailable")
        principal = Principal.model_validate(response.json())
        if revocations == self._revocations:  # else it may be the answer a revocation ended
            self._cache.put(key, principal)
        return principal

    async def follow_revocations(self, redis: Redis, stop: asyncio.Event) -> None:
        """For the life of the process: when merchants announces a revoked key or ended session,
        drop what is cached for that merchant, so it stops working here within a moment instead
        of after the TTL. After a lost subscription (announcements may have been missed) the
        whole cache is dropped. Ends within a second of `stop` (a cancellation can be swallowed
        by the Redis client while it reconnects)."""
        while not stop.is_set():
            try:
                async with redis.pubsub(ignore_subscribe_messages=True) as pubsub:
                    await pubsub.subscribe(REVOCATIONS)
                    while not stop.is_set():
                        message = await pubsub.get_message(timeout=1.0)
                        if message is not None:
                            self._revocations += 1
                            self._cache.forget(message["data"].decode())
            except (RedisError, OSError):
                self._revocations += 1
                self._cache.clear()
                with suppress(TimeoutError):
                    await asyncio.wait_for(stop.wait(), 1)


_api_key = APIKeyHeader(name="X-Api-Key", auto_error=False, scheme_name="ApiKey")
_api_secret = APIKeyHeader(name="X-Api-Secret", auto_error=False, scheme_name="ApiSecret")
_bearer = HTTPBearer(auto_error=False, scheme_name="DashboardSession")


# Longer credentials than any the gateway issues are refused here, before any lookup.
MAX_CREDENTIAL_LENGTH = 255


def credentials_of(
    api_key: str | None, api_secret: str | None, session_token: str | None
) -> Credentials:
    """A key pair, else a session token; refused (401) when neither is whole or one is longer
    than any the gateway issues."""
    if api_key and api_secret:
        credentials = Credentials(api_key=api_key, api_secret=api_secret)
    elif session_token:
        credentials = Credentials(session_token=session_token)
    else:
        raise Unauthenticated()
    if any(len(part or "") > MAX_CREDENTIAL_LENGTH for part in astuple(credentials)):
        raise Unauthenticated()
    return credentials


async def authenticate_merchant(
    request: Request,
    api_key: Annotated[str | None, Security(_api_key)],
    api_secret: Annotated[str | None, Security(_api_secret)],
    bearer: Annotated[HTTPAuthorizationCredentials | None, Security(_bearer)],
) -> Principal:
    credentials = credentials_of(api_key, api_secret, bearer.credentials if bearer else None)
    authenticator: Authenticator = request.state.authenticator
    principal = await authenticator.authenticate(credentials)
    if principal is None:
        raise Unauthenticated()
    if limits := getattr(request.app.state, "rate_limits", None):
        await limits.hit(request.state.redis, "merchant", str(principal.merchant_id))
    return principal


CurrentMerchant = Annotated[Principal, Depends(authenticate_merchant)]

INTERNAL_TOKEN_HEADER = "X-Internal-Token"  # noqa: S105 - a header name


def internal_client(
    base_url: str, token: SecretStr | None, transport: httpx.AsyncBaseTransport | None = None
) -> httpx.AsyncClient:
    """A client for another service's `/internal/v1/*`, carrying the shared internal token."""
    value = token.get_secret_value() if token else ""
    headers = {INTERNAL_TOKEN_HEADER: value} if value else {}
    return httpx.AsyncClient(base_url=base_url, transport=transport, timeout=5, headers=headers)


def require_internal_token(
    token: SecretStr | None, port: int | None = None
) -> Callable[[Request], Awaitable[None]]:
    """A dependency for internal routes: not found except on the internal `port` (when there is
    one), and refused (401) without the shared token (when it is set)."""
    expected = token.get_secret_value().encode() if token else b""

    async def check(request: Request) -> None:
        if port is not None and (request.scope.get("server") or (None, None))[1] != port:
            raise NotFound("Route not found")
        if not expected:  # unset or empty: development without it
            return
        sent = request.headers.get(INTERNAL_TOKEN_HEADER, "").encode()
        if not hmac.compare_digest(sent, expected):
            raise Unauthenticated("Internal endpoint: missing or wrong X-Internal-Token")

    return check
