"""HTTP edges shared by every service: the contract's error shape, request ids, access logs."""

import logging
import time
import uuid
from typing import Any, cast

import asyncpg
import redis.exceptions
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from opentelemetry import context as otel_context
from pydantic import BaseModel
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from kit.errors import (
    Conflict,
    Forbidden,
    GatewayError,
    InvalidRequest,
    NotFound,
    PayloadTooLarge,
    RateLimited,
    Unauthenticated,
    Unavailable,
)
from kit.logs import request_id_var
from kit.telemetry import HTTP_IN_PROGRESS, observe_request, recording, request_context

log = logging.getLogger("kit.http")

QUIET_ROUTES = {"/livez", "/readyz", "/metrics"}  # probes and scrapes are not worth a log line

# Postgres or Redis unreachable, restarting, out of connections or too slow: the client may
# retry, so 503, not 500. Postgres: class 08 (connection exception), 57 (operator intervention:
# admin/crash shutdown, cannot connect now, query canceled), 53 (insufficient resources: too
# many connections), 25P03 (idle-in-transaction timeout); OSError covers refused and reset
# sockets and timeouts (TimeoutError is an OSError).
DEPENDENCY_DOWN: tuple[type[Exception], ...] = (
    asyncpg.PostgresConnectionError,
    asyncpg.OperatorInterventionError,  # 57: shutting down, cannot connect now, query canceled
    asyncpg.InsufficientResourcesError,
    asyncpg.IdleInTransactionSessionTimeoutError,
    asyncpg.ReadOnlySQLTransactionError,  # 25006: a read-only node, as right after a failover
    asyncpg.LockNotAvailableError,  # 55P03: lock_timeout (a migration or a long transaction)
    asyncpg.DeadlockDetectedError,  # 40P01: the other transaction went ahead; try again
    OSError,
    redis.exceptions.ConnectionError,
    redis.exceptions.TimeoutError,
)


# The only table from error category to HTTP status.
STATUS_BY_CATEGORY: dict[type[GatewayError], int] = {
    InvalidRequest: 400,
    Unauthenticated: 401,
    Forbidden: 403,
    NotFound: 404,
    Conflict: 409,
    PayloadTooLarge: 413,
    RateLimited: 429,
    Unavailable: 503,
}


class ErrorDetail(BaseModel):
    code: str
    description: str


class ErrorBody(BaseModel):
    error: ErrorDetail


def status_of(error: GatewayError) -> int:
    for cls in type(error).__mro__:
        if cls in STATUS_BY_CATEGORY:
            return STATUS_BY_CATEGORY[cls]
    return 400


def error_response(status: int, code: str, description: str) -> JSONResponse:
    return JSONResponse({"error": {"code": code, "description": description}}, status_code=status)


def problems(*errors: type[GatewayError]) -> dict[int | str, dict[str, Any]]:
    """`responses=` for a route, so its OpenAPI lists the errors it can return."""
    out: dict[int | str, dict[str, Any]] = {}
    for error in errors:
        status = status_of(error())
        entry = out.setdefault(status, {"model": ErrorBody, "description": ""})
        codes = [*filter(None, entry["description"].split(" / ")), error.code]
        entry["description"] = " / ".join(dict.fromkeys(codes))
    return out


def describe_validation(exc: RequestValidationError) -> str:
    """One readable sentence from pydantic's first error (our own messages verbatim)."""
    first = exc.errors()[0]
    message = str(first.get("msg", "invalid request"))
    if first.get("type") == "value_error":
        return message.removeprefix("Value error, ")
    if first.get("type") == "json_invalid":
        return "Request body is not valid JSON"
    field = ".".join(str(p) for p in first.get("loc", ()) if p not in ("body", "query", "path"))
    return f"{field}: {message}" if field else message


def rate_limit_headers(limit: int, remaining: int, reset: int) -> dict[str, str]:
    """The IETF RateLimit fields: the window's quota, what is left of it, seconds to its end."""
    return {
        "RateLimit-Limit": str(limit),
        "RateLimit-Remaining": str(remaining),
        "RateLimit-Reset": str(reset),
    }


def document_validation_as_400(app: FastAPI) -> None:
    """Make the OpenAPI document say what `on_validation_error` does: a request that fails
    validation is a 400 in the error shape, never FastAPI's 422."""
    generate = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            schema = app.openapi_schema = generate()
            for operations in schema.get("paths", {}).values():
                for operation in operations.values():
                    responses = operation.get("responses", {})
                    if responses.pop("422", None) is not None and "400" not in responses:
                        responses["400"] = {
                            "description": InvalidRequest.code,
                            "content": {"application/json": {"schema": {
                                "$ref": "#/components/schemas/ErrorBody"}}},
                        }  # fmt: skip
            schemas = schema.get("components", {}).get("schemas", {})
            schemas.pop("HTTPValidationError", None)
            schemas.pop("ValidationError", None)
            return schema
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]


def install_error_handlers(app: FastAPI) -> None:
    document_validation_as_400(app)

    async def on_gateway_error(request: Request, exc: Exception) -> JSONResponse:
        exc = cast(GatewayError, exc)
        response = error_response(status_of(exc), exc.code, exc.description)
        if isinstance(exc, RateLimited):
            response.headers.update(rate_limit_headers(exc.limit, 0, exc.retry_after))
            response.headers["Retry-After"] = str(exc.retry_after)
        return response

    async def on_validation_error(request: Request, exc: Exception) -> JSONResponse:
        return error_response(
            400, "BAD_REQUEST_ERROR", describe_validation(cast(RequestValidationError, exc))
        )

    async def on_http_error(request: Request, exc: Exception) -> JSONResponse:
        exc = cast(StarletteHTTPException, exc)
        if exc.status_code == 404:
            return error_response(404, "NOT_FOUND_ERROR", "Route not found")
        if exc.status_code == 401:
            return error_response(401, "AUTHENTICATION_ERROR", "Invalid API credentials")
        if exc.status_code == 405:
            return error_response(405, "BAD_REQUEST_ERROR", "Method not allowed")
        code = "BAD_REQUEST_ERROR" if exc.status_code < 500 else "SERVER_ERROR"
        return error_response(exc.status_code, code, str(exc.detail))

    async def on_dependency_down(request: Request, exc: Exception) -> JSONResponse:
        log.warning("dependency unavailable", extra={"error": f"{type(exc).__name__}: {exc}"})
        return error_response(503, Unavailable.code, "Service temporarily unavailable; retry")

    async def on_bad_value(request: Request, exc: Exception) -> JSONResponse:
        # A value the schema let through but Postgres refuses (a NUL byte in a path id, say).
        log.warning("value refused by the database", extra={"error": type(exc).__name__})
        return error_response(400, InvalidRequest.code, "Request contains an invalid value")

    async def on_unexpected(request: Request, exc: Exception) -> JSONResponse:
        log.exception("unhandled error")
        body = {
            "error": {
                "code": "SERVER_ERROR",
                "description": "Internal error",
                "request_id": request.scope.get("request_id"),
            }
        }
        return JSONResponse(body, status_code=500)

    app.add_exception_handler(GatewayError, on_gateway_error)
    app.add_exception_handler(RequestValidationError, on_validation_error)
    app.add_exception_handler(StarletteHTTPException, on_http_error)
    app.add_exception_handler(asyncpg.DataError, on_bad_value)
    for unavailable in DEPENDENCY_DOWN:
        app.add_exception_handler(unavailable, on_dependency_down)
    app.add_exception_handler(Exception, on_unexpected)


MAX_BODY_BYTES = 64 * 1024
# A refused body up to this size is read and dropped before the 413 is sent. Closing a connection
# with unread data in it makes the kernel answer with a reset, which can erase the 413 before the
# client (or the edge proxying it) reads it (RFC 9112 §9.6); a larger body is not worth reading.
DRAIN_BYTES = 1024 * 1024


class RequestContextMiddleware:
    """Gives each request an id (kept from `X-Request-Id` if sent), echoes it, logs the request
    and records its RED metrics; sets its trace context while no server span is recorded; refuses
    a body over `max_body_bytes` with a 413 before anything parses it."""

    def __init__(self, app: ASGIApp, max_body_bytes: int = MAX_BODY_BYTES) -> None:
        self.app = app
        self.max_body_bytes = max_body_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = dict(scope["headers"])
        sent = headers.get(b"x-request-id", b"").decode("latin-1")
        request_id = sent if 0 < len(sent) <= 128 and sent.isprintable() else uuid.uuid4().hex
        token = request_id_var.set(request_id)
        scope["request_id"] = request_id  # for the 500 handler, which runs outside this middleware
        status = 500
        started = time.perf_counter()

        async def send_with_id(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                message.setdefault("headers", [])
                message["headers"] = [*message["headers"], (b"x-request-id", request_id.encode())]
            await send(message)

        traced = None if recording() else otel_context.attach(request_context(scope["headers"]))
        HTTP_IN_PROGRESS.labels(scope["method"]).inc()
        try:
            if b"content-length" in headers:
                length = headers[b"content-length"]
                fits = length.isdigit() and int(length) <= self.max_body_bytes
            elif scope["method"] in ("POST", "PUT", "PATCH"):  # chunked: read it, then replay
                bounded = await self._read_bounded(receive)
                fits = bounded is not None
                receive = bounded or receive
            else:
                fits = True
            if fits:
                await self.app(scope, receive, send_with_id)
            else:
                await _drain(receive)
                await too_large(send_with_id)
        finally:
            if traced is not None:
                otel_context.detach(traced)
            HTTP_IN_PROGRESS.labels(scope["method"]).dec()
            route = getattr(scope.get("route"), "path", None)
            elapsed = time.perf_counter() - started
            observe_request(scope["method"], route, status, elapsed)
            if route not in QUIET_ROUTES:
                log.info(
                    "request",
                    extra={
                        "method": scope["method"],
                        "route": route,
                        "status": status,
                        "duration_ms": round(elapsed * 1000, 2),
                    },
                )
            request_id_var.reset(token)

    async def _read_bounded(self, receive: Receive) -> Receive | None:
        """The whole body replayed as one message, or None when it is over the limit."""
        chunks: list[bytes] = []
        size = 0
        while True:
            message = await receive()
            if message["type"] != "http.request":
                break
            chunks.append(message.get("body", b""))
            size += len(chunks[-1])
            if size > self.max_body_bytes:
                return None
            if not message.get("more_body", False):
                break
        body = b"".join(chunks)
        replayed = False

        async def replay() -> Message:
            nonlocal replayed
            if replayed:
                return await receive()
            replayed = True
            return {"type": "http.request", "body": body, "more_body": False}

        return replay


async def _drain(receive: Receive) -> None:
    """Reads what is left of a refused body, up to DRAIN_BYTES, so no reset erases the 413."""
    drained = 0
    while drained <= DRAIN_BYTES:
        message = await receive()
        if message["type"] != "http.request" or not message.get("more_body", False):
            return
        drained += len(message.get("body", b""))


async def too_large(send: Send) -> None:
    response = error_response(413, PayloadTooLarge.code, PayloadTooLarge.description)
    await response({"type": "http"}, _nothing, send)


async def _nothing() -> Message:
    return {"type": "http.disconnect"}
