"""Merchant use cases: credential checks, dashboard sessions, onboarding."""

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from kit.auth import Credentials, Principal
from kit.db import Database
from merchants import repository
from merchants.domain import (
    EmailTaken,
    LoginFailed,
    Merchant,
    MerchantId,
    MerchantNotFound,
    NewCredentials,
    generate_credentials,
    generate_session_token,
    generate_webhook_secret,
    hash_password,
    hash_secret,
    may_log_in,
    secret_matches,
)

# Compared against when the api key is unknown, so a miss costs the same as a wrong secret.
_DUMMY_HASH = hash_secret("no such merchant")


@dataclass(frozen=True)
class Session:
    token: str
    expires_at: datetime
    merchant: Merchant


async def authenticate(db: Database, credentials: Credentials) -> Principal | None:
    """The merchant these credentials prove, or None."""
    async with db.transaction() as conn:
        if credentials.api_key and credentials.api_secret:
            merchant = await repository.get_merchant_by_api_key(conn, credentials.api_key)
            stored = merchant.api_secret_hash if merchant else _DUMMY_HASH
            matches = secret_matches(credentials.api_secret, stored)
            if merchant and matches and merchant.is_active:
                return Principal(merchant_id=merchant.id, credential="api_key")
            return None
        if credentials.session_token:
            token_hash = hash_secret(credentials.session_token)
            merchant = await repository.get_session_merchant(conn, token_hash)
            if merchant and merchant.is_active:
                return Principal(merchant_id=merchant.id, credential="session")
    return None


async def log_in(
    db: Database, email: str, password: str, *, ttl: timedelta, test_setup: bool
) -> Session:
    """Open a dashboard session; the token is returned once and stored only as a hash.
    `test_setup` lets the password-less test merchant in (see `may_log_in`)."""
    async with db.transaction() as conn:
        merchant = await repository.get_merchant_by_email(conn, email)
        if merchant is None or not may_log_in(merchant, password, test_setup=test_setup):
            raise LoginFailed()
        token = generate_session_token()
        expires_at = datetime.now(UTC) + ttl
        await repository.delete_expired_sessions(conn)
        await repository.insert_session(conn, hash_secret(token), merchant.id, expires_at)
    return Session(token, expires_at, merchant)


async def log_out(db: Database, token: str) -> None:
    async with db.transaction() as conn:
        await repository.delete_session(conn, hash_secret(token))


async def get_merchant(db: Database, merchant_id: MerchantId) -> Merchant:
    async with db.transaction() as conn:
        merchant = await repository.get_merchant(conn, merchant_id)
    if merchant is None:
        raise MerchantNotFound()
    return merchant


async def create_merchant(
    db: Database, name: str, email: str, password: str | None
) -> tuple[Merchant, NewCredentials]:
    """Onboard a merchant; the API secret is shown only in this result, never stored in clear."""
    credentials = generate_credentials()
    async with db.transaction() as conn:
        merchant = await repository.insert_merchant(
            conn,
            merchant_id=None,
            name=name,
            email=email,
            api_key=credentials.api_key,
            api_secret_hash=hash_secret(credentials.api_secret),
            password_hash=hash_password(password) if password else None,
            webhook_secret=generate_webhook_secret(),
        )
    if merchant is None:
        raise EmailTaken()
    return merchant, credentials
