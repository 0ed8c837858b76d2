"""HTTP routes of the merchants service: parse, call service, shape the response."""

from dataclasses import asdict
from datetime import UTC, datetime, timedelta
from typing import Annotated
from uuid import UUID

from fastapi import APIRouter, Request, Response, Security
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from kit.app import Db
from kit.auth import Credentials, CurrentMerchant, Principal
from kit.errors import Forbidden, InvalidRequest, RateLimited, Unauthenticated
from kit.http import problems
from kit.limits import ClientLimited
from merchants import service
from merchants.domain import (
    TEST_MERCHANT_ID,
    ApiKey,
    KeyAlreadyRolled,
    KeyId,
    KeyNotFound,
    KeyNotUsable,
    LoginFailed,
    MerchantId,
    MerchantNotFound,
    NewCredentials,
    TooManyKeys,
)
from merchants.schemas import (
    ApiKeyCreate,
    ApiKeyCreated,
    ApiKeyPublic,
    ApiKeyRoll,
    ApiKeys,
    AuthenticateRequest,
    CurrenciesUpdate,
    LoginRequest,
    LoginResponse,
    MerchantCheckout,
    MerchantPublic,
    TestMerchantPublic,
)
from merchants.settings import Settings, TestMerchantSettings

router = APIRouter()
internal = APIRouter(prefix="/internal/v1", tags=["internal"])
test_router = APIRouter()  # /api/v1/test/*: not routed in production
_bearer = HTTPBearer(auto_error=False, scheme_name="DashboardSession")


@router.post("/api/v1/auth/login", tags=["auth"], responses=problems(LoginFailed, RateLimited))
async def log_in(body: LoginRequest, request: Request, db: Db, _: ClientLimited) -> LoginResponse:
    """Open a dashboard session; send the token as `Authorization: Bearer <token>`."""
    settings: Settings = request.state.settings
    session = await service.log_in(
        db,
        body.email,
        body.password,
        ttl=timedelta(seconds=settings.session_ttl_seconds),
        test_setup=settings.test_setup,
        throttle=request.state.login_throttle,
    )
    return LoginResponse(
        token=session.token,
        expires_at=session.expires_at,
        merchant=MerchantPublic.model_validate(session.merchant),
    )


@router.post(
    "/api/v1/auth/logout", tags=["auth"], status_code=204, responses=problems(Unauthenticated)
)
async def log_out(
    db: Db,
    request: Request,
    bearer: Annotated[HTTPAuthorizationCredentials | None, Security(_bearer)],
) -> Response:
    """End the dashboard session named by the bearer token."""
    if bearer is None:
        raise Unauthenticated()
    await service.log_out(db, request.state.redis, bearer.credentials)
    return Response(status_code=204)


@router.get("/api/v1/merchant", tags=["merchant"], responses=problems(Unauthenticated))
async def get_current_merchant(db: Db, merchant: CurrentMerchant) -> MerchantPublic:
    """The authenticated merchant's profile and API key (the secret only for the test merchant)."""
    profile = MerchantPublic.model_validate(
        await service.get_merchant(db, MerchantId(merchant.merchant_id))
    )
    if profile.api_key == TestMerchantSettings().test_api_key:
        profile.api_secret = TestMerchantSettings().test_api_secret.get_secret_value()
    return profile


@router.put(
    "/api/v1/merchant/currencies",
    tags=["merchant"],
    responses=problems(InvalidRequest, Unauthenticated),
)
async def set_currencies(
    body: CurrenciesUpdate, request: Request, db: Db, merchant: CurrentMerchant
) -> MerchantPublic:
    """Limit the currencies of this merchant's new orders (null: every currency in use). Takes
    effect at once in every service."""
    updated = await service.set_currencies(
        db, request.state.redis, MerchantId(merchant.merchant_id), body.currencies
    )
    return MerchantPublic.model_validate(updated)


@router.get(
    "/api/v1/merchant/{merchant_id}/public",
    tags=["merchant"],
    responses=problems(MerchantNotFound, RateLimited),
)
async def get_merchant_for_checkout(
    merchant_id: UUID, db: Db, _: ClientLimited
) -> MerchantCheckout:
    """The name the hosted checkout shows its customer; no authentication."""
    merchant = await service.get_merchant(db, MerchantId(merchant_id))
    if not merchant.is_active:
        raise MerchantNotFound()
    return MerchantCheckout.model_validate(merchant)


# ---- API keys (dashboard session only: a leaked key must not mint or roll keys) -------------

KEY_ERRORS = (Unauthenticated, Forbidden)


def _dashboard(principal: Principal) -> MerchantId:
    if principal.credential != "session":
        raise Forbidden("API keys are managed from a dashboard session")
    return MerchantId(principal.merchant_id)


def _public(key: ApiKey) -> ApiKeyPublic:
    return ApiKeyPublic.model_validate({**asdict(key), "status": key.status(datetime.now(UTC))})


def _created(key: ApiKey, credentials: NewCredentials) -> ApiKeyCreated:
    return ApiKeyCreated(**_public(key).model_dump(), api_secret=credentials.api_secret)


@router.get("/api/v1/merchant/keys", tags=["keys"], responses=problems(*KEY_ERRORS))
async def list_keys(db: Db, merchant: CurrentMerchant) -> ApiKeys:
    """Every API key of the merchant, newest first, with its status."""
    return ApiKeys(data=[_public(k) for k in await service.list_keys(db, _dashboard(merchant))])


@router.post(
    "/api/v1/merchant/keys",
    tags=["keys"],
    status_code=201,
    responses=problems(*KEY_ERRORS, TooManyKeys),
)
async def create_key(body: ApiKeyCreate, db: Db, merchant: CurrentMerchant) -> ApiKeyCreated:
    """A new key pair; the secret is in this response only."""
    return _created(*await service.create_key(db, _dashboard(merchant), body.label))


@router.post(
    "/api/v1/merchant/keys/{key_id}/roll",
    tags=["keys"],
    status_code=201,
    responses=problems(*KEY_ERRORS, KeyNotFound, KeyNotUsable, KeyAlreadyRolled),
)
async def roll_key(
    key_id: UUID, body: ApiKeyRoll, request: Request, db: Db, merchant: CurrentMerchant
) -> ApiKeyCreated:
    """A new key pair replacing this one, which keeps working for `expires_in_seconds`."""
    new, credentials = await service.roll_key(
        db, request.state.redis, _dashboard(merchant), KeyId(key_id), body.expires_in_seconds
    )
    return _created(new, credentials)


@router.post(
    "/api/v1/merchant/keys/{key_id}/revoke",
    tags=["keys"],
    responses=problems(*KEY_ERRORS, KeyNotFound),
)
async def revoke_key(
    key_id: UUID, request: Request, db: Db, merchant: CurrentMerchant
) -> ApiKeyPublic:
    """The key stops working at once on every service."""
    revoked = await service.revoke_key(db, request.state.redis, _dashboard(merchant), KeyId(key_id))
    return _public(revoked)


@test_router.get("/api/v1/test/merchant", tags=["test"], responses=problems(MerchantNotFound))
async def get_test_merchant(db: Db) -> TestMerchantPublic:
    """The seeded test merchant, for automated evaluation (no authentication)."""
    merchant = await service.get_merchant(db, TEST_MERCHANT_ID)
    return TestMerchantPublic(
        id=merchant.id,
        email=merchant.email,
        api_key=TestMerchantSettings().test_api_key,
        seeded=True,
    )


@internal.post("/authenticate", responses=problems(Unauthenticated))
async def authenticate(body: AuthenticateRequest, db: Db) -> Principal:
    """Which merchant these credentials prove; 401 if none. Other services cache the answer."""
    credentials = Credentials(body.api_key, body.api_secret, body.session_token)
    principal = await service.authenticate(db, credentials)
    if principal is None:
        raise Unauthenticated()
    return principal
