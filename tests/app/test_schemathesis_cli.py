"""`schemathesis run --checks all` against `python -m app` over HTTP: no failures.

Every check, "a schema-valid request is accepted" included: the OpenAPI document states
what the server enforces (the model's probed feature limit, one branch per ordered output
selection, scalar parameters, shape[0] agreeing with the rows in `data` up to MAX_BATCH 64).
MAX_BATCH=8 keeps the generated bodies small.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from tests.app.models import ModelFolder
from tests.app.server import run_app


def test_schemathesis_finds_nothing_with_every_check(iris: ModelFolder, tmp_path: Path) -> None:
    schemathesis = Path(sys.executable).parent / "schemathesis"
    with run_app({**iris.env(), "MAX_BATCH": "8"}, "--workers", "2") as server:
        result = subprocess.run(
            [str(schemathesis), "run", f"{server.url}/openapi.json", "--checks", "all",
             "--max-examples", "30", "--seed", "12", "--no-color"],
            capture_output=True, text=True, timeout=500, check=False, cwd=tmp_path,
        )  # fmt: skip
    summary = result.stdout[-3000:]
    assert result.returncode == 0, summary
    assert "No issues found" in result.stdout, summary
    assert "Tested: 12" in result.stdout, summary  # every operation in the document
