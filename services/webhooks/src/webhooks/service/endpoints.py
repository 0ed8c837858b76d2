"""Endpoint use cases: the default one (the contract's config API) and the others."""

from collections.abc import Mapping, Sequence
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any
from uuid import UUID

from asyncpg import Connection

from kit.db import Database
from kit.ids import new_id
from webhooks import repository
from webhooks.domain import (
    MAX_ENDPOINTS,
    Credential,
    DefaultEndpointIsKept,
    Endpoint,
    EndpointChange,
    EndpointId,
    EndpointNotFound,
    TooManyEndpoints,
    check_url,
    event_filter,
    new_secret,
)


async def get_default_endpoint(db: Database, merchant_id: UUID) -> Endpoint:
    """The merchant's default endpoint, created with a new signing secret on first use (this
    service alone holds webhook secrets; the test merchant's is seeded)."""
    async with db.transaction() as conn:
        endpoint = await repository.get_default_endpoint(conn, merchant_id)
    if endpoint is not None:
        return endpoint
    async with db.transaction() as conn:
        return await repository.insert_default_endpoint(
            conn, merchant_id, EndpointId(new_id("ep_")), new_secret()
        )


async def _lock_default(conn: Connection, merchant_id: UUID) -> Endpoint:
    endpoint = await repository.lock_default_endpoint(conn, merchant_id)
    if endpoint is None:
        raise LookupError(f"default endpoint of {merchant_id} vanished")
    return endpoint


async def set_url(
    db: Database, merchant_id: UUID, url: str | None, by: Credential = "api_key"
) -> Endpoint:
    """Set (or, with None, clear) where the default endpoint's webhooks go. Saving a URL
    enables the default endpoint again if it was disabled: the contract's configuration has
    no other way to."""
    url = check_url(url)
    await get_default_endpoint(db, merchant_id)
    async with db.transaction() as conn:
        before = await _lock_default(conn, merchant_id)
        endpoint = replace(before, url=url)
        if url is not None and not endpoint.enabled:
            endpoint = endpoint.reenabled()
        await _record_url_change(conn, before, url, by)
        return await repository.update_endpoint(conn, endpoint)


async def _record_url_change(
    conn: Connection, before: Endpoint, url: str | None, by: Credential
) -> None:
    if url != before.url:
        change = EndpointChange(before.id, "url_changed", url, by, previous_url=before.url)
        await repository.record_change(conn, before.merchant_id, change)


async def regenerate_secret(
    db: Database, merchant_id: UUID, overlap: timedelta = timedelta(0), by: Credential = "api_key"
) -> Endpoint:
    """A new signing secret for the default endpoint; the old one keeps signing beside it for
    `overlap` (the contract's default: none, it stops at once)."""
    default = await get_default_endpoint(db, merchant_id)
    return await rotate_secret(db, merchant_id, default.id, overlap, by)


async def rotate_secret(
    db: Database,
    merchant_id: UUID,
    endpoint_id: str,
    overlap: timedelta,
    by: Credential = "api_key",
) -> Endpoint:
    """A new signing secret; during `overlap` deliveries carry a signature with each secret."""
    async with db.transaction() as conn:
        endpoint = await repository.lock_endpoint(conn, merchant_id, endpoint_id)
        if endpoint is None:
            raise EndpointNotFound()
        rotated = endpoint.rotated(new_secret(), datetime.now(UTC), overlap)
        change = EndpointChange(endpoint.id, "secret_rotated", endpoint.url, by)
        await repository.record_change(conn, merchant_id, change)
        return await repository.update_endpoint(conn, rotated)


async def list_endpoints(db: Database, merchant_id: UUID) -> list[Endpoint]:
    """Every endpoint of the merchant, the default one first."""
    await get_default_endpoint(db, merchant_id)
    async with db.transaction() as conn:
        return await repository.list_endpoints(conn, merchant_id)


async def get_endpoint(db: Database, merchant_id: UUID, endpoint_id: str) -> Endpoint:
    async with db.transaction() as conn:
        endpoint = await repository.get_endpoint(conn, merchant_id, endpoint_id)
    if endpoint is None:
        raise EndpointNotFound()
    return endpoint


async def create_endpoint(
    db: Database,
    merchant_id: UUID,
    url: str,
    description: str = "",
    event_types: Sequence[str] = (),
    enabled: bool = True,
    by: Credential = "api_key",
) -> Endpoint:
    """A new endpoint with its own signing secret (at most MAX_ENDPOINTS per merchant)."""
    endpoint = Endpoint(
        id=EndpointId(new_id("ep_")),
        merchant_id=merchant_id,
        url=check_url(url),
        secret=new_secret(),
        description=description,
        event_types=event_filter(event_types),
        enabled=enabled,
    )
    await get_default_endpoint(db, merchant_id)
    async with db.transaction() as conn:
        await _lock_default(conn, merchant_id)  # serialises the count below per merchant
        if len(await repository.list_endpoints(conn, merchant_id)) >= MAX_ENDPOINTS:
            raise TooManyEndpoints()
        change = EndpointChange(endpoint.id, "created", endpoint.url, by)
        await repository.record_change(conn, merchant_id, change)
        return await repository.insert_endpoint(conn, endpoint)


async def update_endpoint(
    db: Database,
    merchant_id: UUID,
    endpoint_id: str,
    changes: Mapping[str, Any],
    by: Credential = "api_key",
) -> Endpoint:
    """Change any of `url`, `description`, `event_types`, `enabled`; an endpoint disabled here
    stops at once (its pending deliveries fail)."""
    async with db.transaction() as conn:
        endpoint = await repository.lock_endpoint(conn, merchant_id, endpoint_id)
        if endpoint is None:
            raise EndpointNotFound()
        updated = endpoint.changed(changes, datetime.now(UTC))
        if endpoint.enabled and not updated.enabled:
            await repository.stop_pending_deliveries(conn, endpoint.id)
        await _record_url_change(conn, endpoint, updated.url, by)
        return await repository.update_endpoint(conn, updated)


async def enable_endpoint(
    db: Database, merchant_id: UUID, endpoint_id: str, replay: bool = False
) -> tuple[Endpoint, int]:
    """Enable an endpoint; with `replay`, also deliver what it missed while it failed or was
    disabled (every event it takes since then that it has not received). Returns the endpoint
    and how many deliveries were queued."""
    async with db.transaction() as conn:
        endpoint = await repository.lock_endpoint(conn, merchant_id, endpoint_id)
        if endpoint is None:
            raise EndpointNotFound()
        since = endpoint.missed_since()
        enabled = await repository.update_endpoint(conn, endpoint.reenabled())
        replayed = 0
        if replay and since is not None and enabled.url is not None:
            replayed = await repository.replay_missed(conn, enabled, since)
    return enabled, replayed


async def delete_endpoint(
    db: Database, merchant_id: UUID, endpoint_id: str, by: Credential = "api_key"
) -> None:
    """Delete an endpoint (not the default one); its deliveries stay in the logs, the pending
    ones failed."""
    async with db.transaction() as conn:
        endpoint = await repository.lock_endpoint(conn, merchant_id, endpoint_id)
        if endpoint is None:
            raise EndpointNotFound()
        if endpoint.is_default:
            raise DefaultEndpointIsKept()
        await repository.stop_pending_deliveries(conn, endpoint.id)
        await repository.delete_endpoint(conn, endpoint.id)
        change = EndpointChange(endpoint.id, "deleted", endpoint.url, by)
        await repository.record_change(conn, merchant_id, change)


async def list_changes(db: Database, merchant_id: UUID, limit: int) -> list[EndpointChange]:
    """The latest changes to the merchant's endpoints, newest first."""
    async with db.transaction() as conn:
        return await repository.list_changes(conn, merchant_id, limit)
