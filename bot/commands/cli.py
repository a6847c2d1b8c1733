"""`python -m bot`: plan, run, serve, pin and status (DESIGN.md, "Command lines").

Exit codes: 0 success, including "nothing to do"; 1 when some item failed (the rest still
went through); 2 for bad usage or configuration. Errors are one line; `--debug` adds the
traceback.

`plan` and `run` also take a hidden `--now ISO8601` (e.g. `--now 2030-01-31T02:30:00Z`):
the pass judges soak and minimum age as if it were that time. It exists for the demo
(`./scripts/demo`) and the end-to-end tests, which show "a day later" without waiting a day;
it is left out of `--help` because a real pass must use the real clock, and a `run` that
writes takes it only with NIGHTSHIFT_ALLOW_NOW=1 in its environment.
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
import threading
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path

from bot.errors import BotError, ConfigError

EPILOG = """\
environment (all optional; docs/cli.md has the details):
  NIGHTSHIFT_REPO_URL      GitOps repository to clone when --repo is not a checkout yet
  NIGHTSHIFT_GIT_TOKEN     token (or password) for HTTPS git, sent as user
                           NIGHTSHIFT_GIT_USERNAME (default x-access-token)
  NIGHTSHIFT_GIT_SSH_KEY   path to a private key FILE for SSH git (not the key itself);
                           without it SSH uses the agent. Also NIGHTSHIFT_GIT_SSH_PUBLIC_KEY
                           (default: KEY.pub) and NIGHTSHIFT_GIT_SSH_PASSPHRASE
  GITHUB_TOKEN             token for promotion pull requests (the variable named by
                           pullRequests.tokenEnv; NIGHTSHIFT_GITHUB_TOKEN when that is unset)
  GITHUB_REPOSITORY        owner/name of the PRs' repository when pullRequests.repository
                           is not set (GitHub Actions sets it)
  GITHUB_API_URL           GitHub API root, e.g. https://HOST/api/v3 for Enterprise
  AZURE_STORAGE_CONNECTION_STRING
                           model store credentials (else DefaultAzureCredential)
  MODEL_STORE              store URL for `pin --model` when promotion.yaml names none

exit codes: 0 ok (also: nothing to do), 1 some item failed, 2 bad usage or configuration
"""


def _timestamp(text: str) -> datetime:
    """`--now`: an ISO 8601 time with a UTC offset (`Z` or `+02:00`)."""
    try:
        when = datetime.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"{text!r} is not an ISO 8601 time, e.g. 2030-01-31T02:30:00Z"
        ) from None
    if when.tzinfo is None:
        raise argparse.ArgumentTypeError(
            f"{text!r} has no UTC offset; add one, e.g. 2030-01-31T02:30:00Z or ...+01:00"
        )
    return when.astimezone(UTC)


def _with_now(p: argparse.ArgumentParser) -> None:
    """The hidden `--now ISO8601`, for demos and tests only.

    Soak and minimum-age checks compare against this instead of the clock, so a demo or an
    end-to-end test can show "a day later" without waiting a day, through the real CLI.
    It is hidden from `--help` because a real pass must use the real time: a clock set
    ahead would promote versions that have not soaked.
    """
    p.add_argument("--now", type=_timestamp, default=None, help=argparse.SUPPRESS)


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m bot",
        description="Nightshift's promotion bot: promotes image and model pins through "
        "environments/<env>/ by commits and pull requests.",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--debug", action="store_true", help="show tracebacks and debug logs")
    sub = parser.add_subparsers(
        dest="command", required=True, metavar="COMMAND", help="what to do (COMMAND --help)"
    )

    def common(p: argparse.ArgumentParser, *, env: bool = True, json: bool = True) -> None:
        p.add_argument("--repo", type=Path, default=Path(), help="GitOps checkout (default: .)")
        if env:
            p.add_argument(
                "--env", action="append", default=[], metavar="E",
                help="only this environment (repeatable; default: all)",
            )  # fmt: skip
        if json:
            p.add_argument("--json", action="store_true", help="print a JSON report")

    def with_url(p: argparse.ArgumentParser) -> None:
        p.add_argument(
            "--url",
            # An empty $NIGHTSHIFT_REPO_URL (a blank secret in a pod spec) means none.
            default=os.environ.get("NIGHTSHIFT_REPO_URL") or None,
            help="clone from this URL when --repo is not a checkout ($NIGHTSHIFT_REPO_URL)",
        )

    plan_description = """\
Shows what a pass would change, and why. It fetches, then plans on the remote branch as
fetched, and never moves your branch, HEAD or files: local commits that are not pushed
yet are not part of the plan. With uncommitted changes it plans on the working tree as is.
"""
    p = sub.add_parser("plan", help="show what would change, and why", epilog=EPILOG,
                       description=plan_description,
                       formatter_class=argparse.RawDescriptionHelpFormatter)  # fmt: skip
    common(p)
    with_url(p)
    _with_now(p)
    run_description = """\
Does one promotion pass now: fetch, discover, decide, plan, edit, gate, then commit and push
for direct environments and open or update a pull request for the others, and report.
Prints the summary table, or with --json the JSON report (docs/report.md). With --dry-run
it edits and gates but writes nothing, and plans on the fetched remote branch like plan.
"""
    p = sub.add_parser("run", help="do one promotion pass now", epilog=EPILOG,
                       description=run_description,
                       formatter_class=argparse.RawDescriptionHelpFormatter)  # fmt: skip
    common(p)
    with_url(p)
    p.add_argument("--dry-run", action="store_true",
                   help="edit and gate, but commit, push and open nothing; like plan, "
                   "it plans on the fetched remote branch and moves nothing")  # fmt: skip
    _with_now(p)
    p = sub.add_parser(
        "serve",
        help="run passes nightly on the schedule in promotion.yaml",
        description="""\
Runs a pass every day at schedule.at in schedule.timezone (promotion.yaml), as the bot's
Deployment does; SIGTERM or SIGINT stops it after the current pass, with exit code 0.
Logs the next run time, and each pass's summary table on stderr.
""",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    common(p, env=False, json=False)
    with_url(p)
    p.add_argument("--run-now", action="store_true", help="also run one pass at start")
    p = sub.add_parser(
        "pin",
        help="pin an image or model by hand (manual promotion or rollback)",
        description="Edits ENV's kustomization (at its promotion.yaml path:, by default "
        "environments/ENV) with the same minimal editor and gate as the bot. With --commit, "
        "commits as you: a rollback made this way sticks.",
    )
    p.add_argument(
        "environment", metavar="ENV", help="the environment to pin, as promotion.yaml names it"
    )
    what = p.add_mutually_exclusive_group(required=True)
    what.add_argument(
        "--image", metavar="NAME=TAG[@sha256:HEX]",
        help="pin image NAME (as in the kustomization's images:) to TAG, and to its digest"
        " when given (recommended: a tag can be re-pushed)",
    )  # fmt: skip
    what.add_argument(
        "--model", metavar="NAME=VERSION",
        help="pin model NAME to VERSION; its sha256 comes from --sha256 or its model card",
    )  # fmt: skip
    p.add_argument(
        "--sha256", metavar="HEX",
        help="the model's sha256 (default: read from its model card); with it, a pin still"
        " works when the store is unreachable (the card check is then skipped, with a warning)",
    )  # fmt: skip
    p.add_argument(
        "--store", metavar="URL", help="model store for the card (default: config or $MODEL_STORE)"
    )
    p.add_argument("--repo", type=Path, default=Path(), help="GitOps checkout (default: .)")
    p.add_argument(
        "--commit", action="store_true",
        help="commit the change as you (git's user.name and user.email), not as the bot;"
        " push it yourself. Without it the edit is left in the working tree",
    )  # fmt: skip
    p.add_argument("--dry-run", action="store_true", help="show the change, write nothing")
    p = sub.add_parser(
        "status",
        help="what each environment runs, since when, set by whom",
        description="""\
Shows, for each environment, what it runs (image tag and digest, model version and sha256),
since when, from which commit, set by the bot or a person, and through which PR; and flags
a version that a hold or a rejection says should not run. It reads the checkout as it is,
without fetching (git pull first). Exit code 1 when an environment cannot be read or a
version is flagged. --json prints the status report (docs/report.md).
""",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    common(p, env=False)
    p.add_argument(
        "--history", nargs=2, metavar=("ENV", "ARTIFACT"),
        help="every version ENV ran of ARTIFACT, with dates, PRs and rollbacks (git only)",
    )  # fmt: skip
    _env_parser(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = _parser()
    args = parser.parse_args(argv)
    logging.basicConfig(
        level=logging.DEBUG if args.debug else logging.INFO,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        stream=sys.stderr,
    )
    if not args.debug:
        # The Azure SDK logs every credential it tries and every retry as a warning (about
        # 20 lines per attempt); the one-line error at the end says what matters, and
        # --debug brings the detail back.
        for noisy in ("azure", "urllib3"):
            logging.getLogger(noisy).setLevel(logging.CRITICAL)
    try:
        return _dispatch(args)
    except ConfigError as err:
        if args.debug:
            raise
        print(f"error: {err}", file=sys.stderr)
        return 2
    except BotError as err:
        if args.debug:
            raise
        print(f"error: {err}", file=sys.stderr)
        return 1
    except Exception as err:  # an unexpected failure is still one line without --debug
        if args.debug:
            raise
        from modelstore.errors import ModelStoreError

        if isinstance(err, ModelStoreError):
            print(f"error: {err}", file=sys.stderr)
            return 1
        print(f"error: internal error: {type(err).__name__}: {err} (rerun with --debug)",
              file=sys.stderr)  # fmt: skip
        return 1


def _dispatch(args: argparse.Namespace) -> int:
    if args.command in ("plan", "run"):
        return _plan_or_run(args)
    if args.command == "serve":
        return _serve(args)
    if args.command == "pin":
        return _pin(args)
    if args.command == "env":
        return _env(args)
    return _status(args)


def _checkout_or_url(repo: Path, url: str | None) -> None:
    """A pass needs a checkout at --repo, or a URL to clone one there: else it is bad usage.

    Checked here, at the edge, so `plan --repo /typo` exits 2 like any other wrong argument
    instead of failing as if git itself had broken.
    """
    if url or (repo / ".git").exists():
        return
    what = "is not a git checkout" if repo.is_dir() else "does not exist"
    raise ConfigError(
        f"--repo {repo} {what}; give a GitOps checkout, or --url (or $NIGHTSHIFT_REPO_URL)"
        " to clone one there"
    )


ALLOW_NOW = "NIGHTSHIFT_ALLOW_NOW"


def _clock_override_allowed(args: argparse.Namespace) -> None:
    """A writing `run --now` must be asked for twice: the flag, and $NIGHTSHIFT_ALLOW_NOW=1.

    With a clock set ahead a pass promotes versions that have not soaked, so a stray
    `--now` pasted from the demo into a real pass is refused. `plan` and `--dry-run` write
    nothing and take it freely; the demo and the end-to-end tests set the variable.
    """
    writing = args.command == "run" and not getattr(args, "dry_run", False)
    if args.now is not None and writing and os.environ.get(ALLOW_NOW) != "1":
        raise ConfigError(
            "--now on a run that writes would judge soak and minimum age by a clock that is"
            f" not the real one; it is for demos and tests: set {ALLOW_NOW}=1 to use it"
        )


def _plan_or_run(args: argparse.Namespace) -> int:
    from bot.commands.run import PassOptions, run_pass
    from bot.write.report import render_table, to_json

    _checkout_or_url(args.repo.resolve(), args.url)
    _clock_override_allowed(args)
    options = PassOptions(
        repo=args.repo.resolve(),
        url=args.url,
        environments=tuple(args.env),
        write=args.command == "run",
        dry_run=getattr(args, "dry_run", False),
        now=args.now,
    )
    report = run_pass(options)
    print(to_json(report) if args.json else render_table(report), end="")
    return report.exit_code


def _serve(args: argparse.Namespace) -> int:
    from bot.commands.run import CONFIG_PATH, PassOptions, run_pass
    from bot.commands.serve import Nightly, serve, stop_on_signals
    from bot.config.load import load_config
    from bot.write.report import render_table

    repo = args.repo.resolve()
    _checkout_or_url(repo, args.url)
    options = PassOptions(repo=repo, url=args.url)
    if not (repo / CONFIG_PATH).exists():
        if not args.url:
            raise ConfigError(f"{repo / CONFIG_PATH}: no such file, and no --url to clone from")
        run_pass(PassOptions(repo=repo, url=args.url, write=False))  # clone, then read
    config = load_config(repo / CONFIG_PATH)
    if config.schedule is None:
        raise ConfigError(f"{config.path}: `serve` needs a schedule (at, timezone)")

    def one_pass() -> int:
        report = run_pass(options)
        sys.stderr.write(render_table(report))
        return report.exit_code

    at = config.schedule.at.strftime("%H:%M")
    nightly = Nightly(one_pass, at, config.schedule.timezone.key, debug=args.debug)
    stop = threading.Event()
    stop_on_signals(stop)
    return serve(nightly, stop, run_now=args.run_now)


def _pin(args: argparse.Namespace) -> int:
    from bot.commands.pin import PinRequest, pin
    from bot.edit.change import render_changes

    request = PinRequest(args.environment, args.image, args.model, args.sha256, args.store)
    result = pin(args.repo.resolve(), request, commit=args.commit, dry_run=args.dry_run)
    if not result.edit.changed:
        print(f"{args.environment}: already pinned; nothing to do")
        return 0
    print(render_changes(result.edit.changes))
    if result.commit:
        print(f"committed {result.commit[:12]} (push it, or open a pull request)")
    elif args.dry_run:
        print("dry run: nothing written")
    return 0


def _status(args: argparse.Namespace) -> int:
    from bot.commands.status import collect, history, pr_tracer, render, render_history, to_json

    if args.history:
        environment, artifact = args.history
        print(render_history(environment, artifact, history(args.repo.resolve(), *args.history)),
              end="")  # fmt: skip
        return 0
    status = collect(args.repo.resolve(), pr_tracer(args.repo.resolve()))
    print(to_json(status) if args.json else render(status, datetime.now(UTC)), end="")
    return status.exit_code


# --- env add (issue 17) ---------------------------------------------------------------

ENV_ADD_DESCRIPTION = """\
Adds environment NAME, promoted from UPSTREAM, in one step:
  environments/NAME/   UPSTREAM's overlay with its pins; namespace and labels renamed, the
                       workload identity's client ID blanked (it must be NAME's own)
  promotion.yaml       NAME's entry after the last environment; no other byte changes
  clusters/NAME/       Flux objects from clusters/UPSTREAM/, when that folder exists
Nothing is written unless the new overlay renders and validates (the gate) and the new
promotion.yaml loads. It refuses a name that exists, an unknown UPSTREAM, a name that is not
a DNS-1123 label, and a promotion.yaml with uncommitted changes (exit 2). Afterwards it
prints what to do by hand: identity, CODEOWNERS, branch protection, Flux bootstrap.
"""


def _env_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """`env add` (issue 17). Here at the end, apart from the other commands; its handler
    and everything it does are in bot.commands.envadd."""
    env = sub.add_parser(
        "env",
        help="manage environments (add one)",
        description="Manage the environments of the promotion chain.",
    )
    env_sub = env.add_subparsers(
        dest="env_command", required=True, metavar="ACTION", help="what to do (add)"
    )
    p = env_sub.add_parser(
        "add",
        help="add an environment promoted from an existing one",
        description=ENV_ADD_DESCRIPTION,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("name", metavar="NAME", help="the new environment, e.g. qa (a DNS-1123 label)")
    p.add_argument(
        "--from", dest="upstream", metavar="UPSTREAM", required=True,
        help="the environment NAME takes its versions from, once they soaked there",
    )  # fmt: skip
    p.add_argument(
        "--mode", choices=("direct", "pull-request"), default="pull-request",
        help="how the bot promotes into NAME: commits on main, or pull requests that"
        " reviewers merge (default: pull-request)",
    )  # fmt: skip
    p.add_argument(
        "--soak", metavar="DURATION",
        help="how long a version runs in UPSTREAM before NAME takes it, e.g. 24h or 3d"
        " (default: UPSTREAM's own soak as written, or 24h when UPSTREAM has none)",
    )  # fmt: skip
    p.add_argument("--repo", type=Path, default=Path(), help="GitOps checkout (default: .)")
    p.add_argument(
        "--commit", action="store_true",
        help="commit the new files as you (your git identity), on the checked-out branch",
    )  # fmt: skip
    p.add_argument(
        "--dry-run", action="store_true",
        help="check everything and show the files as a diff; write nothing",
    )  # fmt: skip


def _env(args: argparse.Namespace) -> int:
    from bot.commands.envadd import handle

    return handle(args)
