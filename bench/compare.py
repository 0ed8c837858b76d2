"""The gateway side by side with the Node.js reference it replaces, in one run.

Runs the shared harness (`../shared/bench/gateway_bench.py`) against the reference when it
answers, then against the gateway, with the same options, and prints each figure with the
ratio gateway ÷ reference. Start both first (`TEST_MODE=true TEST_PROCESSING_DELAY=0 make up`;
the reference with `../shared/bench/seed_up.sh`, see its README), then `make bench-compare`.
Options after `--` go to the harness unchanged (`make bench-compare ARGS="-- -d 5"`); the
harness's JSON results stay in `--out` (`.run/bench-compare/`).
"""

import argparse
import json
import subprocess
import sys
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
HARNESS = ROOT.parent / "shared" / "bench" / "gateway_bench.py"
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
]


def answers(url: str) -> bool:
    try:
        with urllib.request.urlopen(f"{url}/health", timeout=5):  # noqa: S310 - our own URL
            return True
    except OSError as error:  # includes HTTPError: a 503 still means "up"
        return getattr(error, "code", None) is not None


def run(name: str, url: str, port: int, out: Path, extra: list[str]) -> dict[str, object]:
    result = out / f"{name}.json"
    argv = [
        sys.executable, str(HARNESS), "--base-url", url, "--webhook-port", str(port),
        "--key", "key_test_abc123", "--secret", "secret_test_xyz789",
        "--scenarios", "create-order,create-payment,e2e", "--json-out", str(result), *extra,
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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--gateway", default="http://127.0.0.1:8000")
    parser.add_argument("--reference", default="http://127.0.0.1:18000")
    parser.add_argument("--out", type=Path, default=ROOT / ".run" / "bench-compare")
    parser.add_argument("harness", nargs="*", help="harness options (after --)")
    args = parser.parse_args()
    extra = args.harness or DEFAULT
    args.out.mkdir(parents=True, exist_ok=True)
    if not answers(args.gateway):
        sys.exit(f"the gateway does not answer at {args.gateway}; start it with `make up`")
    reference = (
        run("reference", args.reference, 9312, args.out, extra) if answers(args.reference) else None
    )
    if reference is None:
        print(f"# the reference does not answer at {args.reference}: gateway only",
              file=sys.stderr)  # fmt: skip
    gateway = run("gateway", args.gateway, 9311, args.out, extra)
    print(f"medians of the harness's repeats ({' '.join(extra)})\n")
    print("| figure | reference | gateway | gateway ÷ reference |\n|---|---|---|---|")
    for scenario, metric, label in FIGURES:
        ours = figure(gateway, scenario, metric)
        theirs = None if reference is None else figure(reference, scenario, metric)
        ratio = f"{ours / theirs:.2f}" if ours is not None and theirs else "-"
        if ours is not None or theirs is not None:
            print(f"| {label} | {cell(theirs)} | {cell(ours)} | {ratio} |")


if __name__ == "__main__":
    main()
