"""Discovery: list every distinct image repository and model once per pass, concurrently.

However many environments use `model-api`, its repository is listed once, and the listing
is shared by every environment's decision. Listings run in a bounded thread pool; a failed
listing is recorded for that artifact (the others go on) and surfaces as its error.

Image configs (build time, labels) are read only for the candidates a decision asks about
(`Decision.unresolved`), at most once per tag per pass.
"""

from __future__ import annotations

import importlib
import threading
from collections.abc import Callable, Iterable, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from datetime import datetime
from types import MappingProxyType
from typing import TYPE_CHECKING, Protocol

from bot.budget import Deadlines
from bot.config.model import Config
from bot.discover.decide import decide_image, decide_model
from bot.discover.provenance import SignatureChecks, Verify, verify_in_store
from bot.discover.registries import RegistryClient, TagListing, open_registry
from bot.errors import BotError, DiscoveryError
from bot.policies.candidate import Candidate, Decision

if TYPE_CHECKING:
    from modelstore.catalog import Listed

RepoKey = tuple[str, str]  # (registry name, repository)
ModelKey = tuple[str | None, str]  # (store URL, model name)


class ModelLister(Protocol):
    def versions(self, name: str) -> list[Listed]: ...

    def verify_stored(self, name: str, version: str, sha256: str) -> None: ...


def _open_store(url: str | None) -> ModelLister:
    module = importlib.import_module("modelstore.store")
    store: ModelLister = module.open_store(url)
    return store


@dataclass
class Discovery:
    """One pass's listings, shared by every environment. Errors are values, per artifact."""

    listings: dict[RepoKey, TagListing | BotError] = field(default_factory=dict)
    models: dict[ModelKey, list[Listed] | BotError] = field(default_factory=dict)
    # Decisions are pure: environments asking the same question in a pass share the answer.
    decisions: dict[tuple[object, ...], Decision] = field(default_factory=dict, repr=False)


class Discoverer:
    """Lists what the config names and decides per environment from those listings."""

    def __init__(
        self,
        config: Config,
        *,
        registries: Mapping[str, RegistryClient] | None = None,
        open_store: Callable[[str | None], ModelLister] = _open_store,
        max_workers: int = 8,
        deadlines: Deadlines | None = None,
        verify: Verify = verify_in_store,
    ) -> None:
        self.config = config
        # Each registry and store gets its budget for the pass: a hanging one costs that,
        # not its per-request timeout times retries times repositories.
        self.deadlines = deadlines if deadlines is not None else Deadlines(config.budgets)
        self.signatures = SignatureChecks(verify)
        self._registries = dict(registries or {})
        self._open_store = open_store
        self.max_workers = max_workers
        self._configs: dict[tuple[str, str, str], Candidate | BotError] = {}
        self._config_reads: dict[str, set[str]] = {}  # image → tags whose config it needed
        self._verified: dict[tuple[str, str, str], str | None] = {}  # → problem, or None
        self._lock = threading.Lock()

    def registry(self, name: str) -> RegistryClient:
        with self._lock:
            if name not in self._registries:
                self._registries[name] = open_registry(self.config.registries[name])
            return self._registries[name]

    def stats(self) -> dict[str, dict[str, int]]:
        return {name: client.stats.snapshot() for name, client in self._registries.items()}

    def total_requests(self) -> int:
        return sum(client.stats.total for client in self._registries.values())

    def close(self) -> None:
        for client in self._registries.values():
            client.close()

    # ---- listing --------------------------------------------------------------------------

    def discover(
        self, images: Iterable[str] | None = None, models: Iterable[str] | None = None
    ) -> Discovery:
        """List each distinct repository and model once, `max_workers` at a time."""
        image_names = list(self.config.images) if images is None else list(images)
        model_names = list(self.config.models) if models is None else list(models)
        repos = sorted(
            {
                (self.config.images[n].registry, self.config.images[n].repository)
                for n in image_names
            }
        )
        stores = sorted(
            {(self.config.models[n].store, n) for n in model_names},
            key=lambda k: (k[0] or "", k[1]),
        )
        result = Discovery()
        with ThreadPoolExecutor(
            max_workers=self.max_workers, thread_name_prefix="discover"
        ) as pool:
            repo_jobs = {key: pool.submit(self._list_repo, key) for key in repos}
            model_jobs = {key: pool.submit(self._list_model, key) for key in stores}
            for repo_key, job in repo_jobs.items():
                result.listings[repo_key] = job.result()
            for model_key, model_job in model_jobs.items():
                result.models[model_key] = model_job.result()
        return result

    def _list_repo(self, key: RepoKey) -> TagListing | BotError:
        registry, repository = key
        try:
            return self.deadlines.call(
                "registry",
                registry,
                f"listing {repository}",
                lambda: self.registry(registry).list_tags(repository),
            )
        except BotError as err:
            return err
        except Exception as err:  # an unexpected library error still stays per artifact
            return DiscoveryError(
                f"registry {registry}: listing {repository} failed: {type(err).__name__}: {err}"
            )

    def _list_model(self, key: ModelKey) -> list[Listed] | BotError:
        store, name = key
        try:
            return self.deadlines.call(
                "model store",
                store or "$MODEL_STORE",
                f"listing {name}",
                lambda: list(self._open_store(store).versions(name)),
            )
        except BotError as err:
            return err
        except Exception as err:  # modelstore raises its own hierarchy; keep it per model
            return DiscoveryError(
                f"model store {store or '$MODEL_STORE'}: listing {name} failed: {err}"
            )

    # ---- candidates -----------------------------------------------------------------------

    def image_candidates(self, discovery: Discovery, image: str) -> list[Candidate]:
        spec = self.config.images[image]
        listing = discovery.listings.get((spec.registry, spec.repository))
        if listing is None:
            raise DiscoveryError(f"image {image}: {spec.repository} was not listed in this pass")
        if isinstance(listing, BotError):
            raise listing
        return [Candidate(image, t.name, t.digest, t.updated or t.created) for t in listing.tags]

    def model_candidates(self, discovery: Discovery, model: str) -> list[Candidate]:
        """Every listed version; one that must not be used comes without its card."""
        candidates = []
        for item in self._model_listing(discovery, model):
            card = item.card if item.problem is None else None
            if card is None:
                candidates.append(Candidate(model, item.version))
            else:
                candidates.append(
                    Candidate(model, item.version, card.sha256, card.created, card=card)
                )
        return candidates

    def model_problems(self, discovery: Discovery, model: str) -> dict[str, str]:
        """Versions whose stored bytes or card cannot be trusted, with why (this pass)."""
        problems = {
            item.version: item.problem
            for item in self._model_listing(discovery, model)
            if item.problem is not None
        }
        spec = self.config.models[model]
        with self._lock:
            for (store, name, version), problem in self._verified.items():
                if (store, name) == (spec.store or "", model) and problem is not None:
                    problems.setdefault(version, problem)
        return problems

    def _model_listing(self, discovery: Discovery, model: str) -> list[Listed]:
        spec = self.config.models[model]
        listed = discovery.models.get((spec.store, model))
        if listed is None:
            raise DiscoveryError(f"model {model} was not listed in this pass")
        if isinstance(listed, BotError):
            raise listed
        return listed

    def verify_model(self, model: str, version: str, sha256: str) -> str | None:
        """Why the stored bytes of `model` `version` are not its card's, or None if they are.

        This downloads and hashes the whole artifact, so the caller asks only for a version
        about to be pinned for the first time, and the answer is kept for the pass. A store
        that cannot be read fails closed: an unverified version is not pinned.
        """
        spec = self.config.models[model]
        key = (spec.store or "", model, version)
        with self._lock:
            if key in self._verified:
                return self._verified[key]
        try:
            self._open_store(spec.store).verify_stored(model, version, sha256)
            problem = None
        except Exception as err:  # modelstore's one-line errors; kept per version
            problem = f"its stored bytes failed verification: {err}"
        with self._lock:
            self._verified[key] = problem
        return problem

    def image_details(self, discovery: Discovery, image: str, tag: str) -> Candidate:
        """A tag with its config read: build time, labels (serving APIs, revision)."""
        listed = {c.version: c for c in self.image_candidates(discovery, image)}
        return self._with_config(image, listed.get(tag) or Candidate(image, tag))

    def _with_config(self, image: str, candidate: Candidate) -> Candidate:
        """The candidate with its image config read (once per tag per pass)."""
        spec = self.config.images[image]
        key = (spec.registry, spec.repository, candidate.version)
        with self._lock:
            known = self._configs.get(key)
        if known is None:
            try:
                config = self.deadlines.call(
                    "registry",
                    spec.registry,
                    f"reading the config of {spec.repository}:{candidate.version}",
                    lambda: self.registry(spec.registry).image_config(
                        spec.repository, candidate.version
                    ),
                )
                known = replace(
                    candidate,
                    digest=candidate.digest or config.digest,
                    created=candidate.created or config.created,
                    labels=MappingProxyType(dict(config.labels)),
                )
            except BotError as err:
                known = err
            with self._lock:
                self._configs[key] = known
        if isinstance(known, BotError):
            raise known
        return known

    # ---- decisions ------------------------------------------------------------------------

    def decide_image(
        self,
        discovery: Discovery,
        image: str,
        *,
        now: datetime,
        excluded: Mapping[str, str] | None = None,
        required_api: str | None = None,
    ) -> Decision:
        """Decide from the shared listing, reading configs only for unresolved candidates."""
        excluded = {**self.config.rejected_versions(image), **(excluded or {})}
        memo = (image, now, tuple(sorted(excluded.items())), required_api)
        with self._lock:
            known = discovery.decisions.get(memo)
        if known is not None:
            return known
        decision = self._decide_image(discovery, image, now, excluded, required_api)
        with self._lock:
            discovery.decisions[memo] = decision
        return decision

    def _decide_image(
        self,
        discovery: Discovery,
        image: str,
        now: datetime,
        excluded: Mapping[str, str],
        required_api: str | None,
    ) -> Decision:
        spec = self.config.images[image]
        candidates = self.image_candidates(discovery, image)
        index = {c.version: i for i, c in enumerate(candidates)}
        while True:
            decision = decide_image(
                spec, candidates, now=now, excluded=excluded, required_api=required_api
            )
            if decision.final:
                return decision
            pending = list(decision.unresolved)
            self._count_config_reads(image, [c.version for c in pending])
            with ThreadPoolExecutor(max_workers=min(self.max_workers, len(pending))) as pool:
                resolved = list(pool.map(lambda c: self._with_config(image, c), pending))
            if resolved == pending:
                # The configs were read and added nothing: asking again would loop forever.
                raise DiscoveryError(
                    f"image {image}: the image config of {pending[0].version} has no build time"
                    " ('created'), which its policy or minAge needs"
                )
            for cand in resolved:
                candidates[index[cand.version]] = cand

    def _count_config_reads(self, image: str, tags: list[str]) -> None:
        """Admit these config reads for `image`, or fail it before any request is made.

        A broad filter on a registry whose listing has no build times would otherwise
        read thousands of configs in silence; the cap makes that a one-line error instead.
        """
        spec = self.config.images[image]
        with self._lock:
            seen = self._config_reads.setdefault(image, set())
            wanted = seen | set(tags)
            if len(wanted) > spec.max_config_reads:
                raise DiscoveryError(
                    f"image {image}: deciding needs the image configs of {len(wanted)} tags,"
                    f" more than images.{image}.maxConfigReads ({spec.max_config_reads});"
                    f" narrow filter.pattern, or raise maxConfigReads in {self.config.path}"
                )
            seen.update(tags)

    def decide_model(
        self,
        discovery: Discovery,
        model: str,
        *,
        now: datetime,
        environment: str | None = None,
        current: Mapping[str, float] | None = None,
        excluded: Mapping[str, str] | None = None,
        image_apis: frozenset[str] | None = None,
    ) -> Decision:
        """Decide, then verify the chosen version's signature where `trust:` requires one;
        a version that fails is passed over with the reason and the next one is decided."""
        spec = self.config.models[model]
        gates = spec.gates if environment is None else self.config.model_gates(environment, model)
        candidates = self.model_candidates(discovery, model)
        skip = {
            **self.model_problems(discovery, model),
            **self.config.rejected_versions(model),
            **(excluded or {}),
        }
        while True:
            decision = decide_model(
                spec,
                candidates,
                now=now,
                current=current,
                gates=gates,
                excluded=skip,
                image_apis=image_apis,
            )
            chosen = decision.chosen
            if spec.trust is None or chosen is None or chosen.card is None:
                return decision
            verdict = self.signatures.verdict(spec, chosen.card)
            if verdict.reason is None:
                return replace(decision, chosen=replace(chosen, signer=verdict.signer))
            skip = {**skip, chosen.version: verdict.reason}
