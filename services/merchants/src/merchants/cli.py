"""Operator commands.

python -m merchants.cli create-merchant --name N --email E [--password P]

Every merchant gets a dashboard password: `--password` (12+ characters), or else a generated
one, printed once in the output (as the API secret is).
"""

import argparse
import asyncio
import json
import sys

from kit.app import open_resources
from merchants import service
from merchants.domain import generate_password
from merchants.settings import Settings

MIN_PASSWORD_LENGTH = 12


async def _create(name: str, email: str, password: str) -> dict[str, str]:
    settings = Settings()
    async with open_resources(settings) as resources:
        merchant, credentials = await service.create_merchant(resources.db, name, email, password)
    return {
        "id": str(merchant.id),
        "email": merchant.email,
        "api_key": credentials.api_key,
        "api_secret": credentials.api_secret,
    }


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m merchants.cli")
    commands = parser.add_subparsers(dest="command", required=True)
    create = commands.add_parser(
        "create-merchant",
        help="onboard a merchant; prints its secret (and any generated password) once",
    )
    create.add_argument("--name", required=True)
    create.add_argument("--email", required=True)
    create.add_argument(
        "--password",
        help=f"dashboard password, {MIN_PASSWORD_LENGTH}+ characters (omitted: one is generated"
        " and printed once)",
    )
    args = parser.parse_args(argv)
    if args.password is not None and len(args.password) < MIN_PASSWORD_LENGTH:
        create.error(f"--password needs at least {MIN_PASSWORD_LENGTH} characters")
    password = args.password or generate_password()
    result = asyncio.run(_create(args.name, args.email, password))
    if args.password is None:
        result["password"] = password
        sys.stderr.write("A dashboard password was generated: save it, it is not shown again.\n")
    sys.stdout.write(json.dumps(result, indent=2) + "\n")


if __name__ == "__main__":
    main()
