"""Settings every service shares; read from environment variables only."""

from typing import Annotated, Any, Literal
from urllib.parse import quote, urlsplit, urlunsplit

from pydantic import BeforeValidator, Field, SecretStr, model_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict


def _split_commas(value: object) -> object:
    if isinstance(value, str):
        return [part.strip() for part in value.split(",") if part.strip()]
    return value


# A list given in the environment as `a,b,c`.
CommaList = Annotated[list[str], NoDecode, BeforeValidator(_split_commas)]

LOOPBACK = ("127.0.0.0/8", "::1/128")

# Passwords this repository ships for development (devstack, compose, the kind values) and the
# usual guesses; production refuses to start with any of them.
KNOWN_DEFAULT_PASSWORDS = frozenset(
    {"gateway-dev", "gateway_pass", "postgres", "password", "changeme", "secret", "admin"}
)


NO_ENVIRONMENT = (
    "ENVIRONMENT must be set: production, or dev or test; a process that does not know where it"
    " runs does not start (it would run with development defaults)"
)


def is_known_default(password: str | None) -> bool:
    return password is not None and (
        password in KNOWN_DEFAULT_PASSWORDS or password.startswith("dev-")
    )


def with_password(url: str, password: str) -> str:
    """`url` with `password` (any characters, percent-encoded) in its user info."""
    parts = urlsplit(url)
    if parts.password is not None:
        raise ValueError("REDIS_URL already holds a password; do not set REDIS_PASSWORD as well")
    userinfo, _, hostport = parts.netloc.rpartition("@")
    netloc = f"{userinfo}:{quote(password, safe='')}@{hostport}"
    return urlunsplit(parts._replace(netloc=netloc))


class ServiceSettings(BaseSettings):
    """Base for each service's `Settings`; a service adds its own fields."""

    model_config = SettingsConfigDict(extra="ignore", frozen=True)

    database_url: SecretStr
    # libpq's PGPASSWORD: asyncpg uses it when DATABASE_URL holds no password (so a password
    # from a Secret needs no escaping). Read here only to refuse a development one in production.
    pgpassword: SecretStr | None = None
    redis_url: str = "redis://127.0.0.1:6379/0"
    # The Redis password, when REDIS_URL holds none: put into the URL percent-encoded.
    redis_password: SecretStr | None = None
    db_pool_min: int = 1
    db_pool_max: int = 10
    log_level: str = "INFO"
    # production: no test merchant, no /api/v1/test routes, no test mode, no default passwords.
    # Required: a process that does not know where it runs does not start (see `_where`).
    environment: Literal["dev", "test", "production"]
    # The contract's TEST_MODE (fixed processing delay and outcome); refused in production.
    test_mode: bool = False
    # Shared by the services: sent as X-Internal-Token on calls to /internal/v1/*, and required
    # there when set. Required in production.
    internal_token: SecretStr | None = None
    # Set by kit.serve: the port where alone /internal/v1/* answers (unset: any port, as in
    # tests that call the app in process).
    internal_port: Annotated[int | None, BeforeValidator(lambda v: v or None)] = None
    # Worker names whose heartbeat /health reports; empty means "this service has no worker".
    health_workers: CommaList = []
    # Workers serve Prometheus metrics on their own port (APIs serve /metrics on theirs).
    worker_metrics_port: int | None = None
    worker_metrics_addr: str = "0.0.0.0"  # noqa: S104 - containers must expose it to the scraper
    # A worker refreshes its heartbeat every third of this; silent longer, /health says stopped.
    worker_heartbeat_seconds: int = 15
    # A worker whose receive loop (or supervisor) made no progress for this long is stalled: its
    # /livez answers 503 and it stops beating its heartbeat. A busy worker reads again once a
    # task ends, so this must exceed TASK_TIMEOUT_SECONDS.
    worker_stall_seconds: float = 75.0
    # A request body larger than this is answered 413 before anything reads it.
    max_body_bytes: int = 64 * 1024
    # Requests per window: per merchant on authenticated routes, per client address on the
    # unauthenticated public ones (login, checkout). auto: on, except in test mode.
    rate_limits: Literal["auto", "on", "off"] = "auto"
    rate_limit_window_seconds: int = 60
    rate_limit_per_merchant: int = 6000
    rate_limit_per_address: int = 600
    # The proxies in front of the services (the edge, an ingress, the ui): only a peer in these
    # networks is believed when it names the client in X-Forwarded-For. Loopback by default (the
    # native stack); compose names its edge, the chart the pod network.
    trusted_proxy_networks: CommaList = Field(default_factory=lambda: list(LOOPBACK))
    # Redis-stream redelivery: a message unacknowledged this long is taken over by a live worker.
    # Must exceed the longest task, or a running task is started twice.
    queue_idle_timeout_ms: int = 60_000
    queue_reclaim_interval_seconds: float = 10.0
    # A task running longer is stopped and counted as failed (it must end before it is reclaimed).
    task_timeout_seconds: float = 30.0
    # A failed message is retried with exponential backoff from base (jittered, capped at max)
    # and becomes a dead letter after this many attempts in all.
    consumer_max_attempts: int = 8
    consumer_retry_base_seconds: float = 2.0
    consumer_retry_max_seconds: float = 600.0
    # A published outbox message whose stream entry is gone before its consumers acknowledged it
    # (Redis restarted without it, or flushed) is published again once it is this old.
    outbox_confirm_grace_seconds: float = 30.0
    # Every statement of a service's pool ends within these bounds (ADR 0011): a stuck query or
    # a lock held by a migration becomes an outage error (503; a task's message is redelivered,
    # not counted as failed) before the task's own deadline, never a hang. Unset: half and a
    # third of TASK_TIMEOUT_SECONDS (15 s and 10 s by default).
    db_statement_timeout_ms: int | None = Field(default=None, ge=1)
    db_lock_timeout_ms: int | None = Field(default=None, ge=1)
    # At most this many entries of one stream wait unacknowledged in Redis (ADR 0011): past it
    # the relay holds that stream's messages in the outbox until its consumer catches up, so a
    # stopped consumer fills neither Redis nor anyone else's stream.
    outbox_stream_window: int = Field(default=10_000, ge=1)
    # Stream messages are signed (kit.signing): this service's secret (32 bytes, base64), the
    # keys of the messages the services it takes messages from send it (`service=key,…`), and
    # whether an unsigned entry is refused (optional: only for the deploy from a version that
    # did not sign). Outside production, unset keys are development keys from service names.
    message_signing_key: SecretStr | None = None
    message_verify_keys: CommaList = []
    message_signatures: Literal["required", "optional"] = "required"

    @property
    def query_bounds_ms(self) -> tuple[int, int]:
        """(statement timeout, lock timeout) of every pooled connection, in milliseconds."""
        task_ms = int(self.task_timeout_seconds * 1000)
        return (
            self.db_statement_timeout_ms or max(1, task_ms // 2),
            self.db_lock_timeout_ms or max(1, task_ms // 3),
        )

    @property
    def production(self) -> bool:
        return self.environment == "production"

    @model_validator(mode="before")
    @classmethod
    def _where(cls, data: Any) -> Any:
        if isinstance(data, dict) and not data.get("environment"):
            raise ValueError(NO_ENVIRONMENT)
        return data

    @model_validator(mode="before")
    @classmethod
    def _redis_password_into_url(cls, data: Any) -> Any:
        if not isinstance(data, dict) or not data.get("redis_password"):
            return data
        password = data["redis_password"]
        if isinstance(password, SecretStr):
            password = password.get_secret_value()
        url = data.get("redis_url") or cls.model_fields["redis_url"].default
        return {**data, "redis_url": with_password(url, password)}

    @model_validator(mode="after")
    def _production_is_not_a_test_setup(self) -> "ServiceSettings":
        if not self.production:
            return self
        if self.test_mode:
            raise ValueError("TEST_MODE must be off when ENVIRONMENT=production")
        token = self.internal_token.get_secret_value() if self.internal_token else ""
        if len(token) < 32 or is_known_default(token):
            raise ValueError(
                "INTERNAL_TOKEN must be set to a random value of at least 32 characters when"
                " ENVIRONMENT=production"
            )
        pgpassword = self.pgpassword.get_secret_value() if self.pgpassword else None
        for name, password in (
            ("DATABASE_URL", urlsplit(self.database_url.get_secret_value()).password),
            ("PGPASSWORD", pgpassword),
            ("REDIS_URL", urlsplit(self.redis_url).password),
        ):
            if is_known_default(password):
                raise ValueError(
                    f"{name} uses a development default password; set a real one when"
                    " ENVIRONMENT=production"
                )
        if self.rate_limits == "off":
            raise ValueError("RATE_LIMITS=off is refused when ENVIRONMENT=production")
        return self

    @model_validator(mode="after")
    def _queries_end_before_tasks(self) -> "ServiceSettings":
        bounds = self.query_bounds_ms
        if any(b >= self.task_timeout_seconds * 1000 for b in bounds):
            raise ValueError(
                "DB_STATEMENT_TIMEOUT_MS and DB_LOCK_TIMEOUT_MS must be shorter than"
                " TASK_TIMEOUT_SECONDS, so a slow database is an outage, not a failed task"
            )
        return self

    @model_validator(mode="after")
    def _task_ends_before_reclaim(self) -> "ServiceSettings":
        if self.task_timeout_seconds * 1000 >= self.queue_idle_timeout_ms:
            raise ValueError(
                "TASK_TIMEOUT_SECONDS must be shorter than QUEUE_IDLE_TIMEOUT_MS, or a task that"
                " is still running is handed to another worker"
            )
        if self.worker_stall_seconds <= self.task_timeout_seconds:
            raise ValueError(
                "WORKER_STALL_SECONDS must exceed TASK_TIMEOUT_SECONDS, or a worker busy with"
                " long tasks is restarted as stalled"
            )
        return self
