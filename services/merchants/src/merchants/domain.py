"""Merchants and their credentials. No I/O."""

import hashlib
import hmac
import secrets
from dataclasses import dataclass
from datetime import datetime
from typing import NewType
from uuid import UUID

from kit.errors import Conflict, NotFound, Unauthenticated

MerchantId = NewType("MerchantId", UUID)

TEST_MERCHANT_ID = MerchantId(UUID("550e8400-e29b-41d4-a716-446655440000"))
TEST_MERCHANT_NAME = "Test Merchant"

_SCRYPT = {"n": 2**14, "r": 8, "p": 1}


@dataclass(frozen=True)
class Merchant:
    id: MerchantId
    name: str
    email: str
    api_key: str | None  # the newest usable one, shown on the profile
    password_hash: str | None
    is_active: bool
    created_at: datetime
    updated_at: datetime
    currencies: list[str] | None = None  # the orders' allow-list; None: every currency in use


@dataclass(frozen=True)
class NewCredentials:
    api_key: str
    api_secret: str


KeyId = NewType("KeyId", UUID)
MAX_USABLE_KEYS = 10


@dataclass(frozen=True)
class ApiKey:
    id: KeyId
    merchant_id: MerchantId
    key: str
    label: str
    created_at: datetime
    expires_at: datetime | None
    revoked_at: datetime | None

    def status(self, now: datetime) -> str:
        if self.revoked_at is not None:
            return "revoked"
        if self.expires_at is not None:
            return "expiring" if self.expires_at > now else "expired"
        return "active"


@dataclass(frozen=True)
class KeyCheck:
    """What authenticating with a key needs to know."""

    merchant_id: MerchantId
    secret_hash: str
    usable: bool  # neither revoked nor expired, and its merchant is active
    currencies: list[str] | None = None


class KeyNotFound(NotFound):
    description = "API key not found"


class TooManyKeys(Conflict):
    description = f"A merchant has at most {MAX_USABLE_KEYS} usable API keys; revoke one first"


class KeyNotUsable(Conflict):
    description = "This API key is already revoked or expired"


class KeyAlreadyRolled(Conflict):
    description = "This API key was already rolled; roll or revoke its replacement, or revoke it"


class MerchantNotFound(NotFound):
    description = "Merchant not found"


class EmailTaken(Conflict):
    description = "A merchant with this email already exists"


class LoginFailed(Unauthenticated):
    description = "Invalid email or password"


def hash_secret(secret: str) -> str:
    """API secrets are 32+ random characters, so one SHA-256 is enough (no stretching)."""
    return hashlib.sha256(secret.encode()).hexdigest()


def secret_matches(secret: str, stored_hash: str) -> bool:
    return hmac.compare_digest(hash_secret(secret), stored_hash)


def generate_credentials() -> NewCredentials:
    return NewCredentials("key_" + secrets.token_hex(12), "secret_" + secrets.token_urlsafe(32))


def generate_session_token() -> str:
    return secrets.token_urlsafe(32)


def generate_password() -> str:
    """A dashboard password for an operator to hand over: 144 random bits."""
    return secrets.token_urlsafe(18)


def hash_password(password: str) -> str:
    salt = secrets.token_bytes(16)
    digest = hashlib.scrypt(password.encode(), salt=salt, **_SCRYPT)
    return f"scrypt${salt.hex()}${digest.hex()}"


def password_matches(password: str, stored: str) -> bool:
    scheme, salt, digest = stored.split("$")
    if scheme != "scrypt":
        return False
    candidate = hashlib.scrypt(password.encode(), salt=bytes.fromhex(salt), **_SCRYPT)
    return hmac.compare_digest(candidate.hex(), digest)


# Checked when there is no password to check, so an unknown email takes as long as a wrong password.
_NO_PASSWORD = hash_password(secrets.token_urlsafe(16))


def may_log_in(merchant: Merchant | None, password: str, *, test_setup: bool) -> bool:
    """Dashboard rule: the password when one is set. Without one, only the seeded test merchant
    in a test setup logs in (with any password); any other merchant never does."""
    if merchant is None or merchant.password_hash is None:
        password_matches(password, _NO_PASSWORD)  # the same work either way
        if merchant is None:
            return False
        return merchant.is_active and test_setup and merchant.id == TEST_MERCHANT_ID
    return password_matches(password, merchant.password_hash) and merchant.is_active
