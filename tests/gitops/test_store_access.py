"""Every model store URL we ship opens with the credentials production actually has.

In production nobody holds AZURE_STORAGE_CONNECTION_STRING: the serving init container and
the in-cluster bot sign in through Azure workload identity, and the nightly workflow through
`azure/login` (OIDC). Both reach Blob only through DefaultAzureCredential, which
`modelstore` uses for `https://<account>.blob.core.windows.net/<container>` URLs alone; an
`azure://<container>` URL would fail on its first pass with "needs
AZURE_STORAGE_CONNECTION_STRING". So these tests open each shipped URL with `open_store`,
given exactly the environment the rendered manifests and the workflow provide (plus what the
workload identity webhook injects). Opening makes no request; it builds the client.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import pytest
import yaml
from azure.identity import DefaultAzureCredential

from bot.config.load import load_config
from devstack.procs import ROOT
from modelstore.backends.blob import BlobBackend
from modelstore.errors import UsageError
from modelstore.store import open_store
from tests.gitops.manifests import ENVIRONMENTS, Doc, container, only

Rendered = Callable[[str], list[Doc]]
PROMOTION_CONFIG = ROOT / "environments" / "promotion.yaml"
PROMOTION_WORKFLOW = ROOT / ".github" / "workflows" / "promotion.yml"

# What the workload identity webhook adds to every container of a pod labelled
# azure.workload.identity/use=true (docs/operator-runbook.md, "How it works at run time").
WORKLOAD_IDENTITY_ENV = {
    "AZURE_CLIENT_ID": "00000000-0000-0000-0000-000000000001",
    "AZURE_TENANT_ID": "00000000-0000-0000-0000-000000000002",
    "AZURE_FEDERATED_TOKEN_FILE": "/var/run/secrets/azure/tokens/azure-identity-token",
    "AZURE_AUTHORITY_HOST": "https://login.microsoftonline.com/",
}


def container_env(spec: Doc) -> dict[str, str]:
    """A container's `env`, with each Secret or ConfigMap reference standing for its value.

    A reference becomes a placeholder naming its source: should anyone ever wire a
    connection string in, open_store would get this non-connection-string and fail."""
    env: dict[str, str] = {}
    for entry in spec.get("env", []):
        if "value" in entry:
            env[entry["name"]] = str(entry["value"])
        else:
            env[entry["name"]] = f"<from {yaml.safe_dump(entry['valueFrom']).strip()}>"
    return env


def workflow_env(job: dict[str, Any], step_marker: str) -> dict[str, str]:
    """The environment the step running `step_marker` sees: workflow, job and step env.

    `azure/login` adds no variables; it signs the Azure CLI in, and DefaultAzureCredential
    uses the CLI's login."""
    (step,) = [s for s in job["steps"] if step_marker in s.get("run", "")]
    return {str(k): str(v) for k, v in {**job.get("env", {}), **step.get("env", {})}.items()}


def assert_opens_with_workload_identity(url: str, environ: Mapping[str, str]) -> None:
    assert "AZURE_STORAGE_CONNECTION_STRING" not in environ, "production has no connection string"
    try:
        store = open_store(url, environ=environ)
    except UsageError as err:
        raise AssertionError(f"{url} cannot be opened in production: {err}") from None
    with store:
        backend = store.backend
        assert isinstance(backend, BlobBackend), f"{url} is not a Blob store"
        assert isinstance(backend._service.credential, DefaultAzureCredential), url


def promotion_store_urls() -> list[str]:
    config = load_config(PROMOTION_CONFIG)
    urls = []
    for name, model in config.models.items():
        # The bot's Deployment and workflow set no MODEL_STORE: the config must name it.
        assert model.store, f"models.{name}.store is unset, and the bot has no $MODEL_STORE"
        urls.append(model.store)
    assert urls, "promotion.yaml names no model"
    return urls


def test_the_in_cluster_bot_opens_every_configured_store(rendered: Rendered) -> None:
    bot = container(only(rendered("bot"), "Deployment", "nightshift-bot"), "bot")
    environ = {**container_env(bot), **WORKLOAD_IDENTITY_ENV}
    for url in promotion_store_urls():
        assert_opens_with_workload_identity(url, environ)


def test_the_nightly_workflow_opens_every_configured_store() -> None:
    workflow = yaml.safe_load(PROMOTION_WORKFLOW.read_text())
    (job,) = workflow["jobs"].values()
    environ = {**workflow.get("env", {}), **workflow_env(job, "python -m bot")}
    for url in promotion_store_urls():
        assert_opens_with_workload_identity(url, environ)


@pytest.mark.parametrize("env", ENVIRONMENTS)
def test_the_serving_init_container_opens_its_store(rendered: Rendered, env: str) -> None:
    fetch = container(only(rendered(env), "Deployment", "model-api"), "fetch-model")
    environ = {**container_env(fetch), **WORKLOAD_IDENTITY_ENV}
    url = environ["MODEL_STORE"]
    assert_opens_with_workload_identity(url, environ)
    # The bot decides from the same store the pods fetch from.
    assert url in promotion_store_urls()


def test_a_container_only_url_is_refused_without_a_connection_string() -> None:
    """Guards the tests above: the form they keep out of the shipped files really fails."""
    with pytest.raises(AssertionError, match="needs AZURE_STORAGE_CONNECTION_STRING"):
        assert_opens_with_workload_identity("azure://models", WORKLOAD_IDENTITY_ENV)
