"""Merchant use cases: credential checks, dashboard sessions, onboarding."""

import asyncio
import hashlib
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from redis.asyncio import Redis

from kit.auth import Credentials, Principal
from kit.db import Database
from kit.errors import RateLimited
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


class LoginThrottle:
    """Failed logins per email in Redis: past `max_failures` in a window, the email is refused
    (429) until the window ends, whatever the password, so guessing is slow."""

    def __init__(self, redis: Redis, max_failures: int, window_seconds: int) -> None:
        self.redis, self.max_failures, self.window = redis, max_failures, window_seconds

    def _key(self, email: str) -> str:
        return "login-failures:" + hashlib.sha256(email.strip().lower().encode()).hexdigest()

    async def check(self, email: str) -> None:
        key = self._key(email)
        async with self.redis.pipeline(transaction=False) as pipe:
            pipe.get(key)
            pipe.ttl(key)
            failures, ttl = await pipe.execute()
        if failures is not None and int(failures) >= self.max_failures:
            raise RateLimited(self.max_failures, retry_after=max(1, int(ttl)))

    async def failed(self, email: str) -> None:
        key = self._key(email)
        async with self.redis.pipeline(transaction=False) as pipe:
            pipe.set(key, 0, ex=self.window, nx=True)  # the window starts at the first failure
            pipe.incr(key)
            await pipe.execute()


async def log_in(
    db: Database,
    email: str,
    password: str,
    *,
    ttl: timedelta,
    test_setup: bool,
    throttle: LoginThrottle,
) -> Session:
    """Open a dashboard session; the token is returned once and stored only as a hash.
    `test_setup` lets the password-less test merchant in (see `may_log_in`). The password is
    checked in a thread (scrypt takes tens of milliseconds) and outside any transaction."""
    await throttle.check(email)
    async with db.transaction() as conn:
        merchant = await repository.get_merchant_by_email(conn, email)
    allowed = await asyncio.to_thread(may_log_in, merchant, password, test_setup=test_setup)
    if merchant is None or not allowed:
        await throttle.failed(email)
        raise LoginFailed()
    token = generate_session_token()
    expires_at = datetime.now(UTC) + ttl
    async with db.transaction() as conn:
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
        )
    if merchant is None:
        raise EmailTaken()
    return merchant, credentials
