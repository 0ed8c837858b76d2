"""One database, and per service one role that owns one schema and can reach nothing else.

`schema_sql` is the one definition: `make up` and the tests run it through `provision`, and it
is rendered into docker-compose's Postgres init script and the Helm chart's dev Postgres.
"""

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
