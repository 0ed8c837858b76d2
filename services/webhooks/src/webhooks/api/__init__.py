"""HTTP routes of the webhooks service: parse, call service, shape the response.

Fixed paths (`/config`, `/endpoints`, …) are routed before `/api/v1/webhooks/{webhook_id}`,
`/api/v1/events/stream` before `/api/v1/events/{event_id}`."""

from fastapi import APIRouter

from webhooks.api import config, endpoints, events, logs, stream

router = APIRouter()
for part in (config, endpoints, logs, stream, events):
    router.include_router(part.router)
