"""From planned bumps to what gets written: file edits, commit messages and PR summaries.

One `Bump` value feeds all three, so the kustomization diff, the commit message, the PR
body, `plan` and the JSON report always tell the same story. Versions and reasons come
from outside (tags, cards, labels): commit messages take them through `inert.plain`
(one line, capped, no mentions), and links are built only from a plain http(s) URL.
"""

from __future__ import annotations

import posixpath
from collections.abc import Mapping, Sequence

from bot import inert
from bot.edit.change import Change, bump_image, bump_model
from bot.edit.editor import EditResult, apply_changes
from bot.edit.gate import GateResult
from bot.edit.pins import Kustomization
from bot.errors import ManifestError
from bot.gitrepo.commits import ENV_TRAILER, ChangeSet
from bot.plan.values import Bump, Version
from bot.plan.verify import render_section
from bot.policies import ModelGates
from bot.write.prbody import ArtifactBump, CheckResult, Link, MetricChange, PromotionSummary

CHANGE_TRAILER = "Nightshift-Change"


def edit_for(kustomization: Kustomization, bumps: Sequence[Bump]) -> EditResult:
    """The minimal edit that pins every bump; nothing is written."""
    changes: list[Change] = []
    for bump in bumps:
        if bump.artifact.kind == "image":
            pin = kustomization.image(bump.artifact.name).pin
            changes += bump_image(pin, tag=bump.new.value, digest=bump.new.digest)
        else:
            model = kustomization.model
            if model is None or model.pin.name != bump.artifact.name:
                raise ManifestError(
                    f"{kustomization.source}: no model-pin for model {bump.artifact.name!r}"
                )
            sha256 = bump.new.digest or model.pin.sha256
            changes += bump_model(model.pin, version=bump.new.value, sha256=sha256)
    return apply_changes(kustomization, changes)


def _short(version: Version | None) -> str:
    return version.value if version is not None else "(none)"


def describe(bump: Bump) -> str:
    return inert.plain(f"{bump.artifact} {_short(bump.old)} → {bump.new.value}")


def changeset(environment: str, path: str, bumps: Sequence[Bump], edit: EditResult) -> ChangeSet:
    """One commit for one environment, with trailers that mark it as the bot's."""
    subject = f"{environment}: " + ", ".join(describe(b) for b in bumps)
    if len(subject) > 100:
        subject = f"{environment}: promote {len(bumps)} artifacts"
    body = "\n".join(
        f"- {describe(b)}\n"
        + "".join(f"  - {inert.plain(reason, inert.REASON_LIMIT)}\n" for reason in b.reasons)
        for b in bumps
    )
    moves = [f"{b.artifact.kind} {b.artifact.name} {_short(b.old)} -> {b.new.value}" for b in bumps]
    trailers = ((ENV_TRAILER, environment), *((CHANGE_TRAILER, move) for move in moves))
    files = {posixpath.join(path, f.relpath): f.after for f in edit.files}
    return ChangeSet(files=files, subject=subject, body=body, trailers=trailers)


def summary(
    environment: str,
    upstream: str | None,
    bumps: Sequence[Bump],
    gate: GateResult,
    *,
    source_url: str | None = None,
    model_gates: Mapping[str, ModelGates] | None = None,
) -> PromotionSummary:
    """The PR body's data: old → new, ages, compare links, metrics, soak and gate results.

    `model_gates` (model name → its gates in this environment) are listed under Gates with
    what each one measured: a reviewer sees the thresholds the model cleared, not only that
    the manifests render.

    Revisions are commits of the repository the image was built from: its
    `org.opencontainers.image.source` label says which. `source_url` (the PRs' repository)
    is the fallback for images without that label, as when code and GitOps share a repo.
    """
    artifacts = []
    for bump in bumps:
        links: list[Link] = []
        old_rev = bump.old.revision if bump.old else None
        new_rev = bump.new.revision
        repo = bump.new.source or source_url
        # The source label is whatever the image's pusher wrote: only a plain http(s) URL
        # becomes a link, and revisions are percent-encoded into one path segment each.
        base = inert.link_url(repo.removesuffix(".git").rstrip("/")) if repo else None
        if base and old_rev and new_rev and old_rev != new_rev:
            compare = f"{inert.url_segment(old_rev)}...{inert.url_segment(new_rev)}"
            links.append(Link("compare", f"{base}/compare/{compare}"))
        elif base and new_rev:
            links.append(Link("revision", f"{base}/commit/{inert.url_segment(new_rev)}"))
        metrics: list[MetricChange] = []
        if bump.artifact.kind == "model":
            old_metrics = bump.old.metrics if bump.old else {}
            for name in sorted(set(old_metrics) | set(bump.new.metrics)):
                metrics.append(
                    MetricChange(name, old_metrics.get(name), bump.new.metrics.get(name))
                )
        artifacts.append(
            ArtifactBump(
                kind=bump.artifact.kind,
                name=bump.artifact.name,
                old=bump.old.value if bump.old else None,
                new=bump.new.value,
                created=bump.new.created,
                links=tuple(links),
                metrics=tuple(metrics),
                reasons=bump.reasons,
                old_digest=bump.old.digest if bump.old else None,
                new_digest=bump.new.digest,
            )
        )
    # Named by artifact: a bundle's image and model soak alike, and two identical
    # "soak: ..." lines under the Soak heading told a reviewer nothing about which was which.
    soak = tuple(
        CheckResult(str(bump.artifact), True, reason)
        for bump in bumps
        for reason in bump.reasons
        if upstream and reason.startswith(f"{upstream} has ")
    )
    gates = (
        CheckResult(
            "render + validate (kubectl kustomize, kubernetes-validate --strict)",
            gate.ok,
            gate.reason,
        ),
        *(
            CheckResult(f"{bump.artifact} {bump.new.value}: {gate}", passed, measured)
            for bump in bumps
            if bump.artifact.kind == "model" and bump.artifact.name in (model_gates or {})
            for gate, passed, measured in (model_gates or {})[bump.artifact.name].report(
                bump.new.metrics, bump.old.metrics if bump.old else {}
            )
        ),
        # `trust:` models: the bot verified model.sig against the trusted keys
        # (bot.discover.provenance).
        *(
            CheckResult(
                f"signature of {bump.artifact} {bump.new.value}",
                True,
                f"signed by {bump.new.signer[:16]}, verified",
            )
            for bump in bumps
            if bump.artifact.kind == "model" and bump.new.signer
        ),
    )
    verified = next((b.verification for b in bumps if b.verification is not None), None)
    return PromotionSummary(
        environment=environment,
        verification=tuple(render_section(verified)) if verified is not None else (),
        bumps=tuple(artifacts),
        source_environment=upstream,
        soak=soak,
        gates=gates,
        manifest_diff=gate.rendered_diff,
    )
