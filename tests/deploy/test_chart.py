"""The Helm chart, linted, rendered for every values file and validated, all offline."""

import ipaddress
import json
import re
from typing import Any

import helm_python as helm
import kubernetes_validate
import pytest
import yaml
from pydantic_settings import BaseSettings

import merchants.settings
import orders.settings
import payments.settings
import refunds.settings
import ui.settings
import webhooks.settings
from devstack.edge import (
    DECLARED_TOO_LARGE_ROUTE,
    LOOPBACK,
    MAX_BODY_BYTES,
    TOO_LARGE_ROUTE,
    UNAVAILABLE_ROUTE,
    UPSTREAM_RETRY,
    load_routes,
)
from devstack.provision import REDIS_STREAMS, redis_acl, schema_sql
from kit.settings import ServiceSettings
from tests.deploy.chart import (
    CHART,
    CRDS,
    KUBE,
    PREFIX,
    ROOT,
    VALUES,
    containers,
    env_of,
    named,
    of_kind,
    pod,
    render,
    render_values,
    short,
    values_for,
)


@pytest.mark.parametrize("name", VALUES)
def test_chart_lints_strictly(name: str) -> None:
    report = helm.lint(str(CHART), values_for(name), strict=True, kube_version=f"v{KUBE}")
    assert report["errors"] == []
    assert [m for m in report["messages"] if m["severity"] >= 2] == []


@pytest.mark.parametrize("name", VALUES)
def test_rendered_manifests_are_valid_kubernetes(name: str) -> None:
    docs = render(name)
    assert docs
    for doc in docs:
        if doc["kind"] in CRDS:
            assert doc["apiVersion"]
            assert doc["metadata"]["name"]
            assert doc["spec"]
            continue
        kubernetes_validate.validate(doc, KUBE, strict=True)


def test_values_schema_refuses_nonsense() -> None:
    bad = {**values_for("defaults"), "services": {"payments": {"enabled": "yes"}}}
    with pytest.raises(helm.HelmValuesError):
        helm.Chart.load(str(CHART)).validate_schema(bad)


@pytest.mark.parametrize("name", VALUES)
def test_pods_are_hardened_with_probes_and_limits(name: str) -> None:
    for deployment in of_kind(render(name), "Deployment"):
        spec = pod(deployment)
        assert spec["securityContext"]["runAsNonRoot"] is True
        for container in spec["containers"]:
            security = container["securityContext"]
            assert security["readOnlyRootFilesystem"] is True
            assert security["allowPrivilegeEscalation"] is False
            assert security["capabilities"]["drop"] == ["ALL"]
            assert container["resources"]["limits"]
            assert container["resources"]["requests"]
            assert container["readinessProbe"]
            assert container["livenessProbe"]


def test_migrations_run_as_hooks_before_the_new_pods() -> None:
    jobs = of_kind(render("kind"), "Job")
    assert {short(j) for j in jobs} == {
        f"{s}-migrate" for s in ("merchants", "orders", "payments", "refunds", "webhooks")
    }
    for job in jobs:
        assert job["metadata"]["annotations"]["helm.sh/hook"] == "pre-install,pre-upgrade"
        [container] = job["spec"]["template"]["spec"]["containers"]
        assert container["command"][:3] == ["python", "-m", "kit.migrate"]


def _ingress_regex(match: str, path: str) -> str:
    return {"exact": f"^{path}$", "prefix": "/" if path == "/" else f"{path}(/|$)", "regex": path}[
        match
    ]


def test_every_route_reaches_its_service_through_ingress_and_httproute() -> None:
    table = load_routes()
    [ingress] = of_kind(render("kind"), "Ingress")
    hostnames = values_for("kind").get("ingress", {}).get("hostnames") or {
        "api": "api.gateway.local",
        "dashboard": "dashboard.gateway.local",
        "checkout": "checkout.gateway.local",
    }
    for host in table.hosts:
        [rule] = [r for r in ingress["spec"]["rules"] if r["host"] == hostnames[host]]
        paths = [(p["path"], p["backend"]["service"]["name"]) for p in rule["http"]["paths"]]
        expected = [
            (_ingress_regex(r.match, r.path), f"{PREFIX}{r.service}-api")
            for r in table.routes
            if r.host == host
        ]
        assert paths == expected
    routes = of_kind(render("production"), "HTTPRoute")
    assert len(routes) == len(table.hosts)
    kinds = {"exact": "Exact", "prefix": "PathPrefix", "regex": "RegularExpression"}
    for route in routes:
        host = short(route)
        rules = [
            (
                r["matches"][0]["path"]["type"],
                r["matches"][0]["path"]["value"],
                r["backendRefs"][0]["name"],
            )
            for r in route["spec"]["rules"]
        ]
        assert rules == [
            (kinds[r.match], r.path, f"{PREFIX}{r.service}-api")
            for r in table.routes
            if r.host == host
        ]


def test_in_cluster_edge_config_is_the_route_table() -> None:
    caddy = json.loads(named(render("kind"), "ConfigMap", "edge")["data"]["caddy.json"])
    table = load_routes()
    for host, port in table.hosts.items():
        server = caddy["apps"]["http"]["servers"][host]
        assert server["listen"] == [f":{port}"]
        assert server["routes"][0] == DECLARED_TOO_LARGE_ROUTE  # the native edge's, exactly
        dials = [r["handle"][-1]["upstreams"][0]["dial"] for r in server["routes"][1:-1]]
        assert dials == [f"{PREFIX}{r.service}-api:80" for r in table.routes if r.host == host]
        for route in server["routes"][1:-1]:
            assert route["handle"][0] == {"handler": "request_body", "max_size": MAX_BODY_BYTES}
            assert route["handle"][-1]["load_balancing"] == UPSTREAM_RETRY
        # the native edge's, exactly
        assert server["errors"]["routes"] == [TOO_LARGE_ROUTE, UNAVAILABLE_ROUTE]
        assert server["trusted_proxies"]["ranges"] == values_for("kind")["trustedProxyNetworks"]
    trusted = ServiceSettings.model_fields["trusted_proxy_networks"].default_factory()  # type: ignore[call-arg,misc]
    assert trusted == LOOPBACK  # natively, the services skip exactly the proxies the edge trusts


def test_every_process_and_the_edge_believe_only_the_configured_proxies() -> None:
    docs = render("kind")
    networks = values_for("kind")["trustedProxyNetworks"]
    caddy = json.loads(named(docs, "ConfigMap", "edge")["data"]["caddy.json"])
    for server in caddy["apps"]["http"]["servers"].values():
        assert server["trusted_proxies"]["ranges"] == networks
    processes = {**containers(docs, "api"), **containers(docs, "worker")}
    assert {"ui-api", "webhooks-worker"} <= processes.keys()
    for name, container in processes.items():
        assert env_of(container)["TRUSTED_PROXY_NETWORKS"]["value"] == ",".join(networks), name


def test_rendering_fails_without_the_proxies_networks() -> None:
    values = {**values_for("defaults"), "trustedProxyNetworks": []}
    with pytest.raises(helm.HelmRenderError, match="trustedProxyNetworks is required"):
        helm.Chart.load(str(CHART)).render(values, name="gw", namespace="pay")


def test_workers_get_their_own_signing_and_verify_keys_and_production_needs_them() -> None:
    workers = containers(render("production"), "worker")
    assert set(workers) == {f"{s}-worker" for s in ("orders", "payments", "refunds", "webhooks")}
    for name, container in workers.items():
        env, service = env_of(container), name.removesuffix("-worker")
        assert env["MESSAGE_SIGNING_KEY"]["valueFrom"]["secretKeyRef"] == {
            "name": "gateway-signing",
            "key": service,
        }, name
        assert env["MESSAGE_VERIFY_KEYS"]["valueFrom"]["secretKeyRef"] == {
            "name": "gateway-signing",
            "key": f"{service}-verify",
        }, name
    for name, container in containers(render("production"), "api").items():
        assert "MESSAGE_SIGNING_KEY" not in env_of(container), name  # only relays sign
    kind = env_of(containers(render("kind"), "worker")["orders-worker"])
    assert "MESSAGE_SIGNING_KEY" not in kind  # development keys
    values = {**values_for("defaults"), "messageSigning": {"existingSecret": ""}}
    with pytest.raises(helm.HelmRenderError, match=r"messageSigning\.existingSecret"):
        helm.Chart.load(str(CHART)).render(values, name="gw", namespace="pay")


def test_dev_postgres_init_is_the_same_sql_as_make_up() -> None:
    init = named(render("kind"), "Secret", "postgres-init")
    values = values_for("kind")
    expected = schema_sql(
        values["postgres"].get("database", "payment_gateway"), values["postgres"]["passwords"]
    )

    def squash(text: str) -> str:
        return re.sub(r"\s+", " ", text).strip()

    assert squash(init["stringData"]["10-schemas.sql"]) == squash(expected)


def test_production_turns_on_autoscaling_keda_and_monitoring() -> None:
    docs = render("production")
    kinds = {d["kind"] for d in docs}
    assert {"HorizontalPodAutoscaler", "ScaledObject", "ServiceMonitor", "PrometheusRule"} <= kinds
    assert "Ingress" not in kinds
    assert not [
        d for d in docs if d["kind"] == "Secret"
    ]  # credentials come from an existing Secret


def test_the_ingress_limits_bodies_as_the_edge_does() -> None:
    [ingress] = of_kind(render("kind"), "Ingress")
    limit = ingress["metadata"]["annotations"]["nginx.ingress.kubernetes.io/proxy-body-size"]
    assert limit == f"{MAX_BODY_BYTES // 1024}k"


def test_production_routes_send_hsts() -> None:
    routes = of_kind(render("production"), "HTTPRoute")
    assert routes
    for route in routes:
        for rule in route["spec"]["rules"]:
            [header] = rule["filters"][0]["responseHeaderModifier"]["set"]
            assert header["name"] == "Strict-Transport-Security"
            assert header["value"].startswith("max-age=31536000")


def test_production_fences_the_webhooks_workers_egress() -> None:
    """DNS, Postgres and Redis (their ports), else only public IPv4 on 80/443 (behind the SSRF
    guard)."""
    spec = named(render("production"), "NetworkPolicy", "webhooks-worker-egress")["spec"]
    assert spec["podSelector"]["matchLabels"] == {
        "app.kubernetes.io/instance": "gw",
        "app.kubernetes.io/name": "webhooks",
        "app.kubernetes.io/component": "worker",
    }
    assert spec["policyTypes"] == ["Egress"]
    dns, stores, web = spec["egress"]
    assert dns == {"ports": [{"protocol": p, "port": 53} for p in ("UDP", "TCP")]}
    assert stores["to"] == [{"ipBlock": {"cidr": "10.20.0.0/16"}}]
    assert [p["port"] for p in stores["ports"]] == [5432, 6380]  # postgres.port, redis.url's
    [public] = web["to"]
    assert public["ipBlock"]["cidr"] == "0.0.0.0/0"
    blocked = [ipaddress.ip_network(c) for c in public["ipBlock"]["except"]]
    for address in ("10.1.2.3", "172.16.0.1", "192.168.1.1", "127.0.0.1", "169.254.169.254",
                    "100.64.0.1"):  # fmt: skip
        assert any(ipaddress.ip_address(address) in network for network in blocked), address
    assert not any(ipaddress.ip_address("93.184.216.34") in network for network in blocked)
    assert [p["port"] for p in web["ports"]] == [80, 443]


def egress_of(docs: list[dict[str, Any]]) -> dict[tuple[str, str], list[dict[str, Any]]]:
    """(name, component) of the pods a policy selects → its egress rules."""
    rules = {}
    for policy in of_kind(docs, "NetworkPolicy"):
        if "Egress" in policy["spec"]["policyTypes"]:
            labels = policy["spec"]["podSelector"]["matchLabels"]
            key = (labels["app.kubernetes.io/name"], labels.get("app.kubernetes.io/component", ""))
            assert key not in rules, key
            rules[key] = policy["spec"]["egress"]
    return rules


def reached(rules: list[dict[str, Any]]) -> set[tuple[str, str | int]]:
    """What the rules admit, besides DNS and the data stores: (pod name or cidr, port)."""
    out: set[tuple[str, str | int]] = set()
    for rule in rules:
        ports = [p["port"] for p in rule.get("ports", [])]
        if ports in ([53, 53], [5432, 6379], [5432, 6380], [5432]):
            continue
        for peer in rule["to"]:
            selected = peer.get("podSelector", {}).get("matchLabels", {})
            name = selected.get("app.kubernetes.io/name") or peer["ipBlock"]["cidr"]
            out |= {(name, port) for port in ports}
    return out


def test_every_gateway_pod_reaches_only_what_it_calls() -> None:
    docs = render("kind")
    egress = egress_of(docs)
    workloads = {
        (d["spec"]["template"]["metadata"]["labels"]["app.kubernetes.io/name"],
         d["spec"]["template"]["metadata"]["labels"].get("app.kubernetes.io/component", ""))
        for d in docs
        if d["kind"] in {"Deployment", "StatefulSet", "Job"}
        and d["spec"]["template"]["metadata"]["labels"]["app.kubernetes.io/name"]
        not in {"prometheus", "grafana"}  # development observability: scrapes everything
    }  # fmt: skip
    assert workloads == egress.keys()
    assert reached(egress[("ui", "api")]) == {("edge", "api")}
    routed = {r["service"] for r in values_for("kind")["edge"]["routes"]}
    assert reached(egress[("edge", "")]) == {(s, "http") for s in routed}
    assert reached(egress[("payments", "api")]) == {
        ("merchants", "internal"),
        ("orders", "internal"),
    }
    assert reached(egress[("refunds", "api")]) == {
        ("merchants", "internal"),
        ("payments", "internal"),
    }
    for service in ("orders", "payments", "refunds"):
        assert reached(egress[(service, "worker")]) == set()
        assert reached(egress[(service, "migrate")]) == set()
    assert reached(egress[("merchants", "api")]) == set()
    assert {cidr for cidr, _ in reached(egress[("webhooks", "worker")])} == {"0.0.0.0/0"}
    assert egress[("postgres", "")] == egress[("redis", "")] == []
    migrate_ports = [p["port"] for rule in egress[("orders", "migrate")] for p in rule["ports"]]
    assert 6379 not in migrate_ports  # a migration reaches Postgres only


def test_per_service_env_and_resources_override_the_shared_ones() -> None:
    values = values_for("kind")
    values["services"]["payments"] = {
        **values["services"]["payments"],
        "env": {"TEST_MODE": "false", "EXTRA": "1"},
        "api": {
            "replicas": 3,
            "resources": {
                "requests": {"cpu": "250m", "memory": "256Mi"},
                "limits": {"cpu": "2", "memory": "512Mi"},
            },
        },
    }
    docs = render_values(values)
    api = named(docs, "Deployment", "payments-api")
    container = pod(api)["containers"][0]
    env = {e["name"]: e.get("value") for e in container["env"]}
    assert (env["TEST_MODE"], env["EXTRA"], api["spec"]["replicas"]) == ("false", "1", 3)
    assert container["resources"]["requests"]["cpu"] == "250m"
    orders = named(docs, "Deployment", "orders-api")
    assert {e["name"]: e.get("value") for e in pod(orders)["containers"][0]["env"]}[
        "TEST_MODE"
    ] == "true"


def test_dev_redis_never_evicts_and_keeps_its_append_only_file_on_a_claim() -> None:
    docs = render("kind")
    spec = pod(named(docs, "Deployment", "redis"))
    command = " ".join(spec["containers"][0]["command"])
    assert "--appendonly yes" in command
    assert "--maxmemory-policy noeviction" in command
    [data] = [v for v in spec["volumes"] if v["name"] == "data"]
    claims = {c["metadata"]["name"] for c in of_kind(docs, "PersistentVolumeClaim")}
    assert data["persistentVolumeClaim"]["claimName"] in claims


@pytest.mark.parametrize("name", VALUES)
def test_every_api_and_worker_reads_the_internal_token_from_a_secret(name: str) -> None:
    docs = render(name)
    processes = {**containers(docs, "api"), **containers(docs, "worker")}
    assert len(processes) == 10  # six APIs, four workers
    ui = env_of(processes.pop("ui-api"))
    # The ui calls only the public API: no internal token, no Redis (least privilege).
    assert not {"INTERNAL_TOKEN", "REDIS_URL", "REDIS_PASSWORD"} & set(ui), name
    for process, container in processes.items():
        token = env_of(container)["INTERNAL_TOKEN"]
        secret = f"{PREFIX}internal" if name.startswith("kind") else "gateway-internal"
        assert token == {
            "name": "INTERNAL_TOKEN",
            "valueFrom": {"secretKeyRef": {"name": secret, "key": "token"}},
        }, process
    for container in containers(docs, "migrate").values():
        assert "INTERNAL_TOKEN" not in env_of(container)


def test_development_values_create_the_internal_token_secret() -> None:
    secret = named(render("kind"), "Secret", "internal")
    assert secret["stringData"] == {"token": values_for("kind")["internalAuth"]["token"]}


@pytest.mark.parametrize(
    ("internal_auth", "message"),
    [
        ({}, "internalAuth.existingSecret is required"),
        ({"existingSecret": "x", "token": "y"}, "not both"),
    ],
)
def test_rendering_fails_without_exactly_one_internal_token_source(
    internal_auth: dict[str, str], message: str
) -> None:
    values = {**values_for("defaults"), "internalAuth": internal_auth}
    with pytest.raises(helm.HelmRenderError, match=message):
        helm.Chart.load(str(CHART)).render(values, name="gw", namespace="pay")


@pytest.mark.parametrize(
    ("name", "secret", "url"),
    [
        ("kind", f"{PREFIX}redis", f"redis://{{}}@{PREFIX}redis:6379/0"),  # the chart's own
        ("production", "gateway-redis", "rediss://{}@redis.internal:6380/0"),
        ("defaults", None, "redis://redis:6379/0"),
    ],
)
def test_redis_password_comes_from_the_secret_beside_a_url_without_credentials(
    name: str, secret: str | None, url: str
) -> None:
    """The password reaches each process as it is in the Secret (REDIS_PASSWORD; kit puts it
    into the URL encoded), never spliced into REDIS_URL, where `@ : / #` would break it. With
    redis.perServiceUsers (kind, production) each service is its own user: the URL names it,
    the password is the Secret's key of its name."""
    docs = render(name)
    processes = {
        **containers(docs, "api"),
        **containers(docs, "worker"),
        **containers(docs, "migrate"),
    }
    assert len(processes) == 15
    assert "REDIS_URL" not in env_of(processes.pop("ui-api"))  # it calls only the public API
    for process, container in processes.items():
        env = env_of(container)
        service = process.rsplit("-", 1)[0]
        assert env["REDIS_URL"]["value"] == url.format(service), process
        if secret is None:
            assert "REDIS_PASSWORD" not in env
            continue
        key = service if "{}" in url else "password"
        assert env["REDIS_PASSWORD"]["valueFrom"] == {"secretKeyRef": {"name": secret, "key": key}}


def test_secret_values_appear_only_in_secrets() -> None:
    values = values_for("kind")
    secrets = [values["redis"]["password"], *values["redis"]["passwords"].values(),
               values["internalAuth"]["token"]]  # fmt: skip
    out = helm.Chart.load(str(CHART)).render(values, name="gw", namespace="pay")
    for path, text in out.items():
        for doc in yaml.safe_load_all(text) if path.endswith(".yaml") else [text]:
            if doc and (not isinstance(doc, dict) or doc["kind"] != "Secret"):
                dumped = yaml.safe_dump(doc)
                assert not [s for s in secrets if s in dumped], (path, doc)
    redis = named(render("kind"), "Secret", "redis")
    assert redis["stringData"] == {"password": values["redis"]["password"],
                                   **values["redis"]["passwords"]}  # fmt: skip
    assert redis["metadata"]["annotations"]["helm.sh/hook"] == "pre-install,pre-upgrade"


def test_dev_redis_has_a_user_per_service_and_its_probe_sends_the_administrators_password() -> None:
    """The development Redis loads the same users as `make up` and compose
    (devstack.provision.redis_acl: tests/e2e/test_redis_users.py checks the rules on a real
    Redis), from a Secret, with the passwords the services get."""
    docs = render("kind")
    deployment = pod(named(docs, "Deployment", "redis"))
    [container] = deployment["containers"]
    command = container["command"]
    path = command[command.index("--aclfile") + 1]
    [mount] = [m for m in container["volumeMounts"] if path.startswith(m["mountPath"] + "/")]
    [volume] = [v for v in deployment["volumes"] if v["name"] == mount["name"]]
    users = next(
        d
        for d in of_kind(docs, "Secret")
        if d["metadata"]["name"] == volume["secret"]["secretName"]
    )
    redis = values_for("kind")["redis"]
    expected = redis_acl({"default": redis["password"], **redis["passwords"]})
    assert users["stringData"][path.rsplit("/", 1)[1]] == expected
    assert set(redis["passwords"]) == set(REDIS_STREAMS)
    assert container["env"] == [
        {
            "name": "REDIS_PASSWORD",
            "valueFrom": {"secretKeyRef": {"name": f"{PREFIX}redis", "key": "password"}},
        },
        {"name": "REDISCLI_AUTH", "value": "$(REDIS_PASSWORD)"},  # read by redis-cli
    ]
    assert container["readinessProbe"]["exec"]["command"] == ["redis-cli", "ping"]


def test_keda_authenticates_to_redis_with_the_same_secret() -> None:
    docs = render("production")
    [auth] = of_kind(docs, "TriggerAuthentication")
    assert auth["spec"]["secretTargetRef"] == [
        {"parameter": "password", "name": "gateway-redis", "key": "password"}
    ]
    scaled = of_kind(docs, "ScaledObject")
    assert len(scaled) == 4
    for scaled_object in scaled:
        [trigger] = scaled_object["spec"]["triggers"]
        assert trigger["authenticationRef"] == {"name": auth["metadata"]["name"]}
        metadata = trigger["metadata"]
        assert (metadata["address"], metadata["enableTLS"], metadata["databaseIndex"]) == (
            "redis.internal:6380",  # redis.url's
            "true",
            "0",
        )


@pytest.mark.parametrize(
    ("redis", "message"),
    [
        ({"url": "redis://redis:6379/0"}, "development Redis needs a password"),
        ({"url": "redis://redis:6379/0", "password": "a", "existingSecret": "b"}, "not both"),
        ({"url": "redis://redis:6379/0", "urlKey": "url"}, "needs redis.existingSecret"),
    ],
)
def test_rendering_fails_on_a_missing_or_ambiguous_redis_password(
    redis: dict[str, str], message: str
) -> None:
    values = {**values_for("kind"), "redis": redis}
    with pytest.raises(helm.HelmRenderError, match=message):
        helm.Chart.load(str(CHART)).render(values, name="gw", namespace="pay")


def test_values_schema_refuses_credentials_in_the_redis_url() -> None:
    bad = {**values_for("kind"), "redis": {"url": "redis://:pw@redis:6379/0"}}
    with pytest.raises(helm.HelmValuesError):
        helm.Chart.load(str(CHART)).validate_schema(bad)


def admitted(policy: dict[str, Any]) -> set[tuple[str, str]]:
    """(peer, port) pairs a policy lets in: `pod:<name>/<component>` or `ns:<name>`."""
    pairs = set()
    for rule in policy["spec"].get("ingress") or []:
        assert rule.get("from"), f"{policy['metadata']['name']} admits every source"
        assert rule.get("ports"), f"{policy['metadata']['name']} admits every port"
        for peer in rule["from"]:
            if "namespaceSelector" in peer:
                assert "podSelector" not in peer
                peer_name = (
                    f"ns:{peer['namespaceSelector']['matchLabels']['kubernetes.io/metadata.name']}"
                )
            else:
                labels = peer["podSelector"].get("matchLabels", {})
                # A pod peer is one of this release's pods, never another release's.
                assert labels["app.kubernetes.io/instance"] == "gw", policy["metadata"]["name"]
                name = labels.get("app.kubernetes.io/name", "*")
                component = labels.get("app.kubernetes.io/component")
                for expression in peer["podSelector"].get("matchExpressions", []):
                    assert expression["operator"] == "In"
                    component = ",".join(expression["values"])
                peer_name = f"pod:{name}/{component}" if component else f"pod:{name}"
            pairs |= {(peer_name, str(port["port"])) for port in rule["ports"]}
    return pairs


def policies(name: str) -> dict[str, dict[str, Any]]:
    return {short(p): p for p in of_kind(render(name), "NetworkPolicy")}


def selector(name: str, component: str) -> dict[str, str]:
    return {
        "app.kubernetes.io/instance": "gw",
        "app.kubernetes.io/name": name,
        "app.kubernetes.io/component": component,
    }


PUBLIC = {("pod:edge", "http"), ("ns:ingress-nginx", "http")}
METRICS = {("ns:monitoring", "http")}


def scrapers(name: str, port: str) -> set[tuple[str, str]]:
    """The monitoring namespace's Prometheus, and with devObservability the release's own."""
    own = {("pod:prometheus", port)} if "observability" in name else set()
    return {("ns:monitoring", port)} | own


@pytest.mark.parametrize("name", ["defaults", "kind"])
def test_each_api_admits_the_public_its_internal_callers_and_prometheus_only(name: str) -> None:
    by_name = policies(name)
    callers = {
        "merchants": {f"pod:{s}/api" for s in ("orders", "payments", "refunds", "webhooks")},
        "orders": {"pod:payments/api"},
        "payments": {"pod:refunds/api"},
    }
    for service in ("merchants", "orders", "payments", "refunds", "webhooks", "ui"):
        policy = by_name[f"{service}-api"]
        assert policy["spec"]["podSelector"]["matchLabels"] == selector(service, "api")
        internal = {(peer, "internal") for peer in callers.get(service, set())}
        assert admitted(policy) == PUBLIC | internal | METRICS, service
    merchants = {peer for peer, _ in admitted(by_name["merchants-api"])}
    assert "pod:ui/api" not in merchants
    assert not [peer for peer in merchants if peer.endswith("/worker")]


def test_internal_routes_are_served_and_called_on_their_own_port() -> None:
    docs = render("kind")
    for deployment in of_kind(docs, "Deployment"):
        name = short(deployment)
        if not name.endswith("-api") or name == "ui-api":
            continue
        [container] = pod(deployment)["containers"]
        assert container["command"][-2:] == ["--internal-port", "8001"], name
        assert {"name": "internal", "containerPort": 8001} in container["ports"], name
        urls = {e["name"]: e.get("value") for e in container["env"] if e["name"].endswith("S_URL")}
        for other in ("MERCHANTS", "ORDERS", "PAYMENTS"):
            assert urls[f"{other}_URL"] == f"http://{PREFIX}{other.lower()}-api:8001", name
    ports = {p["name"]: p["port"] for p in named(docs, "Service", "orders-api")["spec"]["ports"]}
    assert ports == {"http": 80, "internal": 8001}


@pytest.mark.parametrize("name", VALUES)
def test_workers_admit_only_prometheus_and_the_edge_only_the_ui(name: str) -> None:
    by_name = policies(name)
    for service in ("orders", "payments", "refunds", "webhooks"):
        policy = by_name[f"{service}-worker"]
        assert policy["spec"]["podSelector"]["matchLabels"] == selector(service, "worker")
        assert admitted(policy) == scrapers(name, "metrics")  # WORKER_METRICS_PORT
    assert admitted(by_name["edge"]) == {("pod:ui/api", "api")}


def test_internal_callers_are_the_apis_configured_with_the_callees_url() -> None:
    """A service reaches another's internal API through `<callee>_URL` in its settings, from its
    API only: its worker modules never read those URLs."""
    settings: dict[str, type[BaseSettings]] = {
        "merchants": merchants.settings.Settings,
        "orders": orders.settings.Settings,
        "payments": payments.settings.Settings,
        "refunds": refunds.settings.Settings,
        "webhooks": webhooks.settings.Settings,
        "ui": ui.settings.Settings,
    }
    expected: dict[str, list[str]] = {}
    for caller, cls in settings.items():
        for callee in settings:
            if f"{callee}_url" in cls.model_fields:
                expected.setdefault(callee, []).append(f"{caller}-api")
            for module in ("worker.py", "tasks.py"):
                path = ROOT / "services" / caller / "src" / caller / module
                assert not path.exists() or f"{callee}_url" not in path.read_text(), path
    # ADR 0011, for one release: a payments pod of the previous version still reads orders
    # over HTTP during a rolling deploy.
    expected.setdefault("orders", []).append("payments-api")
    chart = yaml.safe_load((CHART / "values.yaml").read_text())
    assert chart["networkPolicy"]["internalCallers"] == expected


def test_production_admits_the_gateway_proxies_namespace() -> None:
    by_name = policies("production")
    for service in ("merchants", "orders", "payments", "refunds", "webhooks", "ui"):
        peers = admitted(by_name[f"{service}-api"])
        assert ("ns:envoy-gateway-system", "http") in peers
        assert ("ns:ingress-nginx", "http") not in peers


def test_a_service_nothing_routes_to_admits_no_public_traffic() -> None:
    values = values_for("kind")
    values["edge"] = {
        **values["edge"],
        "routes": [r for r in values["edge"]["routes"] if r["service"] != "refunds"],
    }
    refunds = named(render_values(values), "NetworkPolicy", "refunds-api")
    assert admitted(refunds) == METRICS


def test_dev_data_stores_admit_only_the_gateways_processes() -> None:
    by_name = policies("kind")
    assert admitted(by_name["postgres"]) == {("pod:*/api,worker,migrate", "5432")}
    assert admitted(by_name["redis"]) == {("pod:*/api,worker", "6379")}
    for store in ("postgres", "redis"):
        [peer] = by_name[store]["spec"]["ingress"][0]["from"]
        assert peer["podSelector"]["matchLabels"] == {
            "app.kubernetes.io/part-of": "payment-gateway",
            "app.kubernetes.io/instance": "gw",
        }


def _selects(selector: dict[str, Any], labels: dict[str, str]) -> bool:
    return all(labels.get(k) == v for k, v in selector.get("matchLabels", {}).items()) and all(
        labels.get(e["key"]) in e["values"] for e in selector.get("matchExpressions", [])
    )


@pytest.mark.parametrize("name", VALUES)
def test_every_gateway_pod_is_fenced_by_a_default_deny_and_its_own_policy(name: str) -> None:
    docs = render(name)
    by_name = {short(p): p for p in of_kind(docs, "NetworkPolicy")}
    deny = by_name.pop("default-deny")["spec"]
    assert (deny["policyTypes"], deny.get("ingress")) == (["Ingress"], None)
    for policy in by_name.values():
        admitted(policy)  # every rule names its sources and its ports
    for workload in [*of_kind(docs, "Deployment"), *of_kind(docs, "Job")]:
        labels = workload["spec"]["template"]["metadata"]["labels"]
        assert _selects(deny["podSelector"], labels), workload["metadata"]["name"]
        own = [
            p
            for p in by_name.values()
            if "Ingress" in p["spec"]["policyTypes"] and _selects(p["spec"]["podSelector"], labels)
        ]
        if workload["kind"] == "Deployment":
            assert len(own) == 1, workload["metadata"]["name"]
        else:
            assert own == []  # a migration Job takes no connections


def test_production_ingress_terminates_tls_for_every_host() -> None:
    values = values_for("defaults")
    [ingress] = of_kind(render("defaults"), "Ingress")
    hostnames = values["ingress"].get("hostnames") or {
        "api": "api.gateway.local", "dashboard": "dashboard.gateway.local",
        "checkout": "checkout.gateway.local",
    }  # fmt: skip
    assert ingress["spec"]["tls"] == [
        {"hosts": sorted(hostnames.values()), "secretName": "gateway-tls"}
    ]
    without = {**values, "ingress": {"tlsSecret": ""}}
    with pytest.raises(helm.HelmRenderError, match=r"ingress\.tlsSecret is required"):
        helm.Chart.load(str(CHART)).render(without, name="gw", namespace="pay")
    assert "tls" not in of_kind(render("kind+minikube"), "Ingress")[0]["spec"]  # development


@pytest.mark.parametrize("name", VALUES)
def test_no_password_or_token_is_in_a_config_map(name: str) -> None:
    values = values_for(name)
    secrets = [
        *(values.get("postgres", {}).get("passwords") or {}).values(),
        values.get("redis", {}).get("password"),
        values.get("internalAuth", {}).get("token"),
        values.get("ui", {}).get("csrfSecret"),
    ]
    secrets = [s for s in secrets if s]
    for config_map in of_kind(render(name), "ConfigMap"):
        text = json.dumps(config_map.get("data", {}))
        leaked = [s for s in secrets if s in text]
        assert not leaked, f"{config_map['metadata']['name']} holds a secret"


def test_a_release_that_does_not_say_where_it_runs_does_not_render() -> None:
    values = {**values_for("defaults"), "env": {}}
    with pytest.raises(helm.HelmRenderError, match=r"env\.ENVIRONMENT is required"):
        helm.Chart.load(str(CHART)).render(values, name="gw", namespace="pay")
