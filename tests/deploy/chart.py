"""Rendering the Helm chart offline for the deploy tests: values files, documents, lookups."""

import copy
import functools
from pathlib import Path
from typing import Any

import helm_python as helm
import yaml

ROOT = Path(__file__).resolve().parents[2]
CHART = ROOT / "charts" / "gateway"
KUBE = "1.33.0"
RELEASE, NAMESPACE = "gw", "pay"
PREFIX = "gw-gateway-"  # the release's fullname: <release>-gateway, as "gw" lacks "gateway"
# Custom resources have no bundled schema: checked by the tests for the fields we rely on.
CRDS = {"HTTPRoute", "ServiceMonitor", "PrometheusRule", "ScaledObject", "TriggerAuthentication"}
# What a cluster with KEDA, Gateway API and the Prometheus Operator serves; production's values
# need them (the chart refuses those objects otherwise), and offline nothing is served.
CLUSTER_APIS = ["keda.sh/v1alpha1", "gateway.networking.k8s.io/v1", "monitoring.coreos.com/v1"]
EXTERNAL_DB = {
    "host": "pg",
    "port": 5432,
    "database": "payment_gateway",
    "sslmode": "prefer",
    "existingSecret": "gateway-db",
}
SERVICES = ["merchants", "orders", "payments", "refunds", "webhooks", "ui"]
WORKERS = ["orders", "payments", "refunds", "webhooks"]

Doc = dict[str, Any]


def merged(base: dict[str, Any], overlay: dict[str, Any]) -> dict[str, Any]:
    """`overlay` over `base` as Helm merges `-f` files: maps key by key, anything else replaced."""
    out = dict(base)
    for key, value in overlay.items():
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = merged(out[key], value)
        else:
            out[key] = value
    return out


# Production's message signing (kit.signing): a Secret of each worker's keys.
SIGNING = {"existingSecret": "gateway-signing"}


def values_for(name: str) -> dict[str, Any]:
    """routes.yaml plus a values set: `defaults` (the chart's own, with the Secrets and the
    ENVIRONMENT it requires named), `kind`, `production` (on a cluster serving its CRDs), or
    `a+b` for both overlays."""
    values: dict[str, Any] = yaml.safe_load((ROOT / "k8s/values/routes.yaml").read_text())
    if name == "defaults":
        return {
            **values,
            "postgres": EXTERNAL_DB,
            "internalAuth": {"existingSecret": "gateway-internal"},
            "trustedProxyNetworks": ["10.8.0.0/14"],
            "ui": {"existingSecret": "gateway-ui"},
            "ingress": {"tlsSecret": "gateway-tls"},
            "env": {"ENVIRONMENT": "production"},
            "messageSigning": SIGNING,
        }
    for part in name.split("+"):
        values = merged(values, yaml.safe_load((ROOT / f"k8s/values/{part}.yaml").read_text()))
    if "production" in name:
        values["apiVersions"] = CLUSTER_APIS
    return values


# Every values file under k8s/values that is a values set of its own, and the overlays.
VALUES = ["defaults", "kind", "kind+minikube", "kind+observability", "production"]


def render_values(
    values: dict[str, Any], release: str = RELEASE, namespace: str = NAMESPACE
) -> list[Doc]:
    out = helm.Chart.load(str(CHART)).render(values, name=release, namespace=namespace)
    docs: list[Doc] = []
    for path, text in out.items():
        if path.endswith(".yaml"):
            docs.extend(d for d in yaml.safe_load_all(text) if d)
    return docs


@functools.cache
def _rendered(name: str) -> list[Doc]:
    return render_values(values_for(name))


def render(name: str) -> list[Doc]:
    """A values set rendered once per session (a render takes about a second); a copy each
    call, so a test may change what it gets."""
    return copy.deepcopy(_rendered(name))


def of_kind(docs: list[Doc], kind: str) -> list[Doc]:
    return [d for d in docs if d["kind"] == kind]


def named(docs: list[Doc], kind: str, name: str) -> Doc:
    """The one `kind` named <fullname>-`name`."""
    [doc] = [d for d in of_kind(docs, kind) if d["metadata"]["name"] == PREFIX + name]
    return doc


def short(doc: Doc) -> str:
    return str(doc["metadata"]["name"]).removeprefix(PREFIX)


def pod(workload: Doc) -> Doc:
    spec: Doc = workload["spec"]["template"]["spec"]
    return spec


def containers(docs: list[Doc], component: str) -> dict[str, Doc]:
    """`<service>-<component>` → its container, for the gateway's APIs, workers or migrations."""
    return {
        short(d): pod(d)["containers"][0]
        for d in docs
        if d["kind"] in {"Deployment", "Job"}
        and d["spec"]["template"]["metadata"]["labels"].get("app.kubernetes.io/component")
        == component
    }


def env_of(container: Doc) -> dict[str, Doc]:
    return {e["name"]: e for e in container["env"]}
