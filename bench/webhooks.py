"""Webhook latency and throughput against the running gateway, with a receiver in this process.

    TEST_MODE=true TEST_PROCESSING_DELAY=0 WEBHOOK_RETRY_INTERVALS_TEST=true make up   # terminal 1
    make bench-webhooks                                                              # terminal 2

Phase 1 (`created→webhook`): payments at a fixed rate; for each, the time from sending the
create request to receiving its signed `payment.success` webhook, and the events/s received.
Phase 2 (`retry-throughput`): the receiver answers 500 to the first attempt of every event; the
deliveries/s that end in success once the retries (5 s later on the test schedule) come in.
Configures the seeded test merchant's webhook URL to this receiver (and leaves it there).
"""

import argparse
import asyncio
import hashlib
import hmac
import statistics
import time
from dataclasses import dataclass, field

import aiohttp
from aiohttp import web

HEADERS = {"X-Api-Key": "key_test_abc123", "X-Api-Secret": "secret_test_xyz789"}


@dataclass
class Receiver:
    secret: str = ""
    fail_first: bool = False
    seen: set[str] = field(default_factory=set)
    success_at: dict[str, float] = field(default_factory=dict)  # payment id -> arrival
    delivered: list[float] = field(default_factory=list)  # arrival of every 2xx answer
    bad_signatures: int = 0

    async def handle(self, request: web.Request) -> web.Response:
        body = await request.read()
        expected = hmac.new(self.secret.encode(), body, hashlib.sha256).hexdigest()
        if not hmac.compare_digest(expected, request.headers.get("X-Webhook-Signature", "")):
            self.bad_signatures += 1
            return web.Response(status=401)
        event_id = request.headers["webhook-id"]
        if self.fail_first and event_id not in self.seen:
            self.seen.add(event_id)
            return web.Response(status=500)
        now = time.perf_counter()
        self.delivered.append(now)
        payload = await request.json()
        if payload["event"] == "payment.success":
            self.success_at.setdefault(payload["data"]["payment"]["id"], now)
        return web.Response(text="ok")


def percentiles(values: list[float]) -> str:
    if len(values) < 2:
        return "too few samples"
    q = [v * 1000 for v in statistics.quantiles(values, n=100, method="inclusive")]
    return f"p50 {q[49]:7.1f} ms  p95 {q[94]:7.1f} ms  p99 {q[98]:7.1f} ms"


async def orders(session: aiohttp.ClientSession, count: int) -> list[str]:
    ids: list[str] = []
    todo = list(range(count))

    async def worker() -> None:
        while todo:
            todo.pop()
            async with session.post("/api/v1/orders", json={"amount": 1000}, headers=HEADERS) as r:
                ids.append((await r.json())["id"])

    await asyncio.gather(*(worker() for _ in range(16)))
    return ids


async def pay_at_rate(
    session: aiohttp.ClientSession, order_ids: list[str], rate: float
) -> dict[str, float]:
    sent: dict[str, float] = {}

    async def one(order_id: str) -> None:
        started = time.perf_counter()
        body = {"order_id": order_id, "method": "upi", "vpa": "bench@upi"}
        async with session.post("/api/v1/payments", json=body, headers=HEADERS) as response:
            if response.status == 201:
                sent[(await response.json())["id"]] = started

    begin = time.perf_counter()
    tasks = []
    for n, order_id in enumerate(order_ids):
        if (delay := begin + n / rate - time.perf_counter()) > 0:
            await asyncio.sleep(delay)
        tasks.append(asyncio.create_task(one(order_id)))
    await asyncio.gather(*tasks)
    return sent


async def settle(receiver: Receiver, expected: int, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while len(receiver.success_at) < expected and time.monotonic() < deadline:  # noqa: ASYNC110
        await asyncio.sleep(0.2)


async def main(args: argparse.Namespace) -> None:
    receiver = Receiver()
    app = web.Application()
    app.router.add_post("/webhook", receiver.handle)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", args.port).start()
    async with aiohttp.ClientSession(args.base_url) as session:
        config = {"webhook_url": f"http://127.0.0.1:{args.port}/webhook"}
        async with session.put("/api/v1/webhooks/config", json=config, headers=HEADERS) as r:
            receiver.secret = (await r.json())["webhook_secret"]

        count = int(args.rate * args.seconds)
        ids = await orders(session, count)
        begin = time.perf_counter()
        sent = await pay_at_rate(session, ids, args.rate)
        await settle(receiver, len(sent), 60)
        elapsed = time.perf_counter() - begin
        latencies = [
            receiver.success_at[p] - t for p, t in sent.items() if p in receiver.success_at
        ]
        events_per_second = len(receiver.delivered) / elapsed
        print(
            f"{'created→webhook':<18} {len(latencies)} of {count} payments at {args.rate:.0f}/s"
            f"  {percentiles(latencies)}  {events_per_second:.0f} events/s received"
        )

        receiver.fail_first, receiver.delivered = True, []
        receiver.success_at.clear()
        ids = await orders(session, count)
        begin = time.perf_counter()
        sent = await pay_at_rate(session, ids, args.rate)
        await settle(receiver, len(sent), 90)
        if receiver.delivered:
            window = max(receiver.delivered) - min(receiver.delivered)
            rate = len(receiver.delivered) / max(window, 1e-9)
            print(
                f"{'retry-throughput':<18} {len(receiver.delivered)} deliveries succeeded on their"
                f" second attempt, {rate:.0f}/s over {window:.1f} s;"
                f" {receiver.bad_signatures} bad signatures"
            )
    await runner.cleanup()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawTextHelpFormatter
    )
    parser.add_argument("--base-url", default="http://127.0.0.1:8000")
    parser.add_argument("--port", type=int, default=8999, help="the receiver's port")
    parser.add_argument("--rate", type=float, default=100, help="payments/s")
    parser.add_argument("--seconds", type=float, default=10)
    asyncio.run(main(parser.parse_args()))
