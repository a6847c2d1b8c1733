"""Both containers of the serving pod see the trusted signing keys where MODEL_TRUSTED_KEYS
says, read-only, from the `model-trusted-keys` ConfigMap: a pin with MODEL_SIGNER is checked
by the init container (modelstore fetch) and again by the app before it is ready."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from tests.gitops.manifests import ENVIRONMENTS, Doc, container, only


@pytest.mark.parametrize("env", ENVIRONMENTS)
def test_the_pod_mounts_the_trusted_keys_where_both_containers_look(
    rendered: Callable[[str], list[Doc]], env: str
) -> None:
    deployment = only(rendered(env), "Deployment")
    volumes = {v["name"]: v for v in deployment["spec"]["template"]["spec"]["volumes"]}
    for name in ("fetch-model", "model-api"):
        spec = container(deployment, name)
        values = {e["name"]: e.get("value") for e in spec.get("env", [])}
        folder = values["MODEL_TRUSTED_KEYS"]
        (mount,) = [m for m in spec["volumeMounts"] if m["mountPath"] == folder]
        assert mount["readOnly"] is True, name
        source = volumes[mount["name"]]["configMap"]
        assert source["name"].startswith("model-trusted-keys"), source
