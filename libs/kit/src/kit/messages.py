"""Operator commands for a service's messages, run with that service's `DATABASE_URL`
(docs/operations.md):

python -m kit.messages list [--all]          dead letters (with --all: those still retrying too)
python -m kit.messages show MESSAGE_ID       one failed message: payload, attempts, last error
python -m kit.messages replay (MESSAGE_ID... | --all-dead)
                                             run dead letters again (the worker picks them up)
python -m kit.messages republish --since 2026-11-30T10:00:00Z
                                             publish every outbox message written since then
                                             again (consumers dedupe through their inbox)
"""

import argparse
import asyncio
import json
import os
import sys
from datetime import datetime
from typing import Any

import asyncpg

from kit import outbox
from kit.db import init_connection


async def list_failed(conn: asyncpg.Connection, include_retrying: bool) -> list[dict[str, Any]]:
    rows = await conn.fetch(
        "SELECT message_id, task_name, attempts, last_error, first_failed_at, last_failed_at,"
        " next_attempt_at, dead_at, parked_at FROM failed_message"
        " WHERE $1 OR dead_at IS NOT NULL OR parked_at IS NOT NULL ORDER BY last_failed_at DESC",
        include_retrying,
    )
    return [dict(r) for r in rows]


async def show(conn: asyncpg.Connection, message_id: str) -> list[dict[str, Any]]:
    rows = await conn.fetch("SELECT * FROM failed_message WHERE message_id = $1", message_id)
    return [dict(r) for r in rows]


async def replay(conn: asyncpg.Connection, message_ids: list[str] | None) -> int:
    """Make dead letters due now with a fresh attempt count; None: every dead letter."""
    result = await conn.execute(
        "UPDATE failed_message SET dead_at = NULL, attempts = 0, next_attempt_at = now()"
        " WHERE dead_at IS NOT NULL AND ($1::text[] IS NULL OR message_id = ANY($1))",
        message_ids,
    )
    return int(result.split()[-1])


async def _run(args: argparse.Namespace) -> Any:
    conn = await asyncpg.connect(os.environ["DATABASE_URL"])
    await init_connection(conn)
    try:
        if args.command == "list":
            return await list_failed(conn, args.all)
        if args.command == "show":
            return await show(conn, args.message_id)
        if args.command == "replay":
            ids = None if args.all_dead else args.message_ids
            return {"replayed": await replay(conn, ids)}
        since = datetime.fromisoformat(args.since)
        if since.tzinfo is None:
            raise SystemExit("--since needs a time zone, e.g. 2026-11-30T10:00:00Z")
        return {"republishing": await outbox.republish(conn, since)}
    finally:
        await conn.close()


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        prog="python -m kit.messages",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    commands = parser.add_subparsers(dest="command", required=True)
    listing = commands.add_parser("list", help="dead letters")
    listing.add_argument("--all", action="store_true", help="include messages still retrying")
    one = commands.add_parser("show", help="one failed message")
    one.add_argument("message_id")
    again = commands.add_parser("replay", help="run dead letters again")
    again.add_argument("message_ids", nargs="*")
    again.add_argument("--all-dead", action="store_true")
    republish = commands.add_parser("republish", help="publish outbox messages again")
    republish.add_argument("--since", required=True, help="ISO 8601 time with a zone")
    args = parser.parse_args(argv)
    if args.command == "replay" and not (args.message_ids or args.all_dead):
        parser.error("replay needs message ids or --all-dead")
    result = asyncio.run(_run(args))
    sys.stdout.write(json.dumps(result, indent=2, default=str) + "\n")


if __name__ == "__main__":
    main()
