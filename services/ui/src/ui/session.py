"""The dashboard's browser session: its cookies and the CSRF defence of every POST.

A form carries a token that is an HMAC (the server's `CSRF_SECRET`) of the session token once
signed in, or of a random login cookie before; a POST must carry the token its cookies give and
come from this origin (`Origin`, else `Referer`). Cookies are HttpOnly, SameSite=Strict and
Path=/, and Secure with the `__Host-` prefix when `secure_cookies` (browsers refuse a `__Host-`
cookie without Secure, and plain-http development cannot set Secure).
"""

import hashlib
import hmac
import secrets
from urllib.parse import urlsplit

from fastapi import Request, Response
from jinja2 import pass_context
from jinja2.runtime import Context
from markupsafe import Markup

from ui.settings import Settings

FIELD = "csrf_token"
SESSION_MAX_AGE = 7200  # the merchants service's session lifetime
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


class CrossSiteRequest(Exception):
    """A POST without this page's token or from another origin: answered 403."""


def _settings(request: Request) -> Settings:
    settings: Settings = request.state.settings
    return settings


def _name(base: str, settings: Settings) -> str:
    return f"__Host-{base}" if settings.secure_cookies else base


def session_cookie(settings: Settings) -> str:
    return _name("session", settings)


def login_cookie(settings: Settings) -> str:
    return _name("csrf", settings)


def session_token(request: Request) -> str | None:
    return request.cookies.get(session_cookie(_settings(request))) or None


def _set(
    response: Response, name: str, value: str, settings: Settings, max_age: int | None = None
) -> None:
    response.set_cookie(
        name,
        value,
        max_age=max_age,
        path="/",
        secure=settings.secure_cookies,
        httponly=True,
        samesite="strict",
    )


def start_session(response: Response, settings: Settings, token: str) -> None:
    _set(response, session_cookie(settings), token, settings, max_age=SESSION_MAX_AGE)


def end_session(response: Response, settings: Settings) -> None:
    # Same attributes as when set: a browser ignores a `__Host-` Set-Cookie without Secure.
    _set(response, session_cookie(settings), "", settings, max_age=0)


def _sign(settings: Settings, purpose: str, value: str) -> str:
    key = settings.csrf_secret.get_secret_value().encode()
    return hmac.new(key, f"{purpose}\0{value}".encode(), hashlib.sha256).hexdigest()


def banner_signature(settings: Settings, kind: str, text: str) -> str:
    """Signs a banner (`notice`, `problem`) this UI puts in a redirect: a page shows a banner only
    with its signature, so a link cannot make the dashboard say what it likes."""
    return _sign(settings, f"banner-{kind}", text)[:32]


def _expected(request: Request, settings: Settings) -> str | None:
    """The token this request's cookies call for (None: no session and no login cookie)."""
    if session := session_token(request):
        return _sign(settings, "session", session)
    if nonce := request.cookies.get(login_cookie(settings)):
        return _sign(settings, "login", nonce)
    return None


def csrf_token(request: Request) -> str:
    """The token for this page's forms; before sign-in it makes the login cookie if missing
    (`remember_login_cookie` sets it on the response)."""
    settings = _settings(request)
    if (expected := _expected(request, settings)) is not None:
        return expected
    nonce = getattr(request.state, "new_login_cookie", None) or secrets.token_urlsafe(32)
    request.state.new_login_cookie = nonce
    return _sign(settings, "login", nonce)


@pass_context
def csrf_input(context: Context) -> Markup:
    """`{{ csrf_input() }}` in a template: the hidden field every POST form carries."""
    return Markup('<input type="hidden" name="{}" value="{}">').format(
        FIELD, csrf_token(context["request"])
    )


def remember_login_cookie(request: Request, response: Response) -> None:
    if nonce := getattr(request.state, "new_login_cookie", None):
        _set(response, login_cookie(_settings(request)), nonce, _settings(request))


def from_own_origin(request: Request) -> bool:
    """The browser says the request comes from a page of this host (scheme, host and port)."""
    source = request.headers.get("origin") or request.headers.get("referer")
    host = request.headers.get("host")
    if not source or not host:
        return False
    scheme = "https" if _settings(request).secure_cookies else request.url.scheme
    url = urlsplit(source)
    return (url.scheme, url.netloc.lower()) == (scheme, host.lower())


async def check_origin(request: Request) -> None:
    """Router dependency: a POST must come from this origin."""
    if request.method not in SAFE_METHODS and not from_own_origin(request):
        raise CrossSiteRequest()


async def check_form(request: Request) -> None:
    """Router dependency: a POST must come from this origin and carry its form's token."""
    if request.method in SAFE_METHODS:
        return
    await check_origin(request)
    sent = (await request.form()).get(FIELD)
    expected = _expected(request, _settings(request))
    if not isinstance(sent, str) or expected is None or not hmac.compare_digest(sent, expected):
        raise CrossSiteRequest()
