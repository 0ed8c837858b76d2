from datetime import timedelta
from uuid import UUID

import pytest

from kit.auth import Credentials
from kit.db import Database
from merchants import service
from merchants.domain import TEST_MERCHANT_ID, EmailTaken, LoginFailed

TEST_KEY, TEST_SECRET = "key_test_abc123", "secret_test_xyz789"
HOUR = timedelta(hours=1)


class TestAuthenticate:
    async def test_seeded_test_merchant_authenticates_with_its_key_pair(self, db: Database) -> None:
        principal = await service.authenticate(db, Credentials(TEST_KEY, TEST_SECRET))
        assert principal is not None
        assert (principal.merchant_id, principal.credential) == (TEST_MERCHANT_ID, "api_key")

    @pytest.mark.parametrize(
        "credentials",
        [
            Credentials(TEST_KEY, "secret_test_xyz788"),
            Credentials("key_unknown", TEST_SECRET),
            Credentials(TEST_KEY, None),
            Credentials(session_token="no-such-session"),
            Credentials(),
        ],
    )
    async def test_anything_else_is_refused(self, db: Database, credentials: Credentials) -> None:
        assert await service.authenticate(db, credentials) is None

    async def test_deactivated_merchant_is_refused(self, db: Database) -> None:
        async with db.transaction() as conn:
            await conn.execute(
                "UPDATE merchant SET is_active = false WHERE id = $1", TEST_MERCHANT_ID
            )
        assert await service.authenticate(db, Credentials(TEST_KEY, TEST_SECRET)) is None


class TestSessions:
    async def test_login_opens_a_session_that_authenticates_until_logout(
        self, db: Database, throttle: service.LoginThrottle
    ) -> None:
        session = await service.log_in(
            db, "TEST@example.com", "any", ttl=HOUR, test_setup=True, throttle=throttle
        )
        assert session.merchant.id == TEST_MERCHANT_ID
        principal = await service.authenticate(db, Credentials(session_token=session.token))
        assert principal is not None
        assert principal.credential == "session"
        await service.log_out(db, throttle.redis, session.token)
        assert await service.authenticate(db, Credentials(session_token=session.token)) is None

    async def test_session_token_is_stored_only_as_a_hash(
        self, db: Database, throttle: service.LoginThrottle
    ) -> None:
        session = await service.log_in(
            db, "test@example.com", "x", ttl=HOUR, test_setup=True, throttle=throttle
        )
        async with db.transaction() as conn:
            dump = str(await conn.fetch("SELECT * FROM dashboard_session"))
        assert session.token not in dump

    async def test_expired_session_no_longer_authenticates(
        self, db: Database, throttle: service.LoginThrottle
    ) -> None:
        session = await service.log_in(
            db, "test@example.com", "x", ttl=-HOUR, test_setup=True, throttle=throttle
        )
        assert await service.authenticate(db, Credentials(session_token=session.token)) is None

    async def test_unknown_email_and_the_test_merchant_outside_a_test_setup_fail(
        self, db: Database, throttle: service.LoginThrottle
    ) -> None:
        with pytest.raises(LoginFailed):
            await service.log_in(
                db, "nobody@example.com", "x", ttl=HOUR, test_setup=True, throttle=throttle
            )
        with pytest.raises(LoginFailed):
            await service.log_in(
                db, "test@example.com", "x", ttl=HOUR, test_setup=False, throttle=throttle
            )

    async def test_another_merchant_without_a_password_never_logs_in(
        self, db: Database, throttle: service.LoginThrottle
    ) -> None:
        await service.create_merchant(db, "Shop", "nopw@example.com", None)
        for password in ("", "x"):
            with pytest.raises(LoginFailed):
                await service.log_in(
                    db, "nopw@example.com", password, ttl=HOUR, test_setup=True, throttle=throttle
                )


class TestCreateMerchant:
    async def test_new_merchant_authenticates_and_its_secret_is_not_stored(
        self, db: Database, throttle: service.LoginThrottle
    ) -> None:
        merchant, creds = await service.create_merchant(db, "Shop", "shop@example.com", "pw-123456")
        principal = await service.authenticate(db, Credentials(creds.api_key, creds.api_secret))
        assert principal is not None
        assert principal.merchant_id == merchant.id
        async with db.transaction() as conn:
            dump = str(await conn.fetch("SELECT * FROM merchant"))
        assert creds.api_secret not in dump
        assert "pw-123456" not in dump
        session = await service.log_in(
            db, "shop@example.com", "pw-123456", ttl=HOUR, test_setup=False, throttle=throttle
        )
        assert isinstance(session.merchant.id, UUID)

    async def test_email_is_unique_ignoring_case(self, db: Database) -> None:
        with pytest.raises(EmailTaken):
            await service.create_merchant(db, "Copy", "Test@Example.com", None)
