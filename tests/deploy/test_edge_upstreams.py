"""The edge (Caddy, as `make up` and compose configure it) in front of an upstream that is down:
a restart within the retry window is absorbed, a longer outage is a 503 in the error shape,
never a bare 502."""

import json
import subprocess
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import httpx
import pytest

from devstack.edge import Route, RouteTable, caddy_config
from devstack.servers import free_port, wait_for_port
from devstack.stack import CADDY


class Hello(BaseHTTPRequestHandler):
    def do_POST(self) -> None:
        self.rfile.read(int(self.headers.get("Content-Length", 0)))
        body = b'{"ok": true}'
        self.send_response(201)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: object) -> None:
        pass


@pytest.fixture
def edge(tmp_path: Path) -> Iterator[tuple[str, int]]:
    """The edge on a free port, routing /api/ to an upstream port nothing listens on yet."""
    upstream, port = free_port(), free_port()
    table = RouteTable({"api": port}, [Route("api", "prefix", "/api/", "orders")])
    config = tmp_path / "caddy.json"
    config.write_text(json.dumps(caddy_config(table, {"orders": f"127.0.0.1:{upstream}"},
                                              {"api": port})))  # fmt: skip
    env = {"XDG_DATA_HOME": str(tmp_path), "XDG_CONFIG_HOME": str(tmp_path), "HOME": str(tmp_path)}
    log = tmp_path / "caddy.log"
    with open(log, "wb") as out:
        process = subprocess.Popen(
            [CADDY, "run", "--config", config], env=env, stdout=out, stderr=subprocess.STDOUT
        )
    try:
        wait_for_port(port, process, log)
        yield f"http://127.0.0.1:{port}", upstream
    finally:
        process.terminate()
        process.wait(timeout=30)


def test_an_upstream_that_stays_down_is_a_503_with_retry_after(edge: tuple[str, int]) -> None:
    url, _ = edge
    started = time.monotonic()
    response = httpx.post(f"{url}/api/v1/orders", json={"amount": 100}, timeout=60)
    assert response.status_code == 503
    assert response.headers["Retry-After"] == "1"
    assert response.json()["error"]["code"] == "SERVICE_UNAVAILABLE"
    assert time.monotonic() - started >= 4  # it was dialled again for the retry window


def test_an_upstream_back_within_the_retry_window_answers_the_request(
    edge: tuple[str, int],
) -> None:
    url, upstream = edge
    server = ThreadingHTTPServer(("127.0.0.1", upstream), Hello, bind_and_activate=False)
    server.allow_reuse_address = True

    def come_back() -> None:  # the process is back a second after the request arrived
        time.sleep(1.0)
        server.server_bind()
        server.server_activate()
        server.serve_forever()

    restart = threading.Thread(target=come_back)
    restart.start()
    try:
        response = httpx.post(f"{url}/api/v1/orders", json={"amount": 100}, timeout=60)
        assert (response.status_code, response.json()) == (201, {"ok": True})
    finally:
        server.shutdown()  # returns once serve_forever has run and stopped
        restart.join()
        server.server_close()
