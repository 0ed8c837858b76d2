"""A worker's probe server: `/livez` and `/readyz` from the progress its loops report, and
Prometheus `/metrics`, on `WORKER_METRICS_PORT`.

The server runs in a thread, so it answers even when the worker's event loop is blocked or its
receive loop hangs on a dead connection. That is why it must not answer "alive" by itself being
up: each loop the worker depends on marks its progress (the broker's receive loop after every
read, the supervisor on every round), and a loop silent for longer than its allowance turns
both probes into 503, so Kubernetes restarts the worker.
"""

import json
import logging
import threading
import time
from collections.abc import Callable
from http.server import ThreadingHTTPServer
from urllib.parse import urlsplit

from prometheus_client.exposition import MetricsHandler

log = logging.getLogger("kit.probes")

Clock = Callable[[], float]


class Liveness:
    """When each watched loop last made progress. Written from the event loop, read from the
    probe server's thread (single float stores: no lock needed)."""

    def __init__(self, allowance: float, clock: Clock = time.monotonic) -> None:
        self.allowance = allowance
        self.clock = clock
        self.marks: dict[str, float] = {}

    def watch(self, name: str) -> Callable[[], None]:
        """Start watching loop `name` (counted from now); returns its progress callback."""
        self.marks[name] = self.clock()

        def progress() -> None:
            self.marks[name] = self.clock()

        return progress

    def stalled(self) -> list[str]:
        """The loops silent for longer than the allowance."""
        now = self.clock()
        return sorted(n for n, last in list(self.marks.items()) if now - last > self.allowance)


class _Handler(MetricsHandler):
    liveness: Liveness

    def do_GET(self) -> None:
        path = urlsplit(self.path).path
        if path == "/metrics":
            super().do_GET()
            return
        if path not in ("/livez", "/readyz"):
            self._answer(404, {"status": "not found"})
            return
        stalled = self.liveness.stalled()
        if stalled:
            self._answer(503, {"status": "stalled", "stalled": stalled})
        else:
            self._answer(200, {"status": "ok"})

    def _answer(self, status: int, body: dict[str, object]) -> None:
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, format: str, *args: object) -> None:
        """Probes every few seconds are not worth a log line each."""


class ProbeServer(ThreadingHTTPServer):
    daemon_threads = True


def serve_probes(port: int, addr: str, liveness: Liveness) -> ProbeServer:
    """Serve /livez, /readyz and /metrics on `addr:port` from a daemon thread."""
    handler = type("ProbeHandler", (_Handler,), {"liveness": liveness})
    server = ProbeServer((addr, port), handler)
    threading.Thread(target=server.serve_forever, name="probes", daemon=True).start()
    return server
