"""azure-containerregistry, unmodified, against the ACR emulator in front of the real registry.

The SDK only sends tokens over TLS, so the emulator serves https with a throwaway
self-signed certificate and the client trusts it through `caBundle` (connection_verify).
A plain-http endpoint works too: the client then tells the SDK `enforce_https=False`,
but only on loopback: anywhere else an http:// ACR is refused (Entra ID tokens in clear).

Every answer (and request) the emulator handles is checked against ACR's published
description (devstack/acr_conformance.py) and the emulator fails its `with` block on any
drift, so each test here is also a conformance test; one breaks a field on purpose to show
the check catches it. The emulator also behaves as ACR does where the bot depends on it:
tag times are push times, blob GETs redirect to storage that refuses a forwarded token,
and a token lacking the action a call needs is refused.
"""

from __future__ import annotations

import hashlib
import os
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from urllib.parse import unquote

import pytest
import requests
from azure.containerregistry import ArtifactTagOrder, ContainerRegistryClient
from azure.core.exceptions import ClientAuthenticationError, ResourceNotFoundError

from bot.config.model import Auth, RegistrySpec
from bot.discover.registries.acr import AcrRegistry, StaticTokenCredential
from bot.errors import RegistryAuthError, RegistryNotFoundError, RegistryUnavailableError
from devstack.acr_emulator import AcrEmulator, start_acr_emulator
from devstack.oci_push import PushedImage, push_image, push_index, put_manifest
from devstack.registry import Registry
from devstack.silent import silent_server

T0 = datetime(2024, 3, 1, tzinfo=UTC)
AAD_TOKEN = "entra-id-access-token-for-tests"


@pytest.fixture(scope="module")
def emulator(registry: Registry) -> Iterator[AcrEmulator]:
    with start_acr_emulator(
        registry.url, tls=True, aad_tokens=[AAD_TOKEN], users={"ci": "ci-pass"}
    ) as emu:
        yield emu


def push_session(emulator: AcrEmulator, name: str) -> requests.Session:
    """A session holding a pull,push token for `name`, as `docker login` + push would."""
    session = requests.Session()
    session.trust_env = False  # else REQUESTS_CA_BUNDLE overrides `verify`
    session.verify = str(emulator.ca_file) if emulator.ca_file else True
    token = session.get(
        f"{emulator.url}/oauth2/token",
        params={"service": emulator.login_server, "scope": f"repository:{name}:pull,push"},
        auth=("ci", "ci-pass"),
        timeout=10,
    ).json()["access_token"]
    session.headers["Authorization"] = f"Bearer {token}"
    return session


@contextmanager
def pushed_at(emulator: AcrEmulator, moment: datetime) -> Iterator[None]:
    """Pushes through the emulator inside are recorded at `moment`."""
    emulator.set_clock(lambda: moment)
    try:
        yield
    finally:
        emulator.set_clock(None)


@pytest.fixture(scope="module")
def repo(emulator: AcrEmulator) -> tuple[str, dict[str, PushedImage]]:
    """1.0.0 … 1.11.0 built and pushed a day apart; 2.0.0 built 30 days before the first
    and pushed 20 days after it: ACR's times are push times, so 2.0.0 is the newest."""
    name = f"disc-acr/{uuid.uuid4().hex[:8]}"
    session = push_session(emulator, name)
    pushed = {}
    for i in range(12):
        tag = f"1.{i}.0"
        with pushed_at(emulator, T0 + timedelta(days=i)):
            pushed[tag] = push_image(
                emulator.url,
                name,
                tag,
                created=T0 + timedelta(days=i),
                labels={"io.nightshift.serving-api": "tabular/v1"},
                session=session,
            )
    with pushed_at(emulator, T0 + timedelta(days=20)):
        pushed["2.0.0"] = push_index(
            emulator.url,
            name,
            "2.0.0",
            created=T0 - timedelta(days=30),
            labels={"io.nightshift.serving-api": "tabular/v2"},
            session=session,
        )
    return name, pushed


def acr_spec(emulator: AcrEmulator, **overrides: object) -> RegistrySpec:
    values: dict[str, object] = {
        "name": "acr",
        "kind": "acr",
        "url": emulator.url,
        "timeout": 5.0,
        "requests_per_second": 1000.0,
        "page_size": 5,
        "retries": 3,
        "ca_bundle": str(emulator.ca_file) if emulator.ca_file else None,
    }
    return RegistrySpec(**(values | overrides))  # type: ignore[arg-type]


def test_the_sdk_lists_tag_properties_newest_first_across_pages(
    emulator: AcrEmulator, repo: tuple[str, dict[str, PushedImage]]
) -> None:
    name, pushed = repo
    client = ContainerRegistryClient(
        emulator.url,
        None,
        audience="https://containerregistry.azure.net",
        connection_verify=str(emulator.ca_file),
    )
    tags = list(
        client.list_tag_properties(
            name, order_by=ArtifactTagOrder.LAST_UPDATED_ON_DESCENDING, results_per_page=5
        )
    )
    # Ordered by lastUpdateTime, the push time: 2.0.0, built first, was pushed last.
    assert [t.name for t in tags] == ["2.0.0"] + [f"1.{i}.0" for i in reversed(range(12))]
    assert all(t.digest == pushed[t.name].digest for t in tags)
    assert tags[0].created_on == tags[0].last_updated_on == T0 + timedelta(days=20)
    assert tags[1].created_on == T0 + timedelta(days=11)
    props = client.get_tag_properties(name, "2.0.0")
    assert props.digest == pushed["2.0.0"].digest and props.name == "2.0.0"
    repository = client.get_repository_properties(name)
    assert repository.tag_count == 13
    # Anonymous pull reads repositories it is told of; listing the catalog takes an identity.
    with pytest.raises(ClientAuthenticationError):
        list(client.list_repository_names())
    signed_in = ContainerRegistryClient(
        emulator.url,
        StaticTokenCredential(AAD_TOKEN),
        audience="https://containerregistry.azure.net",
        connection_verify=str(emulator.ca_file),
    )
    assert name in list(signed_in.list_repository_names())


def test_anonymous_listing_through_the_bot_client(
    emulator: AcrEmulator, repo: tuple[str, dict[str, PushedImage]]
) -> None:
    name, pushed = repo
    client = AcrRegistry(acr_spec(emulator))
    listing = client.list_tags(name)
    assert listing.pages == 3
    assert listing.tags[0].name == "2.0.0" and listing.tags[0].digest == pushed["2.0.0"].digest
    assert listing.tags[0].created == T0 + timedelta(days=20)
    stats = client.stats.snapshot()
    # The first page is challenged (sent, 401, token, re-sent); the token is then re-used
    # for the other two pages instead of a challenge round trip on each.
    assert stats == {"tags": 4, "token": 1}


def test_entra_id_token_exchange(
    emulator: AcrEmulator, repo: tuple[str, dict[str, PushedImage]]
) -> None:
    name, _ = repo
    spec = acr_spec(emulator, auth=Auth("bearer-token", token_env="ACR_TOKEN"), page_size=100)
    client = AcrRegistry(spec, env={"ACR_TOKEN": AAD_TOKEN})
    emulator.reset()
    assert len(client.list_tags(name).tags) == 13
    paths = [p.split("?")[0] for _, p in emulator.requests_seen()]
    assert paths == [
        "/acr/v1/" + name.replace("/", "%2F") + "/_tags",
        "/oauth2/exchange",
        "/oauth2/token",
        "/acr/v1/" + name.replace("/", "%2F") + "/_tags",
    ]


def test_a_wrong_entra_id_token_is_refused(
    emulator: AcrEmulator, repo: tuple[str, dict[str, PushedImage]]
) -> None:
    name, _ = repo
    client = AcrRegistry(acr_spec(emulator), credential=StaticTokenCredential("not-the-token"))
    with pytest.raises(RegistryAuthError, match="access denied"):
        client.list_tags(name)


def test_no_azure_credential_is_told_apart_from_a_refused_one(
    emulator: AcrEmulator,
    repo: tuple[str, dict[str, PushedImage]],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # Nothing for DefaultAzureCredential to use: no AZURE_* variables, no `az login` cache.
    for variable in [v for v in os.environ if v.startswith(("AZURE_", "IDENTITY_", "MSI_"))]:
        monkeypatch.delenv(variable)
    monkeypatch.setenv("HOME", str(tmp_path))
    name, _ = repo
    client = AcrRegistry(acr_spec(emulator, auth=Auth("azure-default-credential")))
    with pytest.raises(RegistryAuthError) as caught:
        list(client.list_tags(name).tags)
    message = str(caught.value)
    assert "no Azure credential found" in message and "az login" in message, message
    assert "access denied" not in message and "\n" not in message


def test_anonymous_pull_disabled(
    registry: Registry, repo: tuple[str, dict[str, PushedImage]]
) -> None:
    with (
        start_acr_emulator(registry.url, tls=True, anonymous_pull=False) as locked,
        pytest.raises(RegistryAuthError),
    ):
        AcrRegistry(acr_spec(locked)).list_tags(repo[0])


def test_reads_the_config_of_a_multi_arch_image_through_the_sdk(
    emulator: AcrEmulator, repo: tuple[str, dict[str, PushedImage]]
) -> None:
    name, pushed = repo
    client = AcrRegistry(acr_spec(emulator))
    config = client.image_config(name, "2.0.0")
    assert config.digest == pushed["2.0.0"].digest
    assert config.platform == "linux/amd64"
    assert config.labels == {"io.nightshift.serving-api": "tabular/v2"}
    assert config.created == T0 - timedelta(days=30)
    assert client.resolve_digest(name, "1.3.0") == pushed["1.3.0"].digest
    # One challenge per API of the repository (/v2 pull, /acr/v1 metadata), not per request.
    assert client.stats.snapshot()["token"] == 2


def test_an_old_build_re_pushed_or_imported_dates_from_the_push_not_the_build(
    emulator: AcrEmulator,
) -> None:
    """ACR's createdTime is the tag's first push, lastUpdateTime its last; an import is a
    push. The bot's listing carries those registry times (minAge and newestBuild use
    lastUpdateTime, docs/promotion-config.md); the build time stays in the config."""
    name = f"disc-acr/{uuid.uuid4().hex[:8]}"
    session = push_session(emulator, name)
    builds = {}
    for i, tag in enumerate(("1.0.0", "1.1.0", "1.2.0")):
        with pushed_at(emulator, T0 + timedelta(days=i)):
            builds[tag] = push_image(
                emulator.url, name, tag, created=T0 + timedelta(days=i), session=session
            )
    with pushed_at(emulator, T0 + timedelta(days=30)):  # the old 1.0.0 pushed again
        put_manifest(
            emulator.url,
            name,
            "1.0.0",
            builds["1.0.0"].manifest,
            builds["1.0.0"].media_type,
            session=session,
        )
    with pushed_at(emulator, T0 + timedelta(days=31)):  # `az acr import` of the 1.1.0 build
        put_manifest(
            emulator.url,
            name,
            "1.1.0-imported",
            builds["1.1.0"].manifest,
            builds["1.1.0"].media_type,
            session=session,
        )
    client = AcrRegistry(acr_spec(emulator, page_size=2))
    listing = client.list_tags(name)
    assert [t.name for t in listing.tags] == ["1.1.0-imported", "1.0.0", "1.2.0", "1.1.0"]
    tags = {t.name: t for t in listing.tags}
    assert tags["1.1.0-imported"].created == tags["1.1.0-imported"].updated
    assert tags["1.1.0-imported"].updated == T0 + timedelta(days=31)
    assert tags["1.1.0-imported"].digest == builds["1.1.0"].digest
    assert tags["1.0.0"].created == T0 and tags["1.0.0"].updated == T0 + timedelta(days=30)
    assert tags["1.2.0"].created == tags["1.2.0"].updated == T0 + timedelta(days=2)
    # The build time is the image config's, untouched by a re-push or an import.
    assert client.image_config(name, "1.1.0-imported").created == T0 + timedelta(days=1)
    assert client.image_config(name, "1.0.0").created == T0


def test_sdk_retries_429_honouring_retry_after(
    emulator: AcrEmulator, repo: tuple[str, dict[str, PushedImage]]
) -> None:
    name, _ = repo
    client = AcrRegistry(acr_spec(emulator, page_size=100))
    emulator.inject(429, count=1, retry_after="1")
    started = time.monotonic()
    assert len(client.list_tags(name).tags) == 13
    assert time.monotonic() - started >= 1.0


def test_sdk_gives_up_after_the_retry_budget(
    emulator: AcrEmulator, repo: tuple[str, dict[str, PushedImage]]
) -> None:
    name, _ = repo
    client = AcrRegistry(acr_spec(emulator, retries=1))
    emulator.inject(503, count=2)
    with pytest.raises(RegistryUnavailableError, match="HTTP 503 after 2 attempts"):
        client.list_tags(name)
    emulator.reset()


def test_unknown_repository(emulator: AcrEmulator) -> None:
    with pytest.raises(RegistryNotFoundError):
        AcrRegistry(acr_spec(emulator)).list_tags("disc-acr/nothing-here")


def test_plain_http_endpoint(registry: Registry, repo: tuple[str, dict[str, PushedImage]]) -> None:
    with start_acr_emulator(registry.url, tls=False) as plain:
        client = AcrRegistry(acr_spec(plain, page_size=100))
        assert len(client.list_tags(repo[0]).tags) == 13


def test_an_unreachable_acr_says_so_in_words() -> None:
    from devstack.procs import free_port

    spec = RegistrySpec(name="acr", kind="acr", url=f"http://127.0.0.1:{free_port()}", retries=0)
    with pytest.raises(
        RegistryUnavailableError,
        match=r"registry acr: .*connection refused, reset or name not resolved"
        r" \(NewConnectionError\) after 1 attempts$",
    ):
        AcrRegistry(spec, credential=None).list_tags("any/repo")


def test_an_acr_that_never_answers_names_the_timeout() -> None:
    """A server that accepts and stays silent: the read timeout, not a bare class name."""
    with silent_server() as silent:
        spec = RegistrySpec(name="acr", kind="acr", url=silent.url, timeout=0.5, retries=0)
        with pytest.raises(
            RegistryUnavailableError,
            match=r"connected, but no answer within 0.5 s \(ReadTimeout\) after 1 attempts$",
        ):
            AcrRegistry(spec, credential=None).list_tags("any/repo")


# ---- issue 16 row 12: Entra ID tokens never travel in clear text --------------------------

ACR_CONFIG = """\
apiVersion: nightshift/v1
registries:
  acr:
    type: acr
    url: {url}
    auth: azure-default-credential
images:
  model-api:
    registry: acr
    repository: nightshift/model-api
    policy: {{semver: {{range: ^1}}}}
environments:
  - name: dev
    source: newest
"""


@pytest.mark.parametrize(
    "url",
    [
        pytest.param("http://nightshiftacr.azurecr.io", id="public-name"),
        pytest.param("http://10.1.2.3:5000", id="private-address"),
        pytest.param("http://localhost.evil.example", id="lookalike"),
    ],
)
def test_an_acr_registry_over_plain_http_is_refused_at_config_load(url: str) -> None:
    from bot.config.load import parse_config
    from bot.errors import ConfigError

    with pytest.raises(
        ConfigError, match=r"cfg.yaml:5: registries.acr.url: expected an https://"
    ) as caught:
        parse_config(ACR_CONFIG.format(url=url), origin="cfg.yaml")
    assert "clear text" in str(caught.value) and "\n" not in str(caught.value)


@pytest.mark.parametrize(
    "url", ["http://127.0.0.1:5000", "http://localhost:5000", "http://[::1]:5000", "https://x.io"]
)
def test_loopback_http_and_https_acr_urls_load(url: str) -> None:
    from bot.config.load import parse_config

    assert parse_config(ACR_CONFIG.format(url=url)).registries["acr"].url == url


def test_an_acr_client_for_plain_http_off_loopback_is_never_created() -> None:
    """A spec built by hand (not through the config loader) is refused as well."""
    from bot.errors import ConfigError

    spec = RegistrySpec(name="acr", kind="acr", url="http://nightshiftacr.azurecr.io")
    with pytest.raises(ConfigError, match="must use https://"):
        AcrRegistry(spec, credential=StaticTokenCredential(AAD_TOKEN))


def test_bot_plan_exits_2_for_a_cleartext_acr(tmp_path: Path) -> None:
    import subprocess
    import sys

    (tmp_path / "environments").mkdir()
    (tmp_path / "environments" / "promotion.yaml").write_text(
        ACR_CONFIG.format(url="http://nightshiftacr.azurecr.io")
    )
    for args in (["init", "-q"], ["add", "-A"]):
        subprocess.run(["git", *args], cwd=tmp_path, check=True)
    subprocess.run(
        ["git", "-c", "user.name=T", "-c", "user.email=t@example.com", "commit", "-qm", "c"],
        cwd=tmp_path,
        check=True,
    )
    result = subprocess.run(
        [sys.executable, "-m", "bot", "plan", "--repo", str(tmp_path)],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 2, result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and "must use https://" in lines[0], result.stderr


# ---- conformance: the emulator's answers against ACR's published description ------------


def test_every_emulated_operation_conforms_to_acrs_description(
    registry: Registry, repo: tuple[str, dict[str, PushedImage]]
) -> None:
    """Drive each operation the description covers, answers good and bad, through the SDK
    and plain HTTP; the emulator checked each answer as it sent it."""
    import requests

    from devstack.acr_conformance import description, template_for

    name, _ = repo
    with start_acr_emulator(registry.url, tls=False, aad_tokens=[AAD_TOKEN]) as emu:
        client = ContainerRegistryClient(
            emu.url,
            StaticTokenCredential(AAD_TOKEN),
            audience="https://containerregistry.azure.net",
        )
        options = {"enforce_https": False}
        assert len(list(client.list_tag_properties(name, results_per_page=5, **options))) == 13
        assert client.get_tag_properties(name, "1.2.0", **options).name == "1.2.0"
        assert client.get_repository_properties(name, **options).tag_count == 13
        assert name in list(client.list_repository_names(**options))
        with pytest.raises(ResourceNotFoundError):
            client.get_tag_properties(name, "9.9.9", **options)
        login = requests.get(
            f"{emu.url}/oauth2/token",
            params={"service": emu.login_server, "scope": f"repository:{name}:pull"},
            timeout=10,
        )
        assert login.status_code == 200
        refused = requests.post(
            f"{emu.url}/oauth2/exchange",
            data={"grant_type": "access_token", "service": emu.login_server, "access_token": "x"},
            timeout=10,
        )
        assert refused.status_code == 401
        seen = {(m, template_for(m, unquote(p.split("?")[0]))) for m, p in emu.requests_seen()}
        covered = {
            (method.upper(), template)
            for template, ops in description()["paths"].items()
            for method in ops
        }
        assert covered <= seen, f"not exercised: {covered - seen}"
        assert emu.violations() == []


def test_the_conformance_check_catches_a_field_the_emulator_drops(
    registry: Registry, repo: tuple[str, dict[str, PushedImage]], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Break the emulator on purpose (tags without `lastUpdateTime`): the SDK copes (the
    time is None), the bot lists, and only the check stops it."""
    import devstack.acr_emulator as emulator_module

    real = emulator_module._tag_json

    def broken(tag: str, meta: object) -> dict[str, object]:
        value = real(tag, meta)  # type: ignore[arg-type]
        del value["lastUpdateTime"]
        return value

    monkeypatch.setattr(emulator_module, "_tag_json", broken)
    emu = start_acr_emulator(registry.url, tls=False)
    with pytest.raises(AssertionError, match="drifted from ACR's description") as caught, emu:
        listing = AcrRegistry(acr_spec(emu, page_size=100)).list_tags(repo[0])
        assert len(listing.tags) == 13 and listing.tags[0].updated is None
    problems = [str(v) for v in emu.violations()]
    assert any("'lastUpdateTime' is a required property" in p for p in problems), problems
    assert "/_tags -> 200" in str(caught.value)


@pytest.mark.parametrize(
    ("method", "path", "status", "body", "problem"),
    [
        pytest.param(
            "GET",
            "/acr/v1/a/b/_tags",
            200,
            {"registry": "r", "imageName": "a/b"},
            "'tags' is a required property",
            id="tag-list-without-tags",
        ),
        pytest.param(
            "GET",
            "/acr/v1/a",
            200,
            {
                "registry": "r",
                "imageName": "a",
                "createdTime": "2024-03-01T00:00:00Z",
                "lastUpdateTime": "2024-03-01T00:00:00Z",
                "manifestCount": "1",
                "tagCount": 1,
                "changeableAttributes": {},
            },
            "'1' is not of type 'integer'",
            id="count-as-string",
        ),
        pytest.param(
            "POST",
            "/oauth2/exchange",
            200,
            {"refresh_token": 42},
            "42 is not of type 'string'",
            id="refresh-token-type",
        ),
        pytest.param(
            "GET",
            "/acr/v1/a/_tags/1.0",
            401,
            {"error": {"code": "UNAUTHORIZED", "message": "m"}},
            "an error answer without errors[]",
            id="error-envelope-of-the-wrong-shape",
        ),
        pytest.param(
            "GET",
            "/acr/v1/_catalog",
            404,
            {"errors": [{"code": "NAME_UNKNOWN"}]},
            "errors/0 has no message",
            id="error-without-message",
        ),
    ],
)
def test_check_answer_refuses_what_the_description_refuses(
    method: str, path: str, status: int, body: object, problem: str
) -> None:
    import json

    from devstack.acr_conformance import check_answer

    found = [
        str(v)
        for v in check_answer(method, path, status, "application/json", json.dumps(body).encode())
    ]
    assert any(problem in f for f in found), found


# ---- scopes: an identity without metadata_read ----------------------------------------------

PULL_ONLY = "entra-id-token-of-a-pull-only-identity"


def test_an_identity_without_metadata_read_gets_a_one_line_error_naming_it(
    registry: Registry, repo: tuple[str, dict[str, PushedImage]]
) -> None:
    """ACR grants a token only the actions the identity holds: listing (/acr/v1) needs
    metadata_read, so a pull-only identity can read configs but not list tags."""
    name, pushed = repo
    with start_acr_emulator(
        registry.url, tls=True, anonymous_pull=False, aad_actions={PULL_ONLY: ["pull"]}
    ) as emu:
        client = AcrRegistry(acr_spec(emu), credential=StaticTokenCredential(PULL_ONLY))
        assert client.image_config(name, "1.3.0").digest == pushed["1.3.0"].digest
        with pytest.raises(RegistryAuthError) as caught:
            client.list_tags(name)
    message = str(caught.value)
    assert message == (
        f"registry acr: listing tags of {name}: access denied (HTTP 401): the identity lacks"
        f" metadata_read on {name} (grant metadata/read (e.g. the 'Container Registry"
        " Repository Reader' role, or a token scope map with metadata/read))"
    )


def test_the_emulator_refuses_a_token_without_the_action_the_call_needs(
    registry: Registry, repo: tuple[str, dict[str, PushedImage]]
) -> None:
    import requests

    name, _ = repo
    with start_acr_emulator(registry.url, tls=False, users={"ci": "pw"}) as emu:
        token = requests.get(
            f"{emu.url}/oauth2/token",
            params={"service": emu.login_server, "scope": f"repository:{name}:pull"},
            auth=("ci", "pw"),
            timeout=10,
        ).json()["access_token"]
        bearer = {"Authorization": f"Bearer {token}"}
        pulled = requests.get(f"{emu.url}/v2/{name}/tags/list", headers=bearer, timeout=10)
        listed = requests.get(f"{emu.url}/acr/v1/{name}/_tags", headers=bearer, timeout=10)
    assert pulled.status_code == 200
    assert listed.status_code == 401
    assert listed.json()["errors"][0]["code"] == "UNAUTHORIZED"
    challenge = listed.headers["WWW-Authenticate"]
    assert f'scope="repository:{name}:metadata_read"' in challenge
    assert 'error="insufficient_scope"' in challenge


# ---- blob GETs: a 307 to storage, which refuses a forwarded Authorization ---------------


def test_blob_reads_follow_acrs_307_to_storage_without_the_registry_token(
    emulator: AcrEmulator, repo: tuple[str, dict[str, PushedImage]]
) -> None:
    """Through the bot (azure-containerregistry's download_blob): the config is read from
    storage, and storage never saw the registry's Authorization header."""
    name, _ = repo
    storage = emulator.state.storage if emulator.state else None
    assert storage is not None
    refused_before = list(storage.refused)
    emulator.reset()
    config = AcrRegistry(acr_spec(emulator)).image_config(name, "1.4.0")
    assert config.created == T0 + timedelta(days=4)
    blob_gets = [p for m, p in emulator.requests_seen() if m == "GET" and "/blobs/" in p]
    assert blob_gets  # the registry was asked, and redirected (the bytes came from storage)
    assert storage.refused == refused_before


def test_storage_refuses_a_forwarded_authorization_as_azure_storage_does(
    emulator: AcrEmulator, repo: tuple[str, dict[str, PushedImage]]
) -> None:
    """A client that carries the registry token across the redirect fails: the fake
    refuses what the real service refuses."""
    name, pushed = repo
    session = push_session(emulator, name)
    import json

    config_digest = json.loads(pushed["1.4.0"].manifest)["config"]["digest"]
    redirect = session.get(
        f"{emulator.url}/v2/{name}/blobs/{config_digest}", allow_redirects=False, timeout=10
    )
    assert redirect.status_code == 307
    location = redirect.headers["Location"]
    assert not location.startswith(emulator.url) and "sig=" in location
    forwarded = requests.get(
        location,
        headers={"Authorization": session.headers["Authorization"]},
        verify=str(emulator.ca_file),
        timeout=10,
    )
    assert forwarded.status_code == 400
    assert "<Code>InvalidAuthenticationInfo</Code>" in forwarded.text
    unsigned = requests.get(location.split("?")[0], verify=str(emulator.ca_file), timeout=10)
    assert unsigned.status_code == 403
    plain = requests.get(location, verify=str(emulator.ca_file), timeout=10)
    assert plain.status_code == 200
    assert "sha256:" + hashlib.sha256(plain.content).hexdigest() == config_digest


@pytest.mark.parametrize(
    ("method", "path", "query", "form", "problem"),
    [
        pytest.param(
            "GET", "/acr/v1/a/_tags", {"n": ["many"]}, None, "n='many' is not an int32", id="n"
        ),
        pytest.param(
            "GET",
            "/acr/v1/a/_tags",
            {"orderby": ["newest"]},
            None,
            "orderby='newest' is not one of",
            id="orderby",
        ),
        pytest.param(
            "POST",
            "/oauth2/exchange",
            {},
            {"grant_type": "access_token"},
            None,
            id="exchange-without-service",
        ),
        pytest.param(
            "POST",
            "/oauth2/token",
            {},
            {
                "grant_type": "client_credentials",
                "service": "s",
                "scope": "x",
                "refresh_token": "r",
            },
            "grant_type='client_credentials' is not one of",
            id="grant-type",
        ),
        pytest.param(
            "GET",
            "/oauth2/token",
            {"service": ["s"]},
            None,
            "request lacks query 'scope'",
            id="token-without-scope",
        ),
    ],
)
def test_check_request_refuses_what_the_description_refuses(
    method: str,
    path: str,
    query: dict[str, list[str]],
    form: dict[str, str] | None,
    problem: str | None,
) -> None:
    from devstack.acr_conformance import check_request

    found = [str(v) for v in check_request(method, path, query, form)]
    expected = problem or "request lacks formData 'service'"
    assert any(expected in f for f in found), found


def test_the_sdks_requests_conform_too(
    emulator: AcrEmulator, repo: tuple[str, dict[str, PushedImage]]
) -> None:
    """What azure-containerregistry sends for the bot (Entra ID exchange, token, ordered
    paged listing) breaks nothing in the description."""
    name, _ = repo
    emulator.reset()
    spec = acr_spec(emulator, auth=Auth("bearer-token", token_env="T"), page_size=4)
    assert len(AcrRegistry(spec, env={"T": AAD_TOKEN}).list_tags(name).tags) == 13
    sent = [p for _, p in emulator.requests_seen()]
    assert any("orderby=timedesc" in p and "n=4" in p for p in sent), sent
    paths = {p.split("?")[0] for p in sent}
    assert {"/oauth2/exchange", "/oauth2/token"} <= paths
    assert [str(v) for v in emulator.violations() if v.status == 0] == []


def test_acr_clamping_the_page_size_loses_no_tag(
    registry: Registry, repo: tuple[str, dict[str, PushedImage]]
) -> None:
    """ACR returns at most 1000 tags a page whatever `n` asks (no 400): the bot follows the
    Link of the shorter pages to the end. Here the cap is 5 and the bot asks for 100."""
    with start_acr_emulator(registry.url, tls=False, max_page=5) as capped:
        listing = AcrRegistry(acr_spec(capped, page_size=100)).list_tags(repo[0])
    assert listing.pages == 3
    assert len({t.name for t in listing.tags}) == len(listing.tags) == 13
