"""From discovery to the planner's inputs: offers, enriched versions and model checks.

Discovery lists each repository and model once; the policies decide per environment. This
module only translates those values (`Candidate`, `Decision`) into the planner's own
(`Version`, `Offer`, `Check`), and says why other candidates were passed over.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace
from datetime import datetime

from bot.config.model import Config
from bot.discover.discoverer import Discoverer, Discovery
from bot.errors import BotError
from bot.plan.state import EnvironmentState, IsNewer
from bot.plan.values import Artifact, Check, Offer, Version
from bot.policies.candidate import (
    REVISION_LABEL,
    SERVING_API_LABEL,
    SOURCE_LABEL,
    Candidate,
    Decision,
)

MAX_REJECTIONS_SHOWN = 5


def version_of(candidate: Candidate) -> Version:
    card = candidate.card
    if card is not None:
        return Version(
            candidate.version,
            digest=card.sha256,
            created=card.created,
            serving_apis=frozenset({card.serving_api}),
            metrics=dict(card.metrics),
            signer=candidate.signer,
        )
    apis = candidate.serving_apis
    return Version(
        candidate.version,
        digest=candidate.digest,
        created=candidate.created,
        serving_apis=apis or frozenset(),
        revision=(candidate.labels or {}).get(REVISION_LABEL),
        source=(candidate.labels or {}).get(SOURCE_LABEL),
        apis_unknown=(
            "its labels were not read"
            if apis is None
            else f"its labels have no {SERVING_API_LABEL}"
            if not apis
            else ""
        ),
    )


class Catalog:
    """What discovery knows about specific versions, looked up once per pass."""

    def __init__(self, config: Config, discoverer: Discoverer, discovery: Discovery) -> None:
        self.config = config
        self.discoverer = discoverer
        self.discovery = discovery
        self.errors: dict[Artifact, str] = {}
        self._cards: dict[str, dict[str, Candidate]] = {}
        self._card_errors: dict[str, str] = {}
        self._build_times: dict[tuple[Artifact, str], datetime | None] = {}

    def failed_offer(self, artifact: Artifact) -> Offer | None:
        """An empty offer saying why, when this pass could not list the artifact.

        The failure is also recorded in `errors`: the pass reports it and exits 1, while
        every other artifact still goes through.
        """
        try:
            if artifact.kind == "image":
                self.discoverer.image_candidates(self.discovery, artifact.name)
            else:
                self.discoverer.model_candidates(self.discovery, artifact.name)
        except BotError as err:
            self.errors[artifact] = str(err)
            return Offer(artifact, (), str(err))
        return None

    def model_versions(self, name: str) -> dict[str, Candidate]:
        """The model's published versions; empty, with `card_error` set, when unlistable."""
        if name not in self._cards:
            try:
                listed = self.discoverer.model_candidates(self.discovery, name)
            except BotError as err:
                listed = []
                self._card_errors[name] = str(err)
                self.errors.setdefault(Artifact("model", name), str(err))
            self._cards[name] = {c.version: c for c in listed}
        return self._cards[name]

    def card_error(self, name: str, version: str) -> str | None:
        """Why the card of `name` `version` cannot be read this pass, or None if it can."""
        known = self.model_versions(name).get(version)
        if known is not None and known.card is not None:
            return None
        if name in self._card_errors:
            return self._card_errors[name]
        if problem := self.model_problem(name, version):
            return problem
        return f"model {name} {version} has no card in its store"

    def build_time(self, artifact: Artifact, version: str) -> datetime | None:
        """When `version` was built, for policies ordered by build time (`newestBuild`).

        Models: the card's `created`. Images: the listing's time (ACR), else the image
        config's `created`, read once per tag per pass: the versions ranked are candidates
        the decision already read, or pins `enrich` reads for their labels anyway. None
        when it cannot be told: the ranking then places that version nowhere.
        """
        key = (artifact, version)
        if key not in self._build_times:
            self._build_times[key] = self._read_build_time(artifact, version)
        return self._build_times[key]

    def _read_build_time(self, artifact: Artifact, version: str) -> datetime | None:
        if artifact.kind == "model":
            known = self.model_versions(artifact.name).get(version)
            return known.created if known is not None else None
        if artifact.name not in self.config.images:
            return None
        try:
            return self.discoverer.image_details(self.discovery, artifact.name, version).created
        except BotError:
            return None

    def model_problem(self, name: str, version: str) -> str | None:
        """Why `name` `version` must not be pinned (its card or stored bytes), or None."""
        self.model_versions(name)
        if name in self._card_errors:
            return None  # the listing failed; card_error says so
        return self.discoverer.model_problems(self.discovery, name).get(version)

    def first_pin_problem(self, name: str, candidate: Candidate) -> str | None:
        """Hash the stored bytes of a version about to be pinned for the first time."""
        if candidate.card is None:
            return self.model_problem(name, candidate.version) or "its model card is missing"
        return self.discoverer.verify_model(name, candidate.version, candidate.card.sha256)

    def enrich(self, artifact: Artifact, version: Version) -> Version:
        """Fill in what the pin does not say: metrics and API for models, labels for images."""
        if artifact.kind == "model":
            known = self.model_versions(artifact.name).get(version.value)
            if known is None or known.card is None:
                return version
            full = version_of(known)
            spec = self.config.models.get(artifact.name)
            if spec is not None and spec.trust is not None and known.card is not None:
                verdict = self.discoverer.signatures.verdict(spec, known.card)
                full = replace(full, signer=verdict.signer)
            return replace(full, digest=version.digest or full.digest)
        if artifact.name not in self.config.images:
            return version
        try:
            details = self.discoverer.image_details(self.discovery, artifact.name, version.value)
        except BotError as err:
            # Unknown labels: the planner holds back a model this image would have to serve.
            return replace(version, apis_unknown=f"cannot read its labels: {err}")
        full = version_of(details)
        return replace(full, digest=version.digest or full.digest)


def offer_from(decision: Decision, artifact: Artifact, is_newer: IsNewer) -> Offer:
    """The chosen candidate as an offer, with why newer candidates were passed over."""
    passed_over = [
        f"{r.candidate.version}: {r.reason}"
        for r in decision.rejected
        if decision.chosen is None
        or is_newer(artifact, r.candidate.version, decision.chosen.version)
    ]
    shown = passed_over[:MAX_REJECTIONS_SHOWN]
    if len(passed_over) > len(shown):
        shown.append(f"and {len(passed_over) - len(shown)} more")
    note = decision.reason + (" — passed over " + "; ".join(shown) if shown else "")
    chosen = (version_of(decision.chosen),) if decision.chosen is not None else ()
    return Offer(artifact, chosen, note, passed_over=tuple(shown))


def newest_offers(
    config: Config,
    catalog: Catalog,
    state: EnvironmentState,
    *,
    now: datetime,
    is_newer: IsNewer,
) -> dict[Artifact, Offer]:
    """Decide every artifact a `source: newest` environment pins.

    The model is decided first; the image must then support the serving API of the model
    the environment will run. Rolled-back versions are excluded with their reason.
    """
    offers: dict[Artifact, Offer] = {}
    excluded = {
        artifact: dict.fromkeys(versions, "a person rolled back from it here")
        for artifact, versions in state.rolled_back.items()
    }
    model_api: str | None = None
    for artifact, running in sorted(state.running.items()):
        if artifact.kind != "model" or artifact.name not in config.models:
            continue
        if failed := catalog.failed_offer(artifact):
            offers[artifact] = failed
            continue
        current = catalog.enrich(artifact, running.version)
        passed_over = dict(excluded.get(artifact, {}))
        while True:
            decision = catalog.discoverer.decide_model(
                catalog.discovery,
                artifact.name,
                now=now,
                environment=state.name,
                current=current.metrics or None,
                excluded=passed_over,
            )
            best = decision.chosen
            if best is None or not is_newer(artifact, best.version, running.version.value):
                break
            # It would be pinned here for the first time: its bytes must match its card.
            problem = catalog.first_pin_problem(artifact.name, best)
            if problem is None:
                break
            passed_over[best.version] = problem
        offers[artifact] = offer_from(decision, artifact, is_newer)
        card = decision.chosen.card if decision.chosen is not None else None
        chosen_api = card.serving_api if card is not None else None
        model_api = chosen_api or next(iter(current.serving_apis), None)
    for artifact in sorted(state.running):
        if artifact.kind != "image":
            continue
        if artifact.name not in config.images:
            offers[artifact] = Offer(artifact, (), "not in promotion.yaml's images")
            continue
        if failed := catalog.failed_offer(artifact):
            offers[artifact] = failed
            continue
        try:
            decision = catalog.discoverer.decide_image(
                catalog.discovery,
                artifact.name,
                now=now,
                excluded=excluded.get(artifact),
                required_api=model_api,
            )
        except BotError as err:
            offers[artifact] = Offer(artifact, (), str(err))
            catalog.errors[artifact] = str(err)
            continue
        offer = offer_from(decision, artifact, is_newer)
        if offer.candidates:
            # Listings rarely carry digests: read the chosen tag's config (one request).
            chosen = catalog.enrich(artifact, offer.candidates[0])
            offer = replace(offer, candidates=(chosen,))
        offers[artifact] = offer
    return offers


def model_gates_check(config: Config, catalog: Catalog) -> Check:
    """Downstream environments re-check a model against their own gates (e.g. prod's)."""

    def check(env: str, artifact: Artifact, old: Version | None, new: Version) -> str | None:
        if artifact.kind != "model" or artifact.name not in config.models:
            return None
        spec = config.models[artifact.name]
        gates = config.model_gates(env, artifact.name)
        # Bytes that do not match their card are never promoted, whatever the gates say.
        if problem := catalog.model_problem(artifact.name, new.value):
            return problem
        metrics: Mapping[str, float] = new.metrics
        if not metrics:
            # Gates judge the card: one that cannot be read refuses the model, saying why
            # (the store is down, the version is gone), not that a metric is missing.
            if error := catalog.card_error(artifact.name, new.value):
                return f"cannot read its model card: {error}"
            known = catalog.model_versions(artifact.name)[new.value]
            metrics = known.card.metrics if known.card else {}
        failures = gates.failures(metrics, old.metrics if old and old.metrics else None)
        if spec.trust is not None:
            # What runs upstream was verified there; check again (cached per pass) before
            # it moves on: the store may have changed since, and a PR must say who signed.
            listed = catalog.model_versions(artifact.name).get(new.value)
            card = listed.card if listed is not None else None
            if card is None:
                failures.append("signature not verified: its model card is missing")
            elif (why := catalog.discoverer.signatures.verdict(spec, card).reason) is not None:
                failures.append(why)
        return "; ".join(failures) or None

    return check
