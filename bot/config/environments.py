"""The environments, and the sections that name them: the rules a schema cannot say.

Promotion order (`from:` names an earlier environment, so there are no cycles), one of
`source:` or `from:`, paths inside the repository, gates for declared models, unique
verification checks, and bundles, holds and rejections that name known artifacts.
"""

from __future__ import annotations

import functools
from datetime import timedelta
from pathlib import PurePosixPath

from bot.config.model import (
    Bundle,
    DeployStatus,
    EnvironmentSpec,
    Hold,
    ImageSpec,
    ModelSpec,
    Verify,
    VerifyCheck,
)
from bot.config.rules import Body, Rules
from bot.config.source import Where
from bot.policies import ModelGates, NoRegression, Threshold


def gates(rules: Rules, body: Body, where: Where) -> ModelGates:
    thresholds = tuple(
        rules.compiled(
            (*where, "thresholds", i),
            "a threshold such as 'accuracy >= 0.9'",
            functools.partial(Threshold.parse, text),
        )
        for i, text in enumerate(body.get("thresholds", ()))
    )
    checks = tuple(
        NoRegression(
            metric=item["metric"],
            better=item.get("better", "higher"),
            tolerance=float(item.get("tolerance", 0.0)),
        )
        for item in body.get("noRegression", ())
    )
    return ModelGates(thresholds, checks)


def environments(
    rules: Rules, items: list[Body], models: dict[str, ModelSpec]
) -> tuple[EnvironmentSpec, ...]:
    out: list[EnvironmentSpec] = []
    for i, body in enumerate(items):
        earlier = [e.name for e in out]
        out.append(environment(rules, body, ("environments", i), earlier, models))
    return tuple(out)


def environment(
    rules: Rules, body: Body, where: Where, earlier: list[str], models: dict[str, ModelSpec]
) -> EnvironmentSpec:
    name = body["name"]
    if name in earlier:
        raise rules.fail((*where, "name"), "a unique name", f"{name!r} is declared twice")
    if ("source" in body) == ("from" in body):
        raise rules.fail(
            where,
            "exactly one of 'source: newest' or 'from: <environment>'",
            "both are given" if "source" in body else "neither is given",
        )
    upstream = body.get("from")
    if "source" in body and "soak" in body:
        raise rules.fail(
            (*where, "soak"),
            "soak only with 'from:'",
            "an environment that takes the newest versions has nothing to soak in",
        )
    if upstream is not None and upstream not in earlier:
        raise rules.fail(
            (*where, "from"),
            f"the name of an earlier environment ({', '.join(earlier) or 'none yet'})",
            f"got {upstream!r}",
        )
    path = PurePosixPath(body.get("path", f"environments/{name}"))
    if path.is_absolute() or ".." in path.parts:
        raise rules.fail((*where, "path"), "a relative path inside the repository")
    by_model: dict[str, ModelGates] = {}
    for model, spec_body in body.get("gates", {}).items():
        if model not in models:
            raise rules.fail(
                (*where, "gates", model),
                f"a model declared under models ({', '.join(models) or 'none'})",
                f"unknown model {model!r}",
            )
        by_model[model] = gates(rules, spec_body, (*where, "gates", model))
    return EnvironmentSpec(
        name=name,
        upstream=upstream,
        soak=rules.duration(body, "soak", where, timedelta(0)),
        mode=body.get("mode", "direct" if upstream is None else "pull-request"),
        reviewers=tuple(body.get("reviewers", ())),
        labels=tuple(body.get("labels", ())),
        path=path,
        gates=by_model,
        deploy_status=deploy_status(rules, body["deployStatus"])
        if "deployStatus" in body
        else None,
        verify=verify(rules, body["verify"], (*where, "verify")) if "verify" in body else None,
    )


def deploy_status(rules: Rules, value: bool | Body) -> DeployStatus:
    """`deployStatus: false` (commit-time soak), or `{kustomization: <name>}`."""
    if isinstance(value, bool):
        return DeployStatus(enabled=value)
    return DeployStatus(value.get("kustomization"), value.get("enabled", True))


def verify(rules: Rules, body: Body, where: Where) -> Verify:
    checks = tuple(
        VerifyCheck(
            name=item["name"],
            query=item["query"],
            comparison=item["comparison"],
            threshold=float(item["threshold"]),
            aggregation=item.get("aggregation", "max"),
            min_samples=int(item.get("minSamples", 1)),
        )
        for item in body["checks"]
    )
    names = [c.name for c in checks]
    for i, name in enumerate(names):
        if name in names[:i]:
            raise rules.fail((*where, "checks", i, "name"), "unique names", f"{name!r} twice")
    step = rules.duration(body, "step", where, timedelta(minutes=1))
    if step < timedelta(seconds=1):
        raise rules.fail((*where, "step"), "a step of at least 1s")
    return Verify(
        prometheus=body["prometheus"].rstrip("/"),
        checks=checks,
        timeout=float(body.get("timeoutSeconds", 10.0)),
        step=step,
    )


def bundles(
    rules: Rules, items: list[Body], images: dict[str, ImageSpec], models: dict[str, ModelSpec]
) -> tuple[Bundle, ...]:
    out: list[Bundle] = []
    for i, body in enumerate(items):
        where: Where = ("bundles", i)
        image, model = body["image"], body["model"]
        if image not in images:
            raise rules.fail(
                (*where, "image"),
                f"an image declared under images ({', '.join(images) or 'none'})",
            )
        if model not in models:
            raise rules.fail(
                (*where, "model"),
                f"a model declared under models ({', '.join(models) or 'none'})",
            )
        for other in out:
            if image == other.image or model == other.model:
                raise rules.fail(
                    where,
                    "each image and model in at most one bundle",
                    f"it shares an artifact with bundle {other.name!r}",
                )
        out.append(Bundle(body.get("name", f"{image}+{model}"), image, model))
    return tuple(out)


def holds(
    rules: Rules, items: list[Body], environments: list[str], artifacts: set[str]
) -> tuple[Hold, ...]:
    out = []
    for i, body in enumerate(items):
        where: Where = ("holds", i)
        if body["environment"] not in environments:
            raise rules.fail((*where, "environment"), f"an environment ({', '.join(environments)})")
        name = artifact(rules, body["artifact"], (*where, "artifact"), artifacts)
        out.append(Hold(body["environment"], name, body["reason"], body.get("version")))
    return tuple(out)


def artifact(rules: Rules, name: str, where: Where, artifacts: set[str]) -> str:
    if name not in artifacts:
        raise rules.fail(
            where,
            f"an image or model name ({', '.join(sorted(artifacts)) or 'none declared'})",
            f"unknown artifact {name!r}",
        )
    return name
