"""The whole gateway as native processes: what `make up` runs and the e2e tests drive."""

import asyncio
import contextlib
import importlib.util
import io
import json
import os
import secrets
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO
from urllib.parse import quote

import httpx

from devstack.edge import RouteTable, caddy_config
from devstack.provision import REDIS_STREAMS, provision, redis_acl
from devstack.servers import Server, free_port, start_postgres, start_redis

CADDY = Path(sys.executable).parent / "caddy"
DB_PASSWORD = "gateway-dev"  # noqa: S105 - roles of a loopback-only development server

# Native ports of each service's API (and its worker's metrics): stable so URLs are predictable.
DEFAULT_PORTS = {
    "merchants": 8101,
    "orders": 8102,
    "payments": 8103,
    "refunds": 8104,
    "webhooks": 8105,
    "ui": 8106,
}
MERCHANTS = "merchants"


@dataclass
class Ports:
    edge: dict[str, int]
    api: dict[str, int]
    internal: dict[str, int]  # where /internal/v1/* answers (services with a database)
    worker_metrics: dict[str, int]
    postgres: int
    redis: int

    @classmethod
    def defaults(cls, table: RouteTable, services: list[str]) -> "Ports":
        return cls(
            edge=dict(table.hosts),
            api={s: DEFAULT_PORTS[s] for s in services},
            internal={s: DEFAULT_PORTS[s] + 100 for s in services if has_database(s)},
            worker_metrics={s: DEFAULT_PORTS[s] + 1000 for s in services},
            postgres=_free_or(54329),
            redis=_free_or(63799),
        )

    @classmethod
    def free(cls, table: RouteTable, services: list[str]) -> "Ports":
        return cls(
            edge={h: free_port() for h in table.hosts},
            api={s: free_port() for s in services},
            internal={s: free_port() for s in services if has_database(s)},
            worker_metrics={s: free_port() for s in services},
            postgres=free_port(),
            redis=free_port(),
        )


def _free_or(port: int) -> int:
    """`port` unless something listens on it (a just-stopped server's TIME_WAIT does not count)."""
    import socket

    with socket.socket() as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind(("127.0.0.1", port))
        except OSError:
            return free_port()
    return port


def has_worker(service: str) -> bool:
    return importlib.util.find_spec(f"{service}.worker") is not None


def has_database(service: str) -> bool:
    return importlib.util.find_spec(f"{service}.repository") is not None


def parse_replicas(text: str) -> dict[str, int]:
    """`orders-api=2,webhooks-worker=3` → {"orders-api": 2, "webhooks-worker": 3}."""
    pairs = (item.split("=", 1) for item in text.replace(" ", "").split(",") if item)
    return {name: max(1, int(count)) for name, count in pairs}


@dataclass
class Process:
    name: str
    popen: subprocess.Popen[bytes]
    log: Path


@dataclass
class Stack:
    state_dir: Path
    ports: Ports
    table: RouteTable
    database: str = "gateway"
    durable: bool = True
    # Servers to use instead of starting embedded ones (an admin Postgres URL and a Redis URL).
    admin_url: str | None = None
    given_redis_url: str | None = None
    extra_env: dict[str, str] = field(default_factory=dict)
    # Processes per program, e.g. {"orders-api": 2, "webhooks-worker": 2} (uvicorn's and
    # taskiq's `--workers`); `make up` reads it from DEVSTACK_REPLICAS="orders-api=2,…".
    replicas: dict[str, int] = field(default_factory=dict)
    processes: list[Process] = field(default_factory=list)
    servers: list[Server] = field(default_factory=list)
    database_urls: dict[str, str] = field(default_factory=dict)
    redis_url: str = ""
    postgres_url: str = ""  # the admin URL of the server the stack uses
    # One CSRF key for every ui process (each would otherwise make its own, see ui's README).
    csrf_secret: str = field(default_factory=lambda: secrets.token_urlsafe(32))
    # Shared by the services on /internal/v1/* (one per stack, like production's Secret).
    internal_token: str = field(default_factory=lambda: secrets.token_urlsafe(32))
    # Redis ACL users of the stack's own Redis (devstack.provision.redis_acl): `default` is the
    # administrator (stack.redis_url: tools and tests), each service has its own.
    redis_passwords: dict[str, str] = field(
        default_factory=lambda: {u: secrets.token_urlsafe(16) for u in ("default", *REDIS_STREAMS)}
    )
    _launched: dict[str, tuple[list[str], dict[str, str]]] = field(default_factory=dict)

    @property
    def services(self) -> list[str]:
        return [s for s in DEFAULT_PORTS if s in self.ports.api]

    @property
    def workers(self) -> list[str]:
        return [s for s in self.services if has_worker(s)]

    def describe(self) -> dict[str, object]:
        """Where everything listens (written to `.run/stack.json` by `make up`)."""
        return {
            "edge": {h: self.url(h) for h in self.ports.edge},
            "services": {s: f"http://127.0.0.1:{self.ports.api[s]}" for s in self.services},
            "database_urls": self.database_urls,
            "redis_url": self.redis_url,
        }

    def url(self, host: str = "api") -> str:
        return f"http://127.0.0.1:{self.ports.edge[host]}"

    def start(self, say: IO[str] | None = None) -> None:
        say = say or io.StringIO()
        (self.state_dir / "logs").mkdir(parents=True, exist_ok=True)
        try:
            self._start_servers(say)
            self._migrate(say)
            self._start_services(say)
            self._start_edge(say)
            self.wait_healthy()
        except BaseException:
            self.stop()
            raise

    def _start_servers(self, say: IO[str]) -> None:
        admin_url = self.admin_url
        if not admin_url:
            pg = start_postgres(
                self.state_dir / "pgdata", self.ports.postgres, durable=self.durable
            )
            self.servers.append(pg)
            admin_url = pg.url
        self.postgres_url = admin_url
        print(f"postgres  {admin_url.split('@')[-1]}", file=say)
        self.redis_url = self.given_redis_url or ""
        if not self.redis_url:
            self.servers.append(self._start_redis())
            self.redis_url = self.servers[-1].url
        print(f"redis     {self.redis_url.split('@')[-1]}", file=say)
        self.database_urls = asyncio.run(
            provision(
                admin_url, self.database, [s for s in self.services if has_database(s)], DB_PASSWORD
            )
        )

    def _start_redis(self) -> Server:
        acl = self.state_dir / "redis-users.acl"
        acl.write_text(redis_acl(self.redis_passwords))
        acl.chmod(0o600)
        return start_redis(
            self.state_dir / "redis", self.ports.redis, durable=self.durable, acl_file=acl,
            password=self.redis_passwords["default"],
        )  # fmt: skip

    def service_redis_url(self, service: str) -> str:
        """`service`'s own Redis user on the stack's Redis; the given Redis as it was given
        (the stack does not manage its users)."""
        if self.given_redis_url or service not in REDIS_STREAMS:
            return self.redis_url
        password = quote(self.redis_passwords[service], safe="")
        return f"redis://{service}:{password}@127.0.0.1:{self.ports.redis}/0"

    def _env(self, service: str) -> dict[str, str]:
        env = {
            "ENVIRONMENT": "dev",
            "CSRF_SECRET": self.csrf_secret,
            "INTERNAL_TOKEN": self.internal_token,
            **os.environ,
            "DATABASE_URL": self.database_urls.get(service, ""),
            "API_URL": self.url("api"),
            "PUBLIC_API_URL": self.url("api"),
            "PUBLIC_CHECKOUT_URL": self.url("checkout") if "checkout" in self.ports.edge else "",
            "REDIS_URL": self.service_redis_url(service),
            **{f"{s.upper()}_URL": f"http://127.0.0.1:{p}" for s, p in self.ports.internal.items()},
            "OTEL_SERVICE_NAME": service,
            "WORKER_METRICS_PORT": str(self.ports.worker_metrics[service]),
            "WORKER_METRICS_ADDR": "127.0.0.1",
            # Development delivers webhooks to receivers on this machine; production allows none.
            "WEBHOOK_ALLOWED_NETWORKS": "127.0.0.0/8,::1/128",
            **self.extra_env,
        }
        if service not in REDIS_STREAMS:  # the ui calls the public API only: no Redis
            env.pop("REDIS_URL")
        # The edge's /health is answered by merchants, so it watches every worker.
        env["HEALTH_WORKERS"] = ",".join(
            self.workers if service == MERCHANTS else [w for w in self.workers if w == service]
        )
        return env

    def _migrate(self, say: IO[str]) -> None:
        for service in (s for s in self.services if has_database(s)):
            log = self.state_dir / "logs" / f"{service}-migrate.log"
            with open(log, "wb") as out:
                done = subprocess.run(
                    [sys.executable, "-m", "kit.migrate", service],
                    env=self._env(service), stdout=out, stderr=subprocess.STDOUT, check=False,
                )  # fmt: skip
            if done.returncode != 0:
                raise RuntimeError(f"migrating {service} failed; see {log}:\n{log.read_text()}")
        migrated = [s for s in self.services if has_database(s)]
        print(f"migrated  {', '.join(migrated)} (test merchant seeded)", file=say)

    def _spawn(self, name: str, argv: list[str], env: dict[str, str]) -> None:
        self._launched.setdefault(name, (argv, env))  # restarts start from the first launch
        log = self.state_dir / "logs" / f"{name}.log"
        with open(log, "ab") as out:
            popen = subprocess.Popen(
                argv, env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True
            )
        self.processes.append(Process(name, popen, log))

    def _start_services(self, say: IO[str]) -> None:
        for service in self.services:
            port = str(self.ports.api[service])
            internal = self.ports.internal.get(service)
            self._spawn(
                f"{service}-api",
                [sys.executable, "-m", "kit.serve", service, "--host", "127.0.0.1",
                 "--port", port, *(["--internal-port", str(internal)] if internal else []),
                 "--workers", str(self.replicas.get(f"{service}-api", 1))],
                self._env(service),
            )  # fmt: skip
            if has_worker(service):
                self._spawn(
                    f"{service}-worker",
                    [sys.executable, "-m", "taskiq", "worker", f"{service}.worker:broker",
                     "--workers", str(self.replicas.get(f"{service}-worker", 1)),
                     "--no-configure-logging", "--shutdown-timeout", "10"],
                    self._env(service),
                )  # fmt: skip

    def _start_edge(self, say: IO[str]) -> None:
        upstreams = {s: f"127.0.0.1:{self.ports.api[s]}" for s in self.services}
        config = caddy_config(self.table, upstreams, self.ports.edge)
        path = self.state_dir / "caddy.json"
        path.write_text(json.dumps(config, indent=2))
        env = {**os.environ, "XDG_DATA_HOME": str(self.state_dir / "caddy"),
               "XDG_CONFIG_HOME": str(self.state_dir / "caddy")}  # fmt: skip
        self._spawn("edge", [str(CADDY), "run", "--config", str(path)], env)

    def wait_healthy(self, timeout: float = 60) -> None:
        """Until every API is ready and the edge's /health says healthy (workers beating)."""
        deadline = time.monotonic() + timeout
        last = ""
        while time.monotonic() < deadline:
            self.check_alive()
            try:
                for service in self.services:
                    r = httpx.get(f"http://127.0.0.1:{self.ports.api[service]}/readyz", timeout=2)
                    r.raise_for_status()
                health = httpx.get(f"{self.url()}/health", timeout=2)
                last = health.text
                if health.status_code == 200:
                    return
            except httpx.HTTPError as exc:
                last = repr(exc)
            time.sleep(0.2)
        raise RuntimeError(f"stack not healthy after {timeout}s: {last}; logs in {self.state_dir}")

    def kill(self, name: str) -> None:
        """SIGKILL a process and its children (taskiq runs its worker as a child)."""
        [process] = [p for p in self.processes if p.name == name]
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.popen.pid, signal.SIGKILL)
        process.popen.wait()
        self.processes.remove(process)

    def onboard_merchant(self, name: str) -> dict[str, str]:
        """A new merchant, through the operator CLI; its API headers."""
        env = {"ENVIRONMENT": "dev", **os.environ, "DATABASE_URL": self.database_urls[MERCHANTS],
               "REDIS_URL": self.service_redis_url(MERCHANTS)}  # fmt: skip
        created = subprocess.run(
            [sys.executable, "-m", "merchants.cli", "create-merchant", "--name", name,
             "--email", f"{secrets.token_hex(6)}@example.com"],
            env=env, capture_output=True, text=True, check=True,
        )  # fmt: skip
        creds = json.loads(created.stdout)
        return {"X-Api-Key": creds["api_key"], "X-Api-Secret": creds["api_secret"]}

    def terminate(self, name: str, timeout: float = 60) -> int:
        """SIGTERM a process as an orchestrator would; its exit code once it stopped by itself
        (a RuntimeError if it did not within `timeout`, and then it is killed)."""
        [process] = [p for p in self.processes if p.name == name]
        os.killpg(process.popen.pid, signal.SIGTERM)
        try:
            code = process.popen.wait(timeout)
        except subprocess.TimeoutExpired:
            self.kill(name)
            raise RuntimeError(f"{name} ignored SIGTERM for {timeout}s") from None
        self.processes.remove(process)
        return code

    def restart(self, name: str, *, wait: bool = True, **env_overrides: str) -> None:
        """Start a killed process again, as it was first started (plus any overrides), and
        wait until it serves (an API) or consumes (a worker)."""
        argv, env = self._launched[name]
        self._spawn(name, argv, {**env, **env_overrides})
        if wait:
            self.wait_ready(name)

    def wait_ready(self, name: str, timeout: float = 60) -> None:
        """Until `<svc>-api` answers `/readyz` or `<svc>-worker` has finished its startup (its
        probe server opens last, just before it starts reading its stream, and its `/readyz`
        says whether that loop reads)."""
        service, _, kind = name.rpartition("-")
        port = self.ports.api[service] if kind == "api" else self.ports.worker_metrics[service]
        url = f"http://127.0.0.1:{port}/readyz"
        deadline = time.monotonic() + timeout
        while True:
            self.check_alive()
            try:
                if httpx.get(url, timeout=2).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            if time.monotonic() >= deadline:
                raise RuntimeError(f"{name} not ready after {timeout}s; logs in {self.state_dir}")
            time.sleep(0.1)

    def restart_redis(self, down_for: float = 0.0, *, kill: bool = False) -> None:
        """Stop the stack's own Redis (SIGKILL with `kill`: what its append-only file had not
        yet synced is lost) and start it again on the same port and data."""
        [redis] = [s for s in self.servers if s.url == self.redis_url]
        if kill and redis.process is not None:
            redis.process.kill()
            redis.process.wait()
        redis.stop()
        time.sleep(down_for)
        self.servers.remove(redis)
        self.servers.append(self._start_redis())

    def restart_postgres(self, down_for: float = 0.0) -> None:
        """Stop the stack's own Postgres (fast shutdown: sessions are cut, as in a failover)
        and start it again on the same port and data."""
        [postgres] = [s for s in self.servers if s.url == self.postgres_url]
        if postgres.process is None:
            raise RuntimeError("this stack uses a Postgres it did not start")
        postgres.process.send_signal(signal.SIGINT)
        postgres.process.wait(30)
        time.sleep(down_for)
        self.servers.remove(postgres)
        restarted = start_postgres(
            self.state_dir / "pgdata", self.ports.postgres, durable=self.durable
        )
        self.servers.append(restarted)

    def check_alive(self) -> None:
        for process in self.processes:
            if process.popen.poll() is not None:
                tail = process.log.read_text(errors="replace")[-3000:]
                raise RuntimeError(f"{process.name} exited ({process.popen.returncode}):\n{tail}")

    def stop(self) -> None:
        for process in reversed(self.processes):
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.popen.pid, signal.SIGTERM)
        deadline = time.monotonic() + 5
        for process in reversed(self.processes):
            try:
                process.popen.wait(max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                # Still finishing work after 5 s: unacknowledged work is redelivered, so
                # SIGKILL is safe.
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(process.popen.pid, signal.SIGKILL)
                process.popen.wait()
        self.processes.clear()
        for server in reversed(self.servers):
            server.stop()
        self.servers.clear()
