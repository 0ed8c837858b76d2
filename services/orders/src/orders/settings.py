"""Configuration of the orders service (environment variables only)."""

from kit.settings import ServiceSettings


class Settings(ServiceSettings):
    merchants_url: str = "http://127.0.0.1:8101"  # internal API used to check credentials
    auth_cache_ttl_seconds: float = 30.0
