"""The local end-to-end demo (`./scripts/demo`, i.e. `python -m devstack.demo`).

For now: train the example iris model twice (two estimators), start Azurite, publish them
as `iris` 1.0.0 and 1.1.0 with the real `python -m modelstore` commands, list them, fetch
1.1.0 with verification as the app's init container would, print a summary, and stop
everything it started. Later steps (registry, serving app, bot) slot into `run`.
"""

from __future__ import annotations

import argparse
import json
import os
import shlex
import shutil
import sys
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from devstack.azurite import Azurite, start_azurite

MODEL = "iris"
CONTAINER = "models"
RELEASES = (("1.0.0", "logistic"), ("1.1.0", "forest"))  # version, estimator


@dataclass(frozen=True)
class Trained:
    version: str
    estimator: str
    folder: Path  # model.onnx and metrics.json
    metrics: dict[str, float]


class DemoError(RuntimeError):
    """A demo step failed; the message says which."""


def say(text: str) -> None:
    print(f"\n== {text}", flush=True)


def train_models(workdir: Path) -> list[Trained]:
    from examples.train import train

    trained = []
    for version, estimator in RELEASES:
        result = train("iris", estimator, seed=7)
        folder = workdir / "train" / version
        folder.mkdir(parents=True)
        (folder / "model.onnx").write_bytes(result.onnx_bytes)
        (folder / "metrics.json").write_text(json.dumps(result.metrics) + "\n")
        print(f"trained {estimator} on iris: {result.metrics} -> {folder}/model.onnx")
        trained.append(Trained(version, estimator, folder, result.metrics))
    return trained


def modelstore(*argv: str) -> None:
    """Run one `python -m modelstore` command in-process, echoing it like a shell would."""
    from modelstore.cli import main

    print(f"$ python -m modelstore {shlex.join(argv)}", flush=True)
    code = main(list(argv))
    if code != 0:
        raise DemoError(f"python -m modelstore {argv[0]} exited with {code}")


@contextmanager
def azurite() -> Iterator[Azurite]:
    service = start_azurite()
    try:
        yield service
    finally:
        service.stop()


def run(workdir: Path) -> None:
    say("1. train the example model (scikit-learn iris, fixed seed, exported to ONNX)")
    trained = train_models(workdir)

    say("2. start Azurite, the Azure Blob Storage emulator")
    with azurite() as blob:
        print(f"Azurite blob endpoint: {blob.blob_endpoint}")
        # The CLI reads these like a data scientist's shell would; the account key is
        # Azurite's well-known development key, not a secret.
        os.environ["AZURE_STORAGE_CONNECTION_STRING"] = blob.connection_string
        os.environ["MODEL_STORE"] = f"azure://{CONTAINER}"

        say(f"3. publish {MODEL} {' and '.join(v for v, _ in RELEASES)} to azure://{CONTAINER}")
        for model in trained:
            modelstore(
                "publish", str(model.folder / "model.onnx"), "--name", MODEL,
                "--version", model.version, "--metrics", str(model.folder / "metrics.json"),
            )  # fmt: skip

        say("4. list the published versions")
        modelstore("list", "--name", MODEL)

        latest = trained[-1].version
        say(f"5. fetch {MODEL} {latest} with verification, as the app's init container does")
        from modelstore.store import open_store

        with open_store() as store:
            card = store.card(MODEL, latest)
        dest = workdir / "serving" / MODEL
        fetch = ("fetch", "--name", MODEL, "--version", card.version, "--sha256", card.sha256)
        modelstore(*fetch, "--dest", str(dest))
        modelstore(*fetch, "--dest", str(dest))  # a second fetch finds a verified copy

    say("summary")
    for model in trained:
        print(f"  published {MODEL} {model.version} ({model.estimator}): {model.metrics}")
    print(f"  fetched   {MODEL} {card.version} -> {dest / 'model.onnx'}")
    print(f"            sha256 {card.sha256} (verified against the pin and the card)")
    print("  Azurite stopped.")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m devstack.demo", description=__doc__)
    parser.add_argument("--workdir", type=Path, help="keep the demo's files here")
    args = parser.parse_args(argv)
    workdir = args.workdir or Path(tempfile.mkdtemp(prefix="nightshift-demo-"))
    if args.workdir and workdir.exists() and any(workdir.iterdir()):
        print(f"demo: error: {workdir} is not empty", file=sys.stderr)
        return 2
    workdir.mkdir(parents=True, exist_ok=True)
    try:
        run(workdir)
    except DemoError as err:
        print(f"demo: error: {err}", file=sys.stderr)
        return 1
    finally:
        if args.workdir is None:
            shutil.rmtree(workdir, ignore_errors=True)
    kept = f"kept in {workdir}" if args.workdir else "removed (pass --workdir DIR to keep them)"
    print(f"  The demo's files were {kept}.\n\ndemo complete.")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
