"""Merchant use cases: credential checks, dashboard sessions, onboarding."""

import asyncio
import hashlib
import logging
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from asyncpg import Connection
from redis.asyncio import Redis
from redis.exceptions import RedisError

from kit.auth import REVOCATIONS, Credentials, Principal
from kit.db import Database
from kit.errors import RateLimited
from merchants import repository
from merchants.domain import (
    MAX_USABLE_KEYS,
    ApiKey,
    EmailTaken,
    KeyAlreadyRolled,
    KeyId,
    KeyNotFound,
    KeyNotUsable,
    LoginFailed,
    Merchant,
    MerchantId,
    MerchantNotFound,
    NewCredentials,
    TooManyKeys,
    generate_credentials,
    generate_session_token,
    hash_password,
    hash_secret,
    may_log_in,
    secret_matches,
)

log = logging.getLogger("merchants.service")

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
            key = await repository.check_key(conn, credentials.api_key)
            matches = secret_matches(
                credentials.api_secret, key.secret_hash if key else _DUMMY_HASH
            )
            if key and matches and key.usable:
                return Principal(
                    merchant_id=key.merchant_id, credential="api_key", currencies=key.currencies
                )
            return None
        if credentials.session_token:
            token_hash = hash_secret(credentials.session_token)
            merchant = await repository.get_session_merchant(conn, token_hash)
            if merchant and merchant.is_active:
                return Principal(
                    merchant_id=merchant.id, credential="session", currencies=merchant.currencies
                )
    return None


class LoginThrottle:
    """Failed logins per account in Redis: past `max_failures` in a window, the account is
    refused (429) until the window ends, whatever the password, so guessing is slow.

    Each attempt takes a place before its password is checked and gives it back when the
    password was right, so a concurrent burst cannot get past the count (checking, then counting
    a failure, let 40 of 40 through). The count is kept per merchant, whichever spelling of the
    email Postgres matched it by (Python and Postgres lowercase `İ` differently); an unknown
    email is counted under its own spelling.

    It also bounds the passwords checked at once in this process (`concurrent_checks`; scrypt
    takes ~50 ms of a core and 16 MiB): past that a login is refused 429 at once, so a flood of
    logins cannot take the memory and the threads authenticating API calls need."""

    def __init__(
        self, redis: Redis, max_failures: int, window_seconds: int, concurrent_checks: int = 2
    ) -> None:
        self.redis, self.max_failures, self.window = redis, max_failures, window_seconds
        self.checking = asyncio.Semaphore(concurrent_checks)

    @staticmethod
    def key(email: str, merchant: Merchant | None) -> str:
        who = str(merchant.id) if merchant else "unknown:" + email.strip().casefold()
        return "login-failures:" + hashlib.sha256(who.encode()).hexdigest()

    async def take(self, key: str) -> None:
        async with self.redis.pipeline(transaction=True) as pipe:
            pipe.set(key, 0, ex=self.window, nx=True)  # the window starts at the first attempt
            pipe.incr(key)
            pipe.ttl(key)
            _, attempts, ttl = await pipe.execute()
        if attempts > self.max_failures:
            raise RateLimited(self.max_failures, retry_after=max(1, int(ttl)))

    async def give_back(self, key: str) -> None:
        await self.redis.decr(key)


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
    checked in a thread outside any transaction, as many at once as `throttle` allows."""
    async with db.transaction() as conn:
        merchant = await repository.get_merchant_by_email(conn, email)
    key = LoginThrottle.key(email, merchant)
    await throttle.take(key)
    if throttle.checking.locked():
        await throttle.give_back(key)
        raise RateLimited(retry_after=1)
    async with throttle.checking:
        allowed = await asyncio.to_thread(may_log_in, merchant, password, test_setup=test_setup)
    if merchant is None or not allowed:
        raise LoginFailed()
    await throttle.give_back(key)
    token = generate_session_token()
    expires_at = datetime.now(UTC) + ttl
    async with db.transaction() as conn:
        await repository.delete_expired_sessions(conn)
        await repository.insert_session(conn, hash_secret(token), merchant.id, expires_at)
    return Session(token, expires_at, merchant)


async def log_out(db: Database, redis: Redis, token: str) -> None:
    async with db.transaction() as conn:
        merchant = await repository.get_session_merchant(conn, hash_secret(token))
        await repository.delete_session(conn, hash_secret(token))
    if merchant is not None:
        await announce_revocation(redis, merchant.id)


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
    password_hash = hash_password(password) if password else None
    async with db.transaction() as conn:
        merchant_id = await repository.insert_merchant(
            conn, merchant_id=None, name=name, email=email, password_hash=password_hash
        )
        if merchant_id is None:
            raise EmailTaken()
        await _insert_key(conn, merchant_id, credentials, "Default")
        merchant = await repository.get_merchant(conn, merchant_id)
    assert merchant is not None  # noqa: S101 - inserted in this transaction
    return merchant, credentials


# ---- API keys: several per merchant, rolled with an overlap or revoked ----------------------


async def _insert_key(
    conn: Connection, merchant_id: MerchantId, credentials: NewCredentials, label: str
) -> ApiKey:
    key = await repository.insert_key(
        conn, merchant_id, credentials.api_key, hash_secret(credentials.api_secret), label
    )
    if key is None:
        raise LookupError("a new API key collided with an existing one")
    return key


async def list_keys(db: Database, merchant_id: MerchantId) -> list[ApiKey]:
    async with db.transaction() as conn:
        return await repository.list_keys(conn, merchant_id)


async def create_key(
    db: Database, merchant_id: MerchantId, label: str
) -> tuple[ApiKey, NewCredentials]:
    """A new key pair; its secret is in this result only."""
    credentials = generate_credentials()
    async with db.transaction() as conn:
        await conn.execute("SELECT pg_advisory_xact_lock(hashtext($1))", str(merchant_id))
        if await repository.count_usable_keys(conn, merchant_id) >= MAX_USABLE_KEYS:
            raise TooManyKeys()
        return await _insert_key(conn, merchant_id, credentials, label), credentials


async def roll_key(
    db: Database, redis: Redis, merchant_id: MerchantId, key_id: KeyId, expires_in_seconds: int
) -> tuple[ApiKey, NewCredentials]:
    """A new key pair replacing `key_id`, which keeps working for `expires_in_seconds` (0: it
    stops at once, everywhere). A key rolled once is not rolled again: each roll would mint
    another usable key, past MAX_USABLE_KEYS."""
    credentials = generate_credentials()
    async with db.transaction() as conn:
        old = await repository.lock_key(conn, merchant_id, key_id)
        if old is None:
            raise KeyNotFound()
        status = old.status(datetime.now(UTC))
        if status in ("revoked", "expired"):
            raise KeyNotUsable()
        if status == "expiring":
            raise KeyAlreadyRolled()
        await repository.end_key(conn, key_id, revoke=False, expires_in_seconds=expires_in_seconds)
        new = await _insert_key(conn, merchant_id, credentials, old.label)
    if expires_in_seconds == 0:
        await announce_revocation(redis, merchant_id)
    return new, credentials


async def revoke_key(db: Database, redis: Redis, merchant_id: MerchantId, key_id: KeyId) -> ApiKey:
    """The key stops working at once, on every service (their caches are told)."""
    async with db.transaction() as conn:
        if await repository.lock_key(conn, merchant_id, key_id) is None:
            raise KeyNotFound()
        revoked = await repository.end_key(conn, key_id, revoke=True)
    await announce_revocation(redis, merchant_id)
    return revoked


async def set_currencies(
    db: Database, redis: Redis, merchant_id: MerchantId, currencies: list[str] | None
) -> Merchant:
    """The currencies the merchant's orders may be in (None: every one in use). The services
    drop their cached answers for the merchant at once, as for a revoked key."""
    async with db.transaction() as conn:
        merchant = await repository.set_currencies(conn, merchant_id, currencies)
    if merchant is None:
        raise MerchantNotFound()
    await announce_revocation(redis, merchant_id)
    return merchant


async def announce_revocation(redis: Redis, merchant_id: MerchantId) -> None:
    """Other services drop what they cached for this merchant (their TTL bounds a missed one)."""
    try:
        await redis.publish(REVOCATIONS, str(merchant_id))
    except (RedisError, OSError):
        log.warning(
            "revocation not announced; caches expire it", extra={"merchant": str(merchant_id)}
        )
