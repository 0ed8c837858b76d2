"""The merchant-auth dependency and the credential cache."""

import asyncio
import json
from collections.abc import AsyncIterator
from types import SimpleNamespace
from uuid import UUID, uuid4

import httpx
import pytest
from fastapi import APIRouter, Depends, FastAPI
from pydantic import SecretStr
from redis.asyncio import Redis

from kit.auth import (
    REVOCATIONS,
    Credentials,
    CurrentMerchant,
    MerchantsAuthenticator,
    Principal,
    TtlCache,
    require_internal_token,
)
from kit.http import install_error_handlers
from tests.waits import eventually_async

MERCHANT = uuid4()


class OneMerchant:
    """An Authenticator that knows one api key pair and one session token."""

    def __init__(self) -> None:
        self.calls = 0

    async def authenticate(self, credentials: Credentials) -> Principal | None:
        self.calls += 1
        if (credentials.api_key, credentials.api_secret) == ("key_a", "secret_a"):
            return Principal(merchant_id=MERCHANT, credential="api_key")
        if credentials.session_token == "tok":
            return Principal(merchant_id=MERCHANT, credential="session")
        return None


@pytest.fixture
async def client() -> AsyncIterator[httpx.AsyncClient]:
    app = FastAPI()
    install_error_handlers(app)
    authenticator = OneMerchant()

    @app.middleware("http")
    async def state(request, call_next):  # type: ignore[no-untyped-def]
        request.state.authenticator = authenticator
        return await call_next(request)

    @app.get("/me")
    async def me(merchant: CurrentMerchant) -> dict[str, str]:
        return {"merchant_id": str(merchant.merchant_id), "via": merchant.credential}

    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t") as c:
        yield c


@pytest.mark.parametrize(
    "headers",
    [
        {},
        {"X-Api-Key": "key_a"},
        {"X-Api-Secret": "secret_a"},
        {"X-Api-Key": "key_a", "X-Api-Secret": "wrong"},
        {"Authorization": "Bearer nope"},
        {"Authorization": "Basic a2V5X2E6c2VjcmV0X2E="},
    ],
)
async def test_missing_or_wrong_credentials_are_401(
    client: httpx.AsyncClient, headers: dict[str, str]
) -> None:
    response = await client.get("/me", headers=headers)
    assert response.status_code == 401
    assert response.json() == {
        "error": {"code": "AUTHENTICATION_ERROR", "description": "Invalid API credentials"}
    }


async def test_api_key_pair_and_session_token_both_authenticate(client: httpx.AsyncClient) -> None:
    by_key = await client.get("/me", headers={"X-Api-Key": "key_a", "X-Api-Secret": "secret_a"})
    by_session = await client.get("/me", headers={"Authorization": "Bearer tok"})
    assert by_key.json() == {"merchant_id": str(MERCHANT), "via": "api_key"}
    assert by_session.json() == {"merchant_id": str(MERCHANT), "via": "session"}


def test_cache_entries_expire_and_the_oldest_are_evicted(monkeypatch: pytest.MonkeyPatch) -> None:
    # The cache's clock is set by the test: with a real one a busy machine can let a short ttl
    # run out between a put and the get that expects the entry still there.
    now = [1000.0]
    monkeypatch.setattr("kit.auth.time", SimpleNamespace(monotonic=lambda: now[0]))
    cache = TtlCache(ttl=0.05, max_entries=2)
    principal = Principal(merchant_id=UUID(int=1), credential="api_key")
    cache.put("a", principal)
    now[0] += 0.04
    assert cache.get("a") == principal
    now[0] += 0.02
    assert cache.get("a") is None
    for key in ("x", "y", "z"):
        cache.put(key, principal)
    assert [cache.get(k) is not None for k in ("x", "y", "z")] == [False, True, True]


def test_fingerprint_separates_fields() -> None:
    assert Credentials("ab", "c").fingerprint() != Credentials("a", "bc").fingerprint()


async def test_unreachable_merchants_service_is_503_not_401() -> None:
    from kit.errors import Unavailable
    from kit.http import status_of

    async with httpx.AsyncClient(base_url="http://127.0.0.1:1", timeout=1) as client:
        authenticator = MerchantsAuthenticator(client)
        with pytest.raises(Unavailable) as raised:
            await authenticator.authenticate(Credentials("key_a", "secret_a"))
    assert status_of(raised.value) == 503


async def test_an_announced_revocation_empties_that_merchants_cached_answers(
    redis_url: str,
) -> None:
    revoked, kept = uuid4(), uuid4()
    calls: list[str] = []

    def merchants(request: httpx.Request) -> httpx.Response:  # stands in for the network
        key = json.loads(request.content)["api_key"]
        calls.append(key)
        return httpx.Response(200, json={"merchant_id": str(revoked if key == "a" else kept),
                                         "credential": "api_key"})  # fmt: skip

    redis = Redis.from_url(redis_url, socket_timeout=2)
    client = httpx.AsyncClient(transport=httpx.MockTransport(merchants), base_url="http://m")
    authenticator = MerchantsAuthenticator(client, ttl=300)
    stop = asyncio.Event()
    follower = asyncio.create_task(authenticator.follow_revocations(redis, stop))
    try:
        for key in ("a", "b", "a", "b"):
            await authenticator.authenticate(Credentials(api_key=key, api_secret="s"))
        assert calls == ["a", "b"]  # cached

        async def announced() -> bool:
            subscribers = await redis.pubsub_numsub(REVOCATIONS)
            return bool(subscribers[0][1])

        await eventually_async(announced, "the authenticator subscribed")
        await redis.publish(REVOCATIONS, str(revoked))

        async def asked_again() -> bool:
            await authenticator.authenticate(Credentials(api_key="a", api_secret="s"))
            return calls.count("a") == 2

        await eventually_async(asked_again, "the revoked merchant's answer was dropped")
        await authenticator.authenticate(Credentials(api_key="b", api_secret="s"))
        assert calls.count("b") == 1  # another merchant's answer stays cached
    finally:
        stop.set()
        await asyncio.wait_for(follower, 10)
        await client.aclose()
        await redis.aclose()


async def test_concurrent_misses_ask_merchants_once_and_share_its_answer() -> None:
    """The cache expires under load: 32 requests with one merchant's credentials wait for one
    question to the merchants service, not 32."""
    asked: list[str] = []
    answer = asyncio.Event()

    async def merchants(request: httpx.Request) -> httpx.Response:  # stands in for the network
        asked.append(json.loads(request.content)["api_key"])
        await answer.wait()
        return httpx.Response(200, json={"merchant_id": str(MERCHANT), "credential": "api_key"})

    client = httpx.AsyncClient(transport=httpx.MockTransport(merchants), base_url="http://m")
    authenticator = MerchantsAuthenticator(client, ttl=300)
    try:
        waiting = [
            asyncio.create_task(authenticator.authenticate(Credentials("key_a", "secret_a")))
            for _ in range(32)
        ]

        async def one_question_asked() -> bool:
            return asked == ["key_a"]

        await eventually_async(one_question_asked, "the first request's question")
        answer.set()
        principals = await asyncio.gather(*waiting)
        assert {p.merchant_id for p in principals if p} == {MERCHANT}
        assert len(principals) == 32
        assert asked == ["key_a"]
    finally:
        await client.aclose()


async def test_an_answer_in_flight_during_a_revocation_is_not_cached(redis_url: str) -> None:
    asked: list[str] = []
    answer = asyncio.Event()

    async def merchants(request: httpx.Request) -> httpx.Response:
        asked.append("a")
        await answer.wait()
        return httpx.Response(200, json={"merchant_id": str(MERCHANT), "credential": "api_key"})

    redis = Redis.from_url(redis_url, socket_timeout=2)
    client = httpx.AsyncClient(transport=httpx.MockTransport(merchants), base_url="http://m")
    authenticator = MerchantsAuthenticator(client, ttl=300)
    stop = asyncio.Event()
    follower = asyncio.create_task(authenticator.follow_revocations(redis, stop))
    try:

        async def subscribed() -> bool:
            return bool((await redis.pubsub_numsub(REVOCATIONS))[0][1])

        await eventually_async(subscribed, "the authenticator subscribed")
        in_flight = asyncio.create_task(authenticator.authenticate(Credentials("a", "s")))

        async def asking() -> bool:
            return asked == ["a"]

        await eventually_async(asking, "the question in flight")
        await redis.publish(REVOCATIONS, str(MERCHANT))  # revoked while merchants answers

        async def revocation_seen() -> bool:
            return authenticator._revocations == 1

        await eventually_async(revocation_seen, "the revocation to arrive")
        answer.set()
        assert await in_flight is not None  # answered as it was asked
        await authenticator.authenticate(Credentials("a", "s"))
        assert asked == ["a", "a"]  # but not cached: the next request asks again
    finally:
        stop.set()
        await asyncio.wait_for(follower, 10)
        await client.aclose()
        await redis.aclose()


@pytest.mark.parametrize(
    ("configured", "sent", "status"),
    [
        ("t" * 40, {}, 401),
        ("t" * 40, {"X-Internal-Token": "t" * 39}, 401),
        ("t" * 40, {"X-Internal-Token": "t" * 40}, 200),
        (None, {}, 200),  # development without a token
        ("", {}, 200),
    ],
)
async def test_internal_routes_need_the_shared_token_when_one_is_set(
    configured: str | None, sent: dict[str, str], status: int
) -> None:
    app = FastAPI()
    install_error_handlers(app)
    token = SecretStr(configured) if configured is not None else None
    app.include_router(internal_router(), dependencies=[Depends(require_internal_token(token))])
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t") as c:
        assert (await c.get("/internal/v1/ping", headers=sent)).status_code == status


def internal_router() -> APIRouter:
    router = APIRouter(prefix="/internal/v1")

    @router.get("/ping")
    async def ping() -> dict[str, bool]:
        return {"ok": True}

    return router
