"""`python -m modelstore publish|list|fetch`: the model store from a shell.

Exit codes: 0 success (including "already there, nothing to do"); 1 the operation failed
(version exists, not found, integrity mismatch, store unreachable, a bad card in the
store); 2 bad usage or configuration (arguments, including card fields given to publish,
store URL, credentials). Errors are one line on stderr, argparse's too; add --debug for
the traceback.
"""

from __future__ import annotations

import argparse
import json
import logging
import math
import os
import re
import sys
import time
import traceback
from pathlib import Path
from typing import NoReturn, TextIO

from modelstore import signing
from modelstore.card import ModelCard
from modelstore.errors import ModelStoreError, UsageError
from modelstore.fetch import Trust
from modelstore.store import ModelStore, open_store

PROG = "python -m modelstore"
_PROGRESS_FROM = 16 * 1024 * 1024  # smaller transfers finish before a progress line helps

_EPILOG = """\
store URLs (--store, or $MODEL_STORE):
  file:///abs/dir          a folder
  azure://<container>      Azure Blob, credentials from $AZURE_STORAGE_CONNECTION_STRING
  https://<account>.blob.core.windows.net/<container>
                           Azure Blob, DefaultAzureCredential (or the connection string)
layout: <name>/<version>/model.onnx, model.sig (when signed) and model-card.json
exit codes: 0 ok, 1 failed, 2 bad usage or configuration
"""


class _Parser(argparse.ArgumentParser):
    """argparse, but a usage error is one line like every other error (exit code 2).

    argparse prints the whole usage block before the message; DESIGN.md wants one clear
    line, and `--help` is one flag away. Subparsers inherit this class.
    """

    def error(self, message: str) -> NoReturn:
        self.exit(2, f"modelstore: error: {message} (see {self.prog} --help)\n")


def build_parser() -> argparse.ArgumentParser:
    common = _Parser(add_help=False)
    common.add_argument(
        "--store",
        metavar="URL",
        default=argparse.SUPPRESS,
        help="model store URL (default: $MODEL_STORE)",
    )
    common.add_argument(
        "--debug",
        action="store_true",
        default=argparse.SUPPRESS,
        help="show tracebacks and SDK logs",
    )
    parser = _Parser(
        prog=PROG,
        description="Publish, list and fetch versioned ONNX models with model cards.",
        epilog=_EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
        parents=[common],
    )
    commands = parser.add_subparsers(
        dest="command", required=True, metavar="COMMAND", help="what to do (COMMAND --help)"
    )

    publish = commands.add_parser(
        "publish",
        parents=[common],
        help="upload a model and its card (never overwrites a version)",
        description="Upload FILE as NAME VERSION with a model card. The artifact goes first,"
        " the card last with a conditional create, so a version appears only when complete"
        " and is never overwritten.",
    )
    publish.add_argument("file", type=Path, metavar="FILE", help="the ONNX model")
    publish.add_argument("--name", required=True, help="model name, e.g. iris")
    publish.add_argument("--version", required=True, help="semver (1.2.0) or an integer (17)")
    publish.add_argument(
        "--metrics", type=Path, metavar="M.json", help="JSON object of metric name → number"
    )
    publish.add_argument(
        "--serving-api", default="tabular/v1", help="serving API it needs (default: tabular/v1)"
    )
    publish.add_argument("--source-commit", help="commit the model was trained from")
    publish.add_argument(
        "--sign-key",
        type=Path,
        metavar="KEY.pem",
        help="sign the model with this EC private key (OpenSSF model signing); stores"
        " model.sig before the card, and the card records the key id",
    )
    publish.add_argument("--json", action="store_true", help="print the card as JSON")

    listing = commands.add_parser(
        "list",
        parents=[common],
        help="list published versions, lowest version first",
        description="List the complete versions of a model (card and artifact) in version "
        "order, lowest first: semver precedence, not publication time (a 1.0.1 published "
        "after 2.0.0 lists before it).",
    )
    listing.add_argument("--name", required=True, help="model name")
    listing.add_argument("--json", action="store_true", help="print the cards as a JSON list")

    fetch = commands.add_parser(
        "fetch",
        parents=[common],
        help="download a pinned version, verified",
        description="Download NAME VERSION into DIR/model.onnx (and DIR/model-card.json),"
        " verifying size and sha256 against the pin and the card before an atomic rename."
        " Does nothing when DIR already holds a verified copy; leaves nothing behind on"
        " failure.",
    )
    fetch.add_argument("--name", required=True, help="model name")
    fetch.add_argument("--version", required=True, help="model version")
    fetch.add_argument("--sha256", required=True, help="the pinned sha256 of model.onnx")
    fetch.add_argument("--dest", required=True, type=Path, metavar="DIR", help="target folder")
    fetch.add_argument(
        "--signer",
        metavar="KEY_ID",
        default=os.environ.get("MODEL_SIGNER") or None,
        help="the pin says this key signed the model: require a valid model.sig by it"
        " (default: $MODEL_SIGNER; unset means the pin does not say it is signed)",
    )
    fetch.add_argument(
        "--trusted-keys",
        type=Path,
        action="append",
        metavar="PATH",
        help="a public key PEM, or a folder of *.pem (a mounted ConfigMap), to verify with;"
        " repeatable (default: $MODEL_TRUSTED_KEYS)",
    )
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as stop:  # --help (0) or a usage error (2), already printed
        return int(stop.code or 0)
    debug = bool(getattr(args, "debug", False))
    logging.basicConfig(
        level=logging.DEBUG if debug else logging.ERROR,
        format="%(levelname)s %(name)s: %(message)s",
        stream=sys.stderr,
    )
    if not debug:
        # The SDK logs each retry as a warning; the one-line error says it all.
        logging.getLogger("azure").setLevel(logging.CRITICAL)
    try:
        with open_store(getattr(args, "store", None)) as store:
            return _COMMANDS[args.command](store, args)
    except ModelStoreError as err:
        if debug:
            traceback.print_exc()
        print(f"modelstore: error: {err}", file=sys.stderr)
        return 2 if isinstance(err, UsageError) else 1
    except KeyboardInterrupt:
        print("modelstore: interrupted", file=sys.stderr)
        return 1
    except Exception as err:  # a bug: still one line, the traceback with --debug
        if debug:
            traceback.print_exc()
        print(
            f"modelstore: unexpected error: {type(err).__name__}: {err}"
            " (run with --debug for the traceback)",
            file=sys.stderr,
        )
        return 1


def _publish(store: ModelStore, args: argparse.Namespace) -> int:
    metrics = _read_metrics(args.metrics) if args.metrics else {}
    card = store.publish(
        args.file,
        name=args.name,
        version=args.version,
        metrics=metrics,
        serving_api=args.serving_api,
        source_commit=args.source_commit,
        progress=ProgressLine(f"uploading {args.name} {args.version}"),
        sign_key=args.sign_key,
    )
    if args.json:
        print(card.to_json(), end="")
    else:
        signed = f", signed by {card.signer}" if card.signer else ""
        print(
            f"published {card.name} {card.version} to {store.location}"
            f" (sha256 {card.sha256}, {_size(card.size)}{signed})"
        )
    return 0


def _list(store: ModelStore, args: argparse.Namespace) -> int:
    cards = store.list(args.name)
    if args.json:
        print(json.dumps([card.to_dict() for card in cards], indent=2))
        return 0
    if not cards:
        print(f"no published versions of {args.name} in {store.location}", file=sys.stderr)
        return 0
    print(_table(cards))
    return 0


def _fetch(store: ModelStore, args: argparse.Namespace) -> int:
    trust = _trust(args.signer, args.trusted_keys)
    result = store.fetch_verified(
        args.name,
        args.version,
        args.sha256,
        args.dest,
        progress=ProgressLine(f"downloading {args.name} {args.version}"),
        trust=trust,
    )
    checked = "sha256 verified"
    if trust is not None and trust.signer is not None:
        checked += f", signed by {signing.short_id(trust.signer)}, verified"
    if result.downloaded:
        print(f"fetched {args.name} {args.version} into {result.path} ({checked})")
    else:
        print(f"{result.path} already holds {args.name} {args.version} ({checked}); nothing to do")
    return 0


def _trust(signer: str | None, sources: list[Path] | None) -> Trust | None:
    """The pin's signer with the keys to check it; None when the pin names no signer."""
    if not signer:
        return None
    signer = signer.strip().lower()
    if not re.fullmatch(r"[0-9a-f]{64}", signer):
        raise UsageError(f"the pinned signer {signer!r} is not a key id (64 hex digits)")
    if not sources:
        configured = os.environ.get("MODEL_TRUSTED_KEYS", "")
        sources = [Path(part) for part in configured.split(os.pathsep) if part]
    if not sources:
        raise UsageError(
            "the pin says the model is signed, but no trusted keys are given:"
            " pass --trusted-keys or set MODEL_TRUSTED_KEYS"
        )
    return Trust(signer=signer, keys=signing.load_trusted_keys(sources))


_COMMANDS = {"publish": _publish, "list": _list, "fetch": _fetch}


def _read_metrics(path: Path) -> dict[str, float]:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except OSError as err:
        raise UsageError(f"cannot read metrics {path}: {err.strerror}") from None
    except ValueError as err:
        raise UsageError(f"metrics {path} is not valid JSON: {err}") from None
    if not isinstance(data, dict):
        raise UsageError(f"metrics {path} must be a JSON object of name → number")
    metrics: dict[str, float] = {}
    for key, value in data.items():
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise UsageError(f"metrics {path}: {key!r} must be a number")
        if not math.isfinite(value):
            raise UsageError(f"metrics {path}: {key!r} must be finite")
        metrics[key] = float(value)
    return metrics


def _table(cards: list[ModelCard]) -> str:
    rows = [("VERSION", "CREATED", "SIZE", "SHA256", "SERVING API", "METRICS")]
    for card in cards:
        metrics = " ".join(f"{key}={value:g}" for key, value in sorted(card.metrics.items()))
        rows.append(
            (
                card.version,
                card.to_dict()["created"],
                _size(card.size),
                card.sha256[:12],
                card.serving_api,
                metrics or "-",
            )
        )
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]) - 1)]
    return "\n".join(
        "  ".join([*(cell.ljust(w) for cell, w in zip(row[:-1], widths, strict=True)), row[-1]])
        for row in rows
    )


def _size(size: int) -> str:
    value = float(size)
    for unit in ("B", "kB", "MB", "GB"):
        if value < 1000 or unit == "GB":
            return f"{value:.0f} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1000
    return f"{size} B"


class ProgressLine:
    """Progress of a large transfer on stderr: a live line on a terminal, else every 25%."""

    def __init__(self, label: str, stream: TextIO | None = None) -> None:
        self.label = label
        self.stream = stream or sys.stderr
        self.live = self.stream.isatty()
        self.started = time.monotonic()
        self.reported = -1

    def __call__(self, done: int, total: int) -> None:
        if total < _PROGRESS_FROM:
            return
        percent = int(100 * done / total) if total else 100
        step = percent if self.live else percent // 25 * 25
        if step == self.reported:
            return
        self.reported = step
        elapsed = max(time.monotonic() - self.started, 1e-6)
        rate = done / elapsed / 1e6
        line = f"{self.label}: {_size(done)} / {_size(total)} ({percent}%, {rate:.0f} MB/s)"
        if self.live:
            end = "\n" if done >= total else ""
            print(f"\r{line}", end=end, file=self.stream, flush=True)
        else:
            print(line, file=self.stream, flush=True)
