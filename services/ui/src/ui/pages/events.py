"""The events page: the merchant's events a page at a time (by type, object and time), one event
with its payload and deliveries, resending it (to every endpoint or one), and replaying the
failed deliveries of a time window."""

import json
from datetime import UTC, datetime
from typing import Annotated, Any
from urllib.parse import urlencode

from fastapi import Form, Query, Request, Response
from fastapi.responses import HTMLResponse

from ui.gateway import ApiError
from ui.pages.base import (
    PAGE_SIZE,
    PageNumber,
    back,
    dashboard,
    gateway_of,
    page_count,
    render,
    segment,
    token_of,
)
from ui.pages.endpoints import endpoints_of, event_types

HERE = "/dashboard/events"
TYPES = (*event_types(), "webhook.test")
Text = Annotated[str, Query(max_length=64)]


class BadTime(ValueError):
    pass


def moment(value: str, name: str) -> datetime | None:
    """A `datetime-local` field (`2026-11-30T13:45`, UTC) or empty; BadTime says which."""
    if not value.strip():
        return None
    try:
        parsed = datetime.fromisoformat(value.strip())
    except ValueError:
        raise BadTime(f"{name} “{value}” is not a date and time (YYYY-MM-DDTHH:MM)") from None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def _event_path(event_id: str) -> str:
    return f"{HERE}/{segment(event_id)}"


def _back_to(return_to: str, fallback: str) -> str:
    """Where a form asked to go back to, if it is one of these pages."""
    ours = (f"{HERE}/", "/dashboard/webhooks")
    return return_to if return_to.startswith(ours) and "//" not in return_to else fallback


@dashboard.get(HERE)
async def events(
    request: Request,
    page: PageNumber = 1,
    event_type: Annotated[str, Query(alias="type", max_length=64)] = "",
    object_id: Text = "",
    created_from: Text = "",
    created_to: Text = "",
) -> HTMLResponse:
    token, gateway = token_of(request), gateway_of(request)
    filters = {"type": event_type.strip(), "object_id": object_id.strip(),
               "created_from": created_from.strip(), "created_to": created_to.strip()}  # fmt: skip
    params: dict[str, Any] = {"limit": PAGE_SIZE, "offset": (page - 1) * PAGE_SIZE}
    listed: dict[str, Any] = {"data": [], "total": 0}
    problem = None
    try:
        for name, label in (("created_from", "From"), ("created_to", "To")):
            if (at := moment(filters[name], label)) is not None:
                params[name] = at.isoformat()
        params.update({k: filters[k] for k in ("type", "object_id") if filters[k]})
        listed = await gateway.call("GET", "/api/v1/events", token, params=params)
    except (BadTime, ApiError) as error:
        problem = str(error)
    query = urlencode({k: v for k, v in filters.items() if v})
    return render(
        request, "events.html", 400 if problem else 200, events=listed["data"],
        total=listed["total"], page_number=page, pages=page_count(listed["total"]),
        filters=filters, query=query, types=TYPES, endpoints=await endpoints_of(request),
        page="events", **({"problem": problem} if problem else {}),
    )  # fmt: skip


@dashboard.get(HERE + "/{event_id}")
async def event_detail(request: Request, event_id: str) -> HTMLResponse:
    event = await gateway_of(request).call(
        "GET", f"/api/v1/events/{segment(event_id)}", token_of(request)
    )
    endpoints = await endpoints_of(request)
    payload = json.dumps(event["payload"], indent=2, ensure_ascii=False)
    return render(
        request, "event.html", event=event, payload=payload, endpoints=endpoints,
        urls={e["id"]: e["url"] or "(default, no URL)" for e in endpoints}, page="events",
    )  # fmt: skip


@dashboard.post(HERE + "/{event_id}/resend")
async def resend_event(
    request: Request,
    event_id: str,
    endpoint_id: Annotated[str, Form()] = "",
    return_to: Annotated[str, Form()] = "",
) -> Response:
    """The event again, from attempt 1: to every enabled endpoint that takes it, or to one."""
    there = _back_to(return_to, _event_path(event_id))
    body = {"endpoint_id": endpoint_id.strip()} if endpoint_id.strip() else {}
    try:
        resent = await gateway_of(request).call(
            "POST", f"/api/v1/events/{segment(event_id)}/resend", token_of(request), json=body
        )
    except ApiError as error:
        return back(request, there, problem=f"Not resent: {error.description}")
    count = len(resent["deliveries"])
    if not count:
        return back(
            request, there, problem="No enabled endpoint takes this event; nothing was sent"
        )
    endpoints = "1 endpoint" if count == 1 else f"{count} endpoints"
    return back(request, there, notice=f"Event {event_id} resent to {endpoints}")


@dashboard.post(HERE + "/replay")
async def replay_failed(
    request: Request,
    created_from: Annotated[str, Form()] = "",
    created_to: Annotated[str, Form()] = "",
    endpoint_id: Annotated[str, Form()] = "",
) -> Response:
    """Every failed delivery created in the window, again from attempt 1."""
    try:
        start, end = moment(created_from, "From"), moment(created_to, "To")
    except BadTime as error:
        return back(request, HERE, problem=f"Nothing replayed: {error}")
    if start is None or end is None:
        return back(request, HERE, problem="Nothing replayed: give the window's start and end")
    body = {"from": start.isoformat(), "to": end.isoformat()}
    if endpoint_id.strip():
        body["endpoint_id"] = endpoint_id.strip()
    try:
        replayed = await gateway_of(request).call(
            "POST", "/api/v1/webhooks/replay", token_of(request), json=body
        )
    except ApiError as error:
        return back(request, HERE, problem=f"Nothing replayed: {error.description}")
    count = replayed["replayed"]
    return back(
        request, HERE, notice=f"{count} failed deliver{'y' if count == 1 else 'ies'} sent again"
    )
