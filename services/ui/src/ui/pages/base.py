"""What every page shares: the templates, the two routers and the helpers of a page handler."""

import hmac
import re
import secrets
from pathlib import Path
from typing import Annotated, Any
from urllib.parse import quote, urlencode

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse
from starlette.templating import Jinja2Templates

from kit.errors import Unauthenticated
from ui.formats import TIME_ZONE, minor_units, money, timestamp, timestamp_tz
from ui.gateway import Gateway
from ui.session import (
    banner_signature,
    check_form,
    check_origin,
    csrf_input,
    remember_login_cookie,
    session_token,
)
from ui.settings import Settings

PAGE_SIZE = 20
# How long an old secret keeps working after a roll or rotation: the choices the pages offer.
OVERLAPS = {0: "Now", 3600: "1 hour", 86_400: "24 hours", 604_800: "7 days"}

templates = Jinja2Templates(directory=str(Path(__file__).parent.parent / "templates"))
templates.env.filters["money"] = money
templates.env.filters["minor_units"] = minor_units
templates.env.filters["timestamp"] = timestamp
templates.env.filters["timestamp_tz"] = timestamp_tz
templates.env.globals["csrf_input"] = csrf_input
templates.env.globals["time_zone"] = TIME_ZONE

# Every state-changing dashboard request is a form POST with the page's CSRF token. The
# checkout's relay is called by checkout-page.js from the checkout's own origin (checkout.js on a
# merchant's site only frames that page), has no session to ride on, so it checks the origin.
dashboard = APIRouter(include_in_schema=False, dependencies=[Depends(check_form)])
checkout = APIRouter(include_in_schema=False, dependencies=[Depends(check_origin)])

PageNumber = Annotated[int, Query(ge=1, le=100_000)]


def gateway_of(request: Request) -> Gateway:
    gateway: Gateway = request.state.gateway
    return gateway.on_behalf_of(request)


def settings_of(request: Request) -> Settings:
    settings: Settings = request.state.settings
    return settings


def token_of(request: Request) -> str:
    token = session_token(request)
    if not token:
        raise Unauthenticated()
    return token


def segment(value: str) -> str:
    """`value` as one path segment of an API URL."""
    return quote(value, safe="")


def render(request: Request, name: str, code: int = 200, **context: Any) -> HTMLResponse:
    for kind in BANNERS:
        context.setdefault(kind, _banner(request, kind))
    response = templates.TemplateResponse(request, name, context, status_code=code)
    # Every page is one merchant's or one payer's, and some show a secret once: no cache keeps
    # any of them (a shared machine's back button, a proxy).
    response.headers["Cache-Control"] = "no-store"
    remember_login_cookie(request, response)
    return response


BANNERS = ("notice", "problem")  # success, failure


def back(request: Request, path: str, **banner: str) -> RedirectResponse:
    """303 to `path`, with at most one banner: a `notice` (success) or a `problem` (failure),
    signed so that the page shows it (a link's own `?problem=Call +1-800…` is not shown)."""
    query = ""
    if banner:
        [(kind, text)] = banner.items()
        signature = banner_signature(settings_of(request), kind, text)
        query = "?" + urlencode({kind: text, "signature": signature})
    return RedirectResponse(path + query, status_code=303)


def _banner(request: Request, kind: str) -> str | None:
    text = request.query_params.get(kind)
    signature = request.query_params.get("signature", "")
    expected = banner_signature(settings_of(request), kind, text or "")
    return text if text and hmac.compare_digest(signature, expected) else None


_FORM_KEY = re.compile(r"^ui_[A-Za-z0-9_-]{24}$")


def form_key() -> str:
    """A fresh `Idempotency-Key` for one rendered money form (capture, refund): a double click
    or a resubmitted page sends it again, so the API replays the first answer instead of
    making a second refund."""
    return f"ui_{secrets.token_urlsafe(18)}"


def idempotency_header(key: str) -> dict[str, str]:
    """The header for a key a form sent back; none for anything this UI did not issue."""
    return {"Idempotency-Key": key} if _FORM_KEY.fullmatch(key) else {}


def whole_number(text: str) -> int | None:
    """`text` as a whole number if it is ASCII digits (`str.isdigit` also takes `²` and `٤`,
    which `int` then refuses or reads as another number), else None."""
    text = text.strip()
    return int(text) if text.isascii() and text.isdigit() else None


def page_count(total: int) -> int:
    return max(1, -(-total // PAGE_SIZE))
