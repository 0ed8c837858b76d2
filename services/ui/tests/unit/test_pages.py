"""What the dashboard's pages decide before calling the API: filters, times, bad requests."""

from datetime import UTC, datetime

import httpx
import pytest

from ui.main import create_app
from ui.pages.endpoints import event_types
from ui.pages.events import BadTime, moment
from ui.settings import Settings


async def test_a_bad_query_is_a_400_page_that_says_what_was_wrong() -> None:
    transport = httpx.ASGITransport(create_app(Settings()))
    async with httpx.AsyncClient(transport=transport, base_url="http://ui") as client:
        response = await client.get("/dashboard/webhooks?page=0")  # refused before any API call
    assert response.status_code == 400
    assert "This request is not valid (page: Input should be greater than or equal to 1)" in (
        response.text
    )


def test_endpoint_filters_offer_the_event_types_the_api_declares() -> None:
    assert event_types()[:2] == ("payment.created", "payment.pending")
    assert "refund.processed" in event_types()
    assert "webhook.test" not in event_types()  # not filterable


def test_a_datetime_local_field_is_read_as_utc() -> None:
    assert moment("2026-11-30T13:45", "From") == datetime(2026, 11, 30, 13, 45, tzinfo=UTC)
    assert moment("  ", "From") is None
    with pytest.raises(BadTime, match="To “tomorrow” is not a date and time"):
        moment("tomorrow", "To")
