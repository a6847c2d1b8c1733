"""The gate: an edited environment must render and validate before it is committed.

`kubectl kustomize` renders the environment as it was and as edited, and every rendered
object of the edited one is validated strictly (unknown fields are errors) against the
Kubernetes schemas that kubernetes-validate ships, for KUBERNETES_VERSION. Rendering happens
in a temporary mirror of the repository: the environment folder (`environments/<env>`, or
the `path:` promotion.yaml gives it) is copied and gets the edited bytes, everything else is
a symlink to the checkout, so the working tree is never
touched and the mirror costs a handful of syscalls.

A failing gate is a `GateResult` with ok=False and a one-line reason, not an exception; only
a gate that cannot run at all (kubectl missing) raises.
"""

from __future__ import annotations

import contextlib
import difflib
import functools
import json
import re
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Any

import yaml

from bot.edit.editor import EditResult
from bot.errors import GateError, MissingComponentError

# The Kubernetes minor version the clusters run (docs/operator-runbook.md, "Clusters"):
# the gate must judge manifests by the schemas the API servers will. tests/gitops checks the
# repository against the same version, and a test keeps the two equal.
# kubernetes-validate 1.37 ships schemas 1.25-1.37.
KUBERNETES_VERSION = "1.32"
KUBECTL_HINT = (
    "install kubectl (https://kubernetes.io/docs/tasks/tools/), e.g. `apt-get install kubectl`"
    " from pkgs.k8s.io"
)
RENDER_TIMEOUT_S = 60.0


@dataclass(frozen=True)
class GateResult:
    env: str
    ok: bool
    reason: str
    rendered_diff: str  # unified diff of the rendered manifests, before → after


def find_kubectl() -> str:
    found = shutil.which("kubectl")
    if found is None:
        raise MissingComponentError(f"kubectl is not installed: {KUBECTL_HINT}")
    return found


def gate_environment(
    repo: Path,
    env: str,
    edit: EditResult | None = None,
    *,
    kubectl: str | None = None,
    kubernetes_version: str = KUBERNETES_VERSION,
    timeout: float = RENDER_TIMEOUT_S,
    folder: PurePosixPath | None = None,
) -> GateResult:
    """Render `env`'s folder of `repo` before and after `edit`, and validate the after.

    `folder` is the environment's repository-relative path as promotion.yaml configures it
    (default `environments/<env>`): an overlay may live anywhere in the repository.
    "Before" is each edited file's bytes as the editor read them; "after" is the edit. The
    verdict depends on the after only: an environment that was broken and is fixed passes.
    """
    kubectl = kubectl or find_kubectl()
    folder = folder if folder is not None else PurePosixPath("environments", env)
    if folder.is_absolute() or ".." in folder.parts or not folder.parts:
        raise GateError(f"{folder}: an environment folder must be relative and inside the repo")
    env_dir = repo / folder
    if not env_dir.is_dir():
        raise GateError(f"{env_dir}: no such environment folder")
    files = edit.files if edit else ()
    with tempfile.TemporaryDirectory(prefix=f"nightshift-gate-{env}-") as temp:
        after_dir = _mirror(repo, folder, Path(temp) / "after")
        for file in files:
            (after_dir / file.relpath).write_bytes(file.after)
        if not files:
            after = _relabel(_render(kubectl, after_dir, timeout), Path(temp) / "after", repo)
            return _verdict(env, folder, after, after, kubernetes_version)
        before_dir = _mirror(repo, folder, Path(temp) / "before")
        for file in files:
            (before_dir / file.relpath).write_bytes(file.before)
        # Both renders run at once: each is a short process and the gate is on the hot path.
        with (
            _started(kubectl, before_dir) as before_proc,
            _started(kubectl, after_dir) as after_proc,
        ):
            before = _relabel(_finish(before_proc, timeout), Path(temp) / "before", repo)
            after = _relabel(_finish(after_proc, timeout), Path(temp) / "after", repo)
    return _verdict(env, folder, before, after, kubernetes_version)


@dataclass(frozen=True)
class _Render:
    ok: bool
    output: str  # the manifests, or the one-line error


def _relabel(render: _Render, mirror: Path, repo: Path) -> _Render:
    """Errors name files in the mirror; point them at the checkout the user knows."""
    if render.ok:
        return render
    return _Render(False, render.output.replace(str(mirror), str(repo)))


def _verdict(
    env: str, folder: PurePosixPath, before: _Render, after: _Render, version: str
) -> GateResult:
    if not after.ok:
        return GateResult(env, False, f"kubectl kustomize failed: {after.output}", "")
    diff = "".join(
        difflib.unified_diff(
            before.output.splitlines(keepends=True) if before.ok else [],
            after.output.splitlines(keepends=True),
            fromfile=f"a/{folder} (rendered)",
            tofile=f"b/{folder} (rendered)",
        )
    )
    problems, count = _validate_manifests(after.output, version)
    if problems:
        more = f" (and {len(problems) - 1} more)" if len(problems) > 1 else ""
        return GateResult(env, False, f"invalid manifest: {problems[0]}{more}", diff)
    note = "" if before.ok else f"; before the edit it did not render: {before.output}"
    reason = f"rendered {count} objects, valid for Kubernetes {version} (strict){note}"
    return GateResult(env, True, reason, diff)


def _mirror(repo: Path, folder: PurePosixPath, root: Path) -> Path:
    """A tree that looks like `repo` to kustomize: symlinks, with `folder` copied for real.

    Each directory on the way to `folder` is real, holding symlinks to its other entries,
    so relative references (`../../base-manifests`) resolve as they do in the checkout.
    """
    source, mirror = repo, root
    mirror.mkdir(parents=True)
    for part in folder.parts:
        for entry in source.iterdir():
            if entry.name != part and not (source == repo and entry.name == ".git"):
                (mirror / entry.name).symlink_to(entry.resolve())
        source, mirror = source / part, mirror / part
        if source != repo / folder:
            mirror.mkdir()
    shutil.copytree(source, mirror)
    return mirror


@contextlib.contextmanager
def _started(kubectl: str, folder: Path) -> Iterator[subprocess.Popen[bytes]]:
    """Run `kubectl kustomize FOLDER`; whatever happens, the process is reaped."""
    proc = subprocess.Popen(
        [kubectl, "kustomize", str(folder)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        stdin=subprocess.DEVNULL,
    )
    try:
        yield proc
    finally:
        if proc.poll() is None:
            proc.kill()
        proc.wait()
        for pipe in (proc.stdout, proc.stderr):
            if pipe is not None:
                pipe.close()


def _render(kubectl: str, folder: Path, timeout: float) -> _Render:
    with _started(kubectl, folder) as proc:
        return _finish(proc, timeout)


def _finish(proc: subprocess.Popen[bytes], timeout: float) -> _Render:
    try:
        out, err = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.communicate()
        return _Render(False, f"timed out after {timeout:.0f}s")
    if proc.returncode != 0:
        return _Render(False, _one_line_error(err.decode(errors="replace")))
    return _Render(True, out.decode())


# klog writes err="..." (Go-quoted) for a one-line message, and a block for a multi-line one:
#   err=<
#   \tmap[string]interface {}(nil): yaml: unmarshal errors:
#   \t  line 7: mapping key "a" already defined at line 6
#    >
_KLOG_ERR = re.compile(r'err="((?:[^"\\]|\\.)*)"')
_KLOG_BLOCK = re.compile(r"err=<\n(.*?)\n >", re.DOTALL)
_GO_ESCAPES = {"n": "\n", "t": "\t", '"': '"', "\\": "\\"}
REASON_MAX_CHARS = 600


def _one_line_error(stderr: str) -> str:
    """kustomize's whole error as one readable line: the message, never klog's framing.

    kubectl prints `error: ...`, or a klog line with err="..." or an err=< ... > block; a
    multi-line message (yaml's "unmarshal errors:" and its list) keeps every line, joined.
    """
    block = _KLOG_BLOCK.search(stderr)
    quoted = _KLOG_ERR.search(stderr)
    if block:
        message = block.group(1)
    elif quoted:
        message = re.sub(
            r"\\(.)", lambda m: _GO_ESCAPES.get(m.group(1), m.group(0)), quoted.group(1)
        )
    else:  # `error: ...`, perhaps after warnings: the error and what follows it
        start = stderr.find("error: ")
        message = stderr[start:] if start >= 0 else stderr
    lines = [line.strip() for line in message.splitlines() if line.strip()]
    if not lines:
        return "no error message"
    joined = lines[0].removeprefix("error: ")
    for line in lines[1:]:
        joined += (" " if joined.endswith(":") else "; ") + line
    joined = " ".join(joined.split())
    if len(joined) > REASON_MAX_CHARS:
        joined = joined[: REASON_MAX_CHARS - 1] + "…"
    return joined


class _ManifestLoader(yaml.CSafeLoader):
    """Rendered objects as JSON-like data: the schemas know strings, not dates."""


def _as_str(loader: _ManifestLoader, node: yaml.Node) -> str:
    return str(loader.construct_scalar(node))  # type: ignore[arg-type]


_ManifestLoader.add_constructor("tag:yaml.org,2002:timestamp", _as_str)
_ManifestLoader.add_constructor("tag:yaml.org,2002:value", _as_str)


def _objects(manifests: str) -> Iterator[Any]:
    return (doc for doc in yaml.load_all(manifests, Loader=_ManifestLoader) if doc is not None)


def _validate_manifests(manifests: str, version: str) -> tuple[list[str], int]:
    problems: list[str] = []
    count = 0
    for obj in _objects(manifests):
        count += 1
        if not isinstance(obj, dict) or "apiVersion" not in obj or "kind" not in obj:
            problems.append(f"rendered document {count} is not a Kubernetes object")
            continue
        # Objects repeat across environments (Service, HPA, ...): validate each shape once.
        problem = _validate_object(json.dumps(obj, sort_keys=True, default=str), version)
        if problem:
            problems.append(problem)
    return problems, count


@functools.lru_cache(maxsize=4096)
def _validate_object(canonical: str, version: str) -> str | None:
    utils = _kubernetes_validate()
    obj = json.loads(canonical)
    name = f"{obj['kind']}/{(obj.get('metadata') or {}).get('name', '?')}"
    try:
        validator = _validator(obj["kind"], obj["apiVersion"], version)
    except (utils.SchemaNotFoundError, utils.InvalidSchemaError) as err:
        return f"{name}: {err.message}"
    except utils.VersionNotSupportedError as err:
        raise GateError(
            f"kubernetes-validate cannot check Kubernetes {version}: {err.message}"
        ) from None
    # The first error, as kubernetes-validate's own `validate` (jsonschema's) reports it.
    error = next(iter(validator.iter_errors(obj)), None)
    if error is None:
        return None
    path = ".".join(str(part) for part in error.path) or "(top)"
    return f"{name}: {path}: {error.message}"


@functools.lru_cache(maxsize=64)
def _validator(kind: str, api_version: str, version: str) -> Any:
    """One strict validator per kind, built once per process.

    This is `kubernetes_validate.utils.validate` minus its cost: that function reads and
    parses the 1.3 MB `_definitions.json` and the kind's schema again on every call, about
    10 ms an object, which made validation the gate's largest part after kubectl (50
    environments x 8 objects: 4 s of 8). Same schema files, same version choice, same
    Draft 2020-12 validator; only the parsing is shared.
    """
    import jsonschema  # type: ignore[import-untyped]  # a kubernetes-validate dependency
    from referencing import Registry, Resource

    utils = _kubernetes_validate()
    wanted = utils.major_minor(version.removeprefix("v"))
    if wanted > utils.latest_version():  # string order, exactly as kubernetes-validate does
        raise utils.VersionNotSupportedError(version=wanted)
    schema_version = [v for v in utils.all_versions() if utils.major_minor(v) <= wanted][-1]
    folder = f"kubernetes-json-schema/v{schema_version}-local-strict"
    group_version = re.sub(r"^([^./]*)(?:\.[^/]*)?/", r"\1-", api_version)
    try:
        schema = utils.schema_contents(f"{folder}/{kind.lower()}-{group_version}.json", version)
    except FileNotFoundError:
        raise utils.SchemaNotFoundError(
            version=wanted, kind=kind, api_version=api_version
        ) from None
    definitions = Resource.from_contents(_definitions(folder, version))
    registry = definitions @ (Resource.from_contents(schema) @ Registry())
    return jsonschema.validators.Draft202012Validator(schema, registry=registry)


@functools.lru_cache(maxsize=4)
def _definitions(folder: str, version: str) -> Any:
    return _kubernetes_validate().schema_contents(f"{folder}/_definitions.json", version)


def _kubernetes_validate() -> Any:
    try:
        from kubernetes_validate import utils
    except ImportError:
        raise MissingComponentError(
            "kubernetes-validate is not installed: pip install 'kubernetes-validate>=1.30'"
        ) from None
    return utils
