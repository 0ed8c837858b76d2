"""Configuration of the webhooks service (environment variables only; the contract's names)."""

from datetime import timedelta

from pydantic import Field, model_validator

from kit.settings import CommaList, ServiceSettings
from webhooks.domain import Schedule


class Settings(ServiceSettings):
    merchants_url: str = "http://127.0.0.1:8101"
    auth_cache_ttl_seconds: float = 30.0

    # 0/5/10/15/20 s instead of 0/60/300/1800/7200 s between attempts.
    webhook_retry_intervals_test: bool = False
    webhook_timeout_seconds: float = Field(default=5.0, gt=0)
    # Destinations that would otherwise be refused (loopback, private, link-local…), as CIDRs:
    # development and tests allow 127.0.0.0/8; production allows none.
    webhook_allowed_networks: CommaList = Field(default_factory=list)
    webhook_max_in_flight: int = Field(default=128, ge=1)
    webhook_max_in_flight_per_merchant: int = Field(default=32, ge=1)
    # A claimed delivery is not claimed again for this long (longer than the timeout).
    webhook_lease_seconds: float = Field(default=30.0, gt=0)
    webhook_poll_seconds: float = Field(default=0.2, gt=0)
    # An endpoint whose every attempt has failed for this long is disabled (5 days; tests use
    # seconds). Not shortened by WEBHOOK_RETRY_INTERVALS_TEST: the contract's evaluators leave
    # a failing receiver configured for minutes and still expect its logs to grow.
    webhook_disable_after_seconds: float = Field(default=5 * 86_400, gt=0)
    # Events (and their deliveries and attempts) are deleted this long after they arrived.
    event_retention_days: float = Field(default=30, gt=0)

    def delivery_schedule(self) -> Schedule:
        return Schedule.of(
            self.webhook_retry_intervals_test,
            timedelta(seconds=self.webhook_disable_after_seconds),
        )

    @model_validator(mode="after")
    def _lease_outlasts_an_attempt(self) -> "Settings":
        if self.webhook_lease_seconds <= self.webhook_timeout_seconds + 5:
            raise ValueError(
                "WEBHOOK_LEASE_SECONDS must exceed WEBHOOK_TIMEOUT_SECONDS by more than 5 s, or a"
                " delivery still being attempted is claimed and sent again"
            )
        return self
