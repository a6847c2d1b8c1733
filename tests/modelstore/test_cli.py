"""`python -m modelstore`: exit codes 0/1/2, one-line errors, --json, --debug."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from modelstore.cli import main
from tests.modelstore.conftest import Models, StoreTarget, big_onnx


@pytest.fixture
def cli_store(target: StoreTarget, monkeypatch: pytest.MonkeyPatch) -> StoreTarget:
    """Point MODEL_STORE (and the Blob credentials) at the test store for in-process runs."""
    monkeypatch.delenv("AZURE_STORAGE_CONNECTION_STRING", raising=False)
    for key, value in {**target.env, "MODEL_STORE": target.url}.items():
        monkeypatch.setenv(key, value)
    return target


def test_publish_list_fetch_through_the_real_entry_point(
    target: StoreTarget, models: Models, tmp_path: Path
) -> None:
    env = target.process_env()

    def run(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "modelstore", *args],
            env=env, capture_output=True, text=True, timeout=60, check=False,
        )  # fmt: skip

    metrics = tmp_path / "metrics.json"
    metrics.write_text(json.dumps(models.logistic.metrics))
    published = run(
        "publish", str(models.logistic.path), "--name", "iris", "--version", "1.0.0",
        "--metrics", str(metrics), "--source-commit", "abc123",
    )  # fmt: skip
    assert published.returncode == 0, published.stderr
    assert published.stdout.startswith(f"published iris 1.0.0 to {target.url}")
    assert models.logistic.sha256 in published.stdout

    listed = run("list", "--name", "iris", "--json")
    assert listed.returncode == 0, listed.stderr
    (card,) = json.loads(listed.stdout)
    assert card["metrics"] == models.logistic.metrics
    assert card["source_commit"] == "abc123"

    dest = tmp_path / "dest"
    fetch = ["fetch", "--name", "iris", "--version", "1.0.0", "--sha256", card["sha256"]]
    first = run(*fetch, "--dest", str(dest))
    second = run(*fetch, "--dest", str(dest))
    assert (first.returncode, second.returncode) == (0, 0)
    assert first.stdout.startswith("fetched iris 1.0.0 into")
    assert "nothing to do" in second.stdout
    assert (dest / "model.onnx").read_bytes() == models.logistic.data


def test_list_prints_a_table_oldest_first(
    cli_store: StoreTarget, models: Models, capsys: pytest.CaptureFixture[str]
) -> None:
    store = cli_store.open()
    store.publish(models.forest.path, name="iris", version="1.10.0", metrics={"accuracy": 0.97})
    store.publish(models.logistic.path, name="iris", version="1.9.0", metrics={"accuracy": 0.95})
    assert main(["list", "--name", "iris"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].split() == ["VERSION", "CREATED", "SIZE", "SHA256", "SERVING", "API", "METRICS"]
    assert [line.split()[0] for line in lines[1:]] == ["1.9.0", "1.10.0"]
    assert lines[2].endswith("accuracy=0.97")


def test_list_of_nothing_succeeds(
    cli_store: StoreTarget, models: Models, capsys: pytest.CaptureFixture[str]
) -> None:
    cli_store.open().publish(models.logistic.path, name="iris", version="1", metrics={})
    assert main(["list", "--name", "wine", "--json"]) == 0
    assert json.loads(capsys.readouterr().out) == []


CASES: list[object] = [
    pytest.param(["publish", "{logistic}", "--name", "iris", "--version", "1.0.0"], 0,
                 "published iris 1.0.0", id="publish"),
    pytest.param(["publish", "{forest}", "--name", "iris", "--version", "3", "--json"], 0,
                 '"schema": "nightshift.dev/model-card/v1"', id="publish-json"),
    pytest.param(["publish", "{forest}", "--name", "iris", "--version", "0.1.0"], 1,
                 "iris 0.1.0 is already published", id="publish-existing-version"),
    pytest.param(["publish", "{logistic}", "--name", "iris", "--version", "v1"], 2,
                 "invalid model version 'v1'", id="bad-version"),
    pytest.param(["publish", "{logistic}", "--name", "Iris!", "--version", "1"], 2,
                 "invalid model name 'Iris!'", id="bad-name"),
    pytest.param(["publish", "{tmp}/missing.onnx", "--name", "iris", "--version", "1"], 2,
                 "missing.onnx is not a file", id="missing-file"),
    pytest.param(["publish", "{tmp}/notonnx.bin", "--name", "iris", "--version", "1"], 2,
                 "is not a loadable ONNX model", id="not-onnx"),
    pytest.param(["publish", "{logistic}", "--name", "iris", "--version", "1",
                  "--metrics", "{tmp}/bad-metrics.json"], 2,
                 "'accuracy' must be a number", id="bad-metrics"),
    pytest.param(["publish", "{logistic}", "--name", "iris", "--version", "1",
                  "--serving-api", "tabular"], 2,
                 "serving_api 'tabular' must look like 'tabular/v1'", id="bad-serving-api"),
    pytest.param(["fetch", "--name", "iris", "--version", "0.1.0", "--sha256", "{forest_sha}",
                  "--dest", "{tmp}/d"], 1, "pinned sha256", id="fetch-wrong-pin"),
    pytest.param(["fetch", "--name", "iris", "--version", "0.1.0", "--sha256", "abc",
                  "--dest", "{tmp}/d"], 2, "is not 64 hex digits", id="fetch-bad-pin"),
    pytest.param(["fetch", "--name", "iris", "--version", "7.0.0", "--sha256", "{forest_sha}",
                  "--dest", "{tmp}/d"], 1, "iris 7.0.0 is not published", id="fetch-missing"),
    pytest.param(["list", "--name", "iris", "--store", "s3://bucket"], 2,
                 "unsupported scheme", id="bad-store-url"),
    pytest.param(["list"], 2, "the following arguments are required: --name"
                 " (see python -m modelstore list --help)",
                 id="missing-argument"),
    pytest.param([], 2, "required: COMMAND", id="no-command"),
    pytest.param(["publish", "{logistic}", "--name", "iris", "--version", "1", "--bogus"], 2,
                 "unrecognized arguments: --bogus (see python -m modelstore --help)",
                 id="unknown-option"),
]  # fmt: skip


@pytest.mark.parametrize(("argv", "code", "message"), CASES)
def test_exit_codes_and_messages(
    cli_store: StoreTarget,
    models: Models,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    argv: list[str],
    code: int,
    message: str,
) -> None:
    cli_store.open().publish(models.logistic.path, name="iris", version="0.1.0", metrics={})
    (tmp_path / "notonnx.bin").write_bytes(b"not a model")
    (tmp_path / "bad-metrics.json").write_text('{"accuracy": "high"}')
    capsys.readouterr()
    values = {
        "logistic": str(models.logistic.path),
        "forest": str(models.forest.path),
        "forest_sha": models.forest.sha256,
        "tmp": str(tmp_path),
    }
    assert main([arg.format(**values) for arg in argv]) == code
    out, err = capsys.readouterr()
    if code == 0:
        assert message in out and err == ""
    else:
        assert message in err
        assert err.startswith("modelstore: error: ")
        assert len(err.splitlines()) == 1, err
    assert not (tmp_path / "d").exists()


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("serving_api", "tabular", "serving_api 'tabular' must look like 'tabular/v1'"),
        ("name", "Iris!", "invalid model name 'Iris!'"),
    ],
)
def test_the_same_bad_field_in_a_stored_card_is_a_failure_not_usage(
    cli_store: StoreTarget,
    models: Models,
    capsys: pytest.CaptureFixture[str],
    field: str,
    value: str,
    message: str,
) -> None:
    """What exits 2 when typed on the command line exits 1 when read from the store."""
    cli_store.open().publish(models.logistic.path, name="iris", version="1.0.0", metrics={})
    key = "iris/1.0.0/model-card.json"
    card = json.loads(cli_store.raw.read(key))
    cli_store.raw.write(key, json.dumps({**card, field: value}).encode())
    capsys.readouterr()
    assert main(["list", "--name", "iris"]) == 1
    err = capsys.readouterr().err
    assert err.startswith("modelstore: error: ")
    assert message in err and len(err.splitlines()) == 1, err


def test_no_store_is_a_usage_error(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.delenv("MODEL_STORE", raising=False)
    assert main(["list", "--name", "iris"]) == 2
    assert capsys.readouterr().err == (
        "modelstore: error: no model store given: pass --store URL or set MODEL_STORE\n"
    )


def test_debug_shows_the_traceback(
    cli_store: StoreTarget, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["fetch", "--debug", "--name", "iris", "--version", "1", "--sha256", "x",
                 "--dest", "d"]) == 2  # fmt: skip
    err = capsys.readouterr().err
    assert "Traceback (most recent call last)" in err
    assert err.splitlines()[-1] == "modelstore: error: the pinned sha256 'x' is not 64 hex digits"


@pytest.mark.parametrize("argv", [["--help"], ["publish", "--help"], ["fetch", "-h"]])
def test_help_exits_0(argv: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    assert main(argv) == 0
    assert "usage: python -m modelstore" in capsys.readouterr().out


def test_large_transfers_report_progress_on_stderr(
    cli_store: StoreTarget, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    artifact = big_onnx(tmp_path / "big.onnx", megabytes=20)
    assert main(["publish", str(artifact), "--name", "big", "--version", "1"]) == 0
    published = capsys.readouterr()
    sha = published.out.split("sha256 ")[1].split(",")[0]
    assert main(["fetch", "--name", "big", "--version", "1", "--sha256", sha,
                 "--dest", str(tmp_path / "d")]) == 0  # fmt: skip
    fetched = capsys.readouterr()
    for label, err in (("uploading big 1", published.err), ("downloading big 1", fetched.err)):
        lines = err.splitlines()
        assert lines and all(line.startswith(f"{label}: ") for line in lines), err
        assert "(100%," in lines[-1]  # not a terminal: a line per 25%, ending at 100%
