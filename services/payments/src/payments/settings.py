"""Configuration of the payments service (environment variables only; the contract's names)."""

from pydantic import Field

from kit.settings import CommaList, ServiceSettings
from payments.domain import ProcessingRules


class Settings(ServiceSettings):
    merchants_url: str = "http://127.0.0.1:8101"
    auth_cache_ttl_seconds: float = 30.0

    # Processing, as the contract's .env.example names them (delays in milliseconds).
    test_payment_success: bool = True
    test_processing_delay: int = Field(default=1000, ge=0)
    upi_success_rate: float = Field(default=0.90, ge=0, le=1)
    card_success_rate: float = Field(default=0.95, ge=0, le=1)
    processing_delay_min: int = Field(default=5000, ge=0)
    processing_delay_max: int = Field(default=10000, ge=0)
    # An order takes no new payment while this many of its payments are still pending.
    max_pending_payments_per_order: int = Field(default=10, ge=1)

    # Streams summed by GET /api/v1/test/jobs/status, and the workers it reports on.
    job_queues: CommaList = Field(
        default_factory=lambda: ["payments", "refunds", "webhooks", "orders"]
    )
    job_workers: CommaList = Field(default_factory=lambda: ["payments", "refunds", "webhooks"])

    def processing_rules(self) -> ProcessingRules:
        return ProcessingRules(
            test_mode=self.test_mode,
            test_payment_success=self.test_payment_success,
            test_processing_delay_ms=self.test_processing_delay,
            upi_success_rate=self.upi_success_rate,
            card_success_rate=self.card_success_rate,
            delay_min_ms=self.processing_delay_min,
            delay_max_ms=self.processing_delay_max,
        )
