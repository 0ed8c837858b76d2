"""docker-compose, the Dockerfiles and the generated edge/Postgres files, checked offline."""

import hashlib
import ipaddress
import json
import os
import shutil
import subprocess
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import jsonschema
import pytest
import yaml

from devstack.edge import DECLARED_TOO_LARGE_ROUTE, load_routes
from devstack.generate import COMPOSE_UI_ADDRESSES, DATABASE_SERVICES, generated

ROOT = Path(__file__).resolve().parents[2]
SERVICES = ["merchants", "orders", "payments", "refunds", "webhooks", "ui"]
WORKERS = ["orders", "payments", "refunds", "webhooks"]


def compose() -> dict[str, Any]:
    return yaml.safe_load((ROOT / "docker-compose.yml").read_text())  # type: ignore[no-any-return]


def test_compose_matches_the_compose_specification(schemas_dir: Path) -> None:
    schema = json.loads((schemas_dir / "compose-spec.json").read_text())
    jsonschema.Draft7Validator(schema).validate(compose())


def test_compose_has_the_contracts_containers_and_gates_each_api_on_its_migration() -> None:
    services = compose()["services"]
    names = {s.get("container_name") for s in services.values()}
    assert {
        "pg_gateway",
        "redis_gateway",
        "gateway_api",
        "gateway_worker",
        "gateway_dashboard",
        "gateway_checkout",
    } <= names
    assert services["gateway"]["ports"] == [
        "127.0.0.1:8000:8000",
        "127.0.0.1:3000:3000",
        "127.0.0.1:3001:3001",
    ]
    for service in DATABASE_SERVICES:
        migrate = services[f"{service}-migrate"]
        assert migrate["command"] == ["python", "-m", "kit.migrate", service]
        gate = services[f"{service}-api"]["depends_on"][f"{service}-migrate"]
        assert gate == {"condition": "service_completed_successfully"}
    for service in WORKERS:
        assert services[f"{service}-worker"]["command"][:3] == [
            "taskiq",
            "worker",
            f"{service}.worker:broker",
        ]


@pytest.mark.parametrize(
    "process",
    ["merchants-api", "payments-api", "payments-worker", "refunds-worker", "webhooks-worker"],
)
def test_test_mode_variables_reach_every_process_that_reads_them(process: str) -> None:
    env = compose()["services"][process]["environment"]
    for name in (
        "TEST_MODE",
        "TEST_PAYMENT_SUCCESS",
        "TEST_PROCESSING_DELAY",
        "WEBHOOK_RETRY_INTERVALS_TEST",
    ):
        assert env[name].startswith(f"${{{name}:-"), f"{process} does not pass {name}"


def test_every_service_image_is_built_from_the_root_with_its_dockerfile() -> None:
    services = compose()["services"]
    for service in SERVICES:
        builder = services[f"{service}-migrate" if service != "ui" else "ui-api"]
        assert builder["build"] == {"context": ".", "dockerfile": f"services/{service}/Dockerfile"}


def test_dockerfiles_are_hadolint_clean() -> None:
    hadolint = shutil.which("hadolint") or str(
        Path(__import__("sys").executable).parent / "hadolint"
    )
    dockerfiles = [str(ROOT / "services" / s / "Dockerfile") for s in SERVICES]
    result = subprocess.run(
        [hadolint, "--failure-threshold", "info", *dockerfiles],
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.parametrize("service", SERVICES)
def test_dockerfile_installs_only_its_service_and_runs_as_non_root(service: str) -> None:
    text = (ROOT / "services" / service / "Dockerfile").read_text()
    assert f"uv sync --frozen --no-dev --no-editable --package {service}" in text
    assert "USER 10001" in text
    assert "HEALTHCHECK" in text
    assert f'CMD ["python", "-m", "kit.serve", "{service}", "--port", "8000"' in text


def build_steps(service: str) -> list[tuple[str, list[str]]]:
    """The build stage's COPY (from the context) and RUN steps, in order."""
    text = (ROOT / "services" / service / "Dockerfile").read_text().replace("\\\n", " ")
    stage = text.split("\nFROM ")[1]  # [0]: the header comments; [2]: the final stage
    steps = []
    for line in stage.splitlines():
        words = line.split()
        if words[:1] == ["COPY"] and not words[1].startswith("--from"):
            steps.append(("COPY", words[1:]))
        elif words[:1] == ["RUN"]:
            steps.append(("RUN", words[1:]))
    return steps


@pytest.mark.parametrize("service", SERVICES)
def test_dockerfile_copies_only_the_lock_kit_and_its_service(service: str) -> None:
    """A change to another service must not rebuild this image."""
    copied = [src for op, args in build_steps(service) if op == "COPY" for src in args[:-1]]
    assert copied == ["pyproject.toml", "uv.lock", "libs/kit", f"services/{service}"]
    # Dependencies are installed before any source is copied (their layer outlives edits).
    ops = [op for op, _ in build_steps(service)]
    assert ops == ["COPY", "RUN", "COPY", "COPY", "RUN"]


@pytest.mark.parametrize("service", ["payments", "ui"])
def test_the_image_build_resolves_with_only_what_it_copies(service: str, tmp_path: Path) -> None:
    """The build stage replayed outside Docker: copy what its COPY lines copy (minus
    .dockerignore's tests), run its `uv sync` steps offline from the uv cache, and import the
    service. Would fail if the lock needed a workspace member the image leaves out."""
    uv = ROOT / ".tools" / "bin" / "uv"
    if not uv.exists():
        pytest.skip("the pinned uv (scripts/uv) is not installed")
    for op, args in build_steps(service):
        if op == "COPY":
            *sources, destination = args
            for source in sources:
                target = tmp_path / (source if destination.endswith("/") else destination)
                if (ROOT / source).is_dir():
                    shutil.copytree(
                        ROOT / source, target, ignore=shutil.ignore_patterns("tests", "__pycache__")
                    )
                else:
                    shutil.copy(ROOT / source, target)
            continue
        assert args[:2] == ["uv", "sync"], args
        done = subprocess.run(
            [str(uv), *args[1:]],
            cwd=tmp_path,
            env={**os.environ, "UV_OFFLINE": "1", "UV_PYTHON_DOWNLOADS": "never",
                 "UV_PROJECT_ENVIRONMENT": str(tmp_path / ".venv"), "VIRTUAL_ENV": ""},
            capture_output=True, text=True, timeout=300, check=False,
        )  # fmt: skip
        assert done.returncode == 0, done.stderr
    python = tmp_path / ".venv" / "bin" / "python"
    imported = subprocess.run(
        [str(python), "-c", f"import {service}.main, kit.serve, kit.migrate"],
        capture_output=True, text=True, timeout=120, check=False, cwd=tmp_path,
    )  # fmt: skip
    assert imported.returncode == 0, imported.stderr
    [site] = (tmp_path / ".venv" / "lib").glob("python3*/site-packages")
    installed = {p.name for p in site.iterdir()} & {*SERVICES, "kit", "devstack"}
    assert installed == {service, "kit"}


def test_generated_files_are_up_to_date() -> None:
    for path, content in generated().items():
        assert path.read_text() == content, (
            f"{path} drifted: run `./scripts/uv run python -m devstack generate`"
        )


def test_compose_edge_routes_every_rule_of_the_table_to_its_api() -> None:
    caddy = json.loads((ROOT / "deploy/caddy/caddy.json").read_text())
    table = load_routes()
    services = compose()["services"]
    by_container = {s.get("container_name"): name for name, s in services.items()}
    # The contract's containers: the dashboard and the checkout hosts each have their own.
    upstream = {
        "dashboard": by_container["gateway_dashboard"],
        "checkout": by_container["gateway_checkout"],
    }
    for host, port in table.hosts.items():
        server = caddy["apps"]["http"]["servers"][host]
        assert server["listen"] == [f":{port}"]
        assert server["routes"][0] == DECLARED_TOO_LARGE_ROUTE
        dials = [r["handle"][-1]["upstreams"][0]["dial"] for r in server["routes"][1:-1]]
        assert dials == [
            f"{upstream.get(host, f'{r.service}-api')}:8000" for r in table.routes if r.host == host
        ]
        for dial in dials:
            assert dial.split(":")[0] in services, dial
            assert dial.split(":")[0] in services["gateway"]["depends_on"], dial
    checkout = services[by_container["gateway_checkout"]]
    assert checkout["image"] == services["ui-api"]["image"]
    assert checkout["environment"] == services["ui-api"]["environment"]


def test_compose_redis_is_durable_and_never_evicts() -> None:
    command = " ".join(compose()["services"]["redis"]["command"])
    assert "--appendonly yes" in command
    assert "--maxmemory-policy noeviction" in command


def test_compose_publishes_ports_on_loopback_only() -> None:
    published = {
        name: service["ports"]
        for name, service in compose()["services"].items()
        if "ports" in service
    }
    assert {"postgres", "redis", "gateway"} <= published.keys()
    for name, ports in published.items():
        for port in ports:
            assert isinstance(port, str), name
            assert port.startswith("127.0.0.1:"), f"{name} publishes {port} on every interface"


def _sha(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


def test_compose_redis_has_a_user_per_service_and_each_process_is_its_service() -> None:
    """compose's Redis loads the generated ACL file (devstack.provision.redis_acl, the rules
    tests/e2e/test_redis_users.py checks on a real Redis); each API and worker connects as its
    own service with the password whose hash that file holds."""
    services = compose()["services"]
    command = services["redis"]["command"]
    mounted = dict(reversed(v.split(":")[:2]) for v in services["redis"]["volumes"] if ":" in v)
    acl = ROOT / mounted[command[command.index("--aclfile") + 1]]
    hashes = {line.split()[1]: line.split()[3].removeprefix("#") for line in
              acl.read_text().splitlines()}  # fmt: skip
    assert hashes["default"] == _sha(services["redis"]["environment"]["REDISCLI_AUTH"])
    assert "--requirepass" not in command
    urls = {
        name: urlsplit(service["environment"]["REDIS_URL"])
        for name, service in services.items()
        if "REDIS_URL" in service.get("environment", {})
    }
    users = {f"{s}-api" for s in SERVICES if s != "ui"} | {f"{s}-worker" for s in WORKERS}
    assert users == urls.keys()
    for name, url in urls.items():
        service = name.rsplit("-", 1)[0]
        assert (url.username, url.hostname, url.port) == (service, "redis", 6379), name
        assert hashes[service] == _sha(url.password or ""), name


def test_compose_gives_every_api_and_worker_but_the_ui_the_internal_token() -> None:
    services = compose()["services"]
    processes = [f"{s}-api" for s in SERVICES if s != "ui"] + [f"{s}-worker" for s in WORKERS]
    tokens = {services[p]["environment"].get("INTERNAL_TOKEN") for p in processes}
    [token] = tokens
    assert token
    for ui in ("ui-api", "ui-checkout"):  # it calls only the public API
        assert not {"INTERNAL_TOKEN", "REDIS_URL"} & set(services[ui]["environment"])


def test_compose_believes_x_forwarded_for_only_from_its_proxies() -> None:
    """The APIs believe the edge and the ui (which calls them through the edge for browsers),
    the ui the edge, the edge the ui: a browser's own header is never read."""
    services = compose()["services"]
    address = {
        name: s["networks"]["default"]["ipv4_address"]
        for name, s in services.items()
        if "networks" in s
    }
    subnet = ipaddress.ip_network(compose()["networks"]["default"]["ipam"]["config"][0]["subnet"])
    assert all(ipaddress.ip_address(a) in subnet for a in address.values())
    edge, ui = f"{address['gateway']}/32", [f"{address[u]}/32" for u in ("ui-api", "ui-checkout")]
    processes = [f"{s}-api" for s in SERVICES if s != "ui"] + [f"{s}-worker" for s in WORKERS]
    for process in processes:
        trusted = services[process]["environment"]["TRUSTED_PROXY_NETWORKS"].split(",")
        assert trusted == [edge, *ui], process
    for name in ("ui-api", "ui-checkout"):
        assert services[name]["environment"]["TRUSTED_PROXY_NETWORKS"] == edge
    assert ui == COMPOSE_UI_ADDRESSES
    caddy = json.loads((ROOT / "deploy/caddy/caddy.json").read_text())
    for server in caddy["apps"]["http"]["servers"].values():
        assert server["trusted_proxies"]["ranges"] == COMPOSE_UI_ADDRESSES
