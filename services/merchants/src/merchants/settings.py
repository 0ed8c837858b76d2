"""Configuration of the merchants service (environment variables only)."""

from pydantic import SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict

from kit.settings import ServiceSettings


class Settings(ServiceSettings):
    session_ttl_seconds: int = 7200
    # Off (the spec's behaviour): a merchant without a password, such as the seeded test
    # merchant, logs in to the dashboard with any password. Turn on outside development.
    dashboard_require_password: bool = False


class TestMerchantSettings(BaseSettings):
    """The contract's seeded test merchant (`.env.example` names)."""

    model_config = SettingsConfigDict(extra="ignore", frozen=True)

    environment: str = "dev"  # not seeded when "production"
    test_merchant_email: str = "test@example.com"
    test_api_key: str = "key_test_abc123"
    test_api_secret: SecretStr = SecretStr("secret_test_xyz789")
