"""The webhook endpoints page: every endpoint with its health, create and edit (URL,
description, event filter), delete and rotate-secret after a confirmation, enable with a replay.

An endpoint's secret reaches the browser once, in the page answering the create or rotate POST
(marked no-store); the list never shows one. Below the list, the latest changes to where webhooks
go (created, URL changed, secret rotated, deleted) and whether the API or the dashboard made them:
one the merchant did not make is how a leaked API key shows itself. The default endpoint's
secret stays on the webhooks page, where the contract shows it.
"""

import json
from functools import cache
from pathlib import Path
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

HERE = "/dashboard/endpoints"
API = "/api/v1/webhooks/endpoints"
DOCUMENT = Path(__file__).parent.parent / "openapi.json"

Checked = Annotated[list[str] | None, Form()]  # the ticked checkboxes (none: absent)


@cache
def event_types() -> tuple[str, ...]:
    """The types an endpoint can filter on, as the public API document declares them."""
    schemas = json.loads(DOCUMENT.read_text())["components"]["schemas"]
    return tuple(schemas["EndpointCreate"]["properties"]["event_types"]["items"]["enum"])


async def endpoints_of(request: Request) -> list[dict[str, Any]]:
    listed = await gateway_of(request).call("GET", API, token_of(request))
    endpoints: list[dict[str, Any]] = listed["data"]
    return endpoints


async def changes_of(request: Request) -> list[dict[str, Any]]:
    listed = await gateway_of(request).call("GET", f"{API}/changes", token_of(request))
    changes: list[dict[str, Any]] = listed["data"]
    return changes


async def _endpoint(request: Request, endpoint_id: str) -> dict[str, Any]:
    endpoint: dict[str, Any] = await gateway_of(request).call(
        "GET", f"{API}/{segment(endpoint_id)}", token_of(request)
    )
    return endpoint


async def _list_page(request: Request, code: int = 200, **context: Any) -> HTMLResponse:
    context.setdefault("form", {"url": "", "description": "", "event_types": []})
    return render(
        request, "endpoints.html", code, endpoints=await endpoints_of(request),
        changes=await changes_of(request), event_types=event_types(), page="webhooks", **context,
    )  # fmt: skip


def _filter(checked: list[str]) -> list[str] | None:
    """The checked event types, or None if one is not a known type (a forged form)."""
    known = event_types()
    return [t for t in known if t in checked] if set(checked) <= set(known) else None


@dashboard.get(HERE)
async def endpoints(request: Request) -> HTMLResponse:
    return await _list_page(request)


@dashboard.post(HERE)
async def create_endpoint(
    request: Request,
    url: Annotated[str, Form(max_length=4096)] = "",
    description: Annotated[str, Form(max_length=1000)] = "",
    event_type: Checked = None,
) -> Response:
    form = {"url": url, "description": description, "event_types": event_type or []}
    types = _filter(event_type or [])
    if not url.strip():
        return await _list_page(request, 400, form=form, problem="Enter the endpoint's URL")
    if types is None:
        return await _list_page(request, 400, form=form, problem="Unknown event type")
    body = {"url": url.strip(), "description": description.strip(), "event_types": types}
    try:
        created = await gateway_of(request).call("POST", API, token_of(request), json=body)
    except ApiError as error:
        problem = f"Endpoint not created: {error.description}"
        return await _list_page(request, error.status, form=form, problem=problem)
    notice = f"Endpoint {created['url']} created"
    return await _list_page(request, created=created, notice=notice)


@dashboard.get(HERE + "/{endpoint_id}/edit")
async def edit_endpoint(request: Request, endpoint_id: str) -> HTMLResponse:
    endpoint = await _endpoint(request, endpoint_id)
    return render(
        request, "endpoint_edit.html", endpoint=endpoint, form=endpoint,
        event_types=event_types(), page="webhooks",
    )  # fmt: skip


@dashboard.post(HERE + "/{endpoint_id}/edit")
async def update_endpoint(
    request: Request,
    endpoint_id: str,
    url: Annotated[str, Form(max_length=4096)] = "",
    description: Annotated[str, Form(max_length=1000)] = "",
    event_type: Checked = None,
    disable: Annotated[str, Form(max_length=10)] = "",
) -> Response:
    endpoint = await _endpoint(request, endpoint_id)
    form = {"url": url, "description": description, "event_types": event_type or []}
    types = _filter(event_type or [])
    problem = None
    if types is None:
        problem = "Unknown event type"
    elif not url.strip() and not endpoint["is_default"]:
        problem = "Enter the endpoint's URL (only the default endpoint may have none)"
    else:
        body: dict[str, Any] = {
            "url": url.strip() or None, "description": description.strip(), "event_types": types,
        }  # fmt: skip
        if disable and endpoint["enabled"]:
            body["enabled"] = False
        try:
            await gateway_of(request).call(
                "PATCH", f"{API}/{segment(endpoint_id)}", token_of(request), json=body
            )
        except ApiError as error:
            problem = f"Not saved: {error.description}"
    if problem:
        return render(
            request, "endpoint_edit.html", 400, endpoint=endpoint, form=form,
            event_types=event_types(), page="webhooks", problem=problem,
        )  # fmt: skip
    return back(request, HERE, notice=f"Endpoint {url.strip() or endpoint['id']} saved")


@dashboard.get(HERE + "/{endpoint_id}/delete")
async def confirm_delete(request: Request, endpoint_id: str) -> Response:
    """Deleting stops its deliveries at once, so it takes a second step."""
    endpoint = await _endpoint(request, endpoint_id)
    if endpoint["is_default"]:
        return back(request, HERE, problem="The default endpoint cannot be deleted")
    return render(request, "endpoint_delete.html", endpoint=endpoint, page="webhooks")


@dashboard.post(HERE + "/{endpoint_id}/delete")
async def delete_endpoint(request: Request, endpoint_id: str) -> Response:
    try:
        await gateway_of(request).call("DELETE", f"{API}/{segment(endpoint_id)}", token_of(request))
    except ApiError as error:
        return back(request, HERE, problem=f"Not deleted: {error.description}")
    return back(request, HERE, notice="Endpoint deleted; its logs are kept")


@dashboard.get(HERE + "/{endpoint_id}/rotate")
async def confirm_rotate(request: Request, endpoint_id: str) -> HTMLResponse:
    """A new secret needs the receiver updated, so the overlap is chosen on a second page."""
    endpoint = await _endpoint(request, endpoint_id)
    return render(
        request, "endpoint_rotate.html", endpoint=endpoint, overlaps=OVERLAPS, page="webhooks"
    )


@dashboard.post(HERE + "/{endpoint_id}/rotate")
async def rotate_secret(
    request: Request, endpoint_id: str, expires_in_seconds: Annotated[str, Form()] = ""
) -> Response:
    overlap = whole_number(expires_in_seconds)
    if overlap is None or overlap not in OVERLAPS:
        return back(request, HERE, problem="Choose how long the old secret keeps signing")
    try:
        rotated = await gateway_of(request).call(
            "POST", f"{API}/{segment(endpoint_id)}/rotate-secret", token_of(request),
            json={"expires_in_seconds": overlap},
        )  # fmt: skip
    except ApiError as error:
        return back(request, HERE, problem=f"Secret not rotated: {error.description}")
    ends = "stopped signing now" if overlap == 0 else f"signs too for {OVERLAPS[overlap].lower()}"
    notice = f"New secret for {rotated['url'] or 'the default endpoint'}; the old one {ends}"
    return await _list_page(request, created=rotated, notice=notice)


@dashboard.post(HERE + "/{endpoint_id}/enable")
async def enable_endpoint(
    request: Request, endpoint_id: str, replay: Annotated[str, Form(max_length=10)] = ""
) -> Response:
    try:
        enabled = await gateway_of(request).call(
            "POST", f"{API}/{segment(endpoint_id)}/enable", token_of(request),
            json={"replay": bool(replay)},
        )  # fmt: skip
    except ApiError as error:
        return back(request, HERE, problem=f"Not enabled: {error.description}")
    notice = f"Endpoint {enabled['url'] or enabled['id']} enabled"
    if replay:
        count = enabled["replayed"]
        notice += f"; {count} missed deliver{'y' if count == 1 else 'ies'} queued"
    return back(request, HERE, notice=notice)
