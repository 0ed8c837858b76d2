import os
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="session")
def schemas_dir() -> Path:
    """The compose and skaffold JSON schemas (`shared/schemas`, beside the repository in CI).

    Third-party files are not copied into the repository. Outside CI, a clone without them skips
    the two schema checks and says why; in CI (where `CI` is set) their absence is a failure.
    """
    for candidate in (os.environ.get("SCHEMAS_DIR"), ROOT.parent / "shared" / "schemas"):
        if candidate and (Path(candidate) / "skaffold-v4beta14.json").exists():
            return Path(candidate)
    if os.environ.get("CI"):
        pytest.fail("shared/schemas not found beside the repository (set SCHEMAS_DIR)")
    pytest.skip(
        "compose/skaffold schemas not found: put shared/schemas beside the repo or set SCHEMAS_DIR"
    )
