"""`python -m devstack up` runs the gateway in the foreground; `down` stops a running one."""

import argparse
import json
import os
import signal
import sys
import threading
import time

from devstack.edge import ROUTES_FILE, load_routes
from devstack.stack import DEFAULT_PORTS, MERCHANTS, Ports, Stack, parse_replicas

STATE_DIR = ROUTES_FILE.parents[2] / ".run"
PID_FILE = STATE_DIR / "stack.pid"


def up() -> None:
    if PID_FILE.exists() and _running(int(PID_FILE.read_text())):
        sys.exit(
            f"the gateway is already running (pid {PID_FILE.read_text().strip()}); `make down`"
        )
    table = load_routes()
    services = [s for s in DEFAULT_PORTS if s in table.services or s == MERCHANTS]
    stack = Stack(
        STATE_DIR,
        Ports.defaults(table, services),
        table,
        admin_url=os.environ.get("DATABASE_URL"),
        given_redis_url=os.environ.get("REDIS_URL"),
        replicas=parse_replicas(os.environ.get("DEVSTACK_REPLICAS", "")),
    )
    stopping = threading.Event()

    def on_signal(signum: int, frame: object) -> None:
        stopping.set()

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    print("starting the gateway natively (logs in .run/logs/)", flush=True)
    started = time.monotonic()
    stack.start(sys.stdout)
    PID_FILE.write_text(str(os.getpid()))
    (STATE_DIR / "stack.json").write_text(json.dumps(stack.describe(), indent=2))
    try:
        print(f"\nready in {time.monotonic() - started:.1f}s\n", flush=True)
        print(f"  API          {stack.url('api')}", flush=True)
        print(f"  health       {stack.url('api')}/health", flush=True)
        print(f"  API docs     {stack.url('api')}/api/docs", flush=True)
        for host in stack.ports.edge:
            if host != "api":
                print(f"  {host:<12} {stack.url(host)}", flush=True)
        for service in stack.services:
            if service != "ui":  # the UI is the dashboard and checkout above
                print(
                    f"  {service:<12} http://127.0.0.1:{stack.ports.api[service]}/docs", flush=True
                )
        print(
            "\ntry it (the seeded test merchant):\n"
            f"  curl -s {stack.url('api')}/api/v1/orders -H 'X-Api-Key: key_test_abc123' \\\n"
            "    -H 'X-Api-Secret: secret_test_xyz789' -H 'Content-Type: application/json' \\\n"
            '    -d \'{"amount": 50000, "receipt": "receipt_123"}\'',
            flush=True,
        )
        print("\nCtrl-C or `make down` stops everything.", flush=True)
        while not stopping.wait(1):
            stack.check_alive()
    finally:
        print("stopping...", flush=True)
        stack.stop()
        PID_FILE.unlink(missing_ok=True)
        print("stopped.", flush=True)


def _running(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


def down() -> None:
    if not PID_FILE.exists():
        print("the gateway is not running")
        return
    pid = int(PID_FILE.read_text())
    if _running(pid):
        os.kill(pid, signal.SIGTERM)
        for _ in range(200):
            if not _running(pid):
                break
            time.sleep(0.1)
    PID_FILE.unlink(missing_ok=True)
    print("stopped")


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m devstack")
    parser.add_argument("command", choices=["up", "down", "generate"])
    args = parser.parse_args()
    if args.command == "generate":
        from devstack.generate import write

        write()
    else:
        up() if args.command == "up" else down()


if __name__ == "__main__":
    main()
