"""The UI service: dashboard, hosted checkout and checkout.js. Owns no tables; it reaches the
gateway only through the public API, as the signed-in merchant (an HttpOnly session cookie)."""

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import httpx
from fastapi import FastAPI, Request, Response
from fastapi.exception_handlers import request_validation_exception_handler
from fastapi.exceptions import RequestValidationError
from fastapi.responses import FileResponse, JSONResponse, RedirectResponse
from fastapi.staticfiles import StaticFiles
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from kit.errors import GatewayError, Unauthenticated
from kit.http import RequestContextMiddleware
from kit.limits import networks
from kit.logs import configure_logging
from kit.telemetry import FASTAPI_TELEMETRY, instrument_app, setup_tracing
from ui import apidocs, pages
from ui.gateway import ApiError, Gateway
from ui.session import CrossSiteRequest, end_session, session_token
from ui.settings import Settings

STATIC = Path(__file__).parent / "static"

# No inline script or style anywhere; the checkout may be framed by merchants' sites (the SDK).
_CSP = (
    "default-src 'self'; img-src 'self' data:; object-src 'none'; base-uri 'none';"
    " form-action 'self'"
)
_FRAMING = {True: "frame-ancestors *", False: "frame-ancestors 'none'"}


class SecurityHeaders:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        frameable = scope["path"].startswith("/checkout")

        async def add_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                csp = f"{_CSP}; {_FRAMING[frameable]}".encode()
                message["headers"] = [
                    *message.get("headers", []),
                    (b"content-security-policy", csp),
                    (b"x-content-type-options", b"nosniff"),
                    (b"referrer-policy", b"same-origin"),
                ]
            await send(message)

        await self.app(scope, receive, add_headers)


def create_app(settings: Settings | None = None) -> FastAPI:
    settings = settings or Settings()
    configure_logging("ui", settings.log_level)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[dict[str, Any]]:
        async with httpx.AsyncClient(base_url=settings.api_url, timeout=10) as client:
            gateway = Gateway(client, networks(settings.trusted_proxy_networks))
            yield {"gateway": gateway, "settings": settings}

    app = FastAPI(
        title="ui service", lifespan=lifespan, docs_url=None, redoc_url=None, openapi_url=None,
        telemetry=FASTAPI_TELEMETRY,
    )  # fmt: skip

    @app.exception_handler(Unauthenticated)
    async def to_login(request: Request, exc: Exception) -> Response:
        response = RedirectResponse("/login", status_code=303)
        # Only a cookie that was sent is stale: SameSite=Strict keeps it off cross-site links.
        if session_token(request):
            end_session(response, settings)
        return response

    @app.exception_handler(CrossSiteRequest)
    async def refuse(request: Request, exc: Exception) -> Response:
        if request.url.path.startswith("/checkout"):
            error = {"code": "FORBIDDEN_ERROR", "description": "Request refused: wrong origin"}
            return JSONResponse({"error": error}, status_code=403)
        message = (
            "This form expired or was sent from another site, so nothing was changed."
            " Go back, reload the page and try again."
        )
        return pages.templates.TemplateResponse(
            request, "error.html", {"message": message, "title": "Request refused"}, 403
        )

    @app.exception_handler(RequestValidationError)
    async def invalid_page(request: Request, exc: Exception) -> Response:
        # A dashboard page asked with a bad query or form (a page number of 0, a field too
        # long) says what was wrong; the checkout's relay answers as FastAPI does.
        if request.url.path.startswith("/checkout") or not isinstance(exc, RequestValidationError):
            return await request_validation_exception_handler(request, exc)  # type: ignore[arg-type]
        wrong = "; ".join(
            f"{e['loc'][-1]}: {e['msg']}" if len(e["loc"]) > 1 else e["msg"] for e in exc.errors()
        )
        return pages.templates.TemplateResponse(
            request, "error.html",
            {"message": f"This request is not valid ({wrong}).", "title": "Invalid request"}, 400,
        )  # fmt: skip

    @app.exception_handler(GatewayError)
    async def error_page(request: Request, exc: Exception) -> Response:
        # The API's 4xx as it came (a missing payment is a 404 page); anything else is a 503.
        if isinstance(exc, ApiError):
            status = exc.status
        else:
            status = 404 if getattr(exc, "code", "") == "NOT_FOUND_ERROR" else 503
        return pages.templates.TemplateResponse(
            request, "error.html", {"message": str(exc)}, status_code=status
        )

    @app.get("/checkout.js", include_in_schema=False)
    async def sdk() -> FileResponse:
        return FileResponse(STATIC / "checkout.js", media_type="text/javascript")

    @app.get("/livez", include_in_schema=False)
    async def livez() -> dict[str, str]:
        return {"status": "ok"}

    @app.get("/readyz", include_in_schema=False)
    async def readyz() -> dict[str, str]:
        return {"status": "ok"}

    app.include_router(pages.dashboard)
    app.include_router(pages.checkout)
    apidocs.install(app)
    app.mount("/static", StaticFiles(directory=STATIC), name="static")
    instrument_app(app, setup_tracing("ui"))
    app.add_middleware(SecurityHeaders)
    app.add_middleware(RequestContextMiddleware)
    return app
