"""The command line's grammar: every command, argument and help text of `python -m bot`.

Kept apart from what the commands do, so `--help` (which tests/test_cli_help.py holds to
a description for every command and argument) reads as one piece.
"""

from __future__ import annotations

import argparse
import os
from datetime import UTC, datetime
from pathlib import Path

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


def build_parser() -> argparse.ArgumentParser:
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
