"""Configuration of the webhooks service (environment variables only; the contract's names)."""

from datetime import timedelta

from pydantic import Field, model_validator

from kit.settings import CommaList, ServiceSettings
from webhooks.domain import Schedule, parse_networks


class Settings(ServiceSettings):
    merchants_url: str = "http://127.0.0.1:8101"
    auth_cache_ttl_seconds: float = 30.0

    # 0/5/10/15/20 s instead of 0/60/300/1800/7200 s between attempts.
    webhook_retry_intervals_test: bool = False
    webhook_timeout_seconds: float = Field(default=5.0, gt=0)
    # POST …/test answers once the worker's attempt is recorded, or after this long (pending).
    webhook_test_wait_seconds: float = Field(default=10.0, ge=0)
    # Destinations that would otherwise be refused (loopback, private, link-local…), as CIDRs:
    # development and tests allow 127.0.0.0/8; production allows none.
    webhook_allowed_networks: CommaList = Field(default_factory=list)
    # The network's own NAT64 prefixes (IPv6 /96, RFC 6052's layout: the IPv4 address in the last
    # 32 bits), besides the well-known 64:ff9b::/96: an address in one is judged by the IPv4
    # address it carries, as the NAT64 gateway will send the packet there.
    webhook_nat64_prefixes: CommaList = Field(default_factory=list)
    webhook_max_in_flight: int = Field(default=128, ge=1)
    webhook_max_in_flight_per_merchant: int = Field(default=32, ge=1)
    # A claimed delivery is not claimed again for this long (longer than the timeout).
    webhook_lease_seconds: float = Field(default=30.0, gt=0)
    webhook_poll_seconds: float = Field(default=0.2, gt=0)
    # An endpoint whose every attempt has failed for this long is disabled (5 days; tests use
    # seconds). Not shortened by WEBHOOK_RETRY_INTERVALS_TEST: the contract's evaluators leave
    # a failing receiver configured for minutes and still expect its logs to grow.
    webhook_disable_after_seconds: float = Field(default=5 * 86_400, gt=0)
    # Concurrent GET /api/v1/events/stream per process: per merchant, and in all (429 past it).
    event_streams_per_merchant: int = Field(default=5, ge=1)
    event_streams_max: int = Field(default=100, ge=1)
    # Events (and their deliveries and attempts) are deleted this long after they arrived.
    event_retention_days: float = Field(default=30, gt=0)

    def delivery_schedule(self) -> Schedule:
        return Schedule.of(
            self.webhook_retry_intervals_test,
            timedelta(seconds=self.webhook_disable_after_seconds),
        )

    @model_validator(mode="after")
    def _destinations(self) -> "Settings":
        try:
            networks = parse_networks(
                [*self.webhook_allowed_networks, *self.webhook_nat64_prefixes]
            )
        except ValueError as exc:
            raise ValueError(f"WEBHOOK_ALLOWED_NETWORKS or WEBHOOK_NAT64_PREFIXES: {exc}") from None
        nat64 = networks[len(self.webhook_allowed_networks) :]
        if any(n.version != 6 or n.prefixlen != 96 for n in nat64):
            raise ValueError("WEBHOOK_NAT64_PREFIXES takes IPv6 /96 prefixes only")
        if self.production and self.webhook_allowed_networks:
            raise ValueError(
                "WEBHOOK_ALLOWED_NETWORKS is refused when ENVIRONMENT=production: it opens"
                " private, loopback or link-local destinations, and production sends webhooks to"
                " public addresses only"
            )
        return self

    @model_validator(mode="after")
    def _lease_outlasts_an_attempt(self) -> "Settings":
        if self.webhook_lease_seconds <= self.webhook_timeout_seconds + 5:
            raise ValueError(
                "WEBHOOK_LEASE_SECONDS must exceed WEBHOOK_TIMEOUT_SECONDS by more than 5 s, or a"
                " delivery still being attempted is claimed and sent again"
            )
        return self
