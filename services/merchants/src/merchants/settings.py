"""Configuration of the merchants service (environment variables only)."""

from pydantic import Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict

from kit.settings import ServiceSettings


class Settings(ServiceSettings):
    session_ttl_seconds: int = 7200
    # After this many failed logins of one email within the window, it is refused (429) until
    # the window ends.
    login_max_failures: int = 10
    login_failure_window_seconds: int = 900
    # Passwords checked at once (scrypt: ~50 ms of a core and 16 MiB each); a login beyond it is
    # answered 429 with Retry-After: 1.
    login_concurrent_checks: int = Field(default=2, ge=1)

    @property
    def test_setup(self) -> bool:
        """Anything but production (which refuses TEST_MODE and has no test merchant): the
        seeded test merchant, which has no password, then logs in to the dashboard with any
        password, as the contract says, whether TEST_MODE is on or off."""
        return not self.production


class TestMerchantSettings(BaseSettings):
    """The contract's seeded test merchant (`.env.example` names)."""

    model_config = SettingsConfigDict(extra="ignore", frozen=True)

    environment: str  # not seeded when "production"; required, as for every process
    test_merchant_email: str = "test@example.com"
    test_api_key: str = "key_test_abc123"
    test_api_secret: SecretStr = SecretStr("secret_test_xyz789")
