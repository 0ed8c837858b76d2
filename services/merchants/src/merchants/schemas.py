"""Public and internal request/response models of the merchants service."""

from typing import Annotated
from uuid import UUID

from pydantic import BaseModel, ConfigDict, Field, field_validator

from kit.currencies import IN_USE
from kit.strings import Text
from kit.timestamps import Timestamp


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class LoginRequest(Strict):
    email: Text = Field(min_length=3, max_length=255)
    password: Text = Field(max_length=1024)


class MerchantPublic(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: UUID
    name: str
    email: str
    api_key: str | None = Field(description="The newest usable key; null when none is left")
    is_active: bool
    created_at: Timestamp
    currencies: list[str] | None = Field(
        default=None,
        description="The currencies this merchant's orders may be in; null: every ISO 4217"
        " currency in use",
    )
    # Only the seeded test merchant's secret is known (it is public test configuration); every
    # other secret exists only as a hash and was shown once, at creation.
    api_secret: str | None = None


class CurrenciesUpdate(Strict):
    currencies: list[Annotated[Text, Field(pattern=r"^[A-Z]{3}$")]] | None = Field(
        max_length=50,
        description='ISO 4217 codes of currencies in use, such as ["INR", "USD"]; null'
        " allows every one",
        examples=[["INR", "USD"]],
    )

    @field_validator("currencies")
    @classmethod
    def _in_use(cls, value: list[str] | None) -> list[str] | None:
        if value is None:
            return None
        if not value:
            raise ValueError("currencies must name at least one currency, or be null for all")
        for code in value:
            if code not in IN_USE:
                raise ValueError(f"{code} is not the ISO 4217 code of a currency in use")
        return sorted(set(value))


class MerchantCheckout(BaseModel):
    """`GET /api/v1/merchant/{id}/public`: what the hosted checkout may show of a merchant."""

    model_config = ConfigDict(from_attributes=True)

    id: UUID
    name: str


class LoginResponse(BaseModel):
    token: str
    token_type: str = "bearer"  # noqa: S105 - a scheme name, not a secret
    expires_at: Timestamp
    merchant: MerchantPublic


class TestMerchantPublic(BaseModel):
    """`GET /api/v1/test/merchant`, exactly the contract's shape."""

    id: UUID
    email: str
    api_key: str
    seeded: bool


class AuthenticateRequest(Strict):
    """Internal: the credentials a caller received (`X-Api-Key`/`X-Api-Secret` or a session)."""

    api_key: Text | None = Field(default=None, max_length=255)
    api_secret: Text | None = Field(default=None, max_length=255)
    session_token: Text | None = Field(default=None, max_length=255)


class ApiKeyPublic(BaseModel):
    """One API key as the dashboard lists it; its secret is never shown again."""

    model_config = ConfigDict(from_attributes=True)

    id: UUID
    key: str
    label: str
    status: str = Field(
        description="active, expiring (rolled; works until expires_at), expired, revoked"
    )
    created_at: Timestamp
    expires_at: Timestamp | None
    revoked_at: Timestamp | None


class ApiKeys(BaseModel):
    data: list[ApiKeyPublic]


class ApiKeyCreated(ApiKeyPublic):
    """`201`: the new key with its secret, shown this once."""

    api_secret: str


class ApiKeyCreate(Strict):
    label: Text = Field(default="", max_length=100)


class ApiKeyRoll(Strict):
    expires_in_seconds: int = Field(
        default=86_400,
        ge=0,
        le=7 * 86_400,
        description="How long the old secret keeps working (default 24 h; 0: stops now)",
    )
