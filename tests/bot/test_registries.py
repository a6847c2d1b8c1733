"""The generic OCI client against the real distribution registry, and the ACR emulator.

Images are pushed for real (tests/bot/oci_push.py). Distribution 2.8 ignores `n` on
tags/list, so pagination, the Bearer token flow and fault injection use the emulator,
which follows the distribution spec for those (and proxies to the real registry), and the
page-size cap, Link spellings and unquoted challenges use `devstack.registry_v3`, which
answers tags/list as distribution v3 does, in front of the same real registry.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime

import pytest

from bot.config.model import Auth, RegistrySpec
from bot.discover.registries.oci import OciRegistry, next_link, parse_challenge
from bot.discover.registries.transport import retry_after_seconds
from bot.errors import (
    RegistryAuthError,
    RegistryError,
    RegistryNotFoundError,
    RegistryUnavailableError,
)
from devstack.acr_emulator import AcrEmulator, start_acr_emulator
from devstack.oci_push import PushedImage, push_image, push_index, tag_existing
from devstack.registry import Registry
from devstack.registry_v3 import start_v3_registry

CREATED = datetime(2024, 5, 1, 8, 30, tzinfo=UTC)
LABELS = {
    "io.nightshift.serving-api": "tabular/v1",
    "org.opencontainers.image.revision": "0123abc",
    "org.opencontainers.image.source": "https://github.com/nightshift/app",
    "org.opencontainers.image.version": "1.2.0",
}


class Estate:
    def __init__(
        self, repo: str, single: PushedImage, docker: PushedImage, multi: PushedImage
    ) -> None:
        self.repo, self.single, self.docker, self.multi = repo, single, docker, multi


@pytest.fixture(scope="module")
def estate(registry: Registry) -> Estate:
    repo = f"disc-oci/{uuid.uuid4().hex[:8]}"
    single = push_image(registry.url, repo, ["1.2.0", "latest"], created=CREATED, labels=LABELS)
    docker = push_image(registry.url, repo, "1.1.0", created=CREATED, labels=LABELS, docker=True)
    multi = push_index(
        registry.url,
        repo,
        "1.3.0",
        created=CREATED,
        labels=LABELS,
        platforms=("linux/arm64", "linux/amd64"),
        per_platform_labels={"linux/arm64": {"io.nightshift.serving-api": "arm-only/v1"}},
    )
    tag_existing(registry.url, single, [f"0.0.{i}" for i in range(25)])
    return Estate(repo, single, docker, multi)


@pytest.fixture(scope="module")
def emulator(registry: Registry) -> Iterator[AcrEmulator]:
    with start_acr_emulator(
        registry.url, tls=True, anonymous_pull=False, users={"ci": "ci-pass"}
    ) as emu:
        yield emu


def spec(url: str, **overrides: object) -> RegistrySpec:
    values: dict[str, object] = {
        "name": "test",
        "kind": "oci",
        "url": url,
        "timeout": 5.0,
        "requests_per_second": 1000.0,
    }
    return RegistrySpec(**(values | overrides))  # type: ignore[arg-type]


def test_lists_tags_anonymously_from_the_real_registry(registry: Registry, estate: Estate) -> None:
    client = OciRegistry(spec(registry.url))
    listing = client.list_tags(estate.repo)
    names = {t.name for t in listing.tags}
    assert {"1.1.0", "1.2.0", "1.3.0", "latest", "0.0.0", "0.0.24"} <= names and len(names) == 29
    assert listing.pages == 1
    assert client.stats.snapshot() == {"tags": 1}


@pytest.mark.parametrize(
    ("tag", "attr"),
    [
        pytest.param("1.2.0", "single", id="oci-manifest"),
        pytest.param("1.1.0", "docker", id="docker-v2-manifest"),
        pytest.param("1.3.0", "multi", id="oci-index"),
    ],
)
def test_resolves_the_digest_with_one_head(
    registry: Registry, estate: Estate, tag: str, attr: str
) -> None:
    client = OciRegistry(spec(registry.url))
    assert client.resolve_digest(estate.repo, tag) == getattr(estate, attr).digest
    assert client.stats.snapshot() == {"manifest": 1}


def test_reads_created_and_labels_following_an_index_to_linux_amd64(
    registry: Registry, estate: Estate
) -> None:
    client = OciRegistry(spec(registry.url))
    config = client.image_config(estate.repo, "1.3.0")
    assert config.digest == estate.multi.digest
    assert config.platform == "linux/amd64"
    assert config.labels["io.nightshift.serving-api"] == "tabular/v1"  # not the arm64 image's label
    assert config.created == CREATED
    assert client.stats.snapshot() == {"manifest": 2, "blob": 1}


def test_basic_auth_registry(registry_basic_auth: Registry) -> None:
    repo = f"disc-basic/{uuid.uuid4().hex[:8]}"
    pushed = push_image(
        registry_basic_auth.url, repo, "2.0.0", created=CREATED, auth=("pusher", "s3cret-pass")
    )
    auth = Auth("basic", username_env="REG_USER", password_env="REG_PASSWORD")
    env = {"REG_USER": "pusher", "REG_PASSWORD": "s3cret-pass"}
    client = OciRegistry(spec(registry_basic_auth.url, auth=auth), env=env)
    assert [t.name for t in client.list_tags(repo).tags] == ["2.0.0"]
    assert client.resolve_digest(repo, "2.0.0") == pushed.digest
    # One challenge, then basic auth is sent up front.
    assert client.stats.snapshot() == {"tags": 2, "manifest": 1}

    wrong = OciRegistry(
        spec(registry_basic_auth.url, auth=auth), env=env | {"REG_PASSWORD": "nope-secret"}
    )
    with pytest.raises(RegistryAuthError) as caught:
        wrong.list_tags(repo)
    assert "nope-secret" not in str(caught.value)
    with pytest.raises(RegistryAuthError, match=r"access to .* denied"):
        OciRegistry(spec(registry_basic_auth.url)).list_tags(repo)


def test_missing_credentials_env_is_a_clear_error(registry: Registry) -> None:
    auth = Auth("basic", username_env="NO_SUCH_USER_VAR", password_env="NO_SUCH_PASS_VAR")
    with pytest.raises(
        RegistryAuthError, match=r"environment variable NO_SUCH_USER_VAR is not set"
    ):
        OciRegistry(spec(registry.url, auth=auth), env={})


def test_unknown_repository_is_not_found(registry: Registry) -> None:
    with pytest.raises(RegistryNotFoundError):
        OciRegistry(spec(registry.url)).list_tags("disc-oci/does-not-exist")


def test_bearer_challenge_flow_with_basic_credentials(
    emulator: AcrEmulator, estate: Estate
) -> None:
    auth = Auth("basic", username_env="U", password_env="P")
    client = OciRegistry(
        spec(emulator.url, auth=auth, ca_bundle=str(emulator.ca_file)),
        env={"U": "ci", "P": "ci-pass"},
    )
    emulator.reset()
    assert len(client.list_tags(estate.repo).tags) == 29
    assert client.resolve_digest(estate.repo, "1.3.0") == estate.multi.digest
    # 401 → token (basic) → retry; the manifest HEAD reuses the cached token for the scope.
    assert client.stats.snapshot() == {"tags": 2, "token": 1, "manifest": 1}
    token_calls = [p for m, p in emulator.requests_seen() if p.startswith("/oauth2/token")]
    assert len(token_calls) == 1
    assert f"scope=repository%3A{estate.repo.replace('/', '%2F')}%3Apull" in token_calls[0]


def test_bearer_flow_refused_without_credentials(emulator: AcrEmulator, estate: Estate) -> None:
    client = OciRegistry(spec(emulator.url, ca_bundle=str(emulator.ca_file)))
    with pytest.raises(RegistryAuthError, match="token service refused"):
        client.list_tags(estate.repo)


@pytest.mark.parametrize(
    ("page_size", "pages"),
    [pytest.param(10, 3, id="n10"), pytest.param(7, 5, id="n7"), pytest.param(100, 1, id="n100")],
)
def test_follows_link_pagination(
    emulator: AcrEmulator, estate: Estate, page_size: int, pages: int
) -> None:
    client = OciRegistry(
        spec(
            emulator.url,
            page_size=page_size,
            ca_bundle=str(emulator.ca_file),
            auth=Auth("basic", username_env="U", password_env="P"),
        ),
        env={"U": "ci", "P": "ci-pass"},
    )
    listing = client.list_tags(estate.repo)
    assert listing.pages == pages
    assert len(listing.tags) == len({t.name for t in listing.tags}) == 29
    assert client.stats.snapshot()["tags"] == pages + 1  # plus the first, challenged request


def test_retries_on_503_and_429_honouring_retry_after(
    emulator: AcrEmulator, estate: Estate
) -> None:
    client = OciRegistry(
        spec(
            emulator.url,
            ca_bundle=str(emulator.ca_file),
            auth=Auth("basic", username_env="U", password_env="P"),
            retries=3,
        ),
        env={"U": "ci", "P": "ci-pass"},
    )
    client.list_tags(estate.repo)  # authenticate first
    emulator.inject(503, count=1)
    emulator.inject(429, count=1, retry_after="1")
    started = time.monotonic()
    assert len(client.list_tags(estate.repo).tags) == 29
    elapsed = time.monotonic() - started
    assert 1.0 <= elapsed < 15  # Retry-After was honoured; generous for a loaded machine
    assert client.stats.snapshot()["retry:tags"] == 2


def test_gives_up_after_the_retry_budget(emulator: AcrEmulator, estate: Estate) -> None:
    client = OciRegistry(spec(emulator.url, ca_bundle=str(emulator.ca_file), retries=2))
    emulator.inject(502, count=3)
    with pytest.raises(RegistryUnavailableError, match=r"failed after 3 attempts: HTTP 502"):
        client.list_tags(estate.repo)
    emulator.reset()


def test_unreachable_registry_is_unavailable() -> None:
    from devstack.procs import free_port

    client = OciRegistry(spec(f"http://127.0.0.1:{free_port()}", retries=1))
    with pytest.raises(
        RegistryUnavailableError,
        match=r"failed after 2 attempts: connection refused, reset or name not resolved"
        r" \(ConnectionError\)$",
    ):
        client.list_tags("any/repo")


def test_rate_limit_spaces_requests(registry: Registry, estate: Estate) -> None:
    client = OciRegistry(spec(registry.url, requests_per_second=20.0))
    started = time.monotonic()
    for _ in range(6):
        client.resolve_digest(estate.repo, "1.2.0")
    assert time.monotonic() - started >= 5 / 20


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        pytest.param(
            'Bearer realm="https://r/oauth2/token",service="r",scope="repository:a/b:pull"',
            (
                "bearer",
                {"realm": "https://r/oauth2/token", "service": "r", "scope": "repository:a/b:pull"},
            ),
            id="bearer",
        ),
        pytest.param('Basic realm="devstack"', ("basic", {"realm": "devstack"}), id="basic"),
        pytest.param(
            "Bearer realm=https://r.io/oauth2/token,service=r.io,scope=repository:a/b:pull",
            (
                "bearer",
                {
                    "realm": "https://r.io/oauth2/token",
                    "service": "r.io",
                    "scope": "repository:a/b:pull",
                },
            ),
            id="unquoted-values",
        ),
        pytest.param(
            'bearer Realm="https://r/t", Scope="repository:a:pull,push" ,  service="r"',
            ("bearer", {"realm": "https://r/t", "scope": "repository:a:pull,push", "service": "r"}),
            id="spaces-case-and-commas-in-quotes",
        ),
        pytest.param(
            r'Bearer realm="https://r/t",error="insufficient_scope",error_description="say \"hi\""',
            (
                "bearer",
                {
                    "realm": "https://r/t",
                    "error": "insufficient_scope",
                    "error_description": 'say "hi"',
                },
            ),
            id="escaped-quote",
        ),
    ],
)
def test_parse_challenge(header: str, expected: tuple[str, dict[str, str]]) -> None:
    assert parse_challenge(header) == expected


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        pytest.param(
            '</v2/a/tags/list?n=2&last=b>; rel="next"', "/v2/a/tags/list?n=2&last=b", id="relative"
        ),
        pytest.param(
            "<https://r/v2/a/tags/list?last=b>; rel=next",
            "https://r/v2/a/tags/list?last=b",
            id="unquoted-rel",
        ),
        pytest.param('</x>; rel="prev"', None, id="not-next"),
        pytest.param('</n?last=b>; type="x"; rel="next"', "/n?last=b", id="param-before-rel"),
        pytest.param('</n?last=b>; rel="Next"', "/n?last=b", id="capitalised"),
        pytest.param('</n>; rel="last next"', "/n", id="relation-list"),
        pytest.param('</p>; rel="prev", </n?a=1,2>; rel=next', "/n?a=1,2", id="two-links"),
        pytest.param('</p>; rel="prev"; title="not next"', None, id="next-only-in-a-title"),
        pytest.param(None, None, id="absent"),
    ],
)
def test_next_link(header: str | None, expected: str | None) -> None:
    assert next_link(header) == expected


def test_an_unreadable_next_link_is_an_error_not_the_last_page() -> None:
    with pytest.raises(RegistryError, match="refusing to return a partial tag listing"):
        next_link('</v2/a/tags/list?last=b; rel="next"', registry="registry r")


@pytest.mark.parametrize(
    ("value", "seconds"),
    [
        pytest.param("3", 3.0, id="delta"),
        pytest.param("Wed, 21 Oct 2015 07:28:10 GMT", 10.0, id="http-date"),
        pytest.param("soon", None, id="garbage"),
        pytest.param(None, None, id="absent"),
    ],
)
def test_retry_after(value: str | None, seconds: float | None) -> None:
    now = datetime(2015, 10, 21, 7, 28, 0, tzinfo=UTC).timestamp()
    assert retry_after_seconds(value, now=now) == seconds


# ---- distribution v3: tags.maxtags, PAGINATION_NUMBER_INVALID, Link spellings ------------


def test_the_v3_front_answers_as_v3_does(registry: Registry, estate: Estate) -> None:
    """The fake itself, checked against v3's documented answers before the client is."""
    import requests

    with start_v3_registry(registry.url, max_tags=10) as v3:
        url = f"{v3.url}/v2/{estate.repo}/tags/list"
        everything = requests.get(url, timeout=10)
        assert len(everything.json()["tags"]) == 29 and "Link" not in everything.headers
        too_many = requests.get(url, params={"n": "11"}, timeout=10)
        assert too_many.status_code == 400
        assert too_many.json() == {
            "errors": [
                {
                    "code": "PAGINATION_NUMBER_INVALID",
                    "message": "invalid number of results requested",
                    "detail": {"n": 11},
                }
            ]
        }
        assert requests.get(url, params={"n": "-1"}, timeout=10).status_code == 400
        assert requests.get(url, params={"n": "ten"}, timeout=10).status_code == 400
        page = requests.get(url, params={"n": "10"}, timeout=10)
        tags = page.json()["tags"]
        assert tags == sorted(tags) and len(tags) == 10
        assert page.headers["Link"] == (
            f'</v2/{estate.repo}/tags/list?last={tags[-1]}&n=10>; rel="next"'
        )


def test_a_page_size_above_the_registry_maximum_falls_back_and_says_so_once(
    registry: Registry, estate: Estate, caplog: pytest.LogCaptureFixture
) -> None:
    with start_v3_registry(registry.url, max_tags=10) as v3:
        client = OciRegistry(spec(v3.url, page_size=1000))
        with caplog.at_level("WARNING", logger="bot.discover.registries.oci"):
            first = client.list_tags(estate.repo)
            second = client.list_tags(estate.repo)
        names = [t.name for t in first.tags]
        assert len(names) == len(set(names)) == 29  # nothing lost, nothing twice
        assert [t.name for t in second.tags] == names
        # 1000 → 500 → 250 → 125 → 62 → 31 → 15 → 7: the first size at or under 10.
        assert first.pages == second.pages == 5
        sizes = [p.split("n=")[1] for _, p in v3.requests_seen() if "n=" in p]
        assert sizes[:8] == ["1000", "500", "250", "125", "62", "31", "15", "7"]
        assert set(sizes[8:]) == {"7"}  # the second listing starts at the accepted size
    warnings = [r.getMessage() for r in caplog.records if r.levelname == "WARNING"]
    assert len(warnings) == 1
    assert "refuses a page size of 1000 (PAGINATION_NUMBER_INVALID)" in warnings[0]


@pytest.mark.parametrize(
    "link_format",
    [
        pytest.param('<{url}>; type="x"; rel="next"', id="param-before-rel"),
        pytest.param('<{url}>; rel="Next"', id="capitalised"),
        pytest.param("<{url}>;rel=next", id="bare"),
        pytest.param('</elsewhere>; rel="prev", <{url}>; rel="next last"', id="two-links"),
    ],
)
def test_every_valid_link_spelling_lists_every_tag(
    registry: Registry, estate: Estate, link_format: str
) -> None:
    with start_v3_registry(registry.url, max_tags=10, link_format=link_format) as v3:
        listing = OciRegistry(spec(v3.url, page_size=10)).list_tags(estate.repo)
    assert listing.pages == 3
    assert len({t.name for t in listing.tags}) == 29


def test_an_unquoted_bearer_challenge_is_answered(registry: Registry, estate: Estate) -> None:
    """`WWW-Authenticate: Bearer realm=http://…,service=…,scope=…`: valid, so auth works."""
    with start_v3_registry(registry.url, max_tags=100, token_realm_unquoted=True) as v3:
        client = OciRegistry(spec(v3.url, page_size=100))
        assert len(client.list_tags(estate.repo).tags) == 29
        assert client.resolve_digest(estate.repo, "1.2.0") == estate.single.digest
        seen = [p.split("?")[0] for _, p in v3.requests_seen()]
    assert seen.count("/token") == 1


def test_the_oci_client_follows_acrs_blob_redirect_without_its_credentials(
    emulator: AcrEmulator, estate: Estate
) -> None:
    """The generic client pointed at ACR's /v2 (as `type: oci` may be): the config blob
    comes from storage by a 307, and requests drops Authorization crossing origins."""
    storage = emulator.state.storage if emulator.state else None
    assert storage is not None
    refused_before = list(storage.refused)
    client = OciRegistry(
        spec(
            emulator.url,
            ca_bundle=str(emulator.ca_file),
            auth=Auth("basic", username_env="U", password_env="P"),
        ),
        env={"U": "ci", "P": "ci-pass"},
    )
    config = client.image_config(estate.repo, "1.2.0")
    assert config.created == CREATED and config.labels == LABELS
    assert storage.refused == refused_before
