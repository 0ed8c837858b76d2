"""One database, and per service one role that owns one schema and can reach nothing else;
one Redis, and per service one ACL user that can reach its streams, channels and keys only.

`schema_sql` and `redis_acl` are the one definitions: `make up` and the tests run them, and
they are rendered into docker-compose's Postgres init script and Redis ACL file and the Helm
chart's development Postgres and Redis.
"""

import hashlib
import re
from urllib.parse import quote, urlsplit, urlunsplit

import asyncpg

_NAME = re.compile(r"^[a-z_][a-z0-9_]*$")


def _checked(*names: str) -> None:
    for name in names:
        if not _NAME.match(name):
            raise ValueError(f"bad identifier {name!r}")


def schema_sql(database: str, passwords: dict[str, str]) -> str:
    """Idempotent SQL, run in `database` by a superuser: roles, grants, schemas, search paths."""
    _checked(database, *passwords)
    statements = ["REVOKE ALL ON SCHEMA public FROM PUBLIC;"]
    for service, password in passwords.items():
        literal = password.replace("'", "''")
        statements += [
            f"DO $$ BEGIN IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = '{service}')"
            f" THEN CREATE ROLE \"{service}\" LOGIN PASSWORD '{literal}';"
            f" ELSE ALTER ROLE \"{service}\" LOGIN PASSWORD '{literal}'; END IF; END $$;",
            f'GRANT CONNECT ON DATABASE "{database}" TO "{service}";',
            f'CREATE SCHEMA IF NOT EXISTS "{service}" AUTHORIZATION "{service}";',
            f'ALTER ROLE "{service}" IN DATABASE "{database}" SET search_path = "{service}";',
            # A session stuck inside a transaction (a hung client) must not hold locks forever.
            f'ALTER ROLE "{service}" IN DATABASE "{database}"'
            " SET idle_in_transaction_session_timeout = '60s';",
        ]
    return "\n".join(statements) + "\n"


# What each service may touch in Redis (issue 23): its own stream and those it publishes to
# (payments' test-mode /api/v1/test/jobs/status counts every queue), its relay's wake-up
# channel, the key revocations channel, and the shared counters: rate limits, worker
# heartbeats, job counts. Nothing else: no other stream, no FLUSHALL, CONFIG, KEYS or ACL.
QUEUES = ("orders", "payments", "refunds", "webhooks")
REDIS_STREAMS = {
    "merchants": (),
    "orders": ("orders", "webhooks"),
    "payments": QUEUES,
    "refunds": ("refunds", "payments", "webhooks"),
    "webhooks": ("webhooks",),
}
REDIS_SHARED_KEYS = ("ratelimit:*", "gateway:worker:*", "gateway:jobs:*")
REDIS_OWN_KEYS = {"merchants": ("login-failures:*",)}
REDIS_COMMANDS = (
    "-@all +@read +@write +@stream +@pubsub +@connection +@transaction -@dangerous +info"
)


def redis_user_rules(service: str) -> str:
    """The ACL rules of `service`'s Redis user, after its password."""
    keys = (*REDIS_STREAMS[service], *REDIS_SHARED_KEYS, *REDIS_OWN_KEYS.get(service, ()))
    channels = (f"outbox:{service}", "auth:revocations")
    return " ".join(
        ["resetkeys", "resetchannels", *(f"~{k}" for k in keys), *(f"&{c}" for c in channels),
         REDIS_COMMANDS]
    )  # fmt: skip


def redis_acl(passwords: dict[str, str]) -> str:
    """A Redis ACL file (Redis 6.2+): `default` (the administrator: tools, tests, the probe)
    and one user per service, each with its password's SHA-256 only."""
    _checked(*passwords)
    lines = []
    for user, password in passwords.items():
        digest = hashlib.sha256(password.encode()).hexdigest()
        rules = "~* &* +@all" if user == "default" else redis_user_rules(user)
        lines.append(f"user {user} on #{digest} {rules}")
    return "\n".join(lines) + "\n"


def with_credentials(admin_url: str, user: str, password: str, database: str) -> str:
    parts = urlsplit(admin_url)
    host = parts.hostname or "127.0.0.1"
    netloc = f"{quote(user)}:{quote(password)}@{host}" + (f":{parts.port}" if parts.port else "")
    return urlunsplit((parts.scheme, netloc, f"/{database}", parts.query, ""))


def with_credentials_of_admin(admin_url: str, database: str) -> str:
    parts = urlsplit(admin_url)
    return urlunsplit((parts.scheme, parts.netloc, f"/{database}", parts.query, ""))


async def provision(
    admin_url: str, database: str, services: list[str], password: str
) -> dict[str, str]:
    """Create the database and each service's role and schema if missing; return their DSNs."""
    _checked(database, *services)
    admin = await asyncpg.connect(admin_url)
    try:
        if not await admin.fetchval("SELECT 1 FROM pg_database WHERE datname = $1", database):
            await admin.execute(f'CREATE DATABASE "{database}"')
    finally:
        await admin.close()
    db_admin = await asyncpg.connect(with_credentials_of_admin(admin_url, database))
    try:
        await db_admin.execute(schema_sql(database, dict.fromkeys(services, password)))
    finally:
        await db_admin.close()
    return {s: with_credentials(admin_url, s, password, database) for s in services}
