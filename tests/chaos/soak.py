"""A soak with random faults: `make chaos-soak` (not part of `make test`).

Runs payments and refunds at a steady rate against a stack of its own for `--seconds` (600),
while faults land at random times drawn from a printed seed (`--seed` replays a run): SIGKILL of
a worker or an API process (restarted at once), Redis and Postgres restarted, Postgres frozen
(SIGSTOP) for a few seconds, and a table held by an ACCESS EXCLUSIVE lock as a migration would.
Then it lets things settle and checks every invariant, one line each, and exits 1 if any fails.
"""

import argparse
import asyncio
import contextlib
import os
import random
import secrets
import signal
import sys
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import asyncpg
import httpx

from devstack.edge import load_routes
from devstack.stack import Ports, Stack
from tests.chaos.environment import CHAOS_ENV
from tests.receiver import Receiver, running_receiver

HEADERS = {"X-Api-Key": "key_test_abc123", "X-Api-Secret": "secret_test_xyz789"}
FINAL = ("payment.success", "payment.failed")
SETTLE_SECONDS = 240.0


@dataclass
class Ledger:
    """What the load accepted and every status it was answered."""

    payments: dict[str, int] = field(default_factory=dict)  # id → amount
    refunds: dict[str, str] = field(default_factory=dict)  # id → payment id
    statuses: Counter[int] = field(default_factory=Counter)
    lock: threading.Lock = field(default_factory=threading.Lock)


def post(api: httpx.Client, ledger: Ledger, path: str, body: dict[str, Any]) -> Any:
    """POST with one Idempotency-Key until the gateway answers anything but 503 (or a lost
    connection); that answer's JSON if 201, else None."""
    headers = {**HEADERS, "Idempotency-Key": secrets.token_hex(12)}
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        try:
            answer = api.post(path, json=body, headers=headers)
        except httpx.HTTPError:
            time.sleep(0.5)
            continue
        with ledger.lock:
            ledger.statuses[answer.status_code] += 1
        if answer.status_code not in (502, 503):
            return answer.json() if answer.status_code == 201 else None
        time.sleep(0.5)
    return None


def load(api: httpx.Client, ledger: Ledger, rate: float, until: float, rng: random.Random) -> None:
    while time.monotonic() < until:
        started = time.monotonic()
        amount = rng.randrange(1_000, 100_000)
        order = post(api, ledger, "/api/v1/orders", {"amount": amount})
        if order is not None:
            body = {"order_id": order["id"], "method": "upi", "vpa": "soak@okbank"}
            if (payment := post(api, ledger, "/api/v1/payments", body)) is not None:
                with ledger.lock:
                    ledger.payments[payment["id"]] = amount
        with ledger.lock:
            paid = list(ledger.payments.items())
        if paid and rng.random() < 0.3:  # a partial refund of an earlier payment
            payment_id, total = rng.choice(paid)
            refund = post(
                api,
                ledger,
                f"/api/v1/payments/{payment_id}/refunds",
                {"amount": rng.randrange(1, total // 2)},
            )
            if refund is not None:
                with ledger.lock:
                    ledger.refunds[refund["id"]] = payment_id
        time.sleep(max(0.0, 1 / rate - (time.monotonic() - started)))


def postgres_pids(stack: Stack) -> list[int]:
    """The stack's Postgres server and its backends."""
    [server] = [s for s in stack.servers if s.url == stack.postgres_url]
    if server.process is None:
        raise RuntimeError("this stack uses a Postgres it did not start")
    root, found = server.process.pid, []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            with contextlib.suppress(OSError):
                parent = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
                if parent == root:
                    found.append(int(entry.name))
    return [root, *found]


def hold_lock(stack: Stack, seconds: float) -> None:
    async def run() -> None:
        conn = await asyncpg.connect(stack.database_urls["payments"])
        try:
            async with conn.transaction():
                await conn.execute("LOCK TABLE payment IN ACCESS EXCLUSIVE MODE")
                await asyncio.sleep(seconds)
        finally:
            await conn.close()

    asyncio.run(run())


def faults(stack: Stack, rng: random.Random) -> dict[str, Callable[[], None]]:
    def kill(name: str) -> Callable[[], None]:
        def run() -> None:
            stack.kill(name)
            stack.restart(name)

        return run

    def freeze() -> None:
        pids = postgres_pids(stack)
        for pid in pids:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGSTOP)
        time.sleep(rng.uniform(3, 10))
        for pid in pids:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGCONT)

    chosen = {f"SIGKILL {p.name}": kill(p.name) for p in stack.processes if "-" in p.name}
    return chosen | {
        "restart Redis": lambda: stack.restart_redis(down_for=rng.uniform(0.5, 3)),
        "restart Postgres": lambda: stack.restart_postgres(down_for=rng.uniform(0.5, 3)),
        "freeze Postgres": freeze,
        "lock the payment table": lambda: hold_lock(stack, rng.uniform(5, 20)),
    }


def inject(stack: Stack, rng: random.Random, until: float, log: list[str]) -> None:
    menu = faults(stack, rng)
    names = sorted(menu)
    while True:
        time.sleep(rng.uniform(5, 30))
        if time.monotonic() >= until:
            return
        name = rng.choice(names)
        started = time.monotonic()
        menu[name]()
        log.append(f"{time.strftime('%H:%M:%S')} {name} ({time.monotonic() - started:.1f} s)")
        print(f"  fault: {log[-1]}", flush=True)


async def database_facts(stack: Stack) -> tuple[int, int]:
    """(dead letters, outbox messages not yet confirmed) over every service."""
    dead = unconfirmed = 0
    for service in ("orders", "payments", "refunds", "webhooks"):
        conn = await asyncpg.connect(stack.database_urls[service])
        try:
            dead += await conn.fetchval(
                "SELECT count(*) FROM failed_message WHERE dead_at IS NOT NULL"
            )
            unconfirmed += await conn.fetchval(
                "SELECT count(*) FROM outbox WHERE confirmed_at IS NULL"
            )
        finally:
            await conn.close()
    return dead, unconfirmed


def settle(check: Callable[[], bool]) -> bool:
    deadline = time.monotonic() + SETTLE_SECONDS
    while time.monotonic() < deadline:
        if check():
            return True
        time.sleep(1)
    return check()


def invariants(stack: Stack, api: httpx.Client, ledger: Ledger, receiver: Receiver) -> list[str]:
    """One line per invariant: PASS or FAIL, with what was counted."""
    lines: list[str] = []

    def line(ok: bool, text: str) -> None:
        lines.append(f"{'PASS' if ok else 'FAIL'} {text}")

    def payment(pid: str) -> dict[str, Any]:
        return api.get(f"/api/v1/payments/{pid}", headers=HEADERS).json()  # type: ignore[no-any-return]

    def all_final() -> bool:
        return all(payment(p)["status"] != "pending" for p in ledger.payments)

    def all_processed() -> bool:
        return all(
            api.get(f"/api/v1/refunds/{r}", headers=HEADERS).json()["status"] == "processed"
            for r in ledger.refunds
        )

    final = settle(all_final)
    line(final, f"every accepted payment is final ({len(ledger.payments)} payments)")
    line(settle(all_processed), f"every accepted refund is processed ({len(ledger.refunds)})")

    def finals_arrived() -> bool:
        with receiver.lock:
            seen = {
                (r.json["data"]["payment"]["id"])
                for r in receiver.requests
                if r.json["event"] in FINAL
            }
        return set(ledger.payments) <= seen

    settle(finals_arrived)
    with receiver.lock:
        requests = list(receiver.requests)
    per_payment: dict[str, list[tuple[str, str]]] = {p: [] for p in ledger.payments}
    for request in requests:
        data = request.json["data"]
        if "payment" in data and data["payment"]["id"] in per_payment:
            per_payment[data["payment"]["id"]].append(
                (request.json["event"], request.headers["webhook-id"])
            )
    one_final = [p for p, got in per_payment.items() if len({w for e, w in got if e in FINAL}) == 1]
    line(
        len(one_final) == len(per_payment),
        f"exactly one final webhook (one webhook-id) per payment: {len(one_final)} of"
        f" {len(per_payment)}",
    )
    order = {"payment.created": 1, "payment.pending": 2, **dict.fromkeys(FINAL, 3)}
    places = {p: [order[e] for e, _ in got if e in order] for p, got in per_payment.items()}
    in_order = [p for p, seen in places.items() if seen == sorted(seen)]
    line(
        len(in_order) == len(per_payment),
        f"each payment's webhooks arrived in order: {len(in_order)} of {len(per_payment)}",
    )
    over = []
    for pid, amount in ledger.payments.items():
        refunds = api.get(f"/api/v1/payments/{pid}/refunds", headers=HEADERS).json()["data"]
        if sum(r["amount"] for r in refunds) > amount:
            over.append(pid)
    line(not over, f"refunds never above the amount ({len(over)} payments over)")
    bad = {s: n for s, n in ledger.statuses.items() if s >= 500 and s != 503}
    line(not bad, f"no 5xx but 503 (answers: {dict(sorted(ledger.statuses.items()))})")
    dead, _ = asyncio.run(database_facts(stack))
    line(dead == 0, f"no dead letters ({dead})")

    def confirmed() -> bool:
        return asyncio.run(database_facts(stack))[1] == 0

    settled = settle(confirmed)
    left = asyncio.run(database_facts(stack))[1]
    line(settled, f"every outbox message confirmed ({left} not yet)")
    return lines


@contextlib.contextmanager
def soak_stack() -> Iterator[Stack]:
    table = load_routes()
    services = ["merchants", *(s for s in table.services if s != "merchants")]
    with tempfile.TemporaryDirectory(prefix="soak-") as work:
        stack = Stack(
            Path(work),
            Ports.free(table, services),
            table,
            database=f"gw_soak_{secrets.token_hex(4)}",
            durable=True,
            extra_env=CHAOS_ENV,
        )
        stack.start()
        try:
            yield stack
        finally:
            stack.stop()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=600)
    parser.add_argument("--rate", type=float, default=4.0, help="orders with payments per second")
    parser.add_argument("--seed", type=int, default=secrets.randbelow(2**31))
    args = parser.parse_args()
    print(f"chaos soak: {args.seconds:.0f} s at {args.rate}/s, seed {args.seed}", flush=True)
    rng = random.Random(args.seed)
    ledger, log = Ledger(), list[str]()
    with (
        soak_stack() as stack,
        running_receiver() as receiver,
        httpx.Client(base_url=stack.url("api"), timeout=30) as api,
    ):
        configured = api.put(
            "/api/v1/webhooks/config", json={"webhook_url": receiver.url}, headers=HEADERS
        )
        configured.raise_for_status()
        until = time.monotonic() + args.seconds
        loads = threading.Thread(target=load, args=(api, ledger, args.rate, until, rng))
        loads.start()
        inject(stack, random.Random(args.seed + 1), until, log)
        loads.join()
        print(
            f"{len(log)} faults; load done: {len(ledger.payments)} payments,"
            f" {len(ledger.refunds)} refunds; settling",
            flush=True,
        )
        lines = invariants(stack, api, ledger, receiver)
    for text in lines:
        print(text)
    sys.exit(0 if all(t.startswith("PASS") for t in lines) else 1)


if __name__ == "__main__":
    main()
