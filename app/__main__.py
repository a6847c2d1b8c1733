"""`python -m app`: serve the model locally with gunicorn, on loopback unless told otherwise."""

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
  ORT_INTER_OP_THREADS (1), and gunicorn's WEB_CONCURRENCY, GUNICORN_THREADS,
  GUNICORN_TIMEOUT, GUNICORN_GRACEFUL_TIMEOUT (see app/gunicorn_conf.py).

Example:
  MODEL_DIR=build/iris MODEL_NAME=iris MODEL_VERSION=1.0.0 \\
  MODEL_SHA256=$(sha256sum build/iris/model.onnx | cut -d' ' -f1) python -m app
"""


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m app",
        description="Serve the pinned model with gunicorn (JSON access log on stdout).",
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
        help="gunicorn workers (default: $WEB_CONCURRENCY or 2)",
    )
    parser.add_argument(
        "--threads",
        type=int,
        default=None,
        help="threads per worker (default: $GUNICORN_THREADS or 1)",
    )
    parser.add_argument("--debug", action="store_true", help="show tracebacks on errors")
    args = parser.parse_args(argv)  # fmt: skip

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
    env = dict(os.environ, HOST=args.host)
    for key, value in (("PORT", args.port), ("WEB_CONCURRENCY", args.workers),
                       ("GUNICORN_THREADS", args.threads)):  # fmt: skip
        if value is not None:
            if value < 1:
                print(f"python -m app: --{key.lower()} must be positive", file=sys.stderr)
                return 2
            env[key] = str(value)
    command = [sys.executable, "-m", "gunicorn", "--config", "python:app.gunicorn_conf",
               "app:create_app()"]  # fmt: skip
    # exec, not a child: signals from the terminal or the orchestrator reach gunicorn itself.
    os.execvpe(command[0], command, env)  # noqa: S606
    return 0  # pragma: no cover


if __name__ == "__main__":
    raise SystemExit(main())
