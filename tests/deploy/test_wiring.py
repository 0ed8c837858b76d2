"""The chart's and docker-compose's wiring, executed: every container's command, arguments and
environment run as native processes against a real Postgres and Redis, their probes called,
and the contract's first requests sent through the edge (tests/deploy/wiring.py says what is
emulated). A wrong variable name, command, port, path or probe fails here, not on a cluster.
"""

import asyncio
import json
import re
import signal
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlsplit

import asyncpg
import httpx
import pytest
import yaml

from devstack.servers import Server, start_postgres
from tests.deploy.chart import ROOT, Doc, of_kind, pod, render_values, values_for
from tests.deploy.wiring import Container, Dns, Probe, listen_here, rewrite, running
from tests.waits import eventually

TEST_MERCHANT = {"X-Api-Key": "key_test_abc123", "X-Api-Secret": "secret_test_xyz789"}
POSTGRES_PORT, REDIS_PORT = 5432, 6379


@pytest.fixture(scope="module")
def postgres(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    """A Postgres of this module's own: the stacks below set the services' role passwords
    (cluster-wide in Postgres), which the session's shared server must keep."""
    server = start_postgres(tmp_path_factory.mktemp("wiring-pg") / "data", durable=False)
    yield server
    server.stop()


def port_of(server: Server) -> int:
    port = urlsplit(server.url).port
    assert port is not None
    return port


def initialise(admin_url: str, database: str, scripts: list[str]) -> None:
    """What the postgres image does on first start: create POSTGRES_DB, run the init scripts."""

    async def run() -> None:
        admin = await asyncpg.connect(admin_url)
        try:
            await admin.execute(f'DROP DATABASE IF EXISTS "{database}" WITH (FORCE)')
            await admin.execute(f'CREATE DATABASE "{database}"')
        finally:
            await admin.close()
        conn = await asyncpg.connect(admin_url.rsplit("/", 1)[0] + f"/{database}")
        try:
            for script in scripts:
                await conn.execute(script)
        finally:
            await conn.close()

    asyncio.run(run())


def expand(value: str, env: dict[str, str]) -> str:
    """Kubernetes' $(VAR) expansion: defined variables only; $$ escapes."""

    def one(match: re.Match[str]) -> str:
        if match.group(0).startswith("$$"):
            return match.group(0)[1:]
        return env.get(match.group(1), match.group(0))

    return re.sub(r"\$\$?\(([A-Za-z_][A-Za-z0-9_]*)\)", one, value)


def probes_of(container: Doc) -> list[Probe]:
    ports = {p["name"]: p["containerPort"] for p in container.get("ports", []) if "name" in p}
    found = []
    for key in ("startupProbe", "readinessProbe", "livenessProbe"):
        probe = container.get(key, {})
        if "httpGet" in probe:
            port = probe["httpGet"]["port"]
            found.append(Probe("http", ports.get(port, port), probe["httpGet"]["path"]))
        elif "tcpSocket" in probe:
            port = probe["tcpSocket"]["port"]
            found.append(Probe("tcp", ports.get(port, port)))
    return found


def from_pod(workload: Doc, secrets: dict[str, dict[str, str]], work: Path) -> Container:
    spec = pod(workload)
    [container] = spec["containers"]
    name = workload["metadata"]["name"]
    env: dict[str, str] = {}
    for item in container.get("env", []):
        if "value" in item:
            env[item["name"]] = expand(str(item["value"]), env)
            continue
        ref = item["valueFrom"]["secretKeyRef"]
        value = secrets.get(ref["name"], {}).get(ref["key"])
        if value is None:
            assert ref.get("optional"), f"{name}: Secret {ref['name']}/{ref['key']} is missing"
            continue
        env[item["name"]] = value
    argv = [expand(a, env) for a in [*container.get("command", []), *container.get("args", [])]]
    ports = [p["containerPort"] for p in container.get("ports", [])]
    if container["image"].startswith("redis:"):  # the image's default port, made explicit
        argv += ["--port", str(REDIS_PORT), "--bind", "127.0.0.1"]
    grace = spec.get("terminationGracePeriodSeconds", 30)
    result = Container(name, argv, env, ports, probes=probes_of(container), grace=grace)
    for mount in container.get("volumeMounts", []):
        path = work / "volumes" / name / mount["name"]
        path.mkdir(parents=True, exist_ok=True)
        result.mounts[mount["mountPath"]] = path
    return result


def services_dns(docs: list[Doc], containers: dict[str, Container], pods: dict[str, Doc]) -> Dns:
    """Each Service's name and ports → the local port of the container port it targets."""
    dns: Dns = {}
    for service in of_kind(docs, "Service"):
        selector = service["spec"]["selector"]
        targets = [
            n
            for n, d in pods.items()
            if selector.items() <= d["spec"]["template"]["metadata"]["labels"].items()
        ]
        for target in targets:
            [container] = pod(pods[target])["containers"]
            named = {p["name"]: p["containerPort"] for p in container.get("ports", [])}
            for port in service["spec"]["ports"]:
                number = named.get(port["targetPort"], port["targetPort"])
                if target in containers:
                    dns.setdefault(service["metadata"]["name"], {})[port["port"]] = containers[
                        target
                    ].local[int(number)]
    return dns


def test_the_charts_kind_wiring_runs(postgres: Server, tmp_path: Path) -> None:
    """`skaffold dev -p kind`, natively: the development Redis from its Deployment, the
    development Postgres's init script, the migration Jobs, then every API, worker and the edge
    until their probes pass, then the first requests through the edge, then SIGTERM."""
    docs = render_values(values_for("kind"), release="gateway", namespace="payment-gateway")
    secrets = {s["metadata"]["name"]: s["stringData"] for s in of_kind(docs, "Secret")}
    config_maps = {c["metadata"]["name"]: c["data"] for c in of_kind(docs, "ConfigMap")}
    pods = {d["metadata"]["name"]: d for d in [*of_kind(docs, "Deployment"), *of_kind(docs, "Job")]}
    # The development Postgres: this module's server, initialised as the image would.
    [store] = [
        d
        for d in of_kind(docs, "Deployment")
        if pod(d)["containers"][0]["image"].startswith("postgres:")
    ]
    store_env = {e["name"]: e["value"] for e in pod(store)["containers"][0]["env"]}
    [init] = [v["secret"]["secretName"] for v in pod(store)["volumes"] if "secret" in v]
    initialise(postgres.url, store_env["POSTGRES_DB"], list(secrets[init].values()))
    del pods[store["metadata"]["name"]]
    containers = {name: from_pod(d, secrets, tmp_path) for name, d in pods.items()}
    dns = services_dns(docs, containers, pods)
    dns[store["metadata"]["name"]] = {POSTGRES_PORT: port_of(postgres)}
    for name, workload in pods.items():  # ConfigMap and Secret volumes: their files, local
        for volume in pod(workload).get("volumes", []):
            if "configMap" in volume:
                files = config_maps[volume["configMap"]["name"]]
            elif "secret" in volume:
                files = secrets[volume["secret"]["secretName"]]
            else:
                continue
            [mount] = [
                m
                for m in pod(workload)["containers"][0]["volumeMounts"]
                if m["name"] == volume["name"]
            ]
            for file, text in files.items():
                target = containers[name].mounts[mount["mountPath"]] / file
                target.write_text(listen_here(rewrite(text, dns), containers[name]))
    jobs = [n for n, d in pods.items() if d["kind"] == "Job"]
    stores = [n for n in pods if n.endswith("-redis")]
    assert len(jobs) == 5
    assert stores
    with running(tmp_path) as processes:
        for name in stores:
            processes.start(containers[name], dns)
        processes.wait_probes(timeout=30)
        for name in jobs:
            processes.run(containers[name], dns)
        for name in pods:
            if name not in jobs and name not in stores:
                processes.start(containers[name], dns)
        processes.wait_probes()
        edge = containers["gateway-edge"].local
        first_requests(f"http://127.0.0.1:{edge[8000]}", f"http://127.0.0.1:{edge[3000]}",
                       f"http://127.0.0.1:{edge[3001]}")  # fmt: skip
        codes = processes.stop()
    assert_drained(codes, apis=6, workers=4)


def assert_drained(codes: dict[str, int | None], apis: int, workers: int) -> None:
    """Each process stopped by itself within its grace period: a worker with 0, an API with 0
    or by re-raising SIGTERM after uvicorn's graceful shutdown (as uvicorn does)."""
    assert None not in codes.values(), codes
    api_codes = {n: c for n, c in codes.items() if n.endswith("-api")}
    worker_codes = {n: c for n, c in codes.items() if n.endswith("-worker")}
    assert (len(api_codes), len(worker_codes)) == (apis, workers), codes
    assert set(worker_codes.values()) == {0}, codes
    assert set(api_codes.values()) <= {0, -signal.SIGTERM}, codes


def first_requests(api: str, dashboard: str | None, checkout: str) -> str:
    """The contract's first steps through the edge: health, an order, a payment processed by
    the workers, the dashboard and the hosted checkout (which asks the API through the edge)."""
    with httpx.Client(timeout=10) as client:

        def healthy() -> httpx.Response | None:
            answer = client.get(f"{api}/health")
            return answer if answer.status_code == 200 else None

        health = eventually(healthy, "a healthy /health").json()
        assert (health["database"], health["redis"], health["worker"]) == (
            "connected",
            "connected",
            "running",
        )
        order = client.post(
            f"{api}/api/v1/orders",
            json={"amount": 50000, "receipt": "wiring"},
            headers=TEST_MERCHANT,
        )
        assert order.status_code == 201, order.text
        order_id = str(order.json()["id"])
        payment = client.post(
            f"{api}/api/v1/payments",
            json={"order_id": order_id, "method": "upi", "vpa": "buyer@okbank"},
            headers=TEST_MERCHANT,
        )
        assert payment.status_code == 201, payment.text
        url = f"{api}/api/v1/payments/{payment.json()['id']}"
        eventually(
            lambda: client.get(url, headers=TEST_MERCHANT).json()["status"] == "success",
            "the payment processed by the payments worker",
        )
        eventually(
            lambda: client.get(f"{api}/api/v1/orders/{order_id}/public").json()["status"] == "paid",
            "the order marked paid by the orders worker",
        )
        if dashboard:
            assert client.get(f"{dashboard}/login").status_code == 200
        assert "PaymentGateway" in client.get(f"{checkout}/checkout.js").text
        page = client.get(f"{checkout}/checkout", params={"order_id": order_id})
        assert page.status_code == 200, page.text
        # The ui read the order through the edge (API_URL) to show its amount.
        assert 'data-test-id="order-amount">₹500.00<' in page.text
    return order_id


def dockerfile(path: Path) -> tuple[list[str], list[int], Probe | None]:
    """An image's CMD, EXPOSEd ports and HEALTHCHECK (its URL, called as a probe)."""
    text = path.read_text().replace("\\\n", " ")
    [cmd] = [json.loads(line[4:]) for line in text.splitlines() if line.startswith("CMD ")]
    exposed = [
        int(p) for line in text.splitlines() if line.startswith("EXPOSE ") for p in line.split()[1:]
    ]
    url = re.search(r"http://127\.0\.0\.1:(\d+)(/[^'\"\s]*)", text.split("HEALTHCHECK", 1)[1])
    assert url, path
    return cmd, exposed, Probe("http", int(url.group(1)), url.group(2))


def interpolate(value: str, shell: dict[str, str]) -> str:
    """Compose's ${VAR:-default} and ${VAR} against the invoking shell's variables."""
    return re.sub(
        r"\$\{([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}",
        lambda m: shell.get(m.group(1)) or (m.group(2) or ""),
        value,
    )


def test_docker_compose_wiring_runs(postgres: Server, tmp_path: Path) -> None:
    """`TEST_MODE=true docker compose up`, natively: Redis from its command, Postgres's init
    script, each `<svc>-migrate` one-shot, then every API, worker, the two ui containers and the
    edge (`gateway_api`) until their healthchecks pass, then the first requests, then SIGTERM."""
    compose = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
    shell = {"TEST_MODE": "true", "TEST_PROCESSING_DELAY": "500"}
    services = {n: s for n, s in compose["services"].items() if not s.get("profiles")}
    builds = {
        s["image"]: ROOT / s["build"]["dockerfile"] for s in services.values() if "build" in s
    }
    database = services.pop("postgres")
    db = database["environment"]["POSTGRES_DB"]
    scripts = []
    for volume in database["volumes"]:
        source, target = volume.split(":")[:2]
        if target.startswith("/docker-entrypoint-initdb.d/"):
            scripts.append((ROOT / source).read_text())
    initialise(postgres.url, db, scripts)
    containers: dict[str, Container] = {}
    for name, service in services.items():
        env = {k: interpolate(str(v), shell) for k, v in service.get("environment", {}).items()}
        if service["image"] in builds:
            cmd, ports, probe = dockerfile(builds[service["image"]])
            probes = [probe] if probe else []
        else:  # the edge (caddy) and redis: official images
            cmd, probes = [], []
            ports = [int(p.rsplit(":", 1)[1]) for p in service.get("ports", [])]
        argv = [interpolate(str(a), shell) for a in service.get("command", cmd)]
        if service["image"].startswith("redis:"):
            argv += ["--port", str(REDIS_PORT), "--bind", "127.0.0.1", "--dir", str(tmp_path)]
        check = service.get("healthcheck", {}).get("test", [])
        url = re.search(r"http://127\.0\.0\.1:(\d+)(/\S*)", " ".join(check))
        if url:  # compose's own healthcheck overrides the image's
            probes = [Probe("http", int(url.group(1)), url.group(2))]
        grace = float(str(service.get("stop_grace_period", "10s")).removesuffix("s"))
        containers[name] = Container(name, argv, env, ports, probes=probes, grace=grace)
    dns: Dns = {}
    for name, service in services.items():
        for alias in (name, service.get("container_name")):
            if alias:
                dns[alias] = dict(containers[name].local)
    dns["postgres"] = {POSTGRES_PORT: port_of(postgres)}
    for name, service in services.items():  # bind-mounted files, addressed locally
        for volume in service.get("volumes", []):
            source, target = volume.split(":")[:2]
            if source.startswith("./"):
                local = tmp_path / "mounts" / name / Path(target).name
                local.parent.mkdir(parents=True, exist_ok=True)
                local.write_text(
                    listen_here(rewrite((ROOT / source).read_text(), dns), containers[name])
                )
                containers[name].mounts[target] = local
    one_shots = [n for n, s in services.items() if s.get("restart") == "no"]
    assert len(one_shots) == 5
    with running(tmp_path) as processes:
        processes.start(containers["redis"], dns)
        for name in one_shots:
            processes.run(containers[name], dns)
        for name in services:
            if name not in one_shots and name != "redis":
                processes.start(containers[name], dns)
        processes.wait_probes()
        edge = containers["gateway"].local
        first_requests(f"http://127.0.0.1:{edge[8000]}", f"http://127.0.0.1:{edge[3000]}",
                       f"http://127.0.0.1:{edge[3001]}")  # fmt: skip
        by_container = {s.get("container_name"): n for n, s in services.items()}
        # The contract's checkout container served the SDK. It logs a request once the answer
        # has been sent, so the line may follow the response the client already has.
        eventually(
            lambda: "/checkout.js" in processes.log(by_container["gateway_checkout"]),
            "the checkout container's log line for /checkout.js",
        )
        codes = processes.stop(last={"redis"})  # compose stops dependencies after dependents
    assert_drained(
        {n: c for n, c in codes.items() if n not in {"redis", "gateway", "ui-checkout"}},
        apis=6, workers=4,
    )  # fmt: skip
