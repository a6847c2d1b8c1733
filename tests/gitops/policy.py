"""The workload policy every Deployment in this repository must meet, as a pure function.

It is stricter than Pod Security Admission's "restricted" profile on purpose: PSA does not
require resources, probes, a read-only root filesystem or digest-pinned images, and a pod
missing those fails in production in ways nobody sees in review.
"""

from __future__ import annotations

import re
from typing import Any

from tests.gitops.manifests import Doc, pod_containers

SECRET_LIKE_ENV = re.compile(r"TOKEN|SECRET|PASSWORD|PRIVATE_KEY|CONNECTION_STRING|API_KEY")
SECCOMP_CONFINED = frozenset({"RuntimeDefault", "Localhost"})


def _effective(container: dict[str, Any], pod: dict[str, Any], key: str) -> Any:
    """A container's securityContext setting, falling back to the pod's, as Kubernetes does."""
    own = container.get("securityContext", {})
    return own[key] if key in own else pod.get("securityContext", {}).get(key)


def violations(deployment: Doc) -> list[str]:
    """Every rule a Deployment breaks, one line each, naming the container; [] if none."""
    pod = deployment["spec"]["template"]["spec"]
    found: list[str] = []
    for role, container in pod_containers(deployment):
        where = f"{deployment['metadata']['name']}/{container['name']}"

        resources = container.get("resources", {})
        for section in ("requests", "limits"):
            for resource in ("cpu", "memory"):
                if resource not in resources.get(section, {}):
                    found.append(f"{where}: no {section}.{resource}")

        if role == "main":
            for probe in ("livenessProbe", "readinessProbe"):
                if probe not in container:
                    found.append(f"{where}: no {probe}")

        context = container.get("securityContext", {})
        if _effective(container, pod, "runAsNonRoot") is not True:
            found.append(f"{where}: runAsNonRoot is not true")
        if context.get("readOnlyRootFilesystem") is not True:
            found.append(f"{where}: readOnlyRootFilesystem is not true")
        if context.get("allowPrivilegeEscalation") is not False:
            found.append(f"{where}: allowPrivilegeEscalation is not false")
        if context.get("privileged") is True:
            found.append(f"{where}: privileged")
        capabilities = context.get("capabilities", {})
        if "ALL" not in capabilities.get("drop", []):
            found.append(f"{where}: capabilities do not drop ALL")
        if capabilities.get("add"):
            found.append(f"{where}: capabilities add {capabilities['add']}")
        seccomp = _effective(container, pod, "seccompProfile") or {}
        if seccomp.get("type") not in SECCOMP_CONFINED:
            found.append(f"{where}: seccompProfile is not RuntimeDefault")

        if "@sha256:" not in container.get("image", ""):
            found.append(f"{where}: image {container.get('image')!r} is not pinned by digest")

        for variable in container.get("env", []):
            from_secret = "secretKeyRef" in variable.get("valueFrom", {})
            if SECRET_LIKE_ENV.search(variable["name"]) and not from_secret:
                found.append(f"{where}: {variable['name']} is not from a secretKeyRef")
    return found
