"""checkov on the rendered chart (every values file) and on the Dockerfiles: no finding that is
not fixed or explicitly accepted in .checkov.yaml (with its reason)."""

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import helm_python as helm

from tests.deploy.chart import values_for

ROOT = Path(__file__).resolve().parents[2]
CHECKOV = Path(sys.executable).parent / "checkov"
SERVICES = ["merchants", "orders", "payments", "refunds", "webhooks", "ui"]


def checkov(framework: str, files: list[Path]) -> list[dict[str, Any]]:
    args = [
        str(CHECKOV),
        "--config-file",
        str(ROOT / ".checkov.yaml"),
        "--framework",
        framework,
        "--quiet",
        "--compact",
        "--skip-download",
        "-o",
        "json",
    ]
    for path in files:
        args += ["-f", str(path)]
    env = {**os.environ, "BC_SKIP_MAPPING": "TRUE"}
    done = subprocess.run(args, capture_output=True, text=True, env=env, check=False, timeout=300)
    report = json.loads(done.stdout)
    return report if isinstance(report, list) else [report]


def summary_and_failures(reports: list[dict[str, Any]]) -> tuple[int, list[str]]:
    passed = sum(r["summary"]["passed"] for r in reports)
    failures = [
        f"{f['check_id']} {f['check_name']} ({f['resource']})"
        for r in reports
        for f in r["results"]["failed_checks"]
    ]
    assert all(r["summary"]["parsing_errors"] == 0 for r in reports)
    return passed, failures


def test_rendered_chart_passes_checkov(tmp_path: Path) -> None:
    files = []
    for name in ("kind+observability", "production"):
        rendered = helm.Chart.load(str(ROOT / "charts/gateway")).render(
            values_for(name), name="gw", namespace="pay"
        )
        path = tmp_path / f"{name}.yaml"
        path.write_text("\n---\n".join(t for p, t in rendered.items() if p.endswith(".yaml")))
        files.append(path)
    passed, failures = summary_and_failures(checkov("kubernetes", files))
    assert passed > 1000
    assert failures == []


def test_dockerfiles_pass_checkov() -> None:
    dockerfiles = [ROOT / f"services/{service}/Dockerfile" for service in SERVICES]
    passed, failures = summary_and_failures(checkov("dockerfile", dockerfiles))
    assert passed > 10 * len(SERVICES)
    assert failures == []
