"""What a first install and every rollout need from the chart: pods the kernel and the Pod
Security Standards let start, probes that say the truth, drains that fit the grace periods,
counts left to the autoscalers, budgets and spread, requests sized from the benchmark."""

import json
import re
from typing import Any

import helm_python as helm
import pytest
import yaml

from kit.broker import ReclaimingStreamBroker
from kit.serve import GRACEFUL_SHUTDOWN_SECONDS
from kit.settings import ServiceSettings
from tests.deploy.chart import (
    CHART,
    VALUES,
    Doc,
    merged,
    named,
    of_kind,
    pod,
    render,
    render_values,
    short,
    values_for,
)

# Images whose binary carries file capabilities (`getcap`): the official Caddy image runs
# `setcap cap_net_bind_service=+ep /usr/bin/caddy` (its 2.8 Dockerfile). The kernel refuses to
# execute such a binary ("operation not permitted") unless each of those capabilities is in the
# process's bounding set, which `capabilities.drop: [ALL]` empties.
FILE_CAPABILITIES = {"caddy": {"NET_BIND_SERVICE"}}
# The one capability the restricted Pod Security Standard lets a container add back.
RESTRICTED_ADDABLE = {"NET_BIND_SERVICE"}
RESTRICTED_VOLUMES = {"configMap", "emptyDir", "secret", "persistentVolumeClaim", "projected"}
GATEWAY_COMPONENTS = {"api", "worker"}


def repository(image: str) -> str:
    """`caddy:2.8-alpine` → `caddy`; `ghcr.io/acme/x@sha256:…` → `x`."""
    return image.split("@")[0].rsplit("/", 1)[-1].split(":")[0]


def cannot_start(container: Doc, listen_ports: list[int]) -> list[str]:
    """Why the kernel or the restricted Pod Security Standard would stop this container."""
    problems = []
    security = container["securityContext"]
    capabilities = security.get("capabilities", {})
    bounding = set(capabilities.get("add", [])) if capabilities.get("drop") == ["ALL"] else None
    if bounding is None:
        problems.append("does not drop ALL capabilities")
        bounding = set()
    needed = FILE_CAPABILITIES.get(repository(container["image"]), set())
    if needed - bounding:
        problems.append(f"exec fails: file capabilities {sorted(needed - bounding)} not bounded")
    if bounding - RESTRICTED_ADDABLE:
        problems.append(f"adds {sorted(bounding - RESTRICTED_ADDABLE)} (restricted forbids)")
    if security.get("allowPrivilegeEscalation") is not False:
        problems.append("may escalate privileges")
    # No privilege escalation: a file capability never becomes effective, so whatever the
    # bounding set, a non-root process binds only unprivileged ports.
    privileged = [p for p in listen_ports if p < 1024]
    if privileged:
        problems.append(f"listens on privileged ports {privileged} without privileges")
    return problems


def ports_of(container: Doc) -> list[int]:
    return [int(p["containerPort"]) for p in container.get("ports", [])]


def edge(docs: list[Doc]) -> tuple[Doc, list[int]]:
    deployment = named(docs, "Deployment", "edge")
    [container] = pod(deployment)["containers"]
    caddy = json.loads(named(docs, "ConfigMap", "edge")["data"]["caddy.json"])
    listens = [
        int(address.rsplit(":", 1)[1])
        for server in caddy["apps"]["http"]["servers"].values()
        for address in server["listen"]
    ]
    return container, listens


@pytest.mark.parametrize("name", VALUES)
def test_the_edge_can_start_under_the_restricted_security_context(name: str) -> None:
    container, listens = edge(render(name))
    assert repository(container["image"]) == "caddy"
    assert cannot_start(container, listens + ports_of(container)) == []


def test_the_edge_check_catches_what_kept_the_edge_from_starting() -> None:
    """The chart before this check: every capability dropped (exec fails), and a port below 1024
    would not bind either."""
    values = merged(values_for("kind"), {"edge": {"keepCapabilities": []}})
    container, listens = edge(render_values(values))
    assert cannot_start(container, listens) == [
        "exec fails: file capabilities ['NET_BIND_SERVICE'] not bounded"
    ]
    assert "privileged ports [80]" in " ".join(cannot_start(container, [80]))


def test_the_edge_refuses_a_privileged_port() -> None:
    values = merged(values_for("kind"), {"edge": {"hosts": {"api": 80}}})
    with pytest.raises(helm.HelmValuesError, match="minimum"):
        helm.Chart.load(str(CHART)).validate_schema(values)


@pytest.mark.parametrize("name", VALUES)
def test_every_pod_meets_the_restricted_pod_security_standard(name: str) -> None:
    for workload in [*of_kind(render(name), "Deployment"), *of_kind(render(name), "Job")]:
        spec = pod(workload)
        assert not {"hostNetwork", "hostPID", "hostIPC"} & spec.keys(), short(workload)
        assert spec["securityContext"]["runAsNonRoot"] is True
        assert spec["securityContext"]["seccompProfile"] == {"type": "RuntimeDefault"}
        for volume in spec.get("volumes", []):
            assert set(volume) - {"name"} <= RESTRICTED_VOLUMES, (short(workload), volume)
        for container in spec["containers"]:
            assert cannot_start(container, ports_of(container)) == [], short(workload)


def gateway_workloads(docs: list[Doc]) -> list[Doc]:
    return [
        d
        for d in of_kind(docs, "Deployment")
        if d["spec"]["selector"]["matchLabels"].get("app.kubernetes.io/component")
        in GATEWAY_COMPONENTS
    ]


def test_autoscaled_deployments_leave_the_replica_count_to_the_autoscaler() -> None:
    """An upgrade that sets `replicas` resets whatever the HPA or KEDA scaled to."""
    docs = render("production")
    scaled = {d["spec"]["scaleTargetRef"]["name"] for d in of_kind(docs, "HorizontalPodAutoscaler")}
    scaled |= {d["spec"]["scaleTargetRef"]["name"] for d in of_kind(docs, "ScaledObject")}
    workloads = gateway_workloads(docs)
    assert {d["metadata"]["name"] for d in workloads} == scaled  # every API and worker
    for deployment in workloads:
        assert "replicas" not in deployment["spec"], short(deployment)
    for deployment in gateway_workloads(render("kind")):  # no autoscaler: the values decide
        assert deployment["spec"]["replicas"] == 1


@pytest.mark.parametrize(("switch", "component"), [("autoscaling", "api"), ("keda", "worker")])
def test_each_autoscaler_alone_owns_only_its_own_counts(switch: str, component: str) -> None:
    values = merged(values_for("defaults"), {switch: {"enabled": True}})
    if switch == "keda":
        values["apiVersions"] = ["keda.sh/v1alpha1"]
    for deployment in gateway_workloads(render_values(values)):
        owned = deployment["spec"]["selector"]["matchLabels"]["app.kubernetes.io/component"]
        assert ("replicas" in deployment["spec"]) == (owned != component), short(deployment)


def sleep_seconds(container: Doc) -> int:
    command = container["lifecycle"]["preStop"]["exec"]["command"]
    assert command[0] == "sleep"
    return int(command[1])


@pytest.mark.parametrize("name", ["defaults", "production"])
def test_grace_periods_cover_prestop_and_the_drain_of_each_process(name: str) -> None:
    docs = render(name)
    block = ReclaimingStreamBroker(url="redis://unused").block / 1000  # a read's longest wait
    for deployment in gateway_workloads(docs):
        spec = pod(deployment)
        [container] = spec["containers"]
        grace = spec["terminationGracePeriodSeconds"]
        if container["name"] == "api":
            # Endpoints drop the pod during preStop; then uvicorn drains (kit.serve).
            assert sleep_seconds(container) >= 5
            assert grace > sleep_seconds(container) + GRACEFUL_SHUTDOWN_SECONDS, short(deployment)
            continue
        env = {e["name"]: e.get("value") for e in container["env"]}
        command = container["command"]
        shutdown = float(command[command.index("--shutdown-timeout") + 1])
        settings = ServiceSettings(
            database_url="postgresql://x@db/x",
            task_timeout_seconds=env["TASK_TIMEOUT_SECONDS"],
            worker_stall_seconds=env["WORKER_STALL_SECONDS"],
        )  # the settings the worker starts with, validated as it validates them
        assert grace > block + settings.task_timeout_seconds + shutdown, short(deployment)
    container, _ = edge(docs)
    caddy = json.loads(named(docs, "ConfigMap", "edge")["data"]["caddy.json"])
    drain = int(caddy["apps"]["http"]["grace_period"].removesuffix("s"))
    assert pod(named(docs, "Deployment", "edge"))["terminationGracePeriodSeconds"] > (
        sleep_seconds(container) + drain
    )


def test_the_api_drain_the_chart_assumes_is_the_one_kit_serve_runs() -> None:
    chart = yaml.safe_load((CHART / "values.yaml").read_text())
    assert chart["api"]["drainSeconds"] == GRACEFUL_SHUTDOWN_SECONDS


@pytest.mark.parametrize("name", VALUES)
def test_probes_start_late_time_out_sensibly_and_read_the_right_endpoints(name: str) -> None:
    for deployment in gateway_workloads(render(name)):
        [container] = pod(deployment)["containers"]
        startup, ready, live = (
            container["startupProbe"],
            container["readinessProbe"],
            container["livenessProbe"],
        )
        # Up to a minute to import, open the pool and connect, before liveness counts.
        assert startup["periodSeconds"] * startup["failureThreshold"] >= 60, short(deployment)
        for probe in (startup, ready, live):
            assert probe["timeoutSeconds"] >= 2, short(deployment)
        if container["name"] == "api":
            # /readyz asks Postgres and Redis (2 s socket timeouts): a 1 s probe flaps.
            assert ready["httpGet"] == {"path": "/readyz", "port": "http"}
            assert ready["timeoutSeconds"] > 2
            assert live["httpGet"] == {"path": "/livez", "port": "http"}
        else:
            # Not /metrics: its thread answers while the worker is stuck (kit.probes).
            assert ready["httpGet"] == {"path": "/readyz", "port": "metrics"}
            assert live["httpGet"] == {"path": "/livez", "port": "metrics"}


def selects(selector: dict[str, Any], labels: dict[str, str]) -> bool:
    return all(labels.get(k) == v for k, v in selector["matchLabels"].items())


@pytest.mark.parametrize("name", ["defaults", "production"])
def test_every_api_worker_and_the_edge_has_a_disruption_budget_that_never_blocks_a_drain(
    name: str,
) -> None:
    docs = render(name)
    budgets = of_kind(docs, "PodDisruptionBudget")
    for deployment in [*gateway_workloads(docs), named(docs, "Deployment", "edge")]:
        labels = deployment["spec"]["template"]["metadata"]["labels"]
        [budget] = [b for b in budgets if selects(b["spec"]["selector"], labels)]
        assert budget["spec"] == {
            "maxUnavailable": 1,
            "selector": deployment["spec"]["selector"],
        }, short(deployment)
    assert of_kind(render("kind"), "PodDisruptionBudget") == []  # one replica each there


@pytest.mark.parametrize("name", ["defaults", "production"])
def test_replicas_spread_over_nodes_and_zones(name: str) -> None:
    docs = render(name)
    for deployment in [*gateway_workloads(docs), named(docs, "Deployment", "edge")]:
        constraints = pod(deployment)["topologySpreadConstraints"]
        assert {c["topologyKey"] for c in constraints} == {
            "kubernetes.io/hostname",
            "topology.kubernetes.io/zone",
        }
        for constraint in constraints:
            assert constraint["labelSelector"] == deployment["spec"]["selector"]
            assert constraint["whenUnsatisfiable"] == "ScheduleAnyway"  # kind has one node


# docs/performance.md: one API process serves 600-650 orders/s per core; every Python process
# keeps 80-95 MiB resident under load.
ORDERS_PER_CORE = 600
RESIDENT_MIB = 95


def cores(quantity: str) -> float:
    return int(quantity[:-1]) / 1000 if quantity.endswith("m") else float(quantity)


def mebibytes(quantity: str) -> float:
    number, unit = re.fullmatch(r"(\d+)(Mi|Gi)", quantity).groups()  # type: ignore[union-attr]
    return int(number) * (1024 if unit == "Gi" else 1)


def test_requests_are_sized_from_the_benchmark() -> None:
    """The HPA adds a pod at its CPU target of the request: that must be a real load (a 70 %
    target of 100m added a pod at ~40 orders/s), and memory must cover the resident set."""
    docs = render("production")
    [hpa, *_] = of_kind(docs, "HorizontalPodAutoscaler")
    target = hpa["spec"]["metrics"][0]["resource"]["target"]["averageUtilization"] / 100
    for deployment in gateway_workloads(docs):
        [container] = pod(deployment)["containers"]
        requests, limits = container["resources"]["requests"], container["resources"]["limits"]
        assert mebibytes(requests["memory"]) >= RESIDENT_MIB + 32, short(deployment)
        assert mebibytes(limits["memory"]) >= 2 * mebibytes(requests["memory"])
        if container["name"] == "api":
            assert cores(requests["cpu"]) * target * ORDERS_PER_CORE >= 200, short(deployment)
