"""`schemas/promotion.schema.json`: generated from the one description, current, and held
by a validator we did not write (`check-jsonschema`) to the configs we ship."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import pytest
from jsonschema import Draft202012Validator  # type: ignore[import-untyped]

from bot.config.schema import SCHEMA, published
from devstack.procs import ROOT
from tests.bot.test_verify import uncommented_example

SCHEMA_FILE = ROOT / "schemas" / "promotion.schema.json"
HEADER = "# yaml-language-server: $schema="
# Every promotion.yaml the repository ships, as a person would copy it.
EXAMPLES = [ROOT / "environments" / "promotion.yaml"]


def test_the_checked_in_schema_is_current() -> None:
    assert SCHEMA_FILE.read_text() == published(), (
        "schemas/promotion.schema.json is stale: run "
        "`python -m bot.config.schema > schemas/promotion.schema.json`"
    )


def test_the_schema_is_a_valid_2020_12_schema() -> None:
    Draft202012Validator.check_schema(json.loads(SCHEMA_FILE.read_text()))
    assert SCHEMA["$schema"] == "https://json-schema.org/draft/2020-12/schema"


@pytest.mark.parametrize("example", EXAMPLES, ids=lambda p: str(p.relative_to(ROOT)))
def test_every_example_names_the_schema_for_editors(example: Path) -> None:
    first = example.read_text().splitlines()[0]
    assert first.startswith(HEADER), first
    target = (example.parent / first.removeprefix(HEADER)).resolve()
    assert target == SCHEMA_FILE, f"{first} does not resolve to {SCHEMA_FILE}"


def check_jsonschema(*files: Path) -> subprocess.CompletedProcess[str]:
    tool = shutil.which("check-jsonschema")
    assert tool, (
        "check-jsonschema is missing: run ./scripts/bootstrap (it is in requirements/dev.txt)"
    )
    return subprocess.run(
        [tool, "--schemafile", str(SCHEMA_FILE), *map(str, files)],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def test_check_jsonschema_accepts_every_example(tmp_path: Path) -> None:
    with_verify = tmp_path / "promotion-with-verify.yaml"
    with_verify.write_text(uncommented_example())
    result = check_jsonschema(*EXAMPLES, with_verify)
    assert result.returncode == 0, result.stdout + result.stderr


BROKEN = {
    "unknown-key": (("    soak: 24h", "    soak: 24h\n    soakk: 1h"), "soakk"),
    "duration-as-words": (("    soak: 24h", "    soak: tomorrow"), "tomorrow"),
    "infinite-timeout": (("timeoutSeconds: 10", "timeoutSeconds: .inf"), "timeoutSeconds"),
    "timeout-past-max": (("timeoutSeconds: 10", "timeoutSeconds: 601"), "601"),
    "two-policies": (("      semver:\n", "      numerical: {}\n      semver:\n"), "policy"),
    "wrong-mode": (("    from: dev", "    from: dev\n    mode: commit"), "commit"),
    "list-for-a-string": (("    from: dev", "    from: [dev]"), "from"),
    "bad-api-version": (
        ("apiVersion: nightshift/v1", "apiVersion: nightshift/v2"),
        "nightshift/v1",
    ),
}


@pytest.mark.parametrize("case", sorted(BROKEN))
def test_check_jsonschema_refuses_a_broken_config(tmp_path: Path, case: str) -> None:
    (old, new), named = BROKEN[case]
    good = EXAMPLES[0].read_text()
    assert old in good, old
    broken = tmp_path / "promotion.yaml"
    broken.write_text(good.replace(old, new, 1))
    result = check_jsonschema(broken)
    assert result.returncode == 1, result.stdout + result.stderr
    assert named in result.stdout, result.stdout
