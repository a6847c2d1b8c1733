"""docs/production.md, the runbook and CHANGELOG.md hold to the code they describe.

The production guide is read once, by someone building an estate from nothing. A variable
the bot does not read, a file that moved or a Flux object Flux would refuse costs them hours,
and no other test would notice. Each check here fails when the code changes under the doc.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import yaml

from bot.config.model import API_VERSION
from devstack.procs import ROOT
from modelstore.card import CARD_SCHEMA
from tests.gitops.test_flux import schema_errors

PRODUCTION = ROOT / "docs" / "production.md"
RUNBOOK = ROOT / "docs" / "operator-runbook.md"
CHANGELOG = ROOT / "CHANGELOG.md"
WORKFLOWS = ROOT / ".github" / "workflows"

# Paths the guide tells the operator to create; they are not in the repository until then.
CREATED_BY_THE_GUIDE = frozenset(
    {
        "clusters/*/flux-system",  # flux bootstrap, or flux install --export
        "clusters/dev/flux-system",
        "clusters/dev/secrets",  # the SOPS step
        "clusters/dev/secrets/nightshift-bot-tokens.yaml",
    }
)

_FENCE = re.compile(r"^```(\w*)\n(.*?)^```", re.MULTILINE | re.DOTALL)
_CODE = re.compile(r"`([^`\n]+)`")
_TOP_LEVEL = {p.name for p in ROOT.iterdir() if not p.name.startswith(".")} | {".github"}


def _text(path: Path) -> str:
    return path.read_text(encoding="utf-8")


def _blocks(text: str, language: str) -> list[str]:
    return [body for lang, body in _FENCE.findall(text) if lang == language]


def _prose(text: str) -> str:
    """The text outside fenced blocks, where inline `code` names files and variables."""
    return _FENCE.sub("", text)


def _sources(*folders: str) -> str:
    return "\n".join(
        _text(path) for folder in folders for path in sorted((ROOT / folder).rglob("*.py"))
    )


def _workflow_text() -> str:
    return "\n".join(_text(path) for path in sorted(WORKFLOWS.glob("*.yml")))


def _repo_paths(text: str) -> set[str]:
    """Inline-code spans that name a path inside the repository (first segment exists)."""
    found = set()
    for span in _CODE.findall(_prose(text)):
        candidate = span.split()[0] if span.split() else ""
        if "/" in candidate and candidate.split("/")[0] in _TOP_LEVEL:
            found.add(candidate)
    return found


def _pattern(path: str) -> str:
    """`<env>`, `$env`, and `bot env add`'s `NAME` and `UPSTREAM` stand for any environment."""
    return re.sub(r"<[a-z-]+>|\$[a-z]+|\b(?:NAME|UPSTREAM)\b", "*", path).rstrip("/")


def _exists(path: str) -> bool:
    pattern = _pattern(path)
    return any(ROOT.glob(pattern)) if "*" in pattern else (ROOT / pattern).exists()


@pytest.mark.parametrize("doc", [PRODUCTION, RUNBOOK], ids=lambda p: p.name)
def test_every_path_the_doc_names_exists(doc: Path) -> None:
    paths = _repo_paths(_text(doc))
    assert paths, f"{doc.name}: no repository paths found; the extraction broke"
    missing = sorted(p for p in paths if _pattern(p) not in CREATED_BY_THE_GUIDE and not _exists(p))
    assert missing == []


def test_every_variable_the_guide_names_is_read_somewhere() -> None:
    """A process variable must be read by the code; a GitHub variable or secret must be
    used by a workflow. Anything else is a name the operator would set for nothing."""
    names = set(re.findall(r"`((?:NIGHTSHIFT|AZURE|GITHUB)_[A-Z_]+)`", _text(PRODUCTION)))
    assert {"NIGHTSHIFT_GIT_TOKEN", "GITHUB_TOKEN", "AZURE_BOT_CLIENT_ID"} <= names
    code = _sources("bot", "modelstore", "app")
    workflows = _workflow_text()
    unread = sorted(
        name
        for name in names
        if f'"{name}"' not in code
        and not re.search(rf"\b{name}\b", _module_docs(code))
        and not re.search(rf"\b(vars|secrets)\.{name}\b", workflows)
    )
    assert unread == []


def _module_docs(code: str) -> str:
    """Names the code documents as read (bot/gitrepo/auth.py lists its variables in prose)."""
    return "\n".join(re.findall(r'"""(.*?)"""', code, re.DOTALL))


def _deployment_secret_keys() -> set[str]:
    (deployment,) = yaml.safe_load_all(_text(ROOT / "base-manifests" / "bot" / "deployment.yaml"))
    keys = set()
    for container in deployment["spec"]["template"]["spec"]["containers"]:
        for env in container.get("env", []):
            ref = env.get("valueFrom", {}).get("secretKeyRef")
            if ref and ref["name"] == "nightshift-bot-tokens":
                keys.add(ref["key"])
    return keys


@pytest.mark.parametrize("doc", [PRODUCTION, RUNBOOK], ids=lambda p: p.name)
def test_the_bot_secret_the_doc_creates_has_the_keys_the_deployment_reads(doc: Path) -> None:
    commands = re.findall(
        r"create secret generic nightshift-bot-tokens(.*?)(?:\n\n|```)", _text(doc), re.DOTALL
    )
    assert commands, f"{doc.name} never creates the bot's Secret"
    expected = _deployment_secret_keys()
    assert expected
    for command in commands:
        assert set(re.findall(r"--from-literal=([a-z-]+)=", command)) == expected


def test_every_yaml_snippet_parses_and_flux_objects_validate() -> None:
    snippets = _blocks(_text(PRODUCTION), "yaml")
    assert snippets
    for snippet in snippets:
        for doc in yaml.safe_load_all(snippet):
            assert isinstance(doc, dict), snippet
            if doc.get("apiVersion", "").split("/")[0].endswith("toolkit.fluxcd.io"):
                assert schema_errors(doc) == []


def test_the_runbook_quotes_the_real_schedules() -> None:
    """The runbook explains that the workflow's cron is UTC; it must quote the cron the
    workflow has and the schedule promotion.yaml has, or the explanation is of another file."""
    (cron,) = re.findall(r'cron:\s*"([^"]+)"', _text(WORKFLOWS / "promotion.yml"))
    config = yaml.safe_load(_text(ROOT / "environments" / "promotion.yaml"))
    runbook = _text(RUNBOOK)
    assert f"`{cron}`" in runbook
    assert config["schedule"]["at"] in runbook
    assert f"`{config['schedule']['timezone']}`" in runbook
    assert "UTC" in runbook


def test_the_alert_claim_matches_the_manifests() -> None:
    runbook = _text(RUNBOOK)
    assert "every Flux Kustomization on the cluster" in runbook
    for notifications in sorted((ROOT / "clusters").glob("*/notifications.yaml")):
        docs = list(yaml.safe_load_all(_text(notifications)))
        sources = [s for d in docs if d["kind"] == "Alert" for s in d["spec"]["eventSources"]]
        assert sources == [{"kind": "Kustomization", "name": "*"}], notifications


def test_the_changelog_names_the_versions_the_code_has() -> None:
    changelog = _text(CHANGELOG)
    assert "## [Unreleased]" in changelog
    releases = re.findall(r"^## \[(\d+\.\d+\.\d+)\] - (\d{4}-\d{2}-\d{2})$", changelog, re.M)
    assert releases, "no release entry in Keep a Changelog form"
    assert f"`{API_VERSION}`" in changelog
    assert f"`{CARD_SCHEMA}`" in changelog
    production = _text(PRODUCTION)
    assert f"`{API_VERSION}`" in production
    assert f"`{CARD_SCHEMA}`" in production


def test_the_readme_links_both_docs() -> None:
    readme = _text(ROOT / "README.md")
    assert "(docs/production.md)" in readme
    assert "(CHANGELOG.md)" in readme


_LINK = re.compile(r"\]\(([^)\s]+)\)")


def test_every_relative_link_in_the_docs_resolves_inside_the_repository() -> None:
    """A link to a file outside the repository (the README once linked ../shared/DESIGN.md)
    is dead for everyone who clones it."""
    docs = [ROOT / "README.md", ROOT / "CHANGELOG.md", *sorted((ROOT / "docs").glob("*.md"))]
    broken = []
    checked = 0
    for doc in docs:
        for target in _LINK.findall(_text(doc)):
            if re.match(r"[a-z]+:|#", target):
                continue  # a URL, or an anchor in the same file
            path = (doc.parent / target.split("#")[0]).resolve()
            checked += 1
            if not path.is_relative_to(ROOT) or not path.exists():
                broken.append(f"{doc.relative_to(ROOT)}: {target}")
    assert checked > 10, "no relative links found; the extraction broke"
    assert broken == []
