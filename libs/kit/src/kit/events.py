"""The one event envelope every service publishes."""

from datetime import UTC, datetime
from typing import Any
from uuid import UUID

from pydantic import BaseModel, Field

from kit.ids import new_id
from kit.timestamps import Timestamp


class Envelope(BaseModel):
    """`data` is the resource as the public API shows it."""

    id: str = Field(pattern=r"^evt_[A-Za-z0-9]{24}$")
    type: str = Field(pattern=r"^[a-z_]+\.[a-z_]+$")
    version: int = 1
    occurred_at: Timestamp
    merchant_id: UUID
    data: dict[str, Any]

    @classmethod
    def new(
        cls, type: str, merchant_id: UUID, data: dict[str, Any], version: int = 1
    ) -> "Envelope":
        return cls(
            id=new_id("evt_", 24),
            type=type,
            version=version,
            occurred_at=datetime.now(UTC),
            merchant_id=merchant_id,
            data=data,
        )
