"""Settings every service shares; read from environment variables only."""

from typing import Annotated, Literal

from pydantic import SecretStr, field_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict


class ServiceSettings(BaseSettings):
    """Base for each service's `Settings`; a service adds its own fields."""

    model_config = SettingsConfigDict(extra="ignore", frozen=True)

    database_url: SecretStr
    redis_url: str = "redis://127.0.0.1:6379/0"
    db_pool_min: int = 1
    db_pool_max: int = 10
    log_level: str = "INFO"
    environment: Literal["dev", "test", "production"] = "dev"
    # Worker names whose heartbeat /health reports; empty means "this service has no worker".
    health_workers: Annotated[list[str], NoDecode] = []
    # Workers serve Prometheus metrics on their own port (APIs serve /metrics on theirs).
    worker_metrics_port: int | None = None
    worker_metrics_addr: str = "0.0.0.0"  # noqa: S104 - containers must expose it to the scraper
    # A worker refreshes its heartbeat every third of this; silent longer, /health says stopped.
    worker_heartbeat_seconds: int = 15

    @field_validator("health_workers", mode="before")
    @classmethod
    def _comma_separated(cls, value: object) -> object:
        if isinstance(value, str):
            return [part.strip() for part in value.split(",") if part.strip()]
        return value
