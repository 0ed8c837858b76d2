"""A merchant's webhook endpoint for tests: a real HTTP server on loopback that records what
it receives and answers as told (e.g. 500 to the first N requests)."""

import json
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from tests.waits import eventually


@dataclass
class Received:
    at: float
    headers: dict[str, str]
    body: bytes

    @property
    def json(self) -> Any:
        return json.loads(self.body)


def payment_events(requests: list[Received]) -> set[tuple[str, str]]:
    """(payment id, event) of each payment webhook among `requests` (order.paid has no payment)."""
    bodies = [r.json for r in requests]
    return {(b["data"]["payment"]["id"], b["event"]) for b in bodies if "payment" in b["data"]}


@dataclass
class Receiver:
    url: str = ""
    requests: list[Received] = field(default_factory=list)
    fail_next: int = 0  # answer 500 to this many requests, then 200
    redirect_to: str | None = None  # answer 302 to this location instead
    delay: float = 0.0
    # Answer 500 to the first request of each webhook (by webhook-id) of these event types.
    fail_first_of: set[str] = field(default_factory=set)
    lock: threading.Lock = field(default_factory=threading.Lock)
    seen: set[str] = field(default_factory=set)

    def wait_for(self, count: int) -> list[Received]:
        def arrived() -> list[Received] | None:
            with self.lock:
                return list(self.requests) if len(self.requests) >= count else None

        return eventually(arrived, f"{count} webhooks at the receiver")


@contextmanager
def running_receiver() -> Iterator[Receiver]:
    receiver = Receiver()

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
            if receiver.delay:
                time.sleep(receiver.delay)
            with receiver.lock:
                receiver.requests.append(Received(time.monotonic(), dict(self.headers), body))
                failing = receiver.fail_next > 0
                receiver.fail_next -= 1 if failing else 0
                webhook_id = self.headers.get("webhook-id", "")
                if receiver.fail_first_of and webhook_id not in receiver.seen:
                    receiver.seen.add(webhook_id)
                    failing = failing or json.loads(body)["event"] in receiver.fail_first_of
            if receiver.redirect_to:
                self.send_response(302)
                self.send_header("Location", receiver.redirect_to)
                self.end_headers()
                return
            self.send_response(500 if failing else 200)
            self.send_header("Content-Type", "text/plain")
            self.end_headers()
            self.wfile.write(b"boom" if failing else b"ok")

        def log_message(self, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    receiver.url = f"http://127.0.0.1:{server.server_address[1]}/webhook"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield receiver
    finally:
        server.shutdown()
        server.server_close()
