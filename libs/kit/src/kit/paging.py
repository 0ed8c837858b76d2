"""Paging of newest-first lists, one implementation for every service (issue 25).

Two ways to walk a list, both newest first (`created_at DESC, id DESC`):

- **offset** (the contract's): `limit` and `offset`, with the `total` of matching rows. Rows
  added while a client pages shift the pages: a row can repeat or be skipped.
- **cursor**: `starting_after=<id>` returns the rows after that one (older), `ending_before=<id>`
  the rows before it (newer). A page is anchored on a row, not a position: rows added meanwhile
  neither repeat nor go missing. No `total` (no count of the whole list per page).

Both take `created[gte|gt|lte|lt]` (ISO 8601) and answer `has_more`. The cursor is any row of
the list's owner (the merchant), whatever the other filters: a row whose status changed since
the last page still anchors the next one.
"""

import json
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Annotated, Any, Generic, TypeVar

import asyncpg
from fastapi import Depends, Query

from kit.errors import InvalidRequest
from kit.strings import Text

MAX_LIMIT = 100
MAX_OFFSET = 1_000_000


class InvalidPage(InvalidRequest):
    description = "Use either starting_after or ending_before, and no offset with them"


class UnknownCursor(InvalidRequest):
    description = "starting_after or ending_before names nothing in this list"


@dataclass(frozen=True)
class Page:
    """Which page of a list: by position (`offset`) or next to a row (the cursors)."""

    limit: int = 10
    offset: int = 0
    starting_after: str | None = None
    ending_before: str | None = None
    created_gte: datetime | None = None
    created_gt: datetime | None = None
    created_lte: datetime | None = None
    created_lt: datetime | None = None

    def __post_init__(self) -> None:
        if self.starting_after is not None and self.ending_before is not None:
            raise InvalidPage()
        if self.offset and self.cursor is not None:
            raise InvalidPage()

    @property
    def cursor(self) -> str | None:
        return self.starting_after if self.starting_after is not None else self.ending_before


def page_of(
    limit: Annotated[int, Query(ge=1, le=MAX_LIMIT)] = 10,
    offset: Annotated[int, Query(ge=0, le=MAX_OFFSET)] = 0,
    starting_after: Annotated[
        Text | None, Query(max_length=64, description="The page after this object (older)")
    ] = None,
    ending_before: Annotated[
        Text | None, Query(max_length=64, description="The page before this object (newer)")
    ] = None,
    created_gte: Annotated[datetime | None, Query(alias="created[gte]")] = None,
    created_gt: Annotated[datetime | None, Query(alias="created[gt]")] = None,
    created_lte: Annotated[datetime | None, Query(alias="created[lte]")] = None,
    created_lt: Annotated[datetime | None, Query(alias="created[lt]")] = None,
) -> Page:
    return Page(limit, offset, starting_after, ending_before,
                created_gte, created_gt, created_lte, created_lt)  # fmt: skip


PageQuery = Annotated[Page, Depends(page_of)]

_SCALAR = re.compile(r"-?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][-+]?[0-9]+)?|true|false")


@dataclass(frozen=True)
class NoteMatch:
    """`note=key:value` on a list of objects with notes (orders, payments, refunds): those
    whose notes hold `value` under `key`. The value matches a note stored as that text, and
    one stored as the number or `true`/`false` it spells."""

    key: str
    value: str

    def documents(self) -> tuple[dict[str, Any], dict[str, Any]]:
        """The notes this one is contained in: as text, and as the JSON scalar it spells."""
        typed = json.loads(self.value) if _SCALAR.fullmatch(self.value) else self.value
        return {self.key: self.value}, {self.key: typed}


def note_of(
    note: Annotated[
        Text | None,
        Query(
            max_length=769,
            pattern=r"^[^:]{1,256}:",
            description="`key:value`: only the objects whose notes hold this value under this"
            " key (a number or true/false also matches as typed)",
            examples=["invoice:INV-2026-0042"],
        ),
    ] = None,
) -> NoteMatch | None:
    if note is None:
        return None
    key, _, value = note.partition(":")
    return NoteMatch(key, value)


NoteQuery = Annotated[NoteMatch | None, Depends(note_of)]


@dataclass(frozen=True)
class Paged:
    """One page of rows, newest first."""

    rows: list[asyncpg.Record]
    has_more: bool
    total: int | None  # offset paging only

    def map(self, make: Callable[[asyncpg.Record], "T"]) -> "Listed[T]":
        return Listed([make(row) for row in self.rows], self.has_more, self.total)


T = TypeVar("T")


@dataclass(frozen=True)
class Listed(Generic[T]):
    """One page of domain objects, newest first."""

    items: list[T]
    has_more: bool
    total: int | None  # offset paging only

    def fields(self, page: Page) -> dict[str, Any]:
        """What every list answers besides `data`."""
        return {"total": self.total, "limit": page.limit, "offset": page.offset,
                "has_more": self.has_more}  # fmt: skip


async def fetch_page(
    conn: asyncpg.Connection,
    *,
    select: str,
    owner: str,
    owner_args: Sequence[Any],
    filters: str = "TRUE",
    filter_args: Sequence[Any] = (),
    page: Page,
    created: str = "created_at",
    note: NoteMatch | None = None,
) -> Paged:
    """`select` (`SELECT … FROM table`) one page of the rows of one `owner` (a condition on
    `$1…$k`, `owner_args`) that match `filters` (on `$k+1…`, `filter_args`) and `note` (on the
    `notes` column; a partial GIN index `USING gin (notes jsonb_path_ops) WHERE notes <>
    '{}'` serves it). A cursor must be a row of the owner's. `created` names the creation-time
    column: rows are ordered by it and `id`, both descending."""
    table = select.rsplit(" FROM ", 1)[1].split()[0]
    args = [*owner_args, *filter_args]

    def param(value: Any) -> str:
        args.append(value)
        return f"${len(args)}"

    conditions = [f"({owner})", f"({filters})"]
    if note is not None:
        as_text, as_typed = note.documents()
        conditions.append(
            f"notes <> '{{}}'::jsonb AND (notes @> {param(as_text)} OR notes @> {param(as_typed)})"
        )
    for op, value in ((">=", page.created_gte), (">", page.created_gt),
                      ("<=", page.created_lte), ("<", page.created_lt)):  # fmt: skip
        if value is not None:
            conditions.append(f"{created} {op} {param(value)}")
    newest_first = page.ending_before is None
    if page.cursor is not None:
        anchor = f"SELECT {created}, id FROM {table} WHERE id = {param(page.cursor)} AND {owner}"
        conditions.append(f"({created}, id) {'<' if newest_first else '>'} ({anchor})")
    where = " AND ".join(conditions)
    total = None
    if page.cursor is None:
        total = await conn.fetchval(f"SELECT count(*) FROM {table} WHERE {where}", *args)
    order = "DESC" if newest_first else "ASC"
    sql = f"{select} WHERE {where} ORDER BY {created} {order}, id {order}"
    sql += f" LIMIT {param(page.limit + 1)}"
    if page.cursor is None:
        sql += f" OFFSET {param(page.offset)}"
    try:
        rows = await conn.fetch(sql, *args)
    except asyncpg.DataError as exc:  # a cursor that cannot be an id of this list (not a UUID)
        if page.cursor is None:
            raise
        raise UnknownCursor() from exc
    has_more = len(rows) > page.limit
    rows = rows[: page.limit]
    if not newest_first:
        rows.reverse()
    if page.cursor is not None and not rows:
        number = len(owner_args) + 1
        known = await conn.fetchval(
            f"SELECT EXISTS (SELECT FROM {table} WHERE id = ${number} AND {owner})",
            *owner_args, page.cursor,
        )  # fmt: skip
        if not known:
            raise UnknownCursor()
    return Paged(rows, has_more, None if total is None else int(total))
