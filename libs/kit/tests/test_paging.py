"""Paging on real Postgres: offset pages with a total, cursor pages that stay stable while rows
are added, both directions, creation-time filters, and the requests that are refused."""

from datetime import UTC, datetime, timedelta
from uuid import UUID, uuid4

import pytest

from kit.db import Database
from kit.paging import InvalidPage, Page, Paged, UnknownCursor, fetch_page

T0 = datetime(2026, 12, 1, tzinfo=UTC)


@pytest.fixture
async def things(scratch_db: Database) -> Database:
    async with scratch_db.transaction() as conn:
        await conn.execute(
            "CREATE TABLE IF NOT EXISTS thing (id text PRIMARY KEY, owner uuid NOT NULL,"
            " colour text NOT NULL, created_at timestamptz NOT NULL)"
        )
        await conn.execute("TRUNCATE thing")
    return scratch_db


async def add(db: Database, owner: UUID, n: int, colour: str = "red") -> None:
    """Thing `n` is created `n` minutes after T0; ids sort like their numbers."""
    async with db.transaction() as conn:
        await conn.execute(
            "INSERT INTO thing VALUES ($1, $2, $3, $4)",
            f"thing_{n:04d}", owner, colour, T0 + timedelta(minutes=n),
        )  # fmt: skip


async def page(db: Database, owner: UUID, colour: str | None = None, **how: object) -> Paged:
    async with db.transaction() as conn:
        return await fetch_page(
            conn,
            select="SELECT id, created_at FROM thing",
            owner="owner = $1",
            owner_args=[owner],
            filters="$2::text IS NULL OR colour = $2",
            filter_args=[colour],
            page=Page(**how),  # type: ignore[arg-type]
        )


def ids(paged: Paged) -> list[int]:
    return [int(r["id"].removeprefix("thing_")) for r in paged.rows]


async def test_offset_pages_are_newest_first_with_a_total(things: Database) -> None:
    owner = uuid4()
    for n in range(1, 6):
        await add(things, owner, n)
    await add(things, uuid4(), 9)  # someone else's
    first = await page(things, owner, limit=2)
    assert (ids(first), first.has_more, first.total) == ([5, 4], True, 5)
    last = await page(things, owner, limit=2, offset=4)
    assert (ids(last), last.has_more, last.total) == ([1], False, 5)


async def test_cursor_pages_neither_repeat_nor_skip_rows_added_while_paging(
    things: Database,
) -> None:
    owner = uuid4()
    for n in range(1, 6):
        await add(things, owner, n)
    first = await page(things, owner, limit=2)
    assert ids(first) == [5, 4]
    for n in (6, 7):  # newer rows arrive: an offset page 2 would repeat 5 and 4
        await add(things, owner, n)
    second = await page(things, owner, limit=2, starting_after=first.rows[-1]["id"])
    assert (ids(second), second.has_more, second.total) == ([3, 2], True, None)
    third = await page(things, owner, limit=2, starting_after=second.rows[-1]["id"])
    assert (ids(third), third.has_more) == ([1], False)
    newer = await page(things, owner, limit=2, ending_before=first.rows[0]["id"])
    assert (ids(newer), newer.has_more) == ([7, 6], False)  # still newest first
    closest = await page(things, owner, limit=1, ending_before=first.rows[0]["id"])
    assert (ids(closest), closest.has_more) == ([6], True)  # the rows next to the cursor


async def test_a_cursor_anchors_although_it_no_longer_matches_the_filters(
    things: Database,
) -> None:
    owner = uuid4()
    for n, colour in ((1, "red"), (2, "blue"), (3, "red"), (4, "red")):
        await add(things, owner, n, colour)
    first = await page(things, owner, colour="red", limit=1)
    assert ids(first) == [4]
    async with things.transaction() as conn:  # it changed colour since
        await conn.execute("UPDATE thing SET colour = 'blue' WHERE id = 'thing_0004'")
    after = await page(things, owner, colour="red", limit=5, starting_after="thing_0004")
    assert ids(after) == [3, 1]


async def test_creation_time_filters_bound_the_list_on_either_side(things: Database) -> None:
    owner = uuid4()
    for n in range(1, 6):
        await add(things, owner, n)
    at = {n: T0 + timedelta(minutes=n) for n in range(1, 6)}
    both = await page(things, owner, created_gte=at[2], created_lt=at[5])
    assert (ids(both), both.total) == ([4, 3, 2], 3)
    strict = await page(things, owner, created_gt=at[2], created_lte=at[4])
    assert ids(strict) == [4, 3]
    cursor = await page(things, owner, created_gt=at[1], starting_after="thing_0004")
    assert ids(cursor) == [3, 2]


async def test_an_unknown_or_foreign_cursor_and_mixed_paging_are_refused(
    things: Database,
) -> None:
    owner, other = uuid4(), uuid4()
    await add(things, owner, 1)
    await add(things, other, 2)
    with pytest.raises(UnknownCursor):
        await page(things, owner, starting_after="thing_9999")
    with pytest.raises(UnknownCursor):  # another owner's row is no cursor here
        await page(things, owner, ending_before="thing_0002")
    empty = await page(things, owner, starting_after="thing_0001")  # known, nothing older
    assert (ids(empty), empty.has_more) == ([], False)
    with pytest.raises(InvalidPage):
        Page(starting_after="thing_0001", ending_before="thing_0001")
    with pytest.raises(InvalidPage):
        Page(offset=10, starting_after="thing_0001")
