"""The conventions of charts platform teams trust (Bitnami's common helpers): release-scoped
names and labels, pull secrets and scheduling, required Secrets that say what is missing,
credentials only from Secrets, monitoring the operator finds, CRD guards, every image a value."""

import re
from typing import Any
from urllib.parse import parse_qs, urlsplit

import helm_python as helm
import pytest
import yaml
from pydantic import ValidationError

from kit.settings import ServiceSettings
from tests.deploy.chart import (
    CHART,
    CLUSTER_APIS,
    PREFIX,
    VALUES,
    WORKERS,
    Doc,
    containers,
    env_of,
    merged,
    of_kind,
    pod,
    render,
    render_values,
    values_for,
)


def workloads(docs: list[Doc]) -> list[Doc]:
    return [d for d in docs if d["kind"] in {"Deployment", "Job"}]


def fails(values: dict[str, Any], message: str) -> None:
    with pytest.raises(helm.HelmRenderError, match=message):
        render_values(values)


@pytest.mark.parametrize("name", ["kind+observability", "production"])
def test_two_releases_share_a_namespace_without_colliding(name: str) -> None:
    first = render_values(values_for(name), release="blue")
    second = render_values(values_for(name), release="green")
    identities = [{(d["kind"], d["metadata"]["name"]) for d in docs} for docs in (first, second)]
    assert identities[0] & identities[1] == set()
    # Nothing of one release selects the other's pods: Services, budgets, policies, spread.
    green_pods = [d["spec"]["template"]["metadata"]["labels"] for d in workloads(second)]
    for doc in first:
        spec = doc.get("spec", {})
        selectors = [
            spec.get("selector", {}).get("matchLabels")
            if doc["kind"] != "Service"
            else spec.get("selector"),
            spec.get("podSelector", {}).get("matchLabels"),
        ]
        for selector in filter(None, selectors):
            assert selector.get("app.kubernetes.io/instance") == "blue", doc["metadata"]["name"]
            assert not [p for p in green_pods if all(p.get(k) == v for k, v in selector.items())]


def test_names_follow_the_release_and_the_overrides() -> None:
    def edges(values: dict[str, Any], release: str) -> str:
        [service] = [
            s["metadata"]["name"]
            for s in of_kind(render_values(values, release=release), "Service")
            if s["metadata"]["name"].endswith("-edge")
        ]
        return str(service)

    kind = values_for("kind")
    assert edges(kind, "gateway") == "gateway-edge"  # skaffold's release
    assert edges(kind, "shop") == "shop-gateway-edge"
    assert edges({**kind, "fullnameOverride": "pay"}, "shop") == "pay-edge"


@pytest.mark.parametrize("name", VALUES)
def test_every_object_carries_the_release_and_chart_labels(name: str) -> None:
    for doc in render(name):
        labels = doc["metadata"]["labels"]
        assert labels["app.kubernetes.io/instance"] == "gw", doc["metadata"]["name"]
        assert labels["app.kubernetes.io/part-of"] == "payment-gateway"
        assert labels["app.kubernetes.io/managed-by"] == "Helm"
        assert labels["helm.sh/chart"].startswith("gateway-")


SCHEDULING = {
    "imagePullSecrets": [{"name": "regcred"}],
    "nodeSelector": {"pool": "payments"},
    "tolerations": [{"key": "dedicated", "operator": "Equal", "value": "pay"}],
    "affinity": {"nodeAffinity": {"preferredDuringSchedulingIgnoredDuringExecution": []}},
    "priorityClassName": "payments-high",
}


def test_pull_secrets_scheduling_and_the_service_account_reach_every_pod() -> None:
    values = merged(
        values_for("kind+observability"),
        {**SCHEDULING, "serviceAccount": {"annotations": {"iam.example/role": "gw"}}},
    )
    docs = render_values(values)
    [account] = [
        a for a in of_kind(docs, "ServiceAccount") if a["metadata"]["name"] == "gw-gateway"
    ]
    assert account["automountServiceAccountToken"] is False
    assert account["metadata"]["annotations"]["iam.example/role"] == "gw"
    # The migration Jobs are pre-install hooks: their account must exist before them.
    assert account["metadata"]["annotations"]["helm.sh/hook-weight"] == "-20"
    for workload in workloads(docs):
        spec = pod(workload)
        for key, value in SCHEDULING.items():
            assert spec[key] == value, (workload["metadata"]["name"], key)
        if workload["metadata"]["name"] != f"{PREFIX}prometheus":  # its own, for discovery
            assert spec["serviceAccountName"] == "gw-gateway"
            assert spec["automountServiceAccountToken"] is False
    external = merged(values_for("defaults"), {"serviceAccount": {"create": False, "name": "ops"}})
    docs = render_values(external)
    assert of_kind(docs, "ServiceAccount") == []
    assert {pod(w)["serviceAccountName"] for w in workloads(docs)} == {"ops"}


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"postgres": {"existingSecret": ""}}, "postgres.existingSecret is required: the name"),
        ({"internalAuth": {"existingSecret": ""}}, "internalAuth.existingSecret is required"),
        ({"ui": {"existingSecret": ""}}, "ui.existingSecret is required when ENVIRONMENT="),
        ({"postgres": {"host": ""}}, "postgres.host is required"),
        ({"env": {"DATABASE_URL": "x"}}, "env.DATABASE_URL is set by the chart"),
    ],
)
def test_an_install_without_its_secrets_fails_with_what_to_set(
    change: dict[str, Any], message: str
) -> None:
    """Not pods stuck on a missing Secret: `helm install` stops and says what is missing."""
    fails(merged(values_for("defaults"), change), message)


def test_development_ui_needs_no_csrf_secret_but_production_reads_it_from_one() -> None:
    dev = merged(
        values_for("defaults"), {"env": {"ENVIRONMENT": "dev"}, "ui": {"existingSecret": ""}}
    )
    assert "CSRF_SECRET" not in env_of(containers(render_values(dev), "api")["ui-api"])
    csrf = env_of(containers(render("production"), "api")["ui-api"])["CSRF_SECRET"]
    assert csrf["valueFrom"] == {"secretKeyRef": {"name": "gateway-ui", "key": "csrf-secret"}}


@pytest.mark.parametrize("name", ["defaults", "kind", "production"])
def test_database_password_from_the_secret_beside_a_url_without_it(name: str) -> None:
    """DATABASE_URL holds no password (one with `@ : / #` broke the spliced URL); asyncpg takes
    PGPASSWORD from the environment. sslmode is the value's."""
    values = values_for(name)
    secret = f"{PREFIX}db" if name == "kind" else "gateway-db"
    for process, container in {
        **containers(render(name), "api"),
        **containers(render(name), "worker"),
        **containers(render(name), "migrate"),
    }.items():
        env = env_of(container)
        if process == "ui-api":
            assert "DATABASE_URL" not in env
            continue
        service = process.rsplit("-", 1)[0]
        url = urlsplit(env["DATABASE_URL"]["value"])
        assert (url.username, url.password) == (service, None), process
        assert parse_qs(url.query) == {"sslmode": [values["postgres"]["sslmode"]]}
        assert env["PGPASSWORD"]["valueFrom"] == {"secretKeyRef": {"name": secret, "key": service}}


def test_a_development_database_password_is_refused_in_production_through_pgpassword() -> None:
    with pytest.raises(ValidationError, match="PGPASSWORD"):
        ServiceSettings(
            database_url="postgresql://orders@pg/gw?sslmode=require",
            pgpassword="dev-orders",
            environment="production",
            internal_token="k3Jd9-internal-token-of-forty-characters",
        )


def test_the_redis_url_itself_may_come_from_the_secret() -> None:
    values = merged(
        values_for("production"), {"redis": {"urlKey": "url", "perServiceUsers": False}}
    )
    for container in containers(render_values(values), "worker").values():
        env = env_of(container)
        assert env["REDIS_URL"]["valueFrom"] == {
            "secretKeyRef": {"name": "gateway-redis", "key": "url"}
        }
        assert env["REDIS_PASSWORD"]["valueFrom"]["secretKeyRef"]["name"] == "gateway-redis"
    values = merged(values_for("production"), {"redis": {"urlKey": "url"}})  # and its own users
    with pytest.raises(
        helm.HelmRenderError, match=r"perServiceUsers takes the URL from redis\.url"
    ):
        render_values(values)


def test_keda_reaches_the_production_redis_with_tls_and_the_secret() -> None:
    docs = render("production")
    [auth] = of_kind(docs, "TriggerAuthentication")
    for scaled in of_kind(docs, "ScaledObject"):
        [trigger] = scaled["spec"]["triggers"]
        assert trigger["authenticationRef"] == {"name": auth["metadata"]["name"]}
        assert trigger["metadata"]["address"] == "redis.internal:6380"
        assert trigger["metadata"]["enableTLS"] == "true"
    with_user = merged(values_for("production"), {"redis": {"url": "rediss://gw@r.internal/2"}})
    [trigger, *_] = [
        s["spec"]["triggers"][0] for s in of_kind(render_values(with_user), "ScaledObject")
    ]
    assert (trigger["metadata"]["username"], trigger["metadata"]["address"]) == (
        "gw",
        "r.internal:6379",
    )
    assert trigger["metadata"]["databaseIndex"] == "2"


def test_monitoring_objects_carry_the_operators_selector_labels_and_select_this_release() -> None:
    docs = render("production")
    selector_labels = values_for("production")["monitoring"]["labels"]
    for kind in ("ServiceMonitor", "PrometheusRule"):
        [doc] = of_kind(docs, kind)
        assert selector_labels.items() <= doc["metadata"]["labels"].items()
    [monitor] = of_kind(docs, "ServiceMonitor")
    assert monitor["spec"]["selector"]["matchLabels"]["app.kubernetes.io/instance"] == "gw"
    scraped = [
        s["metadata"]["name"]
        for s in of_kind(docs, "Service")
        if monitor["spec"]["selector"]["matchLabels"].items() <= s["metadata"]["labels"].items()
        and "http" in {p["name"] for p in s["spec"]["ports"]}
    ]
    assert sorted(scraped) == sorted(
        [
            f"{PREFIX}{s}-api"
            for s in ("merchants", "orders", "payments", "refunds", "webhooks", "ui")
        ]
        + [f"{PREFIX}{w}-worker-metrics" for w in WORKERS]
    )


@pytest.mark.parametrize(
    ("api", "switch"),
    [
        ("keda.sh/v1alpha1", "keda.enabled"),
        ("gateway.networking.k8s.io/v1", "gatewayApi.enabled"),
        ("monitoring.coreos.com/v1", "monitoring.serviceMonitor"),
    ],
)
def test_custom_resources_need_their_api_on_the_cluster(api: str, switch: str) -> None:
    """Without the CRD, `helm install` would fail on an unknown kind halfway; the chart says so
    before anything is created."""
    values = values_for("production")
    values["apiVersions"] = [a for a in CLUSTER_APIS if a != api]
    fails(values, re.escape(f"{switch} needs the {api} API"))


def test_worker_down_fires_also_when_a_worker_has_no_pod_at_all() -> None:
    """`up == 0` has no series for a worker scaled to zero or never scheduled: absent() does."""
    docs = render("production")
    [rule] = of_kind(docs, "PrometheusRule")
    down = [r for r in rule["spec"]["groups"][0]["rules"] if r["alert"] == "WorkerDown"]
    assert sorted(r["labels"]["worker"] for r in down) == WORKERS
    services = {s["metadata"]["name"] for s in of_kind(docs, "Service")}
    for alert in down:
        job = f"{PREFIX}{alert['labels']['worker']}-worker-metrics"
        assert job in services  # the operator's job label is the Service's name
        assert alert["expr"] == f'absent(up{{job="{job}", namespace="pay"}} == 1)'


def test_images_default_to_the_charts_app_version_never_latest() -> None:
    app_version = yaml.safe_load((CHART / "Chart.yaml").read_text())["appVersion"]
    for container in containers(render("defaults"), "api").values():
        assert container["image"].endswith(f":{app_version}")
    for doc in render("defaults"):
        assert ":latest" not in yaml.safe_dump(doc)


def test_every_image_is_a_value() -> None:
    values = merged(
        values_for("kind+observability"),
        {
            "image": {"registry": "mirror.example/"},
            "edge": {"image": {"repository": "mirror.example/caddy", "tag": "2.8.4"}},
            "devInfrastructure": {
                "postgresImage": "mirror.example/postgres:15",
                "redisImage": "mirror.example/redis:7",
            },
            "devObservability": {
                "prometheusImage": "mirror.example/prometheus:v3",
                "grafanaImage": "mirror.example/grafana:12",
            },
        },
    )
    images = {c["image"] for w in workloads(render_values(values)) for c in pod(w)["containers"]}
    assert len(images) >= 11  # six services, the edge, two stores, two observability images
    assert [i for i in images if not i.startswith("mirror.example/")] == []
