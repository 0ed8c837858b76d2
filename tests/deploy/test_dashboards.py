"""Every metric a dashboard (or alert) queries is one a service really exports."""

import json
import re
from pathlib import Path

from prometheus_client import REGISTRY

import kit.consumer
import kit.outbox
import kit.telemetry
import kit.worker
import payments.metrics
import refunds.metrics
import webhooks.metrics

ROOT = Path(__file__).resolve().parents[2]
MODULES = (
    kit.consumer,
    kit.outbox,
    kit.telemetry,
    kit.worker,
    payments.metrics,
    refunds.metrics,
    webhooks.metrics,
)
PROMQL_WORDS = {
    "sum",
    "max",
    "min",
    "avg",
    "rate",
    "increase",
    "by",
    "without",
    "histogram_quantile",
    "and",
    "or",
    "unless",
    "on",
    "ignoring",
    "bool",
    "offset",
    "absent",
    "count",
}


def exported() -> set[str]:
    names: set[str] = set()
    for family in REGISTRY.collect():
        suffixes = {"counter": ["_total"], "histogram": ["_bucket", "_sum", "_count"]}.get(
            family.type, [""]
        )
        names.update(family.name + suffix for suffix in suffixes)
    return names


def metric_names(expr: str) -> set[str]:
    without_labels = re.sub(r"\{[^}]*\}", "", expr)
    without_groupings = re.sub(r"\b(by|without)\s*\([^)]*\)", "", without_labels)
    without_ranges = re.sub(r"\[[^\]]*\]", "", without_groupings)
    words = set(re.findall(r"[a-zA-Z_][a-zA-Z0-9_]*", without_ranges))
    return {w for w in words if w not in PROMQL_WORDS and not re.fullmatch(r"\d+[smhd]?", w)}


def queried() -> dict[str, set[str]]:
    found: dict[str, set[str]] = {}
    for path in (ROOT / "charts/gateway/dashboards").glob("*.json"):
        for panel in json.loads(path.read_text())["panels"]:
            for target in panel["targets"]:
                found.setdefault(path.name, set()).update(metric_names(target["expr"]))
    return found


def test_dashboards_query_only_exported_metrics() -> None:
    assert MODULES
    available = exported()
    by_file = queried()
    assert by_file, "no dashboards found"
    for name, metrics in by_file.items():
        assert metrics - available == set(), f"{name} queries metrics nobody exports"


def test_the_parser_finds_metrics() -> None:
    assert metric_names('sum by (job) (rate(http_requests_total{status=~"5.."}[5m]))') == {
        "http_requests_total"
    }


def test_alerts_query_only_exported_metrics() -> None:
    from tests.deploy.chart import of_kind, render

    [rule] = of_kind(render("production"), "PrometheusRule")
    alerts = rule["spec"]["groups"][0]["rules"]
    assert {a["alert"] for a in alerts} >= {
        "GatewayHighErrorRate",
        "WebhookBacklog",
        "WorkerDown",
        "QueueLag",
        "WebhookEndpointDisabled",
        "OutboxBacklog",
        "RedisMemoryHigh",
    }
    available = exported() | {"up"}  # `up` is Prometheus's own
    runbooks = {
        line.removeprefix("## ").strip().lower()
        for line in (ROOT / "docs/operations.md").read_text().splitlines()
        if line.startswith("## ")
    }
    for alert in alerts:
        assert metric_names(alert["expr"]) - available == set(), alert["alert"]
        runbook = alert["annotations"]["runbook"]
        assert runbook.startswith("docs/operations.md#")
        assert runbook.removeprefix("docs/operations.md#") in runbooks, alert["alert"]
