"""Timestamps as the contract writes them: ISO-8601 in UTC to the second, `2024-01-15T10:31:00Z`."""

from datetime import UTC, datetime
from typing import Annotated

from pydantic import PlainSerializer


def iso_z(value: datetime) -> str:
    return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


Timestamp = Annotated[datetime, PlainSerializer(iso_z, return_type=str, when_used="json")]
