"""Every container of every Deployment (init containers included) meets the workload policy,
and the policy catches each kind of lapse."""

from __future__ import annotations

import copy
from collections.abc import Callable

import pytest

from tests.gitops.manifests import ENVIRONMENTS, Doc, only, pod_containers
from tests.gitops.policy import violations

Rendered = Callable[[str], list[Doc]]
TARGETS = [*ENVIRONMENTS, "bot"]


@pytest.mark.parametrize("target", TARGETS)
def test_every_deployment_meets_the_policy(target: str, rendered: Rendered) -> None:
    deployments = [d for d in rendered(target) if d["kind"] == "Deployment"]
    assert deployments
    for deployment in deployments:
        # The check covers init containers: the serving pod has one.
        roles = [role for role, _ in pod_containers(deployment)]
        assert "main" in roles
        assert violations(deployment) == []


def _drop_init_limits(d: Doc) -> None:
    del d["spec"]["template"]["spec"]["initContainers"][0]["resources"]["limits"]


def _drop_init_requests(d: Doc) -> None:
    del d["spec"]["template"]["spec"]["initContainers"][0]["resources"]["requests"]


def _drop_main_memory_limit(d: Doc) -> None:
    del d["spec"]["template"]["spec"]["containers"][0]["resources"]["limits"]["memory"]


def _drop_readiness(d: Doc) -> None:
    del d["spec"]["template"]["spec"]["containers"][0]["readinessProbe"]


def _drop_liveness(d: Doc) -> None:
    del d["spec"]["template"]["spec"]["containers"][0]["livenessProbe"]


def _writable_root(d: Doc) -> None:
    d["spec"]["template"]["spec"]["initContainers"][0]["securityContext"][
        "readOnlyRootFilesystem"
    ] = False


def _escalation(d: Doc) -> None:
    d["spec"]["template"]["spec"]["containers"][0]["securityContext"][
        "allowPrivilegeEscalation"
    ] = True


def _keep_capabilities(d: Doc) -> None:
    del d["spec"]["template"]["spec"]["containers"][0]["securityContext"]["capabilities"]


def _add_capability(d: Doc) -> None:
    d["spec"]["template"]["spec"]["containers"][0]["securityContext"]["capabilities"]["add"] = [
        "NET_ADMIN"
    ]


def _no_seccomp_anywhere(d: Doc) -> None:
    del d["spec"]["template"]["spec"]["securityContext"]["seccompProfile"]
    for _, c in pod_containers(d):
        del c["securityContext"]["seccompProfile"]


def _unconfined_seccomp(d: Doc) -> None:
    d["spec"]["template"]["spec"]["initContainers"][0]["securityContext"]["seccompProfile"] = {
        "type": "Unconfined"
    }


def _root_allowed(d: Doc) -> None:
    del d["spec"]["template"]["spec"]["securityContext"]["runAsNonRoot"]
    for _, c in pod_containers(d):
        del c["securityContext"]["runAsNonRoot"]


def _no_security_context(d: Doc) -> None:
    del d["spec"]["template"]["spec"]["containers"][0]["securityContext"]


def _privileged(d: Doc) -> None:
    d["spec"]["template"]["spec"]["containers"][0]["securityContext"]["privileged"] = True


def _tag_only_image(d: Doc) -> None:
    c = d["spec"]["template"]["spec"]["initContainers"][0]
    c["image"] = c["image"].split("@", 1)[0]


def _inline_token(d: Doc) -> None:
    d["spec"]["template"]["spec"]["containers"][0]["env"].append(
        {"name": "GITHUB_TOKEN", "value": "ghp_not_a_real_token"}
    )


def _token_from_configmap(d: Doc) -> None:
    d["spec"]["template"]["spec"]["containers"][0]["env"].append(
        {
            "name": "NIGHTSHIFT_GIT_TOKEN",
            "valueFrom": {"configMapKeyRef": {"name": "settings", "key": "token"}},
        }
    )


LAPSES = [
    pytest.param(_drop_init_limits, "fetch-model: no limits.cpu", id="init-container-no-limits"),
    pytest.param(
        _drop_init_requests, "fetch-model: no requests.memory", id="init-container-no-requests"
    ),
    pytest.param(_drop_main_memory_limit, "model-api: no limits.memory", id="no-memory-limit"),
    pytest.param(_drop_readiness, "model-api: no readinessProbe", id="no-readiness-probe"),
    pytest.param(_drop_liveness, "model-api: no livenessProbe", id="no-liveness-probe"),
    pytest.param(_writable_root, "fetch-model: readOnlyRootFilesystem", id="writable-root"),
    pytest.param(_escalation, "model-api: allowPrivilegeEscalation", id="privilege-escalation"),
    pytest.param(_keep_capabilities, "model-api: capabilities do not drop", id="no-cap-drop"),
    pytest.param(_add_capability, "capabilities add ['NET_ADMIN']", id="cap-added"),
    pytest.param(_no_seccomp_anywhere, "model-api: seccompProfile", id="no-seccomp"),
    pytest.param(_unconfined_seccomp, "fetch-model: seccompProfile", id="unconfined-seccomp"),
    pytest.param(_root_allowed, "fetch-model: runAsNonRoot", id="root-allowed"),
    pytest.param(_no_security_context, "model-api: readOnlyRootFilesystem", id="no-context"),
    pytest.param(_privileged, "model-api: privileged", id="privileged"),
    pytest.param(_tag_only_image, "fetch-model: image", id="image-not-digest-pinned"),
    pytest.param(_inline_token, "GITHUB_TOKEN is not from a secretKeyRef", id="inline-token"),
    pytest.param(_token_from_configmap, "NIGHTSHIFT_GIT_TOKEN is not", id="token-from-configmap"),
]


@pytest.mark.parametrize(("lapse", "expected"), LAPSES)
def test_policy_reports_each_lapse(
    lapse: Callable[[Doc], None], expected: str, rendered: Rendered
) -> None:
    deployment = copy.deepcopy(only(rendered("dev"), "Deployment"))
    lapse(deployment)
    found = violations(deployment)
    assert any(expected in line for line in found), found


def test_pod_level_settings_count_for_every_container(rendered: Rendered) -> None:
    """runAsNonRoot and seccomp may be set once on the pod, as Kubernetes inherits them."""
    deployment = copy.deepcopy(only(rendered("dev"), "Deployment"))
    for _, c in pod_containers(deployment):
        del c["securityContext"]["runAsNonRoot"]
        del c["securityContext"]["seccompProfile"]
    assert violations(deployment) == []


@pytest.mark.parametrize("env", ENVIRONMENTS)
def test_disruption_budget_and_network_policy_select_the_serving_pods(
    env: str, rendered: Rendered
) -> None:
    docs = rendered(env)
    pod_labels = only(docs, "Deployment")["spec"]["template"]["metadata"]["labels"]
    selectors = {
        "PodDisruptionBudget": only(docs, "PodDisruptionBudget")["spec"]["selector"],
        "NetworkPolicy": only(docs, "NetworkPolicy")["spec"]["podSelector"],
        "Service": {"matchLabels": only(docs, "Service")["spec"]["selector"]},
    }
    for kind, selector in selectors.items():
        match = selector["matchLabels"]
        assert match, kind
        assert all(pod_labels.get(k) == v for k, v in match.items()), kind
    policy = only(docs, "NetworkPolicy")["spec"]
    assert sorted(policy["policyTypes"]) == ["Egress", "Ingress"]
    ingress_ports = {p["port"] for rule in policy["ingress"] for p in rule["ports"]}
    assert ingress_ports == {8080}
