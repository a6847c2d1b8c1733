"""Decisions: which version an environment should take, as pure functions.

Every decision names the chosen candidate and the reason each other candidate was
rejected, so `plan` and PR bodies can explain themselves. Nothing here does I/O: when a
generic OCI listing lacks the build time or labels a rule needs, the decision comes back
*unresolved* with the candidates to look at; the caller reads their image configs (only
those, never every tag) and decides again.
"""

from __future__ import annotations

import gc
from collections.abc import Iterator, Mapping, Sequence, Set
from contextlib import contextmanager
from datetime import datetime, timedelta

from bot.config.model import ImageSpec, ModelSpec
from bot.durations import format_duration
from bot.policies import MinAge, ModelGates, serving_api_failure
from bot.policies.candidate import Candidate, Decision, Keyed, Rejection

_NONE: Mapping[str, str] = {}


@contextmanager
def _collector_paused() -> Iterator[None]:
    """Pause the cyclic garbage collector while a decision runs.

    Judging 100,000 tags allocates a few hundred thousand small tuples, none of them in
    reference cycles; the generational collector would otherwise walk them again and again
    (it costs about 40% of the time). Reference counting still frees everything.
    """
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


def decide_image(
    image: ImageSpec,
    candidates: Sequence[Candidate],
    *,
    now: datetime,
    excluded: Mapping[str, str] = _NONE,
    required_api: str | None = None,
) -> Decision:
    """Choose the newest eligible tag of `image`.

    `excluded` maps versions to why they may not be taken (rejected in the config, held,
    rolled back from). `required_api`, when set, is the serving API of the model the image
    must run: images whose `io.nightshift.serving-api` label lacks it are rejected.
    """
    with _collector_paused():
        return _decide_image(image, candidates, now, excluded, required_api)


def _decide_image(
    image: ImageSpec,
    candidates: Sequence[Candidate],
    now: datetime,
    excluded: Mapping[str, str],
    required_api: str | None,
) -> Decision:
    kept, rejected = image.filter.apply(candidates)
    kept = _drop_excluded(kept, excluded, rejected)
    if image.policy.needs_build_time:
        unknown = tuple(k.candidate for k in kept if k.candidate.created is None)
        if unknown:
            return Decision(image.name, None, "build times needed", tuple(rejected), unknown)
    ranking = image.policy.rank(kept)
    rejected.extend(ranking.rejected)
    maturity = MinAge(image.min_age) if image.min_age else None
    chosen: Candidate | None = None
    below = f"ranks below the chosen {{}} by {image.policy.describe()}"
    for position, item in enumerate(ranking.ordered):
        cand = item.candidate
        if maturity is not None and cand.created is None:
            return _unresolved(image.name, rejected, cand)
        if maturity is not None and (why := maturity.failure(cand, now)):
            rejected.append(Rejection(cand, why))
            continue
        if required_api is not None:
            if cand.labels is None:
                return _unresolved(image.name, rejected, cand)
            if why := serving_api_failure(required_api, cand.serving_apis):
                rejected.append(Rejection(cand, why))
                continue
        chosen = cand
        reason = below.format(cand.version)
        rejected.extend(
            Rejection(rest.candidate, reason) for rest in ranking.ordered[position + 1 :]
        )
        break
    return Decision(
        image.name,
        chosen,
        _why(image.policy.describe(), chosen, image.min_age, rejected),
        tuple(rejected),
    )


def decide_model(
    model: ModelSpec,
    candidates: Sequence[Candidate],
    *,
    now: datetime,
    current: Mapping[str, float] | None = None,
    gates: ModelGates | None = None,
    excluded: Mapping[str, str] = _NONE,
    image_apis: Set[str] | None = None,
) -> Decision:
    """Choose the newest model version that is mature, passes the gates and fits the image.

    `candidates` carry their cards (`Candidate.card`). `current` is the metrics of the
    version the environment runs now, for the no-regression gates. `gates` are the ones to
    hold it to: in an environment, `Config.model_gates` (the model's own, the
    environment's on top); None means the model's own. `image_apis`, when given, is what
    the image the environment will run supports.
    """
    rejected: list[Rejection] = []
    kept = _drop_excluded([Keyed(c.version, c) for c in candidates], excluded, rejected)
    ranking = model.policy.rank(kept)
    rejected.extend(ranking.rejected)
    gates = model.gates if gates is None else gates
    maturity = MinAge(model.min_age)
    chosen: Candidate | None = None
    for position, item in enumerate(ranking.ordered):
        cand = item.candidate
        problems = []
        if model.min_age and (why := maturity.failure(cand, now)):
            problems.append(why)
        if cand.card is None:
            problems.append("its model card is missing")
        else:
            problems += gates.failures(cand.card.metrics, current)
            if image_apis is not None and (
                why := serving_api_failure(cand.card.serving_api, image_apis)
            ):
                problems.append(why)
        if problems:
            rejected.append(Rejection(cand, "; ".join(problems)))
            continue
        chosen = cand
        reason = f"ranks below the chosen {cand.version} by {model.policy.describe()}"
        rejected.extend(
            Rejection(rest.candidate, reason) for rest in ranking.ordered[position + 1 :]
        )
        break
    return Decision(
        model.name,
        chosen,
        _why(model.policy.describe(), chosen, model.min_age, rejected, gates),
        tuple(rejected),
    )


def _drop_excluded(
    kept: list[Keyed], excluded: Mapping[str, str], rejected: list[Rejection]
) -> list[Keyed]:
    if not excluded:
        return kept
    out = []
    for item in kept:
        why = excluded.get(item.candidate.version)
        if why is None:
            out.append(item)
        else:
            rejected.append(Rejection(item.candidate, why))
    return out


def _unresolved(artifact: str, rejected: list[Rejection], first: Candidate) -> Decision:
    # One at a time, best first: the best candidate usually wins, so one config read suffices.
    return Decision(artifact, None, "metadata needed", tuple(rejected), (first,))


def _why(
    policy: str,
    chosen: Candidate | None,
    min_age: timedelta,
    rejected: list[Rejection],
    gates: ModelGates | None = None,
) -> str:
    if chosen is None:
        return f"no eligible version ({len(rejected)} rejected)"
    parts = [f"newest by {policy}"]
    if min_age:
        parts.append(f"at least {format_duration(min_age)} old")
    if gates:
        parts.append("passes the gates")
    return ", ".join(parts)
