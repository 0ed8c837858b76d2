"""Signing in and out, the home page and the integration guide."""

import contextlib
from typing import Annotated

from fastapi import Form, Request, Response
from fastapi.responses import HTMLResponse, RedirectResponse

from kit.errors import Unauthenticated
from ui.gateway import ApiError
from ui.pages.base import back, dashboard, gateway_of, render, settings_of, token_of
from ui.session import end_session, session_token, start_session


@dashboard.get("/")
async def root(request: Request) -> HTMLResponse:
    """Sends old-style links (`/#/webhooks`, `/#/docs`…) to their page (static/app.js)."""
    return render(request, "root.html")


@dashboard.get("/login")
async def login_page(request: Request) -> HTMLResponse:
    return render(request, "login.html")


@dashboard.post("/login")
async def log_in(
    request: Request, email: Annotated[str, Form()] = "", password: Annotated[str, Form()] = ""
) -> Response:
    try:
        session = await gateway_of(request).call(
            "POST", "/api/v1/auth/login", json={"email": email, "password": password}
        )
    except (Unauthenticated, ApiError):
        return render(request, "login.html", 401, problem="Invalid email or password", email=email)
    response = RedirectResponse("/dashboard", status_code=303)
    start_session(response, settings_of(request), session["token"])
    return response


@dashboard.post("/logout")
async def log_out(request: Request) -> Response:
    if token := session_token(request):
        with contextlib.suppress(Unauthenticated):
            await gateway_of(request).call("POST", "/api/v1/auth/logout", token)
    response = RedirectResponse("/login", status_code=303)
    end_session(response, settings_of(request))
    return response


@dashboard.get("/dashboard")
async def home(request: Request) -> HTMLResponse:
    token, gateway = token_of(request), gateway_of(request)
    merchant = await gateway.call("GET", "/api/v1/merchant", token)
    stats = await gateway.call("GET", "/api/v1/payments/stats", token)
    return render(request, "home.html", merchant=merchant, stats=stats, page="home")


@dashboard.post("/dashboard/currencies")
async def set_currencies(request: Request, currencies: Annotated[str, Form()] = "") -> Response:
    """The currencies new orders may be in, typed as ISO 4217 codes (any separator, any case);
    none typed: every currency in use."""
    codes = [c.upper() for c in currencies.replace(",", " ").split()]
    try:
        await gateway_of(request).call(
            "PUT", "/api/v1/merchant/currencies", token_of(request),
            json={"currencies": list(dict.fromkeys(codes)) or None},
        )  # fmt: skip
    except ApiError as error:
        return back(request, "/dashboard", problem=error.description)
    accepted = ", ".join(dict.fromkeys(codes)) or "every currency in use"
    return back(request, "/dashboard", notice=f"New orders may be in {accepted}")


@dashboard.get("/dashboard/docs")
async def docs(request: Request) -> HTMLResponse:
    merchant = await gateway_of(request).call("GET", "/api/v1/merchant", token_of(request))
    return render(
        request, "docs.html", merchant=merchant, settings=settings_of(request), page="docs"
    )
