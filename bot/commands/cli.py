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

from bot.commands.parser import build_parser
from bot.errors import BotError, ConfigError


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
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


def _env(args: argparse.Namespace) -> int:
    from bot.commands.envadd import handle

    return handle(args)
