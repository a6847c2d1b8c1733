"""Store URLs and credentials are checked before anything is contacted."""

from __future__ import annotations

from pathlib import Path

import pytest

from devstack.azurite import Azurite
from modelstore.backends.blob import BlobBackend
from modelstore.backends.file import FileBackend
from modelstore.errors import UsageError
from modelstore.store import open_store
from modelstore.urls import BlobStoreURL, FileStoreURL, parse_store_url


@pytest.mark.parametrize(
    ("url", "parsed"),
    [
        pytest.param("file:///srv/models", FileStoreURL(Path("/srv/models")), id="file"),
        pytest.param("file://localhost/srv/m", FileStoreURL(Path("/srv/m")), id="file-localhost"),
        pytest.param("azure://models", BlobStoreURL("models", None), id="azure-container"),
        pytest.param(
            "https://acct.blob.core.windows.net/models",
            BlobStoreURL("models", "https://acct.blob.core.windows.net"),
            id="account-url",
        ),
        pytest.param(
            "http://127.0.0.1:10000/devstoreaccount1/models",
            BlobStoreURL("models", "http://127.0.0.1:10000/devstoreaccount1"),
            id="path-style",
        ),
    ],
)
def test_store_urls(url: str, parsed: object) -> None:
    assert parse_store_url(url) == parsed


@pytest.mark.parametrize(
    ("url", "message"),
    [
        pytest.param("file://srv/models", "three slashes", id="file-two-slashes"),
        pytest.param("s3://bucket", "unsupported scheme", id="s3"),
        pytest.param("/srv/models", "unsupported scheme", id="bare-path"),
        pytest.param("azure://Models", "not a valid container name", id="uppercase-container"),
        pytest.param("azure://a--b", "not a valid container name", id="double-hyphen"),
        pytest.param("azure://models/sub", "no path", id="azure-with-path"),
        pytest.param("https://acct.blob.core.windows.net/", "expected https://", id="no-container"),
        pytest.param(
            "https://acct.blob.core.windows.net/models?sv=2024&sig=SECRETSIG",
            "must not carry credentials",
            id="sas-token",
        ),
        pytest.param(
            "https://user:SECRETPW@acct.blob.core.windows.net/models",
            "must not carry credentials",
            id="userinfo",
        ),
    ],
)
def test_bad_store_urls_are_usage_errors(url: str, message: str) -> None:
    with pytest.raises(UsageError, match=message) as caught:
        parse_store_url(url)
    assert "SECRET" not in str(caught.value)


def test_backends_are_chosen_by_url(azurite: Azurite, tmp_path: Path) -> None:
    env = {"AZURE_STORAGE_CONNECTION_STRING": azurite.connection_string}
    assert isinstance(open_store(tmp_path.as_uri()).backend, FileBackend)
    assert isinstance(open_store("azure://models", environ=env).backend, BlobBackend)
    path_style = open_store(f"{azurite.blob_endpoint}/models", environ=env)
    assert isinstance(path_style.backend, BlobBackend)
    assert open_store(None, environ={"MODEL_STORE": tmp_path.as_uri()}).location == (
        tmp_path.as_uri()
    )


@pytest.mark.parametrize(
    ("url", "connection_string", "message"),
    [
        pytest.param("azure://models", None, "needs AZURE_STORAGE_CONNECTION_STRING", id="azure"),
        pytest.param(
            "http://127.0.0.1:1/devstoreaccount1/models",
            None,
            "plain-http endpoints need AZURE_STORAGE_CONNECTION_STRING",
            id="http-without-key",
        ),
        pytest.param(
            "azure://models", "AccountKey=SECRETKEY;nonsense", "is malformed", id="malformed"
        ),
        pytest.param(
            "https://other.blob.core.windows.net/models",
            "DefaultEndpointsProtocol=https;AccountName=acct;AccountKey=U0VDUkVUS0VZ;"
            "EndpointSuffix=core.windows.net",
            "is for https://acct.blob.core.windows.net, but the store URL names"
            " https://other.blob.core.windows.net",
            id="account-mismatch",
        ),
    ],
)
def test_blob_credentials_are_checked_up_front(
    url: str, connection_string: str | None, message: str
) -> None:
    env = {"AZURE_STORAGE_CONNECTION_STRING": connection_string} if connection_string else {}
    with pytest.raises(UsageError, match=message) as caught:
        open_store(url, environ=env)
    assert "SECRET" not in str(caught.value) and "U0VDUkVUS0VZ" not in str(caught.value)


def test_no_url_and_no_env_is_a_usage_error() -> None:
    with pytest.raises(UsageError, match="pass --store URL or set MODEL_STORE"):
        open_store(None, environ={})
