"""The gateway side by side with the Node.js reference it replaces, in one run.

Runs the shared harness (`../shared/bench/gateway_bench.py`) against the reference bare
(:18000) and behind the same kind of edge as the gateway (:18080, `seed_edge.sh up`) when they
answer, then against the gateway, with the same options, and prints each figure with the ratio
gateway ÷ reference for both (the edged one is the headline), plus the CPU each side spends per
payment end to end (every process of each side, Postgres and Redis included, sampled with the
harness's `--pid-tree`). Start them first (`TEST_MODE=true TEST_PROCESSING_DELAY=0 make up`; the
reference with `../shared/bench/seed_up.sh`, see its README), then `make bench-compare`.
Options after `--` go to the harness unchanged (`make bench-compare ARGS="-- -d 5"`); the
harness's JSON results stay in `--out` (`.run/bench-compare/`).
"""

import argparse
import json
import os
import subprocess
import sys
import urllib.request
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
HARNESS = ROOT.parent / "shared" / "bench" / "gateway_bench.py"
GATEWAY_PID = ROOT / ".run" / "stack.pid"  # `make up`: its process tree is the whole gateway
# seed_up.sh's and seed_edge.sh's pid files, where those scripts put them by default
SEED_RUN = Path(os.environ.get("SEED_WORK", "/tmp/bench-seed")) / "run"  # noqa: S108
SEED_PG = Path(os.environ.get("PG_DIR", "/tmp/bench-pg")) / "postmaster.pid"  # noqa: S108
DEFAULT = ["-c", "32", "-d", "10", "--warmup", "2", "--e2e-n", "1000", "--repeat", "2"]
FIGURES = [  # (scenario, metric, label)
    ("create-order", "ok_rps", "create-order req/s"),
    ("create-order", "lat_ms.p99", "create-order p99 ms"),
    ("create-order/wrk", "ok_rps", "create-order req/s (wrk)"),
    ("create-payment", "ok_rps", "create-payment req/s"),
    ("create-payment", "lat_ms.p99", "create-payment p99 ms"),
    ("create-payment/wrk", "ok_rps", "create-payment req/s (wrk)"),
    ("e2e", "events_per_s", "e2e final webhooks/s"),
    ("e2e", "e2e_ms.p99", "e2e create → final webhook p99 ms"),
    ("e2e", "lost", "e2e lost"),
    ("e2e", "duplicate_final_deliveries", "e2e duplicated finals"),
    ("e2e", "final_before_pending", "e2e final webhook before pending"),
]


def answers(url: str) -> bool:
    try:
        with urllib.request.urlopen(f"{url}/health", timeout=5):  # noqa: S310 - our own URL
            return True
    except OSError as error:  # includes HTTPError: a 503 still means "up"
        return getattr(error, "code", None) is not None


def pid_trees(name: str) -> list[str]:
    """`--pid-tree LABEL=PID` for every process of one side that is running."""
    if name == "gateway":
        found = {"gateway": GATEWAY_PID}
    else:
        found = {p.stem: p for p in SEED_RUN.glob("*.pid")} | {"postgres": SEED_PG}
        if name == "reference":  # the bare run: its edge (if up) serves nobody
            found.pop("edge", None)
    argv = []
    for label, path in found.items():
        if path.exists():
            argv += ["--pid-tree", f"{label}={path.read_text().split()[0]}"]
    return argv


def run(name: str, url: str, port: int, out: Path, extra: list[str]) -> dict[str, object]:
    result = out / f"{name}.json"
    argv = [
        sys.executable, str(HARNESS), "--base-url", url, "--webhook-port", str(port),
        "--key", "key_test_abc123", "--secret", "secret_test_xyz789",
        "--scenarios", "create-order,create-payment,e2e", "--json-out", str(result),
        *pid_trees(name), *extra,
    ]  # fmt: skip
    print(f"# {name}: {url}", file=sys.stderr, flush=True)
    subprocess.run(argv, check=True, stdout=subprocess.DEVNULL)  # noqa: S603
    summary: dict[str, object] = json.loads(result.read_text())["summary"]
    return summary


def figure(summary: dict[str, object], scenario: str, metric: str) -> float | None:
    found = summary.get(scenario)
    value = found.get(metric) if isinstance(found, dict) else None
    return None if value is None else float(value["median"])


def cell(value: float | None) -> str:
    return "-" if value is None else f"{value:,.1f}"


def cpu_ms_per_payment(summary: dict[str, Any]) -> float | None:
    """CPU of every sampled server process during e2e, per payment (medians of the repeats)."""
    e2e = summary.get("e2e")
    if not isinstance(e2e, dict) or "payments_created" not in e2e:
        return None
    cpu = sum(
        float(v["median"])
        for k, v in e2e.items()
        if k.startswith("resources.") and k.endswith(".cpu_s")
        and k.split(".")[1] not in {"harness", "wrk"}
    )  # fmt: skip
    payments = float(e2e["payments_created"]["median"])
    return 1000 * cpu / payments if cpu and payments else None


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--gateway", default="http://127.0.0.1:8000")
    parser.add_argument("--reference", default="http://127.0.0.1:18000")
    parser.add_argument("--reference-edge", default="http://127.0.0.1:18080")
    parser.add_argument("--out", type=Path, default=ROOT / ".run" / "bench-compare")
    parser.add_argument("harness", nargs="*", help="harness options (after --)")
    args = parser.parse_args()
    extra = args.harness or DEFAULT
    args.out.mkdir(parents=True, exist_ok=True)
    if not answers(args.gateway):
        sys.exit(f"the gateway does not answer at {args.gateway}; start it with `make up`")
    references = {
        name: run(name, url, port, args.out, extra)
        for name, url, port in (
            ("reference", args.reference, 9312),
            ("reference-edge", args.reference_edge, 9313),
        )
        if answers(url)
    }
    if not references:
        print(f"# the reference answers at neither {args.reference} nor {args.reference_edge}:"
              " gateway only", file=sys.stderr)  # fmt: skip
    gateway = run("gateway", args.gateway, 9311, args.out, extra)
    bare, edged = references.get("reference"), references.get("reference-edge")
    print(f"medians of the harness's repeats ({' '.join(extra)})\n")
    print("| figure | reference | reference behind the edge | gateway | ÷ edged | ÷ bare |")
    print("|---|---|---|---|---|---|")
    rows: list[tuple[str, Any]] = [
        (label, (scenario, metric)) for scenario, metric, label in FIGURES
    ]
    rows.append(("e2e CPU per payment, ms (all processes)", None))

    def value(summary: dict[str, Any] | None, what: tuple[str, str] | None) -> float | None:
        if summary is None:
            return None
        return cpu_ms_per_payment(summary) if what is None else figure(summary, *what)

    for label, what in rows:
        ours = value(gateway, what)
        theirs = [value(s, what) for s in (bare, edged)]
        ratios = [f"{ours / t:.2f}" if ours is not None and t else "-" for t in theirs]
        if ours is not None or any(t is not None for t in theirs):
            print(f"| {label} | {cell(theirs[0])} | {cell(theirs[1])} | {cell(ours)}"
                  f" | {ratios[1]} | {ratios[0]} |")  # fmt: skip
    print(
        "\nThe reference sends 2 webhooks per payment (pending is not sent, created is not"
        " sent); the gateway sends the contract's 3 (created, pending, success) plus order.paid."
    )


if __name__ == "__main__":
    main()
