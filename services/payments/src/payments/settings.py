"""Configuration of the payments service (environment variables only; the contract's names)."""

from pydantic import Field

from kit.settings import CommaList, ServiceSettings


class Settings(ServiceSettings):
    merchants_url: str = "http://127.0.0.1:8101"
    orders_url: str = "http://127.0.0.1:8102"
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
    # A payment still pending this long after creation (or its last requeue) is processed again.
    processing_deadline_seconds: float = Field(default=60.0, gt=0)

    # Streams summed by GET /api/v1/test/jobs/status, and the workers it reports on.
    job_queues: CommaList = Field(
        default_factory=lambda: ["payments", "refunds", "webhooks", "orders"]
    )
    job_workers: CommaList = Field(default_factory=lambda: ["payments", "refunds", "webhooks"])
