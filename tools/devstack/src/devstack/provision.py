"""One database, and per service one role that owns one schema and can reach nothing else."""

import re
from urllib.parse import quote, urlsplit, urlunsplit

import asyncpg

_NAME = re.compile(r"^[a-z_][a-z0-9_]*$")


def with_credentials(admin_url: str, user: str, password: str, database: str) -> str:
    parts = urlsplit(admin_url)
    host = parts.hostname or "127.0.0.1"
    netloc = f"{quote(user)}:{quote(password)}@{host}" + (f":{parts.port}" if parts.port else "")
    return urlunsplit((parts.scheme, netloc, f"/{database}", parts.query, ""))


async def provision(
    admin_url: str, database: str, services: list[str], password: str
) -> dict[str, str]:
    """Create the database and each service's role and schema if missing; return their DSNs."""
    for name in [database, *services]:
        if not _NAME.match(name):
            raise ValueError(f"bad identifier {name!r}")
    admin = await asyncpg.connect(admin_url)
    try:
        if not await admin.fetchval("SELECT 1 FROM pg_database WHERE datname = $1", database):
            await admin.execute(f'CREATE DATABASE "{database}"')
        for service in services:
            exists = await admin.fetchval("SELECT 1 FROM pg_roles WHERE rolname = $1", service)
            verb = "ALTER" if exists else "CREATE"
            # Identifiers are checked above; the password is a literal, so quote it.
            literal = password.replace("'", "''")
            await admin.execute(f"{verb} ROLE \"{service}\" LOGIN PASSWORD '{literal}'")
            await admin.execute(f'GRANT CONNECT ON DATABASE "{database}" TO "{service}"')
    finally:
        await admin.close()
    db_admin = await asyncpg.connect(with_credentials_of_admin(admin_url, database))
    try:
        await db_admin.execute("REVOKE ALL ON SCHEMA public FROM PUBLIC")
        for service in services:
            await db_admin.execute(
                f'CREATE SCHEMA IF NOT EXISTS "{service}" AUTHORIZATION "{service}"'
            )
            await db_admin.execute(
                f'ALTER ROLE "{service}" IN DATABASE "{database}" SET search_path = "{service}"'
            )
    finally:
        await db_admin.close()
    return {s: with_credentials(admin_url, s, password, database) for s in services}


def with_credentials_of_admin(admin_url: str, database: str) -> str:
    parts = urlsplit(admin_url)
    return urlunsplit((parts.scheme, parts.netloc, f"/{database}", parts.query, ""))
