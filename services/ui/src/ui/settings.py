"""Configuration of the UI service (environment variables only)."""

from pydantic_settings import BaseSettings, SettingsConfigDict


class Settings(BaseSettings):
    model_config = SettingsConfigDict(extra="ignore", frozen=True)

    api_url: str = "http://127.0.0.1:8000"  # the public API (the edge), as a merchant calls it
    # Public addresses, as a browser reaches them (links, the SDK's iframe, docs snippets).
    public_api_url: str = "http://localhost:8000"
    public_checkout_url: str = "http://localhost:3001"
    secure_cookies: bool = False  # true behind HTTPS
    log_level: str = "INFO"
