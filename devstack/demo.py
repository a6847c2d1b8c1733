"""The local end-to-end demo (`./scripts/demo`, i.e. `python -m devstack.demo`).

The whole Nightshift story on real services on loopback, in a few minutes:

 1. start Azurite (the model store), the distribution registry, a git origin over smart
    HTTP and the GitHub API fake, each its own process;
 2. train two iris models and publish them as 1.0.0 and 1.1.0 with `python -m modelstore`;
 3. push `model-api` 1.0.0 and 1.1.0 to the registry, with OCI labels, as CI would;
 4. seed the GitOps repository (this repo's manifests, every environment at 1.0.0);
 5. run the bot as its pod would (`python -m bot run`, only the Secret's environment):
    dev gets a direct commit; `python -m bot plan` says staging waits for dev to soak 24h;
 6. a day later (the bot's hidden `--now`): staging gets a promotion PR on the forge;
 7. `python -m bot status`, and `kubectl kustomize environments/dev`;
 8. fetch dev's pinned model from Azurite with verification, as the init container does,
    start the service (`python -m app`, gunicorn) and call `/predict`;
 9. print a summary with next steps, and stop everything, or with `--keep-running` leave
    it running and print the command that stops it (`--stop DIR`).
"""

from __future__ import annotations

import argparse
import json
import os
import secrets
import shlex
import shutil
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import yaml

from devstack import demo_services
from devstack.azurite import start_azurite
from devstack.estate import PERSON, Estate, git
from devstack.githttp import start_git_origin
from devstack.github_fake import spawn_github_fake
from devstack.procs import ROOT, Service, free_port, spawn, wait_until
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
    estate: Estate | None = None
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
    for version, _ in RELEASES:
        digest = estate.push_image(version)
        print(f"  pushed {estate.registry.host}/{IMAGE_REPO}:{version}  {digest}")
    print(
        "  labels: org.opencontainers.image.{source,revision,version} and"
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
        env=estate.bot_process_env(demo.workdir / "bot-home"),
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


# ---- summary -----------------------------------------------------------------------------


def write_env_file(demo: Demo, estate: Estate) -> Path:
    """Variables for exploring a running demo; 0600, since it holds the demo's tokens."""
    forge = estate.forge
    values = {
        "PATH": os.pathsep.join((str(Path(sys.executable).parent), os.environ.get("PATH", ""))),
        "PYTHONPATH": str(ROOT),
        "NIGHTSHIFT_REPO_URL": estate.clone_url,
        "NIGHTSHIFT_GIT_USERNAME": estate.origin.username or "",
        "NIGHTSHIFT_GIT_TOKEN": estate.origin.password or "",
        "NIGHTSHIFT_GITHUB_TOKEN": forge.token,
        "GITHUB_API_URL": forge.url,
        "AZURE_STORAGE_CONNECTION_STRING": estate.azurite.connection_string,
        "MODEL_STORE": estate.store_url,
        "DEMO_APP": demo.app.url if demo.app else "",
    }
    path = demo.workdir / "demo.env"
    path.touch(mode=0o600)
    lines = [f"export {k}={shlex.quote(v)}\n" for k, v in values.items()]
    lines.append(
        "# curl with the GitHub fake's token and the headers GitHub's REST API wants\n"
        'forge() { curl -s -H "Authorization: Bearer $NIGHTSHIFT_GITHUB_TOKEN"'
        " -H 'Accept: application/vnd.github+json' -H 'X-GitHub-Api-Version: 2022-11-28'"
        " -H 'Content-Type: application/json' \"$@\"; }\n"
    )
    path.write_text("".join(lines))
    return path


def summary(demo: Demo, estate: Estate, pr: dict[str, Any], keep_running: bool) -> None:
    print("\n== summary")
    dev_commit = estate.origin_log()[0]
    print("  what happened:")
    print(f"    dev      direct commit on main: {dev_commit}")
    print(f"    staging  PR #{pr['number']} {pr['html_url']}  (waits for a reviewer)")
    print("    prod     still 1.0.0: it gets a PR once staging has run 1.1.0 for 72h")
    answered = "answered /predict" if demo.app else "was not started"
    print(f"    service  on dev's pin (model-api 1.1.0, iris 1.1.0), {answered}")
    print("  services on loopback:")
    for service in demo.services:
        print(f"    {service.name:<12} {service.url}")
    print("\n  next steps:")
    print("    - the rest of the story (merge, prod PR, rollback, a model failing its gate):")
    print("        ./scripts/test tests/e2e/test_story.py")
    print("    - read docs/reviewer-guide.md, docs/operator-runbook.md,")
    print("      docs/data-scientist-guide.md and docs/promotion-config.md")
    if not keep_running:
        print("    - ./scripts/demo --keep-running leaves all of this running to explore")
        return
    env_file = write_env_file(demo, estate)
    later = (demo.t0 + timedelta(hours=100)).isoformat()
    api = "$GITHUB_API_URL/repos/" + REPOSITORY
    old = f"model-api=1.0.0@{estate.images['1.0.0']}"
    print(f"""\
    - everything below starts with:  source {env_file}
    - call the service:
        curl -s $DEMO_APP/predict -H 'Content-Type: application/json' \\
             -d '{{"instances": [[5.1, 3.5, 1.4, 0.2]]}}'
    - list the promotion PRs, and merge the staging one as a reviewer would
      (`forge` is curl with the fake's token and GitHub's headers, from demo.env):
        forge {api}/pulls | python -m json.tool | less
        forge -X PUT {api}/pulls/{pr["number"]}/merge -d '{{}}'
    - let three days pass for the bot: prod gets its PR
        python -m bot run --repo {demo.bot_checkout} --now {later}
    - roll dev back by hand, as an operator; the bot will not undo it
        cd {demo.clone} && git pull -q && \\
        python -m bot pin dev --image {old} --commit && git push -q
        python -m bot status --repo {demo.clone}""")


def stop_message(demo: Demo, state: demo_services.DemoState) -> None:
    print("\n  Everything is still running. Logs:")
    for entry in state.services:
        print(f"    {entry.name:<12} {entry.log}")
    print("\n  Stop it all and remove its files with:")
    print(f"    ./scripts/demo --stop {demo.workdir}")
    print(f"  (or: {state.kill_command()}; rm -rf {demo.workdir})")


# ---- main --------------------------------------------------------------------------------


def run(demo: Demo, *, keep_running: bool) -> None:
    with step(demo, "start Azurite, the registry, a git origin and the GitHub API fake"):
        estate = demo.estate = start_services(demo)
    with step(demo, "train two iris models and publish them as 1.0.0 and 1.1.0"):
        train_and_publish(demo, estate)
    with step(demo, f"push {IMAGE_REPO} 1.0.0 and 1.1.0 with OCI labels, as CI would"):
        push_images(estate)
    with step(demo, "seed the GitOps repository: every environment runs 1.0.0"):
        estate.seed("1.0.0", "1.0.0")
        print(f"  {estate.clone_url}: base-manifests/, environments/{{dev,staging,prod}}/,")
        print("  environments/promotion.yaml (dev direct; staging after 24h, prod after 72h")
        print("  by pull request; model gate accuracy >= 0.8, no regression)")
    with step(demo, "tonight's bot pass, as the bot's pod runs it"):
        print("  (environment: NIGHTSHIFT_REPO_URL, HOME and the Secret's NIGHTSHIFT_GIT_TOKEN,")
        print("   NIGHTSHIFT_GITHUB_TOKEN, AZURE_STORAGE_CONNECTION_STRING; nothing else)")
        bot(demo, estate, "run")
        print("  dev got a direct commit. A pass plans against what runs now, so `plan`")
        print("  says why staging waits:")
        bot(demo, estate, "plan", "--env", "staging")
    with step(demo, "a day later (the bot's --now): staging gets a promotion pull request"):
        bot(demo, estate, "run", now=demo.t0 + SOAKED)
        pr = show_pull_request(estate)
    with step(demo, "what runs where (bot status), and dev rendered with kubectl kustomize"):
        pin = status_and_render(demo, estate)
    with step(demo, "serve dev's pin: fetch the model from Azurite, verify it, start the app"):
        serve(demo, estate, pin)
    summary(demo, estate, pr, keep_running)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="./scripts/demo",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--workdir", type=Path, help="keep the demo's files here (empty folder)")
    parser.add_argument(
        "--keep-running",
        action="store_true",
        help="leave the services running and print how to explore and stop them",
    )
    parser.add_argument(
        "--stop", type=Path, metavar="DIR", help="stop a demo left running in DIR, remove DIR"
    )
    parser.add_argument("--debug", action="store_true", help="show tracebacks on errors")
    args = parser.parse_args(argv)
    if args.stop is not None:
        try:
            for line in demo_services.stop(args.stop):
                print(line)
        except demo_services.StopError as err:
            print(f"demo: error: {err}", file=sys.stderr)
            return 2
        print(f"removed {args.stop}")
        return 0

    if args.workdir and args.workdir.exists() and any(args.workdir.iterdir()):
        print(f"demo: error: {args.workdir} is not empty", file=sys.stderr)
        return 2
    workdir = (args.workdir or Path(tempfile.mkdtemp(prefix="nightshift-demo-"))).resolve()
    workdir.mkdir(parents=True, exist_ok=True)
    demo = Demo(workdir)
    started = time.monotonic()
    kept = False
    try:
        run(demo, keep_running=args.keep_running)
        if args.keep_running:
            state = demo_services.record(workdir, demo.services, demo.leftovers)
            stop_message(demo, state)
            kept = True
    except KeyboardInterrupt:
        print("\ndemo: interrupted; stopping what it started", file=sys.stderr)
        return 130
    except Exception as err:  # the edge: one clear line, the traceback only with --debug
        if args.debug:
            raise
        known = isinstance(err, DemoError | RuntimeError | OSError)
        message = str(err) if known else f"{type(err).__name__}: {err}"
        print(f"\ndemo: error: {message} (rerun with --debug for the traceback)", file=sys.stderr)
        return 1
    finally:
        if not kept:
            demo.stop_all()
            if args.workdir is None:
                shutil.rmtree(workdir, ignore_errors=True)
    if not kept:
        files = f"kept in {workdir}" if args.workdir else "removed"
        print(f"\n  All services stopped; the demo's files were {files}.")
    print(f"\ndemo complete in {time.monotonic() - started:.0f}s.")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
