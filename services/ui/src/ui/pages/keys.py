"""The API keys page: list, create, roll with an overlap, revoke after a confirmation.

An API key's secret reaches the browser once: in the page that answers the create or roll POST
(never a redirect, URL, cookie or log), marked no-store so no cache keeps it.
"""

from typing import Annotated, Any

from fastapi import Form, Request, Response
from fastapi.responses import HTMLResponse

from ui.gateway import ApiError
from ui.pages.base import (
    OVERLAPS,
    back,
    dashboard,
    gateway_of,
    render,
    segment,
    token_of,
    whole_number,
)

USABLE = ("active", "expiring")


async def _keys(request: Request) -> list[dict[str, Any]]:
    listed = await gateway_of(request).call("GET", "/api/v1/merchant/keys", token_of(request))
    keys: list[dict[str, Any]] = listed["data"]
    return keys


async def _keys_page(request: Request, **context: Any) -> HTMLResponse:
    return render(
        request, "keys.html", keys=await _keys(request), overlaps=OVERLAPS, usable=USABLE,
        page="keys", **context,
    )  # fmt: skip


def _key_path(key_id: str, action: str) -> str:
    return f"/api/v1/merchant/keys/{segment(key_id)}/{action}"


@dashboard.get("/dashboard/keys")
async def api_keys(request: Request) -> HTMLResponse:
    return await _keys_page(request)


@dashboard.post("/dashboard/keys")
async def create_api_key(request: Request, label: Annotated[str, Form()] = "") -> Response:
    try:
        created = await gateway_of(request).call(
            "POST", "/api/v1/merchant/keys", token_of(request), json={"label": label.strip()}
        )
    except ApiError as error:
        return back(request, "/dashboard/keys", problem=error.description)
    return await _keys_page(request, created=created, notice=f"API key {created['key']} created")


@dashboard.post("/dashboard/keys/{key_id}/roll")
async def roll_api_key(
    request: Request, key_id: str, expires_in_seconds: Annotated[str, Form()] = "86400"
) -> Response:
    seconds = whole_number(expires_in_seconds)
    if seconds is None:
        return back(request, "/dashboard/keys", problem="Choose how long the old key keeps working")
    body = {"expires_in_seconds": seconds}
    try:
        created = await gateway_of(request).call(
            "POST", _key_path(key_id, "roll"), token_of(request), json=body
        )
    except ApiError as error:
        return back(request, "/dashboard/keys", problem=error.description)
    overlap = OVERLAPS.get(int(expires_in_seconds), f"{expires_in_seconds} s").lower()
    ends = "stopped working now" if overlap == "now" else f"keeps working for {overlap}"
    notice = f"API key {created['key']} replaces the old key, which {ends}"
    return await _keys_page(request, created=created, notice=notice)


@dashboard.get("/dashboard/keys/{key_id}/revoke")
async def confirm_revoke(request: Request, key_id: str) -> Response:
    """Revoking breaks every integration that uses the key, so it takes a second step."""
    key = next((k for k in await _keys(request) if k["id"] == key_id), None)
    if key is None:
        return back(request, "/dashboard/keys", problem="API key not found")
    if key["status"] not in USABLE:
        return back(
            request, "/dashboard/keys", problem=f"API key {key['key']} is already {key['status']}"
        )
    return render(request, "key_revoke.html", key=key, page="keys")


@dashboard.post("/dashboard/keys/{key_id}/revoke")
async def revoke_api_key(request: Request, key_id: str) -> Response:
    try:
        revoked = await gateway_of(request).call(
            "POST", _key_path(key_id, "revoke"), token_of(request)
        )
    except ApiError as error:
        return back(request, "/dashboard/keys", problem=error.description)
    return back(
        request, "/dashboard/keys", notice=f"API key {revoked['key']} revoked; it no longer works"
    )
