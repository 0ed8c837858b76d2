"""skaffold.yaml against its schema and against the chart it deploys: every image built and
set, every profile's values files present, every port-forward reaching a rendered Service."""

import copy
import json
import re
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import yaml

from tests.deploy.chart import (
    CHART,
    ROOT,
    SERVICES,
    Doc,
    merged,
    of_kind,
    render_values,
    values_for,
)


def config() -> dict[str, Any]:
    loaded: dict[str, Any] = yaml.safe_load((ROOT / "skaffold.yaml").read_text())
    return loaded


def with_profiles(*names: str) -> dict[str, Any]:
    """The config as skaffold runs it with these profiles (their JSON patches, in order). The
    profiles only append (`add` at `/-`, never by index), which is all this applies."""
    result = copy.deepcopy(config())
    profiles = {p["name"]: p for p in result.pop("profiles")}
    for name in names:
        for patch in profiles[name].get("patches", []):
            assert patch["op"] == "add", patch
            *parents, last = patch["path"].strip("/").split("/")
            target: Any = result
            for key in parents:
                target = target[int(key)] if isinstance(target, list) else target[key]
            if last == "-":
                target.append(copy.deepcopy(patch["value"]))
            else:
                target[last] = copy.deepcopy(patch["value"])
    return result


def deployed(skaffold: dict[str, Any]) -> list[Doc]:
    """What `skaffold dev` installs: its release's values files, deep-merged as Helm does."""
    [release] = skaffold["deploy"]["helm"]["releases"]
    values: dict[str, Any] = {}
    for path in release["valuesFiles"]:
        values = merged(values, yaml.safe_load((ROOT / path).read_text()))
    assert Path(ROOT / release["chartPath"]) == CHART
    return render_values(values, release=release["name"], namespace=release["namespace"])


def test_skaffold_matches_its_schema_and_builds_and_sets_every_image(schemas_dir: Path) -> None:
    schema = json.loads((schemas_dir / "skaffold-v4beta14.json").read_text())
    jsonschema.Draft7Validator(schema).validate(config())
    artifacts = {a["image"]: a["docker"]["dockerfile"] for a in config()["build"]["artifacts"]}
    assert artifacts == {f"payment-gateway/{s}": f"services/{s}/Dockerfile" for s in SERVICES}
    [release] = config()["deploy"]["helm"]["releases"]
    assert release["setValueTemplates"] == {
        f"services.{s}.image": f"{{{{.IMAGE_FULLY_QUALIFIED_payment_gateway_{s}}}}}"
        for s in SERVICES
    }
    profiles = {p["name"]: p for p in config()["profiles"]}
    assert profiles["kind"]["activation"] == [{"kubeContext": "kind-.*"}]
    assert profiles["minikube"]["activation"] == [{"kubeContext": "minikube"}]
    values = values_for("kind")
    values["services"] = {
        s: {**v, "image": f"registry.local/{s}@sha256:abc"} for s, v in values["services"].items()
    }
    images = {
        c["image"]
        for d in render_values(values)
        if d["kind"] in {"Deployment", "Job"}
        for c in d["spec"]["template"]["spec"]["containers"]
        if c["image"].startswith("registry.local/")
    }
    assert images == {f"registry.local/{s}@sha256:abc" for s in SERVICES}


@pytest.mark.parametrize(
    "profiles", [("kind",), ("minikube",), ("kind", "observability"), ("minikube", "observability")]
)
def test_every_port_forward_reaches_a_port_of_a_rendered_service(profiles: tuple[str, ...]) -> None:
    """The forwards name Services by their rendered, release-scoped names: a rename in the chart
    that skaffold.yaml does not follow leaves `skaffold dev` forwarding to nothing."""
    skaffold = with_profiles(*profiles)
    for release in skaffold["deploy"]["helm"]["releases"]:
        for path in release["valuesFiles"]:
            assert (ROOT / path).exists(), path
    services = {s["metadata"]["name"]: s for s in of_kind(deployed(skaffold), "Service")}
    forwards = skaffold["portForward"]
    assert {f["localPort"] for f in forwards} >= {8000, 3000, 3001}
    for forward in forwards:
        assert forward["resourceType"] == "service"
        assert forward["namespace"] == skaffold["deploy"]["helm"]["releases"][0]["namespace"]
        service = services[forward["resourceName"]]
        assert forward["port"] in {p["port"] for p in service["spec"]["ports"]}, forward
    if "observability" in profiles:
        assert {f["localPort"] for f in forwards} >= {9090, 3100}


def test_the_observability_profile_brings_prometheus_and_grafana_with_the_dashboards() -> None:
    docs = deployed(with_profiles("kind", "observability"))
    names = {d["metadata"]["name"] for d in of_kind(docs, "Deployment")}
    assert {"gateway-prometheus", "gateway-grafana"} <= names
    assert not {"gateway-prometheus", "gateway-grafana"} & {
        d["metadata"]["name"] for d in of_kind(deployed(with_profiles("kind")), "Deployment")
    }


def grafana_files(docs: list[Doc]) -> dict[str, str]:
    maps = {d["metadata"]["name"]: d["data"] for d in of_kind(docs, "ConfigMap")}
    return {**maps["gateway-grafana"], **maps["gateway-grafana-dashboards"]}


def test_grafana_has_prometheus_as_default_source_and_every_dashboard_provisioned() -> None:
    docs = deployed(with_profiles("kind", "observability"))
    files = grafana_files(docs)
    [source] = yaml.safe_load(files["datasources.yml"])["datasources"]
    assert source["isDefault"] is True
    [prometheus] = [
        s for s in of_kind(docs, "Service") if s["metadata"]["name"] == "gateway-prometheus"
    ]
    assert source["url"] == f"http://gateway-prometheus:{prometheus['spec']['ports'][0]['port']}"
    [provider] = yaml.safe_load(files["dashboards.yml"])["providers"]
    [grafana] = [
        d for d in of_kind(docs, "Deployment") if d["metadata"]["name"] == "gateway-grafana"
    ]
    mounts = {
        m["mountPath"]: m["name"]
        for m in grafana["spec"]["template"]["spec"]["containers"][0]["volumeMounts"]
    }
    assert mounts[provider["options"]["path"]] == "dashboards"
    for dashboard in (CHART / "dashboards").glob("*.json"):
        assert json.loads(files[dashboard.name]) == json.loads(dashboard.read_text())


def relabel_keeps(config: dict[str, Any], labels: dict[str, str]) -> bool:
    """Prometheus's `keep` relabelling (anchored regex over `;`-joined source labels)."""
    for rule in config["relabel_configs"]:
        if rule.get("action") != "keep":
            continue
        joined = ";".join(labels.get(name, "") for name in rule["source_labels"])
        if not re.fullmatch(rule["regex"], joined):
            return False
    return True


def discovery_labels(service: Doc, port: dict[str, Any]) -> dict[str, str]:
    labels = {
        "__meta_kubernetes_service_label_" + re.sub(r"[^a-zA-Z0-9_]", "_", k): v
        for k, v in service["metadata"]["labels"].items()
    }
    return {**labels, "__meta_kubernetes_endpointslice_port_name": port.get("name", "")}


def test_the_dev_prometheus_scrapes_every_api_and_worker_and_loads_the_alert_rules() -> None:
    skaffold = with_profiles("kind", "observability")
    docs = deployed(skaffold)
    maps = {d["metadata"]["name"]: d["data"] for d in of_kind(docs, "ConfigMap")}
    prometheus = yaml.safe_load(maps["gateway-prometheus"]["prometheus.yml"])
    [job] = prometheus["scrape_configs"]
    kept = {
        service["metadata"]["name"]
        for service in of_kind(docs, "Service")
        for port in service["spec"]["ports"]
        if relabel_keeps(job, discovery_labels(service, port))
    }
    assert kept == {f"gateway-{s}-api" for s in SERVICES} | {
        f"gateway-{w}-worker-metrics" for w in ("orders", "payments", "refunds", "webhooks")
    }
    # The same rules a Prometheus Operator would load from the PrometheusRule.
    [release] = skaffold["deploy"]["helm"]["releases"]
    values: dict[str, Any] = {}
    for path in release["valuesFiles"]:
        values = merged(values, yaml.safe_load((ROOT / path).read_text()))
    values = merged(
        values,
        {"monitoring": {"prometheusRule": True}, "apiVersions": ["monitoring.coreos.com/v1"]},
    )
    [rule] = of_kind(
        render_values(values, release="gateway", namespace="payment-gateway"), "PrometheusRule"
    )
    loaded = yaml.safe_load(maps["gateway-prometheus"]["rules.yml"])
    assert loaded["groups"] == rule["spec"]["groups"]
    assert prometheus["rule_files"] == ["/etc/prometheus/rules.yml"]
