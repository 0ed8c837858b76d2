"""The one way every service builds its FastAPI app and its per-process resources."""

import asyncio
import contextlib
from collections.abc import AsyncIterator, Callable, Sequence
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from dataclasses import dataclass
from typing import Annotated, Any

from fastapi import APIRouter, Depends, FastAPI, Request
from fastapi.responses import JSONResponse
from redis.asyncio import Redis
from redis.exceptions import RedisError

from kit import health, outbox
from kit.apidocs import add_docs
from kit.auth import MerchantsAuthenticator, require_internal_token
from kit.db import Database, create_pool
from kit.http import RequestContextMiddleware, install_error_handlers
from kit.limits import RateLimits
from kit.logs import configure_logging
from kit.settings import ServiceSettings
from kit.telemetry import FASTAPI_TELEMETRY, instrument_app, setup_tracing


@dataclass
class Resources:
    db: Database
    redis: Redis


@asynccontextmanager
async def open_resources(settings: ServiceSettings) -> AsyncIterator[Resources]:
    """Postgres pool and Redis client for one process; closed on exit."""
    pool = await create_pool(
        settings.database_url.get_secret_value(), settings.db_pool_min, settings.db_pool_max,
        *settings.query_bounds_ms,
    )  # fmt: skip
    redis = Redis.from_url(settings.redis_url, socket_timeout=2, socket_connect_timeout=2)
    async with pool.acquire() as conn:
        channel = outbox.wake_channel(await conn.fetchval("SELECT current_schema()"))

    async def wake_relay() -> None:  # the service's own relay, after a commit that queued work
        with contextlib.suppress(RedisError, OSError):
            await redis.publish(channel, b"")

    try:
        yield Resources(Database(pool, on_outbox_commit=wake_relay), redis)
    finally:
        await redis.aclose()
        await pool.close()


async def get_db(request: Request) -> Database:  # async: sync dependencies run in a thread
    db: Database = request.state.db
    return db


Db = Annotated[Database, Depends(get_db)]

Lifespan = Callable[[FastAPI], AbstractAsyncContextManager[dict[str, Any]]]


def following_revocations(lifespan: Lifespan) -> Lifespan:
    """The service's lifespan, plus: a cached authenticator hears of revoked credentials."""

    @asynccontextmanager
    async def wrapped(app: FastAPI) -> AsyncIterator[dict[str, Any]]:
        async with lifespan(app) as state:
            authenticator = state.get("authenticator")
            if not isinstance(authenticator, MerchantsAuthenticator):
                yield state
                return
            stop = asyncio.Event()
            follower = asyncio.create_task(authenticator.follow_revocations(state["redis"], stop))
            try:
                yield state
            finally:
                stop.set()
                follower.cancel()
                await asyncio.wait({follower}, timeout=3)

    return wrapped


def create_service_app(
    service: str,
    settings: ServiceSettings,
    lifespan: Lifespan,
    routers: Sequence[APIRouter],
    *,
    internal_routers: Sequence[APIRouter] = (),
    test_routers: Sequence[APIRouter] = (),
    description: str = "",
) -> FastAPI:
    """Lifespan state must hold `db` and `redis` (and `authenticator` for merchant routes).

    `internal_routers` (`/internal/v1/*`) require the shared internal token when it is set;
    `test_routers` (`/api/v1/test/*`) are left out in production."""
    configure_logging(service, settings.log_level)
    app = FastAPI(
        title=f"{service} service",
        description=description,
        lifespan=following_revocations(lifespan),
        telemetry=FASTAPI_TELEMETRY,
        docs_url=None,  # FastAPI's loads Swagger UI from a CDN: kit.apidocs serves its own
        redoc_url=None,
    )
    add_docs(app)
    install_error_handlers(app)
    for router in [*routers, *([] if settings.production else test_routers)]:
        app.include_router(router)
    internal_only = [
        Depends(require_internal_token(settings.internal_token, settings.internal_port))
    ]
    for router in internal_routers:
        app.include_router(router, dependencies=internal_only)

    @app.get("/livez", include_in_schema=False)
    async def livez() -> dict[str, str]:
        return {"status": "ok"}

    @app.get("/readyz", include_in_schema=False)
    async def readyz(request: Request) -> JSONResponse:
        ok = await request.state.db.ping() and await health.redis_ok(request.state.redis)
        return JSONResponse(
            {"status": "ok" if ok else "unavailable"}, status_code=200 if ok else 503
        )

    @app.get("/health", tags=["health"])
    async def service_health(request: Request) -> JSONResponse:
        """Database, Redis and worker state; 503 when any of them is down."""
        body = await health.report(request.state.db, request.state.redis, settings.health_workers)
        return JSONResponse(body, status_code=200 if body["status"] == "healthy" else 503)

    app.state.rate_limits = RateLimits(settings)
    instrument_app(app, setup_tracing(service))
    app.add_middleware(RequestContextMiddleware, max_body_bytes=settings.max_body_bytes)
    return app
