"""`python -m app`: serve the model with Granian (app/server.py), on loopback unless told otherwise.

The image runs this too: the process becomes Granian's master, so SIGTERM from the
orchestrator reaches it directly and drains the workers."""

from __future__ import annotations

import argparse
import os
import sys
import traceback

from app.errors import ServingError

EPILOG = """\
The model comes from the environment:
  MODEL_DIR       folder holding model.onnx (and model-card.json), as written by
                  `python -m modelstore fetch`
  MODEL_NAME      model name, e.g. iris (may come from the model card)
  MODEL_VERSION   model version, e.g. 1.4.0 (may come from the model card)
  MODEL_SHA256    required: the pinned sha256 of model.onnx; any other bytes are refused
  MODEL_STORE     optional: a store URL (file:///abs/dir, azure://container, https://...)
                  to fetch the pinned model from when MODEL_DIR has no model.onnx
  MODEL_SIGNER    optional: the pin says this key id signed the model; serve it only with
                  a valid model.sig by that key, one of MODEL_TRUSTED_KEYS
  MODEL_TRUSTED_KEYS  a public key PEM or a folder of them (the trusted-keys ConfigMap)
Tuning: MAX_BATCH (1024 rows), MAX_BODY_BYTES (1048576), ORT_INTRA_OP_THREADS (1),
  ORT_INTER_OP_THREADS (1), ACCESS_LOG_EVERY (100: log 1 in N successes, every error),
  and the server's WEB_CONCURRENCY (2 workers), SERVER_THREADS (128 per worker, on demand),
  SERVER_CONNECTIONS (2048 per worker), SERVER_HEADER_TIMEOUT (30 s), GRACEFUL_TIMEOUT
  (30 s) (see app/server.py). /version shows APP_VERSION and APP_REVISION (build args).

Example:
  MODEL_DIR=build/iris MODEL_NAME=iris MODEL_VERSION=1.0.0 \\
  MODEL_SHA256=$(sha256sum build/iris/model.onnx | cut -d' ' -f1) python -m app
"""


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m app",
        description="Serve the pinned model with Granian (JSON access log on stdout).",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument(
        "--host",
        default=os.environ.get("HOST", "127.0.0.1"),
        help="address to listen on (default: $HOST or 127.0.0.1)",
    )
    parser.add_argument(
        "--port", type=int, default=None, help="port to listen on (default: $PORT or 8080)"
    )
    parser.add_argument(
        "--workers",
        type=int,
        default=None,
        help="worker processes (default: $WEB_CONCURRENCY or 2)",
    )
    parser.add_argument(
        "--threads",
        type=int,
        default=None,
        help="most Python threads per worker (default: $SERVER_THREADS or 128)",
    )
    parser.add_argument("--debug", action="store_true", help="show tracebacks on errors")
    return parser


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)

    from app.settings import Settings

    try:
        problems = Settings.from_env().problems()
    except ServingError as err:
        if args.debug:
            traceback.print_exc()
        problems = [str(err)]
    if problems:
        for problem in problems:
            print(f"python -m app: {problem}", file=sys.stderr)
        return 2
    os.environ["HOST"] = args.host
    for key, value in (("PORT", args.port), ("WEB_CONCURRENCY", args.workers),
                       ("SERVER_THREADS", args.threads)):  # fmt: skip
        if value is not None:
            if value < 1:
                print(f"python -m app: --{key.lower()} must be positive", file=sys.stderr)
                return 2
            os.environ[key] = str(value)
    from app.server import ServerConfig, serve

    try:
        config = ServerConfig.from_env()
    except ServingError as err:
        print(f"python -m app: {err}", file=sys.stderr)
        return 2
    serve(config)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
