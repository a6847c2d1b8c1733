"""devstack.azurite leaves nothing behind: no folder in memory, its folder removed on stop."""

from __future__ import annotations

import tempfile
from pathlib import Path

import pytest
from azure.storage.blob import BlobServiceClient

from devstack.azurite import start_azurite


def folders(root: Path) -> list[Path]:
    # Directories only: the service's log file (azurite-blob-*.log) is a file, removed on stop.
    return sorted(p for p in root.glob("azurite-*") if p.is_dir())


@pytest.fixture
def private_tmp(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Point tempfile at a folder of this test's own, so parallel runs in /tmp don't count."""
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    return tmp_path


def test_in_memory_makes_no_folder(private_tmp: Path) -> None:
    with start_azurite() as service:
        client = BlobServiceClient.from_connection_string(service.connection_string)
        client.create_container("data").upload_blob("k", b"in memory")
        assert folders(private_tmp) == []
        client.close()
    assert folders(private_tmp) == []


def test_on_disk_keeps_data_in_its_folder_and_removes_it_on_stop(private_tmp: Path) -> None:
    with start_azurite(in_memory=False) as service:
        client = BlobServiceClient.from_connection_string(service.connection_string)
        client.create_container("data").upload_blob("k", b"on disk")
        (workdir,) = folders(private_tmp)
        assert any(p.is_file() for p in workdir.rglob("*"))  # the data really is there
        client.close()
    assert folders(private_tmp) == []
    assert list(private_tmp.iterdir()) == []  # the log went too
