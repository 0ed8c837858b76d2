"""Configuration of the UI service (environment variables only)."""

import secrets
from typing import Any, Literal

from pydantic import Field, SecretStr, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from kit.settings import LOOPBACK, NO_ENVIRONMENT, CommaList, is_known_default


class Settings(BaseSettings):
    model_config = SettingsConfigDict(extra="ignore", frozen=True)

    api_url: str = "http://127.0.0.1:8000"  # the public API (the edge), as a merchant calls it
    # Public addresses, as a browser reaches them (links, the SDK's iframe, docs snippets).
    public_api_url: str = "http://localhost:8000"
    public_checkout_url: str = "http://localhost:3001"
    # The same variable as kit's ServiceSettings (the UI has no database, so not that class):
    # required, as there.
    environment: Literal["dev", "test", "production"]
    # Secure `__Host-` cookies (behind HTTPS); unset, true exactly in production.
    secure_cookies: bool = False
    # Signs the dashboard forms' CSRF tokens; required in production, random per process
    # otherwise (every process of one deployment must share it).
    csrf_secret: SecretStr = SecretStr("")
    log_level: str = "INFO"
    # The proxies in front of the ui (the edge): as kit's TRUSTED_PROXY_NETWORKS. The ui reads
    # the browser's address past them and names it, alone, to the API it calls.
    trusted_proxy_networks: CommaList = Field(default_factory=lambda: list(LOOPBACK))

    @model_validator(mode="before")
    @classmethod
    def _production_defaults(cls, data: Any) -> Any:
        if not isinstance(data, dict):
            return data
        if not data.get("environment"):
            raise ValueError(NO_ENVIRONMENT)
        production = data.get("environment") == "production"
        data = dict(data)
        if data.get("secure_cookies") in (None, ""):
            data["secure_cookies"] = production
        if not data.get("csrf_secret"):
            if production:
                raise ValueError("CSRF_SECRET must be set when ENVIRONMENT=production")
            data["csrf_secret"] = secrets.token_urlsafe(32)
        return data

    @model_validator(mode="after")
    def _secret_is_strong(self) -> "Settings":
        secret = self.csrf_secret.get_secret_value()
        if len(secret) < 32:
            raise ValueError("CSRF_SECRET must be at least 32 characters")
        if self.environment == "production" and (is_known_default(secret) or len(set(secret)) < 8):
            raise ValueError(
                "CSRF_SECRET is a development or example value; set a random one when"
                " ENVIRONMENT=production"
            )
        return self
