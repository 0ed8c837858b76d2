"""Operator commands.

python -m merchants.cli create-merchant --name N --email E [--password P]
"""

import argparse
import asyncio
import json
import sys

from kit.app import open_resources
from merchants import service
from merchants.settings import Settings


async def _create(name: str, email: str, password: str | None) -> dict[str, str]:
    settings = Settings()
    async with open_resources(settings) as resources:
        merchant, credentials = await service.create_merchant(resources.db, name, email, password)
    return {
        "id": str(merchant.id),
        "email": merchant.email,
        "api_key": credentials.api_key,
        "api_secret": credentials.api_secret,
        "webhook_secret": merchant.webhook_secret or "",
    }


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m merchants.cli")
    commands = parser.add_subparsers(dest="command", required=True)
    create = commands.add_parser(
        "create-merchant", help="onboard a merchant; prints its secret once"
    )
    create.add_argument("--name", required=True)
    create.add_argument("--email", required=True)
    create.add_argument("--password", help="dashboard password (optional)")
    args = parser.parse_args(argv)
    result = asyncio.run(_create(args.name, args.email, args.password))
    sys.stdout.write(json.dumps(result, indent=2) + "\n")


if __name__ == "__main__":
    main()
