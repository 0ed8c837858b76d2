"""Configuration of the refunds service (environment variables only; the contract's names)."""

from pydantic import Field

from kit.settings import ServiceSettings


class Settings(ServiceSettings):
    merchants_url: str = "http://127.0.0.1:8101"
    payments_url: str = "http://127.0.0.1:8103"
    auth_cache_ttl_seconds: float = 30.0

    # Processing (delays in milliseconds): 3 to 5 s, or exactly TEST_PROCESSING_DELAY in test mode.
    test_processing_delay: int = Field(default=1000, ge=0)
    refund_delay_min: int = Field(default=3000, ge=0)
    refund_delay_max: int = Field(default=5000, ge=0)
    # A refund still pending this long after creation (or its last requeue) is processed again.
    processing_deadline_seconds: float = Field(default=60.0, gt=0)
