"""Load the running gateway through the edge and print throughput and latency percentiles.

Start the stack first, in test mode with no processing delay:

    TEST_MODE=true TEST_PROCESSING_DELAY=0 make up      # terminal 1
    make bench                                          # terminal 2

Phases: create-order and create-payment at a fixed concurrency (closed loop), then payments
at a fixed arrival rate (open loop) whose creation → final-status times are read from the
payments database (both timestamps are the database's own clock).
"""

import argparse
import asyncio
import json
import os
import platform
import statistics
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp
import asyncpg

HEADERS = {"X-Api-Key": "key_test_abc123", "X-Api-Secret": "secret_test_xyz789"}


@dataclass
class Result:
    name: str
    latencies: list[float] = field(default_factory=list)
    errors: int = 0
    elapsed: float = 0.0

    def report(self) -> str:
        ok = len(self.latencies)
        if not ok:
            return f"{self.name:<16} no successful requests ({self.errors} errors)"
        q = statistics.quantiles(self.latencies, n=100, method="inclusive")
        return (
            f"{self.name:<16} {ok:>6} ok {self.errors:>4} err  {ok / self.elapsed:>7.0f} req/s"
            f"  p50 {q[49] * 1000:6.1f} ms  p95 {q[94] * 1000:6.1f} ms  p99 {q[98] * 1000:6.1f} ms"
        )


async def closed_loop(
    name: str, session: aiohttp.ClientSession, concurrency: int, requests: list[tuple[str, Any]]
) -> Result:
    """`concurrency` workers send the prepared requests back to back."""
    result = Result(name)
    queue = list(reversed(requests))

    async def worker() -> None:
        while queue:
            path, body = queue.pop()
            started = time.perf_counter()
            async with session.post(path, json=body, headers=HEADERS) as response:
                await response.read()
                if response.status == 201:
                    result.latencies.append(time.perf_counter() - started)
                else:
                    result.errors += 1

    started = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(concurrency)))
    result.elapsed = time.perf_counter() - started
    return result


async def create_orders(session: aiohttp.ClientSession, count: int, concurrency: int) -> list[str]:
    ids: list[str] = []
    queue = list(range(count))

    async def worker() -> None:
        while queue:
            queue.pop()
            async with session.post("/api/v1/orders", json={"amount": 50000}, headers=HEADERS) as r:
                ids.append((await r.json())["id"])

    await asyncio.gather(*(worker() for _ in range(concurrency)))
    return ids


async def open_loop(
    session: aiohttp.ClientSession, order_ids: list[str], rate: float
) -> tuple[list[str], float]:
    """Start one payment every 1/rate seconds, whatever the answers do; return their ids."""
    payment_ids: list[str] = []
    tasks = []

    async def one(order_id: str) -> None:
        body = {"order_id": order_id, "method": "upi", "vpa": "bench@upi"}
        async with session.post("/api/v1/payments", json=body, headers=HEADERS) as response:
            if response.status == 201:
                payment_ids.append((await response.json())["id"])

    started = time.perf_counter()
    for n, order_id in enumerate(order_ids):
        delay = started + n / rate - time.perf_counter()
        if delay > 0:
            await asyncio.sleep(delay)
        tasks.append(asyncio.create_task(one(order_id)))
    await asyncio.gather(*tasks)
    return payment_ids, time.perf_counter() - started


async def settle_times(
    database_url: str, payment_ids: list[str], timeout: float = 60
) -> list[float]:
    conn = await asyncpg.connect(database_url)
    try:
        deadline = time.monotonic() + timeout
        while True:
            rows = await conn.fetch(
                "SELECT status, extract(epoch FROM updated_at - created_at) AS seconds"
                " FROM payment WHERE id = ANY($1)",
                payment_ids,
            )
            if all(r["status"] != "pending" for r in rows) or time.monotonic() > deadline:
                return [float(r["seconds"]) for r in rows if r["status"] != "pending"]
            await asyncio.sleep(0.5)
    finally:
        await conn.close()


async def main(args: argparse.Namespace) -> None:
    connector = aiohttp.TCPConnector(limit=args.concurrency * 2)
    async with aiohttp.ClientSession(args.base_url, connector=connector) as session:
        print(f"machine: {platform.machine()}, {os.cpu_count()} cores, {platform.python_version()}")
        print(f"target: {args.base_url}, concurrency {args.concurrency}\n")
        warm = [("/api/v1/orders", {"amount": 100})] * 200
        await closed_loop("warm-up", session, args.concurrency, warm)

        orders = [
            ("/api/v1/orders", {"amount": 50000, "receipt": f"r{n}"}) for n in range(args.requests)
        ]
        print((await closed_loop("create-order", session, args.concurrency, orders)).report())

        order_ids = await create_orders(session, args.requests, args.concurrency)
        payments = [
            ("/api/v1/payments", {"order_id": o, "method": "upi", "vpa": "bench@upi"})
            for o in order_ids
        ]
        print((await closed_loop("create-payment", session, args.concurrency, payments)).report())

        count = int(args.rate * args.seconds)
        fresh = await create_orders(session, count, args.concurrency)
        await asyncio.sleep(2)  # let the previous phase's payments settle
        ids, elapsed = await open_loop(session, fresh, args.rate)
        times = await settle_times(args.database_url, ids)
        if len(times) > 1:
            q = [v * 1000 for v in statistics.quantiles(times, n=100, method="inclusive")]
            print(
                f"{'created→final':<16} {len(times):>6} of {count} at {len(ids) / elapsed:.0f}/s"
                f"  p50 {q[49]:6.1f} ms  p95 {q[94]:6.1f} ms  p99 {q[98]:6.1f} ms"
            )


def _payments_dsn() -> str | None:
    described = Path(__file__).resolve().parents[1] / ".run" / "stack.json"
    if not described.exists():
        return None
    return str(json.loads(described.read_text())["database_urls"]["payments"])


if __name__ == "__main__":
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawTextHelpFormatter
    )
    parser.add_argument("--base-url", default="http://127.0.0.1:8000")
    parser.add_argument(
        "--database-url",
        default=_payments_dsn(),
        help="the payments role's DSN (default: from .run/stack.json, written by make up)",
    )
    parser.add_argument("--concurrency", type=int, default=32)
    parser.add_argument("--requests", type=int, default=5000, help="per closed-loop phase")
    parser.add_argument("--rate", type=float, default=200, help="payments/s in the open-loop phase")
    parser.add_argument("--seconds", type=float, default=10, help="length of the open-loop phase")
    asyncio.run(main(parser.parse_args()))
