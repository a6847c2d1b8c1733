"""`bot env add` on a copy of this repository's real estate (issue 17, item 2).

Golden files (tests/bot/testdata/env_add/) show exactly what `env add qa --from staging`
writes: the overlay, the Flux objects, and the one block inserted into promotion.yaml.
Every refusal leaves the tree byte-identical; the new overlay renders with the real
`kubectl kustomize`, and the new Flux objects validate against the vendored Flux schemas.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from bot.commands import envadd
from bot.commands.cli import main
from bot.edit.splice import append_mapping_item, apply_splices, remove_item
from bot.edit.yamlpatch import parse
from bot.errors import BotError
from devstack.estate import git, person_env
from devstack.procs import ROOT
from tests.gitops.test_flux import schema_errors

GOLDEN = Path(__file__).parent / "testdata" / "env_add" / "qa-from-staging"


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    """A git checkout of this repository's base, environments and clusters, committed."""
    work = tmp_path / "gitops"
    for folder in ("base-manifests", "environments", "clusters"):
        shutil.copytree(ROOT / folder, work / folder)
    git("init", "--quiet", "--initial-branch=main", cwd=work)
    git("add", "-A", cwd=work)
    git("commit", "--quiet", "-m", "estate", cwd=work, env=person_env())
    name, email = person_env()["GIT_AUTHOR_NAME"], person_env()["GIT_AUTHOR_EMAIL"]
    git("config", "user.name", name, cwd=work)
    git("config", "user.email", email, cwd=work)
    return work


def snapshot(root: Path) -> dict[str, str]:
    """Every file under `root`, .git included, by content hash: "byte-identical"."""
    return {
        p.relative_to(root).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(root.rglob("*"))
        if p.is_file()
    }


def env_add(repo: Path, *args: str, capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    code = main(["env", "add", *args, "--repo", str(repo)])
    out, err = capsys.readouterr()
    return code, out, err


def test_golden_qa_from_staging(repo: Path, capsys: pytest.CaptureFixture[str]) -> None:
    before = (repo / "environments" / "promotion.yaml").read_bytes()
    code, out, err = env_add(repo, "qa", "--from", "staging", capsys=capsys)
    assert code == 0, err
    for folder, golden in (("environments/qa", "environments-qa"), ("clusters/qa", "clusters-qa")):
        written = sorted(p.name for p in (repo / folder).iterdir())
        assert written == sorted(p.name for p in (GOLDEN / golden).iterdir())
        for name in written:
            assert (repo / folder / name).read_bytes() == (GOLDEN / golden / name).read_bytes(), (
                name
            )
    after = (repo / "environments" / "promotion.yaml").read_bytes()
    diff = git("diff", "-U2", "--", "environments/promotion.yaml", cwd=repo)
    assert diff[diff.index("@@") :] + "\n" == (GOLDEN / "promotion.yaml.diff").read_text()
    # Only lines were added: every byte of the old file is there, in order, untouched.
    added = (GOLDEN / "promotion.yaml.diff").read_text().splitlines()
    inserted = "".join(line[1:] + "\n" for line in added if line.startswith("+"))
    assert after.decode() == before.decode().replace(
        "          - accuracy >= 0.93\n", "          - accuracy >= 0.93\n" + inserted, 1
    )
    assert "soak 24h (staging's soak)" in out
    assert "to do by hand:" in out and "id-nightshift-qa" in out
    assert "CODEOWNERS: add `/environments/qa/ @nightshift/ml-platform`" in out
    assert "flux bootstrap" in out and "docs/operator-runbook.md" in out


def test_the_overlay_differs_from_the_upstreams_only_in_its_names(repo: Path) -> None:
    """Pins, sizing and patches are staging's; what names the environment is qa's."""
    for path in sorted((GOLDEN / "environments-qa").iterdir()):
        ours = path.read_text().splitlines()
        theirs = (repo / "environments" / "staging" / path.name).read_text().splitlines()
        assert len(ours) == len(theirs), path.name
        changed = [(a, b) for a, b in zip(theirs, ours, strict=True) if a != b]
        for old, new in changed:
            assert (
                old.replace("staging", "qa") == new
                or "client-id" in old
                or (old.startswith("#") and path.name == "kustomization.yaml")
            ), (old, new)
    kustomization = yaml.safe_load((GOLDEN / "environments-qa" / "kustomization.yaml").read_text())
    staging = yaml.safe_load((repo / "environments/staging/kustomization.yaml").read_text())
    assert kustomization["images"] == staging["images"]
    assert kustomization["configMapGenerator"] == staging["configMapGenerator"]


def test_the_new_overlay_renders_and_the_flux_objects_validate(
    repo: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, _, err = env_add(repo, "qa", "--from", "staging", capsys=capsys)
    assert code == 0, err
    rendered = subprocess.run(
        ["kubectl", "kustomize", str(repo / "environments" / "qa")],
        capture_output=True, text=True, check=True, timeout=60,
    ).stdout  # fmt: skip
    objects = [d for d in yaml.safe_load_all(rendered) if d]
    assert {o["metadata"].get("namespace") for o in objects if o["kind"] != "Namespace"} == {
        "nightshift-qa"
    }
    [namespace] = [o for o in objects if o["kind"] == "Namespace"]
    assert namespace["metadata"]["name"] == "nightshift-qa"
    docs = [
        d for path in sorted((repo / "clusters" / "qa").glob("*.yaml"))
        for d in yaml.safe_load_all(path.read_text()) if d
    ]  # fmt: skip
    for doc in docs:
        assert schema_errors(doc) == [], doc
    [kustomization] = [d for d in docs if d["kind"] == "Kustomization"]
    assert kustomization["metadata"]["name"] == "nightshift-qa"
    assert kustomization["spec"]["path"] == "./environments/qa"


def test_from_dev_leaves_out_the_bot_and_its_event_source(
    repo: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """dev's cluster runs the bot; a second bot would race the first."""
    code, out, err = env_add(repo, "sandbox", "--from", "dev", "--mode", "direct", capsys=capsys)
    assert code == 0, err
    assert sorted(p.name for p in (repo / "clusters" / "sandbox").iterdir()) == [
        "nightshift.yaml", "notifications.yaml",
    ]  # fmt: skip
    notifications = (repo / "clusters/sandbox/notifications.yaml").read_text()
    assert "nightshift-bot" not in notifications and "nightshift-sandbox" in notifications
    assert "not copied from clusters/dev/: Kustomization nightshift-bot (bot.yaml)" in out
    # dev has no soak of its own (it takes the newest): the default, said so.
    assert "soak 24h (the default, as dev has no soak)" in out
    entry = yaml.safe_load((repo / "environments/promotion.yaml").read_text())["environments"][-1]
    assert entry == {"name": "sandbox", "from": "dev", "soak": "24h", "mode": "direct"}


def test_soak_and_mode_as_given(repo: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = env_add(repo, "perf", "--from", "prod", "--soak", "3d", capsys=capsys)
    assert code == 0, err
    entry = yaml.safe_load((repo / "environments/promotion.yaml").read_text())["environments"][-1]
    assert entry == {
        "name": "perf", "from": "prod", "soak": "3d", "mode": "pull-request",
        "reviewers": ["nightshift/ml-platform", "nightshift/sre"], "labels": ["promotion", "perf"],
    }  # fmt: skip
    # prod's zone-spread patch came along, and the overlay still renders.
    assert (repo / "environments/perf/zone-spread-patch.yaml").is_file()


def make_dirty(repo: Path) -> None:
    with (repo / "environments/promotion.yaml").open("a") as out:
        out.write("# an edit not committed yet\n")


@pytest.mark.parametrize(
    ("args", "prepare", "message"),
    [
        pytest.param(["staging", "--from", "dev"], None, "exists already in", id="name-in-config"),
        pytest.param(
            ["qa", "--from", "staging"],
            lambda repo: (repo / "environments" / "qa").mkdir(),
            "environments/qa exists already",
            id="overlay-folder-exists",
        ),
        pytest.param(
            ["qa", "--from", "staging"],
            lambda repo: (repo / "clusters" / "qa").mkdir(),
            "clusters/qa exists already",
            id="cluster-folder-exists",
        ),
        pytest.param(["qa", "--from", "stagign"], None, "unknown upstream 'stagign'", id="unknown"),
        pytest.param(["QA", "--from", "staging"], None, "not a valid environment name", id="upper"),
        pytest.param(["qa-", "--from", "staging"], None, "not a valid environment", id="dash"),
        pytest.param(
            ["q_a", "--from", "staging"], None, "not a valid environment", id="underscore"
        ),
        pytest.param(["a" * 64, "--from", "staging"], None, "not a valid environment", id="long"),
        pytest.param(["qa", "--from", "staging"], make_dirty, "uncommitted changes", id="dirty"),
        pytest.param(["qa", "--from", "staging", "--soak", "1 day"], None, "--soak", id="soak"),
        pytest.param(
            ["qa", "--from", "staging", "--commit", "--dry-run"], None, "exclude", id="both"
        ),
    ],
)
def test_refusals_touch_nothing(
    repo: Path,
    capsys: pytest.CaptureFixture[str],
    args: list[str],
    prepare: object,
    message: str,
) -> None:
    if callable(prepare):
        prepare(repo)
    before = snapshot(repo)
    dirs = sorted(p.relative_to(repo).as_posix() for p in repo.rglob("*") if p.is_dir())
    code, out, err = env_add(repo, *args, capsys=capsys)
    assert code == 2, (out, err)
    assert message in err, err
    assert err.count("\n") == 1 and err.startswith("error: "), err
    assert snapshot(repo) == before
    assert sorted(p.relative_to(repo).as_posix() for p in repo.rglob("*") if p.is_dir()) == dirs


def test_an_overlay_that_would_not_render_is_refused_and_nothing_remains(
    repo: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """staging's overlay names a patch file that is not there: the gate refuses qa."""
    kustomization = repo / "environments/staging/kustomization.yaml"
    kustomization.write_text(kustomization.read_text() + "  - path: missing-patch.yaml\n")
    git("commit", "--quiet", "-am", "break staging", cwd=repo, env=person_env())
    before = snapshot(repo)
    code, _, err = env_add(repo, "qa", "--from", "staging", capsys=capsys)
    assert code == 1
    assert "refusing to add qa: its overlay would not render" in err, err
    assert "missing-patch.yaml" in err and "nightshift-env-add-" not in err, err
    assert snapshot(repo) == before
    assert not (repo / "environments/qa").exists() and not (repo / "clusters/qa").exists()


def test_a_write_that_fails_midway_leaves_nothing(repo: Path) -> None:
    """clusters/qa appears after the checks (another process): environments/qa, already
    moved into place, is taken back, and no temporary folder or file is left behind."""
    env_plan = envadd.plan(repo, envadd.EnvRequest("qa", "staging"))
    (repo / "clusters" / "qa").mkdir()
    before = snapshot(repo)
    entries = sorted(p.relative_to(repo).as_posix() for p in repo.rglob("*"))
    with pytest.raises(BotError, match="clusters/qa appeared while adding"):
        envadd.write(repo, env_plan)
    assert snapshot(repo) == before
    assert sorted(p.relative_to(repo).as_posix() for p in repo.rglob("*")) == entries


def test_dry_run_shows_every_file_and_writes_nothing(
    repo: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    before = snapshot(repo)
    code, out, err = env_add(repo, "qa", "--from", "staging", "--dry-run", capsys=capsys)
    assert code == 0, err
    assert snapshot(repo) == before
    for name in ("kustomization.yaml", "namespace.yaml", "serviceaccount-patch.yaml"):
        assert f"+++ b/environments/qa/{name}" in out
    assert "+++ b/clusters/qa/nightshift.yaml" in out
    assert "+  - name: qa\n+    from: staging\n" in out
    assert out.rstrip().endswith("dry run: nothing written")


def test_commit_as_the_person(repo: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = env_add(repo, "qa", "--from", "staging", "--commit", capsys=capsys)
    assert code == 0, err
    assert "committed " in out
    assert git("status", "--porcelain", cwd=repo) == ""  # files and index follow the commit
    author = git("log", "-1", "--format=%an <%ae>|%s", cwd=repo)
    assert author == (
        "Dana Operator <dana@example.com>|qa: add the environment, promoted from staging"
    )
    files = git("show", "--name-only", "--format=", "HEAD", cwd=repo).splitlines()
    assert sorted(files) == sorted(
        ["environments/promotion.yaml", "clusters/qa/nightshift.yaml",
         "clusters/qa/notifications.yaml"]
        + [f"environments/qa/{p.name}" for p in (GOLDEN / "environments-qa").iterdir()]
    )  # fmt: skip


def test_help_describes_every_argument() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "bot", "env", "add", "--help"],
        capture_output=True, text=True, timeout=60, check=True,
        env={**os.environ, "COLUMNS": "200"},
    )  # fmt: skip
    text = result.stdout
    for needle in ("NAME", "--from UPSTREAM", "--mode {direct,pull-request}", "--soak DURATION",
                   "--repo", "--commit", "--dry-run", "default: pull-request",
                   "UPSTREAM's own soak as written, or 24h", "DNS-1123"):  # fmt: skip
        assert needle in text, needle
    top = subprocess.run(
        [sys.executable, "-m", "bot", "--help"], capture_output=True, text=True, check=True
    ).stdout
    assert "env" in top and "manage environments" in top


# --- yamlpatch: list items --------------------------------------------------------------


def _append(text: str, pairs: list[tuple[str, str]]) -> str:
    doc = parse(text.encode(), "t.yaml")
    [(_, sequence)] = doc.root.value
    return apply_splices(doc.text, [append_mapping_item(doc, sequence, pairs)], source="t")


@pytest.mark.parametrize(
    ("before", "after"),
    [
        pytest.param(
            "envs:\n  - name: a\n    # verify: later\n\n# next\n",
            "envs:\n  - name: a\n    # verify: later\n  - name: b\n\n# next\n",
            id="comments-under-the-item-stay-with-it",
        ),
        pytest.param("envs:\n- name: a\n", "envs:\n- name: a\n- name: b\n", id="indentless"),
        pytest.param(
            "envs:\r\n  -   name: a\r\n", "envs:\r\n  -   name: a\r\n  -   name: b\r\n", id="crlf"
        ),
        pytest.param(
            "envs:\n  - name: a", "envs:\n  - name: a\n  - name: b", id="no-final-newline"
        ),
    ],
)
def test_append_mapping_item(before: str, after: str) -> None:
    assert _append(before, [("name", "b")]) == after


def test_append_to_a_flow_list_is_refused() -> None:
    with pytest.raises(Exception, match="block list"):
        _append("envs: [{name: a}]\n", [("name", "b")])


def test_remove_item_keeps_the_rest() -> None:
    text = "s:\n  - kind: K\n    name: a\n  - kind: K\n    name: b\nnext: 1\n"
    doc = parse(text.encode(), "t.yaml")
    [(_, sequence), _next] = doc.root.value
    assert apply_splices(doc.text, [remove_item(doc, sequence, 1)], source="t") == (
        "s:\n  - kind: K\n    name: a\nnext: 1\n"
    )
