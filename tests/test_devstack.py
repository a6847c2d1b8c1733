"""The harness itself: each real service starts, serves, and enforces its auth."""

from __future__ import annotations

import hashlib
import json
import subprocess
import urllib.error
import urllib.request
from pathlib import Path

import pytest
from azure.storage.blob import BlobServiceClient

from devstack.azurite import Azurite
from devstack.githttp import GitOrigin
from devstack.procs import MissingComponentError, require_binary
from devstack.registry import Registry


def test_azurite_round_trips_a_blob(azurite: Azurite, blob_container: str) -> None:
    service = BlobServiceClient.from_connection_string(azurite.connection_string)
    container = service.create_container(blob_container)
    container.upload_blob("a/b.txt", b"hello")
    assert container.download_blob("a/b.txt").readall() == b"hello"


def _push_blob(registry: Registry, repo: str, data: bytes) -> str:
    """Two-step upload (POST a session, PUT the bytes): distribution 2.8 has no single POST."""
    digest = "sha256:" + hashlib.sha256(data).hexdigest()
    start = urllib.request.Request(f"{registry.url}/v2/{repo}/blobs/uploads/", method="POST")
    with urllib.request.urlopen(start) as response:
        assert response.status == 202
        location = response.headers["Location"]
    separator = "&" if "?" in location else "?"
    put = urllib.request.Request(
        f"{registry.url}{location}{separator}digest={digest}",
        data=data,
        method="PUT",
        headers={"Content-Type": "application/octet-stream"},
    )
    with urllib.request.urlopen(put) as response:
        assert response.status == 201
    return digest


def test_registry_accepts_a_manifest_and_lists_its_tag(registry: Registry) -> None:
    config = _push_blob(registry, "demo/app", b"{}")
    manifest = {
        "schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "config": {
            "mediaType": "application/vnd.oci.image.config.v1+json",
            "digest": config,
            "size": 2,
        },
        "layers": [],
    }
    request = urllib.request.Request(
        f"{registry.url}/v2/demo/app/manifests/1.0.0",
        data=json.dumps(manifest).encode(),
        method="PUT",
        headers={"Content-Type": "application/vnd.oci.image.manifest.v1+json"},
    )
    with urllib.request.urlopen(request) as response:
        assert response.status == 201
    with urllib.request.urlopen(f"{registry.url}/v2/demo/app/tags/list") as response:
        assert json.load(response)["tags"] == ["1.0.0"]


def test_registry_with_basic_auth_refuses_anonymous(registry_basic_auth: Registry) -> None:
    with pytest.raises(urllib.error.HTTPError) as caught:
        urllib.request.urlopen(f"{registry_basic_auth.url}/v2/_catalog")
    assert caught.value.code == 401
    import base64

    token = base64.b64encode(b"pusher:s3cret-pass").decode()
    request = urllib.request.Request(
        f"{registry_basic_auth.url}/v2/_catalog", headers={"Authorization": f"Basic {token}"}
    )
    with urllib.request.urlopen(request) as response:
        assert response.status == 200


def _git(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["git", "-c", "user.name=T", "-c", "user.email=t@example.com", *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        check=False,
    )


def test_git_origin_serves_clone_and_push_over_http(git_origin: GitOrigin, tmp_path: Path) -> None:
    git_origin.create_bare("harness")
    work = tmp_path / "work"
    assert (
        _git("clone", git_origin.repo_url("harness", with_credentials=True), str(work)).returncode
        == 0
    )
    (work / "f.txt").write_text("x\n")
    _git("add", "f.txt", cwd=work)
    _git("commit", "-m", "first", cwd=work)
    pushed = _git("push", "origin", "HEAD:main", cwd=work)
    assert pushed.returncode == 0, pushed.stderr
    # The push landed in the bare repository, which is also reachable by plain path.
    log = _git("--git-dir", str(git_origin.repo_path("harness")), "log", "--format=%s", "main")
    assert log.stdout.strip() == "first"
    clone2 = _git("clone", str(git_origin.repo_path("harness")), str(tmp_path / "by-path"))
    assert clone2.returncode == 0 and (tmp_path / "by-path" / "f.txt").read_text() == "x\n"


def test_git_origin_rejects_wrong_credentials(git_origin: GitOrigin, tmp_path: Path) -> None:
    git_origin.create_bare("locked")
    url = git_origin.repo_url("locked").replace("http://", "http://nightshift:wrong@")
    result = subprocess.run(
        ["git", "ls-remote", url],
        capture_output=True,
        text=True,
        env={"GIT_TERMINAL_PROMPT": "0", "PATH": "/usr/bin:/bin"},
        check=False,
    )
    assert result.returncode != 0
    assert "Authentication failed" in result.stderr or "401" in result.stderr


def test_missing_binary_fails_with_an_install_hint() -> None:
    with pytest.raises(MissingComponentError, match="apt-get install no-such-tool"):
        require_binary("no-such-tool-xyz", "apt-get install no-such-tool")
