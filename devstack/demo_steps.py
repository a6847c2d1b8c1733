"""The demo's steps (`devstack.demo` sequences them): services, models, images, bot, app.

Each step prints the commands it runs, as a person would type them, and what came of them.
"""

from __future__ import annotations

import json
import os
import secrets
import shlex
import shutil
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import yaml

from devstack.azurite import start_azurite
from devstack.estate import PERSON, Estate, clock_env, git
from devstack.githttp import start_git_origin
from devstack.github_fake import spawn_github_fake
from devstack.procs import Service, free_port, spawn, wait_until
from devstack.registry import start_registry

MODEL = "iris"
CONTAINER = "models"
REPOSITORY = "nightshift/gitops"
IMAGE_REPO = "nightshift/model-api"
RELEASES = (("1.0.0", "logistic"), ("1.1.0", "forest"))  # version, estimator
SAMPLES = [[5.1, 3.5, 1.4, 0.2], [6.7, 3.0, 5.2, 2.3]]  # a setosa and a virginica
SOAKED = timedelta(hours=25)  # staging's soak in the generated promotion.yaml is 24h


class DemoError(RuntimeError):
    """A demo step failed; the message says which."""


@dataclass
class Demo:
    workdir: Path
    t0: datetime = field(default_factory=lambda: datetime.now(UTC).replace(microsecond=0))
    services: list[Service] = field(default_factory=list)
    app: Service | None = None
    leftovers: list[Path] = field(default_factory=list)  # outside workdir, for --stop
    step_number: int = 0

    @property
    def bot_checkout(self) -> Path:
        return self.workdir / "bot"

    @property
    def clone(self) -> Path:
        return self.workdir / "gitops"

    def stop_all(self) -> None:
        for service in reversed(self.services):
            service.stop()
        self.services.clear()


# ---- output ---------------------------------------------------------------------------------


@contextmanager
def step(demo: Demo, title: str) -> Iterator[None]:
    """A numbered step with its duration, so a slow one is visibly working, not stuck."""
    demo.step_number += 1
    print(f"\n== {demo.step_number}. {title}", flush=True)
    started = time.monotonic()
    yield
    print(f"   ({time.monotonic() - started:.1f}s)", flush=True)


def echo(argv: list[str], note: str = "") -> None:
    print(f"$ {shlex.join(argv)}{f'   # {note}' if note else ''}", flush=True)


# ---- the steps -------------------------------------------------------------------------------


def start_services(demo: Demo) -> Estate:
    def started(service: Service, what: str, since: float) -> None:
        demo.services.append(service)
        print(f"  {what:<28} {service.url}   (ready in {time.monotonic() - since:.1f}s)")

    since = time.monotonic()
    azurite = start_azurite()
    started(azurite, "Azurite (Azure Blob)", since)
    since = time.monotonic()
    registry = start_registry()
    started(registry, "registry (distribution)", since)
    demo.leftovers.append(registry.root)
    since = time.monotonic()
    (demo.workdir / "git").mkdir()
    origin = start_git_origin(
        root=demo.workdir / "git", username="nightshift", password=secrets.token_urlsafe(18)
    )
    started(origin, "git origin (smart HTTP)", since)
    since = time.monotonic()
    forge = spawn_github_fake(origin.root, tokens={secrets.token_urlsafe(18): "nightshift-bot"})
    started(forge, "GitHub API fake", since)
    return Estate(
        registry=registry,
        azurite=azurite,
        origin=origin,
        forge=forge,
        repository=REPOSITORY,
        image_repo=IMAGE_REPO,
        container=CONTAINER,
        workdir=demo.workdir,
        dashboard=True,  # the demo shows the promotion dashboard issue (issue 17)
    )


def modelstore(*argv: str) -> None:
    """Run one `python -m modelstore` command in-process, echoing it like a shell would."""
    from modelstore.cli import main

    echo(["python", "-m", "modelstore", *argv])
    code = main(list(argv))
    if code != 0:
        raise DemoError(f"python -m modelstore {argv[0]} exited with {code}")


def train_and_publish(demo: Demo, estate: Estate) -> None:
    from examples.train import train
    from modelstore.store import open_store

    # The CLI reads these like a data scientist's shell would; the account key is
    # Azurite's well-known development key, not a secret.
    os.environ["AZURE_STORAGE_CONNECTION_STRING"] = estate.azurite.connection_string
    os.environ["MODEL_STORE"] = estate.store_url
    for version, estimator in RELEASES:
        print(f"training {estimator} on iris (fixed seed)...", flush=True)
        result = train("iris", estimator, seed=7)
        folder = demo.workdir / "train" / version
        folder.mkdir(parents=True)
        (folder / "model.onnx").write_bytes(result.onnx_bytes)
        (folder / "metrics.json").write_text(json.dumps(result.metrics) + "\n")
        print(f"  held-out metrics: {result.metrics}")
        modelstore(
            "publish", str(folder / "model.onnx"), "--name", MODEL, "--version", version,
            "--metrics", str(folder / "metrics.json"),
        )  # fmt: skip
    modelstore("list", "--name", MODEL)
    with open_store() as store:
        for card in store.list(MODEL):
            estate.models[card.version] = card.sha256


def push_images(estate: Estate) -> None:
    # A CI build records when it was built (the image config's `created`), which the PR
    # body shows; without it the demo's PR would say "—" where a real one has a date.
    built = datetime.now(UTC).replace(microsecond=0)
    for version, _ in RELEASES:
        digest = estate.push_image(version, created=built)
        print(f"  pushed {estate.registry.host}/{IMAGE_REPO}:{version}  {digest}")
    print(
        "  config: created; labels: org.opencontainers.image.{source,revision,version} and"
        " io.nightshift.serving-api=tabular/v1"
    )


def bot(demo: Demo, estate: Estate, *args: str, now: datetime | None = None) -> None:
    """`python -m bot ...` as the bot's pod runs it: only the Deployment's environment."""
    argv = [sys.executable, "-m", "bot", *args, "--repo", str(demo.bot_checkout)]
    if now is not None:
        argv += ["--now", now.isoformat()]
    echo(["python", *argv[1:]])
    result = subprocess.run(
        argv,
        # --now (a later clock, to show soak passing) is only taken with this set.
        env={**estate.bot_process_env(demo.workdir / "bot-home"), **clock_env(now)},
        cwd=demo.workdir,
        timeout=300,
        check=False,
    )
    if result.returncode != 0:
        raise DemoError(f"python -m bot {args[0]} exited with {result.returncode}")


def show_pull_request(estate: Estate) -> dict[str, Any]:
    pulls = estate.forge.pulls(estate.repository, state="open")
    if not pulls:
        raise DemoError("the bot opened no staging pull request")
    pr = pulls[-1]
    labels = ", ".join(label["name"] for label in pr["labels"])
    reviewers = ", ".join(r["login"] for r in pr["requested_reviewers"])
    print(f"\n  PR #{pr['number']}: {pr['title']}")
    print(
        f"  {pr['head']['ref']} → {pr['base']['ref']}   labels: {labels}   reviewers: {reviewers}"
    )
    for line in pr["body"].splitlines():
        if line.startswith("<details>"):
            break
        print(f"  | {line}" if line else "  |")
    return dict(pr)


def show_dashboard(estate: Estate) -> dict[str, Any]:
    """The promotion dashboard issue the passes keep current: its URL, then what it says
    about each environment (the Mermaid chart renders on GitHub, so it is left out here)."""
    issues = estate.dashboard_issues()
    if len(issues) != 1:
        raise DemoError(f"expected one promotion dashboard issue, found {len(issues)}")
    [issue] = issues
    print(f"\n  dashboard issue #{issue['number']}: {issue['title']}")
    print(f"  {issue['html_url']}")
    before, _, rest = issue["body"].partition("```mermaid")
    body = before.rstrip("\n") + rest.split("```", 1)[-1]
    for line in body.splitlines()[2:]:
        print(f"  | {line}" if line else "  |")
    return dict(issue)


def status_and_render(demo: Demo, estate: Estate) -> dict[str, str]:
    """A person's view: a fresh clone, `bot status`, and dev rendered as Flux would."""
    url = estate.origin.repo_url(REPOSITORY, with_credentials=True)
    echo(["git", "clone", estate.clone_url, str(demo.clone)])
    subprocess.run(["git", "clone", "--quiet", url, str(demo.clone)], check=True)
    # The demo's operator, so `bot pin --commit` in the next steps works on any machine.
    who, email = PERSON
    git("config", "user.name", who, cwd=demo.clone)
    git("config", "user.email", email, cwd=demo.clone)
    argv = [sys.executable, "-m", "bot", "status", "--repo", str(demo.clone)]
    echo(["python", *argv[1:]])
    if subprocess.run(argv, timeout=120, check=False).returncode != 0:
        raise DemoError("python -m bot status failed")

    kubectl = shutil.which("kubectl")
    if kubectl is None:
        raise DemoError("kubectl is not installed: run scripts/bootstrap")
    dev = demo.clone / "environments" / "dev"
    echo(["kubectl", "kustomize", str(dev)], "the manifests Flux would apply to dev")
    rendered = subprocess.run(
        [kubectl, "kustomize", str(dev)], capture_output=True, text=True, check=False
    )
    if rendered.returncode != 0:
        raise DemoError(f"kubectl kustomize failed: {rendered.stderr.strip()}")
    out = demo.workdir / "dev-rendered.yaml"
    out.write_text(rendered.stdout)
    docs = [d for d in yaml.safe_load_all(rendered.stdout) if d]
    pin: dict[str, str] = {}
    for doc in docs:
        kind, name = doc["kind"], doc["metadata"]["name"]
        if kind == "Deployment":
            spec = doc["spec"]["template"]["spec"]
            for c in [*spec.get("initContainers", []), *spec["containers"]]:
                print(f"  Deployment {name}, container {c['name']}: {c['image']}")
        if kind == "ConfigMap" and name.startswith("model-pin"):
            pin = dict(doc["data"])
            print(f"  ConfigMap {name}: " + "  ".join(f"{k}={v}" for k, v in pin.items()))
    print(f"  ({len(docs)} objects: {', '.join(sorted({d['kind'] for d in docs}))};")
    print(f"   the whole render is in {out})")
    if not pin:
        raise DemoError("dev's render has no model-pin ConfigMap")
    return pin


def serve(demo: Demo, estate: Estate, pin: dict[str, str]) -> None:
    dest = demo.workdir / "serving" / MODEL
    modelstore(
        "fetch", "--name", pin["MODEL_NAME"], "--version", pin["MODEL_VERSION"],
        "--sha256", pin["MODEL_SHA256"], "--dest", str(dest),
    )  # fmt: skip
    port = free_port()
    env = {
        **os.environ,
        "MODEL_DIR": str(dest),
        "MODEL_NAME": pin["MODEL_NAME"],
        "MODEL_VERSION": pin["MODEL_VERSION"],
        "MODEL_SHA256": pin["MODEL_SHA256"],
    }
    env.pop("MODEL_STORE", None)  # serve exactly what was fetched and verified
    argv = [sys.executable, "-m", "app", "--port", str(port)]
    echo(["python", *argv[1:]], "with MODEL_DIR, MODEL_NAME, MODEL_VERSION, MODEL_SHA256")
    proc = spawn(argv, env=env)
    app = Service(name="app", url=f"http://127.0.0.1:{port}", proc=proc)
    demo.services.append(app)
    demo.app = app
    since = time.monotonic()
    print("  waiting for /v2/health/ready (the app verifies the model's sha256 first)...")
    wait_until(lambda: _ready(app.url), timeout=90, what="python -m app", proc=proc)
    print(f"  ready in {time.monotonic() - since:.1f}s at {app.url}")
    body = json.dumps({"instances": SAMPLES})
    print(f"$ curl -s {app.url}/predict -H 'Content-Type: application/json' -d '{body}'")
    answer = _post(f"{app.url}/predict", body)
    print(json.dumps(answer))
    if answer["model"]["version"] != pin["MODEL_VERSION"]:
        raise DemoError(f"the service answered with model {answer['model']}, not dev's pin")


def _ready(url: str) -> bool:
    try:
        with urllib.request.urlopen(f"{url}/v2/health/ready", timeout=2) as response:  # noqa: S310
            return bool(response.status == 200)
    except urllib.error.HTTPError:
        return False


def _post(url: str, body: str) -> Any:
    request = urllib.request.Request(  # noqa: S310
        url, data=body.encode(), headers={"Content-Type": "application/json"}, method="POST"
    )
    with urllib.request.urlopen(request, timeout=10) as response:  # noqa: S310
        return json.loads(response.read())
