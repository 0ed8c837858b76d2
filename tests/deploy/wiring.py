"""Run containers' processes natively: the command, environment, ports, volumes and probes a
rendered chart (or docker-compose.yml) gives each container, executed on this machine.

Each container gets what its own network namespace would give it: its declared ports become
free local ports (an argument or variable that names one is translated), and host names of
Services (or compose services) resolve to the local port behind them (`<host>:<port>` in
variables and mounted files is rewritten). Volumes become temporary directories, ConfigMaps
files in them. Nothing else is changed: a wrong variable name, command, port, path or probe
fails as it would in the cluster.
"""

import contextlib
import os
import re
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Collection, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import httpx

from devstack.servers import REDIS_SERVER, free_port

VENV_BIN = Path(sys.executable).parent  # where python, taskiq and caddy are installed


def executables(directory: Path) -> Path:
    """A PATH entry with what the images have on theirs: the venv's programs and redis-server."""
    directory.mkdir(parents=True, exist_ok=True)
    link = directory / "redis-server"
    if not link.exists():
        link.symlink_to(REDIS_SERVER)
    return directory


@dataclass(frozen=True)
class Probe:
    kind: str  # http | tcp
    port: int  # the container's port
    path: str = ""


@dataclass
class Container:
    name: str
    argv: list[str]
    env: dict[str, str]
    ports: list[int]  # declared container ports
    mounts: dict[str, Path] = field(default_factory=dict)  # mount path -> local path
    probes: list[Probe] = field(default_factory=list)
    grace: float = 30.0
    local: dict[int, int] = field(default_factory=dict)  # container port -> local port

    def __post_init__(self) -> None:
        self.local = {port: free_port() for port in self.ports}


Dns = dict[str, dict[int, int]]  # host name -> {port as addressed -> local port}


def rewrite(text: str, dns: Dns) -> str:
    """`host:port` of a known host → 127.0.0.1:<local port>."""

    def local(match: re.Match[str]) -> str:
        host, port = match.group(1), int(match.group(2))
        if host in dns and port in dns[host]:
            return f"127.0.0.1:{dns[host][port]}"
        return match.group(0)

    return re.sub(r"(?<![\w.-])([a-z0-9][a-z0-9.-]*):(\d+)\b", local, text)


def translate(value: str, container: Container) -> str:
    """A value naming one of the container's ports or paths, as the process sees them here."""
    for port, local in container.local.items():
        if value == str(port):
            return str(local)
    for mount, path in sorted(container.mounts.items(), key=lambda m: -len(m[0])):
        if value == mount or value.startswith(mount.rstrip("/") + "/"):
            return str(path) + value[len(mount.rstrip("/")) :]
    return value


def listen_here(text: str, container: Container) -> str:
    """A mounted config's listen addresses (`":8000"`) on the container's local ports."""
    for port, local in container.local.items():
        text = text.replace(f'":{port}"', f'"127.0.0.1:{local}"')
    return text


class Running:
    """Processes started from containers; stopped (SIGTERM, then SIGKILL) on close."""

    def __init__(self, work: Path) -> None:
        self.work = work
        self.processes: dict[str, tuple[Container, subprocess.Popen[bytes], Path]] = {}

    def environment(self, container: Container, dns: Dns) -> dict[str, str]:
        path = os.pathsep.join(
            [str(executables(self.work / "bin")), str(VENV_BIN), os.environ.get("PATH", "")]
        )
        home = self.work / "home" / container.name
        home.mkdir(parents=True, exist_ok=True)
        # A fresh environment, as in a container: nothing leaks in from the test's own.
        base = {"PATH": path, "HOME": str(home), "PYTHONUNBUFFERED": "1",
                "PYTHONDONTWRITEBYTECODE": "1"}  # fmt: skip
        env = {k: translate(rewrite(v, dns), container) for k, v in container.env.items()}
        return {**base, **env}

    def start(self, container: Container, dns: Dns) -> None:
        log = self.work / f"{container.name}.log"
        argv = [translate(rewrite(a, dns), container) for a in container.argv]
        with open(log, "ab") as out:
            popen = subprocess.Popen(
                argv, env=self.environment(container, dns), cwd=self.work, stdout=out,
                stderr=subprocess.STDOUT, start_new_session=True,
            )  # fmt: skip
        self.processes[container.name] = (container, popen, log)

    def run(self, container: Container, dns: Dns, timeout: float = 60) -> None:
        """A one-shot (a Job): it must exit 0."""
        self.start(container, dns)
        _, popen, log = self.processes.pop(container.name)
        try:
            code = popen.wait(timeout)
        except subprocess.TimeoutExpired:
            os.killpg(popen.pid, signal.SIGKILL)
            raise AssertionError(f"{container.name} still running after {timeout}s") from None
        assert code == 0, f"{container.name} exited {code}:\n{log.read_text()[-3000:]}"

    def alive(self) -> None:
        for name, (_, popen, log) in self.processes.items():
            code = popen.poll()
            assert code is None, f"{name} exited {code}:\n{log.read_text()[-3000:]}"

    def log(self, name: str) -> str:
        return self.processes[name][2].read_text()[-3000:]

    def probe(self, name: str, probe: Probe, client: httpx.Client) -> bool:
        container = self.processes[name][0]
        port = container.local[probe.port]
        if probe.kind == "tcp":
            with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), 1):
                return True
            return False
        try:
            answer = client.get(f"http://127.0.0.1:{port}{probe.path}", timeout=5)
        except httpx.HTTPError:
            return False
        return 200 <= answer.status_code < 400

    def wait_probes(self, timeout: float = 90) -> None:
        """Until every running container's probes pass (Kubernetes: startup, then readiness)."""
        deadline = time.monotonic() + timeout
        waiting = {name for name, (c, _, _) in self.processes.items() if c.probes}
        with httpx.Client() as client:
            while waiting:
                self.alive()
                for name in sorted(waiting):
                    container = self.processes[name][0]
                    if all(self.probe(name, p, client) for p in container.probes):
                        waiting.discard(name)
                if waiting and time.monotonic() > deadline:
                    details = {n: self.log(n)[-800:] for n in waiting}
                    raise AssertionError(f"probes still failing after {timeout}s: {details}")
                time.sleep(0.2)

    def stop(self, last: Collection[str] = ()) -> dict[str, int | None]:
        """SIGTERM everything at once, as Kubernetes does, or `last` only once the others have
        stopped, as `docker compose down` stops dependencies after their dependents; each
        process's exit code within its grace period (None: it had to be killed)."""
        codes = self._stop([n for n in self.processes if n not in last])
        codes.update(self._stop([n for n in self.processes if n in last]))
        self.processes.clear()
        return codes

    def _stop(self, names: list[str]) -> dict[str, int | None]:
        for name in names:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.processes[name][1].pid, signal.SIGTERM)
        codes: dict[str, int | None] = {}
        started = time.monotonic()
        for name in names:
            container, popen, log = self.processes[name]
            try:
                codes[name] = popen.wait(max(0.1, container.grace - (time.monotonic() - started)))
            except subprocess.TimeoutExpired:
                # Shown with the failure: every asyncio task's stack (kit's workers log them on
                # SIGUSR1), then the log's tail.
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(popen.pid, signal.SIGUSR1)
                time.sleep(2)
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(popen.pid, signal.SIGKILL)
                popen.wait()
                codes[name] = None
                tail = log.read_text(errors="replace")[-12000:]
                sys.stderr.write(f"--- {name} ignored SIGTERM for {container.grace:g} s:\n{tail}\n")
        return codes


@contextlib.contextmanager
def running(work: Path) -> Iterator[Running]:
    processes = Running(work)
    try:
        yield processes
    finally:
        for _, popen, _ in processes.processes.values():
            with contextlib.suppress(ProcessLookupError):
                os.killpg(popen.pid, signal.SIGKILL)
            popen.wait()
