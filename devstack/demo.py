"""The local end-to-end demo (`./scripts/demo`, i.e. `python -m devstack.demo`).

The whole Nightshift story on real services on loopback, in seconds once bootstrapped:

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
    start the service (`python -m app`, Granian) and call `/predict`;
 9. print a summary with next steps, and stop everything, or with `--keep-running` leave
    it running and print the command that stops it (`--stop DIR`).
"""

from __future__ import annotations

import argparse
import os
import shlex
import shutil
import sys
import tempfile
import time
from datetime import timedelta
from pathlib import Path
from typing import Any

from devstack import demo_services
from devstack.demo_steps import (
    IMAGE_REPO,
    REPOSITORY,
    SOAKED,
    Demo,
    DemoError,
    bot,
    push_images,
    serve,
    show_dashboard,
    show_pull_request,
    start_services,
    status_and_render,
    step,
    train_and_publish,
)
from devstack.estate import Estate
from devstack.procs import ROOT

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


def summary(
    demo: Demo,
    estate: Estate,
    pr: dict[str, Any],
    board: dict[str, Any],
    keep_running: bool,
) -> None:
    print("\n== summary")
    dev_commit = estate.origin_log()[0]
    print("  what happened:")
    print(f"    dev      direct commit on main: {dev_commit}")
    print(f"    staging  PR #{pr['number']} {pr['html_url']}  (waits for a reviewer)")
    print("    prod     still 1.0.0: it gets a PR once staging has run 1.1.0 for 72h")
    print(f"    dashboard issue #{board['number']} {board['html_url']}  (what runs, waits, failed)")
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
    - read the promotion dashboard issue, which every `bot run` keeps current
        forge {api}/issues/{board["number"]} | \\
            python -c 'import json, sys; print(json.load(sys.stdin)["body"])'
    - let three days pass for the bot: prod gets its PR
        NIGHTSHIFT_ALLOW_NOW=1 python -m bot run --repo {demo.bot_checkout} --now {later}
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
        estate = start_services(demo)
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
    with step(demo, "the promotion dashboard issue: what runs, what waits and why"):
        board = show_dashboard(estate)
    with step(demo, "what runs where (bot status), and dev rendered with kubectl kustomize"):
        pin = status_and_render(demo, estate)
    with step(demo, "serve dev's pin: fetch the model from Azurite, verify it, start the app"):
        serve(demo, estate, pin)
    summary(demo, estate, pr, board, keep_running)


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
