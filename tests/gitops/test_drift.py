"""The manifests call the real command lines: every flag the Deployments pass, and every
environment variable they set, is one the program documents in its own `--help`.

The manifests and the programs are written by different people and change on different
days; a renamed flag would otherwise surface only as a crash-looping init container in a
cluster. These tests run the real CLIs (`python -m modelstore`, `python -m app`,
`python -m bot`) from this checkout, so they fail until those CLIs exist and whenever one
drifts from the manifests.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from collections.abc import Callable
from functools import cache

import pytest

from devstack.procs import ROOT
from tests.gitops.manifests import ENVIRONMENTS, MODEL_PIN_KEYS, Doc, container, only

Rendered = Callable[[str], list[Doc]]
FLAG = re.compile(r"(?<![\w-])--[a-z0-9][a-z0-9-]*")
VARIABLE_REFERENCE = re.compile(r"(?<!\$)\$\(([A-Za-z_][A-Za-z0-9_]*)\)")
# Set for the runtime, not read by our programs: nothing to document.
PLATFORM_ENV = frozenset({"HOME"})


@cache
def cli_help(*command: str) -> str:
    """`python -m <command...> --help` from this checkout; a failure fails the test."""
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    result = subprocess.run(
        [sys.executable, "-m", *command, "--help"],
        capture_output=True,
        text=True,
        cwd=ROOT,
        env=env,
        timeout=120,
        check=False,
    )
    shown = "python -m " + " ".join(command) + " --help"
    assert result.returncode == 0, (
        f"`{shown}` exited {result.returncode}; the manifests call this CLI:\n"
        f"{(result.stderr or result.stdout).strip()[-2000:]}"
    )
    return result.stdout + result.stderr


def flags(words: list[str]) -> set[str]:
    return {w.split("=", 1)[0] for w in words if FLAG.fullmatch(w.split("=", 1)[0])}


def documented(name: str, help_text: str) -> bool:
    return re.search(rf"(?<![A-Za-z0-9_]){re.escape(name)}(?![A-Za-z0-9_])", help_text) is not None


def env_names(c: Doc) -> set[str]:
    return {variable["name"] for variable in c.get("env", [])}


def env_from_keys(c: Doc, docs: list[Doc]) -> set[str]:
    """Keys a container gets through envFrom, from the rendered ConfigMaps."""
    keys: set[str] = set()
    for source in c.get("envFrom", []):
        name = source["configMapRef"]["name"]
        keys |= set(only(docs, "ConfigMap", name)["data"])
    return keys


# --- manifest-only consistency (no CLI needed) ------------------------------------------


@pytest.mark.parametrize("target", [*ENVIRONMENTS, "bot"])
def test_every_variable_reference_resolves(target: str, rendered: Rendered) -> None:
    """The kubelet leaves an unresolvable $(VAR) as literal text, so `--name $(MODEL_NAM)`
    would silently fetch a model called "$(MODEL_NAM)"."""
    docs = rendered(target)
    for deployment in (d for d in docs if d["kind"] == "Deployment"):
        spec = deployment["spec"]["template"]["spec"]
        for c in [*spec.get("initContainers", []), *spec["containers"]]:
            defined = env_names(c) | env_from_keys(c, docs)
            words = [*c.get("command", []), *c.get("args", [])]
            used = {m for w in words for m in VARIABLE_REFERENCE.findall(w)}
            assert used <= defined, f"{c['name']}: undefined {sorted(used - defined)}"


@pytest.mark.parametrize("env", ENVIRONMENTS)
def test_serving_port_and_model_folder_agree(env: str, rendered: Rendered) -> None:
    deployment = only(rendered(env), "Deployment")
    serving = container(deployment, "model-api")
    fetch = container(deployment, "fetch-model")
    values = {v["name"]: v.get("value") for v in serving["env"]}
    (port,) = serving["ports"]
    assert values["PORT"] == str(port["containerPort"])
    for probe in ("startupProbe", "livenessProbe", "readinessProbe"):
        assert serving[probe]["httpGet"]["port"] == port["name"], probe
    assert serving["readinessProbe"]["httpGet"]["path"] == "/v2/health/ready"
    assert serving["livenessProbe"]["httpGet"]["path"] == "/v2/health/live"
    # The init container writes the folder the app reads, on the shared volume.
    dest = fetch["args"][fetch["args"].index("--dest") + 1]
    assert values["MODEL_DIR"] == dest
    mounts = {m["mountPath"]: m["name"] for m in serving["volumeMounts"]}
    fetch_mounts = {m["mountPath"]: m["name"] for m in fetch["volumeMounts"]}
    assert mounts[dest] == fetch_mounts[dest]


# --- against the real CLIs ----------------------------------------------------------------


def test_init_container_calls_modelstore_fetch_with_real_flags(rendered: Rendered) -> None:
    fetch = container(only(rendered("dev"), "Deployment"), "fetch-model")
    assert fetch["command"] == ["python", "-m", "modelstore"]
    assert fetch["args"][0] == "fetch"
    used = flags(fetch["args"])
    # DESIGN.md: fetch --name N --version V --sha256 H --dest DIR (plus the store URL).
    assert {"--name", "--version", "--sha256", "--dest", "--store"} <= used
    known = set(FLAG.findall(cli_help("modelstore", "fetch")))
    assert used <= known, f"modelstore fetch does not know {sorted(used - known)}"


def test_app_documents_every_variable_the_deployment_sets(rendered: Rendered) -> None:
    docs = rendered("dev")
    serving = container(only(docs, "Deployment"), "model-api")
    names = env_names(serving) | env_from_keys(serving, docs)
    assert names >= {"PORT", "MODEL_DIR"} | MODEL_PIN_KEYS
    help_text = cli_help("app")
    missing = sorted(n for n in names if not documented(n, help_text))
    assert missing == [], f"`python -m app --help` does not mention {missing}"


def test_bot_deployment_calls_real_subcommands_and_flags(rendered: Rendered) -> None:
    bot = container(only(rendered("bot"), "Deployment"), "bot")
    assert bot["command"] == ["python", "-m", "bot"]
    calls = [bot["args"]]
    calls += [bot[p]["exec"]["command"][3:] for p in ("readinessProbe", "livenessProbe")]
    for probe in ("readinessProbe", "livenessProbe"):
        assert bot[probe]["exec"]["command"][:3] == ["python", "-m", "bot"]
    top = cli_help("bot")
    for call in calls:
        subcommand = call[0]
        assert documented(subcommand, top), f"`python -m bot --help` has no {subcommand}"
        known = set(FLAG.findall(cli_help("bot", subcommand)))
        used = flags(call[1:])
        assert used <= known, f"bot {subcommand} does not know {sorted(used - known)}"


def test_bot_documents_every_variable_the_deployment_sets(rendered: Rendered) -> None:
    bot = container(only(rendered("bot"), "Deployment"), "bot")
    names = env_names(bot) - PLATFORM_ENV
    help_text = cli_help("bot", bot["args"][0])
    missing = sorted(n for n in names if not documented(n, help_text))
    assert missing == [], f"`python -m bot {bot['args'][0]} --help` does not mention {missing}"


DOC_COMMAND = re.compile(r"python -m (bot|modelstore) ([a-z]+)([^\n`|]*)")
GUIDES = ("reviewer-guide.md", "operator-runbook.md", "data-scientist-guide.md", "cli.md")
WITH_ACTIONS = frozenset({("bot", "env")})
# Hidden from --help on purpose (tests/test_cli_help.py says why); docs/cli.md names them.
HIDDEN_FLAGS: dict[tuple[str, ...], set[str]] = {
    ("bot", "plan"): {"--now"},
    ("bot", "run"): {"--now"},
}


def documented_commands() -> list[tuple[str, tuple[str, ...], set[str]]]:
    """(program, command words, flags) for every `python -m bot|modelstore …` in the guides.

    A command with actions (`bot env add`) takes its action word along, so the flags are
    checked against `bot env add --help`.
    """
    found = []
    for guide in GUIDES:
        text = (ROOT / "docs" / guide).read_text()
        # Join shell continuation lines, so flags on the next line count.
        text = re.sub(r"\\\n\s*", " ", text)
        for program, subcommand, rest in DOC_COMMAND.findall(text):
            words = rest.split("#", 1)[0].split()
            command: tuple[str, ...] = (subcommand,)
            if (program, subcommand) in WITH_ACTIONS and words:
                command, words = (subcommand, words[0]), words[1:]
            found.append((program, command, flags(words)))
    return found


def test_guides_show_only_real_commands_and_flags() -> None:
    commands = documented_commands()
    assert {(p, c[0]) for p, c, _ in commands} >= {
        ("bot", "pin"),
        ("bot", "status"),
        ("bot", "plan"),
        ("bot", "env"),
        ("modelstore", "publish"),
        ("modelstore", "list"),
    }
    for program, command, used in commands:
        known = set(FLAG.findall(cli_help(program, *command)))
        known |= HIDDEN_FLAGS.get((program, *command), set())
        shown = " ".join(command)
        assert used <= known, f"docs: {program} {shown} has no {sorted(used - known)}"
