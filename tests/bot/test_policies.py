"""Policies and decisions as pure functions: tables of cases, and hypothesis properties."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bot.config.model import ImageSpec, ModelSpec
from bot.discover.decide import decide_image, decide_model
from bot.errors import PolicyError
from bot.policies import (
    MinAge,
    ModelGates,
    NoRegression,
    TagFilter,
    Threshold,
    compile_policy,
    parse_semver,
    serving_api_failure,
)
from bot.policies.candidate import Candidate, Keyed
from bot.policies.semver import SemverRange, reference_match
from modelstore.card import ModelCard, TensorSpec

NOW = datetime(2024, 6, 1, 12, 0, tzinfo=UTC)
API_LABEL = {"io.nightshift.serving-api": "tabular/v1"}


def cands(*tags: str, artifact: str = "app") -> list[Candidate]:
    return [Candidate(artifact, t) for t in tags]


def best(policy_kind: str, tags: list[str], **options: object) -> str | None:
    policy = compile_policy(policy_kind, **options)  # type: ignore[arg-type]
    ranking = policy.rank([Keyed(c.version, c) for c in cands(*tags)])
    return ranking.ordered[0].candidate.version if ranking.ordered else None


@pytest.mark.parametrize(
    ("kind", "options", "tags", "expected"),
    [
        pytest.param(
            "semver", {}, ["1.2.0", "1.10.0", "1.9.9"], "1.10.0", id="semver-numeric-not-lexical"
        ),
        pytest.param(
            "semver", {"range": "^1.2"}, ["1.2.0", "1.9.0", "2.0.0"], "1.9.0", id="semver-caret"
        ),
        pytest.param("semver", {"range": "~1.2.0"}, ["1.2.5", "1.3.0"], "1.2.5", id="semver-tilde"),
        pytest.param("semver", {}, ["v1.2.0", "v1.3.0", "1.2.9"], "v1.3.0", id="semver-v-prefix"),
        pytest.param("semver", {}, ["1.3.0-rc.1", "1.2.0"], "1.2.0", id="semver-prerelease-off"),
        pytest.param(
            "semver",
            {"prereleases": True},
            ["1.3.0-rc.1", "1.2.0"],
            "1.3.0-rc.1",
            id="semver-prerelease-on",
        ),
        pytest.param(
            "semver",
            {"range": "<2.0.0", "prereleases": True},
            ["2.0.0-rc.1", "1.9.0"],
            "1.9.0",
            id="semver-lt-excludes-own-prereleases",
        ),
        pytest.param(
            "semver",
            {"prereleases": True},
            ["1.0.0-rc.2", "1.0.0-rc.10"],
            "1.0.0-rc.10",
            id="semver-numeric-prerelease-ids",
        ),
        pytest.param(
            "semver",
            {"prereleases": True},
            ["1.0.0-alpha", "1.0.0-alpha.1"],
            "1.0.0-alpha.1",
            id="semver-longer-prerelease-wins",
        ),
        pytest.param("semver", {}, ["latest", "main"], None, id="semver-nothing-eligible"),
        pytest.param(
            "semver", {"range": "1.x || 3.x"}, ["1.4.0", "2.9.0", "3.1.0"], "3.1.0", id="semver-or"
        ),
        pytest.param("numerical", {}, ["9", "10", "2"], "10", id="numerical-asc-picks-highest"),
        pytest.param(
            "numerical", {"order": "desc"}, ["9", "10", "2"], "2", id="numerical-desc-picks-lowest"
        ),
        pytest.param("numerical", {}, ["1.5", "1.25", "x"], "1.5", id="numerical-floats"),
        pytest.param("alphabetical", {}, ["a", "c", "b"], "c", id="alphabetical-asc"),
        pytest.param(
            "alphabetical", {"order": "desc"}, ["a", "c", "b"], "a", id="alphabetical-desc"
        ),
        pytest.param(
            "alphabetical",
            {},
            ["RELEASE.2024-01-02", "RELEASE.2023-12-31"],
            "RELEASE.2024-01-02",
            id="alphabetical-dates",
        ),
    ],
)
def test_ordering_policies(
    kind: str, options: dict[str, object], tags: list[str], expected: str | None
) -> None:
    assert best(kind, tags, **options) == expected


def test_newest_build_orders_by_timestamp_and_ties_by_tag() -> None:
    t0 = NOW - timedelta(days=3)
    items = [
        Candidate("app", "b", created=t0),
        Candidate("app", "a", created=t0 + timedelta(hours=1)),
        Candidate("app", "c", created=t0 + timedelta(hours=1)),
    ]
    ranking = compile_policy("newest-build").rank([Keyed(c.version, c) for c in items])
    assert [k.candidate.version for k in ranking.ordered] == ["c", "a", "b"]


@pytest.mark.parametrize(
    ("kind", "options", "message"),
    [
        pytest.param("semver", {"range": "^1.x.y.z"}, "invalid semver range", id="bad-range"),
        pytest.param("semver", {"range": ">=banana"}, "invalid semver range", id="garbage-range"),
        pytest.param("numerical", {"order": "up"}, "order must be", id="bad-order"),
        pytest.param("newest", {}, "unknown policy", id="unknown-kind"),
    ],
)
def test_bad_policies_fail_when_compiled(
    kind: str, options: dict[str, object], message: str
) -> None:
    with pytest.raises(PolicyError, match=message):
        compile_policy(kind, **options)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("pattern", "extract", "ignore", "tags", "kept"),
    [
        pytest.param(
            r"^main-(?P<ts>\d+)-[a-f0-9]+$",
            "$ts",
            (),
            ["main-17-ab1", "pr-3-ff", "main-9-cd2"],
            {"17": "main-17-ab1", "9": "main-9-cd2"},
            id="extract-ts",
        ),
        pytest.param(
            r"^v(?P<v>.*)$",
            "${v}",
            (),
            ["v1.0.0", "1.0.0"],
            {"1.0.0": "v1.0.0"},
            id="extract-braces",
        ),
        pytest.param(
            None,
            None,
            ("latest", "*-debug"),
            ["latest", "1.0-debug", "1.0"],
            {"1.0": "1.0"},
            id="ignore-globs",
        ),
        pytest.param(
            None,
            None,
            ("re:^sha-",),
            ["sha-abc", "1.0", "x-sha-1"],
            {"1.0": "1.0", "x-sha-1": "x-sha-1"},
            id="ignore-regex",
        ),
        pytest.param(
            None,
            None,
            ("latest",),
            ["not-latest", "latest"],
            {"not-latest": "not-latest"},
            id="glob-is-whole-tag",
        ),
        pytest.param(
            None,
            None,
            ("re:^(?P<a>rc)-", "re:^(?P<a>dev)-"),
            ["rc-1", "dev-2", "1.0"],
            {"1.0": "1.0"},
            id="ignore-same-group-name",
        ),
        pytest.param(
            None,
            None,
            ("re:^(x)-", r"re:^(\w)\1$"),
            ["x-1", "aa", "ab"],
            {"ab": "ab"},
            id="ignore-backreference-is-its-own",
        ),
        pytest.param(
            None,
            None,
            ("latest", "re:(?i)^debug"),
            ["DEBUG-1", "latest", "1.0"],
            {"1.0": "1.0"},
            id="ignore-inline-flag-not-first",
        ),
    ],
)
def test_filters(
    pattern: str | None,
    extract: str | None,
    ignore: tuple[str, ...],
    tags: list[str],
    kept: dict[str, str],
) -> None:
    keyed, rejected = TagFilter.compile(pattern, extract, ignore).apply(cands(*tags))
    assert {k.text: k.candidate.version for k in keyed} == kept
    assert {r.candidate.version for r in rejected} == set(tags) - set(kept.values())
    assert all(r.reason for r in rejected)


@pytest.mark.parametrize(
    ("pattern", "extract", "message"),
    [
        pytest.param(r"^(?P<v>", "$v", "invalid filter pattern regex", id="bad-regex"),
        pytest.param(r"^(?P<v>.*)$", "$version", "does not define", id="unknown-group"),
        pytest.param(None, "$v", "needs a filter pattern", id="extract-without-pattern"),
        pytest.param(r"^(.*)$", "v", "names no group", id="extract-without-reference"),
    ],
)
def test_bad_filters(pattern: str | None, extract: str, message: str) -> None:
    with pytest.raises(PolicyError, match=message):
        TagFilter.compile(pattern, extract)


@pytest.mark.parametrize(
    ("text", "metrics", "failure"),
    [
        pytest.param("accuracy >= 0.9", {"accuracy": 0.95}, None, id="passes"),
        pytest.param(
            "accuracy >= 0.9", {"accuracy": 0.85}, "accuracy 0.85 fails accuracy >= 0.9", id="fails"
        ),
        pytest.param("mae < 0.3", {"mae": 0.3}, "fails mae < 0.3", id="strict-lt"),
        pytest.param("accuracy >= 0.9", {}, "missing", id="missing-metric-fails"),
    ],
)
def test_thresholds(text: str, metrics: dict[str, float], failure: str | None) -> None:
    result = Threshold.parse(text).failure(metrics)
    assert result == failure if failure is None else failure in (result or "")


@pytest.mark.parametrize("text", ["accuracy => 0.9", "accuracy >= high", ">= 0.9", ""])
def test_bad_thresholds(text: str) -> None:
    with pytest.raises(PolicyError, match="invalid threshold") as err:
        Threshold.parse(text)
    # The message shows what to write, operators included: promotion.yaml's author reads it.
    assert "write 'METRIC OP NUMBER', e.g. 'accuracy >= 0.9' (OP is one of >=, >, <=, <, ==)" in (
        str(err.value)
    )


@pytest.mark.parametrize(
    ("gate", "new", "old", "fails"),
    [
        pytest.param(
            NoRegression("accuracy", "higher", 0.01), 0.945, 0.95, False, id="within-tolerance"
        ),
        pytest.param(NoRegression("accuracy", "higher", 0.01), 0.93, 0.95, True, id="regresses"),
        pytest.param(
            NoRegression("mae", "lower", 0.0), 0.31, 0.30, True, id="lower-is-better-regresses"
        ),
        pytest.param(
            NoRegression("mae", "lower", 0.0), 0.29, 0.30, False, id="lower-is-better-improves"
        ),
        # Exactly the tolerance is allowed, in exact binary fractions and in decimal ones
        # that float subtraction overshoots (0.93 - 0.92 = 0.010000000000000009).
        pytest.param(
            NoRegression("accuracy", "higher", 0.25), 0.25, 0.5, False, id="exactly-tolerance"
        ),
        pytest.param(
            NoRegression("accuracy", "higher", 0.01), 0.92, 0.93, False, id="decimal-tolerance"
        ),
        pytest.param(
            NoRegression("accuracy", "higher", 0.0), 0.5, 0.5, False, id="equal-no-tolerance"
        ),
    ],
)
def test_no_regression(gate: NoRegression, new: float, old: float, fails: bool) -> None:
    assert (gate.failure({gate.metric: new}, {gate.metric: old}) is not None) is fails


@pytest.mark.parametrize(
    ("apis", "ok"),
    [
        pytest.param(frozenset({"tabular/v1"}), True, id="supported"),
        pytest.param(frozenset({"tabular/v2", "tabular/v1"}), True, id="one-of-many"),
        pytest.param(frozenset({"tabular/v2"}), False, id="unsupported"),
        pytest.param(frozenset(), False, id="no-label"),
        pytest.param(None, False, id="unknown"),
    ],
)
def test_serving_api_compatibility(apis: frozenset[str] | None, ok: bool) -> None:
    assert (serving_api_failure("tabular/v1", apis) is None) is ok


def test_min_age_rejects_young_and_unknown() -> None:
    rule = MinAge(timedelta(hours=1))
    assert rule.failure(Candidate("a", "1", created=NOW - timedelta(hours=2)), NOW) is None
    assert "too new: 30m old, needs 1h" in (
        rule.failure(Candidate("a", "1", created=NOW - timedelta(minutes=30)), NOW) or ""
    )
    assert "unknown" in (rule.failure(Candidate("a", "1"), NOW) or "")


# ---- decisions -----------------------------------------------------------------------------


def image_spec(**overrides: object) -> ImageSpec:
    base: dict[str, object] = {
        "name": "model-api",
        "registry": "acr",
        "repository": "nightshift/model-api",
        "policy": compile_policy("semver"),
    }
    return ImageSpec(**(base | overrides))  # type: ignore[arg-type]


def test_image_decision_names_the_reason_for_every_other_candidate() -> None:
    spec = image_spec(filter=TagFilter.compile(ignore=("latest",)), min_age=timedelta(hours=1))
    tags = [
        Candidate("model-api", "1.4.0", created=NOW - timedelta(minutes=5)),
        Candidate("model-api", "1.3.0", created=NOW - timedelta(days=2)),
        Candidate("model-api", "1.2.0", created=NOW - timedelta(days=9)),
        Candidate("model-api", "1.3.1", created=NOW - timedelta(days=1)),
        Candidate("model-api", "latest", created=NOW),
        Candidate("model-api", "nightly", created=NOW),
    ]
    decision = decide_image(
        spec, tags, now=NOW, excluded={"1.3.1": "rejected in promotion.yaml: leaks memory"}
    )
    assert decision.chosen is not None and decision.chosen.version == "1.3.0"
    reasons = {r.candidate.version: r.reason for r in decision.rejected}
    assert set(reasons) == {"1.4.0", "1.2.0", "1.3.1", "latest", "nightly"}
    assert reasons["1.4.0"].startswith("too new")
    assert reasons["1.3.1"] == "rejected in promotion.yaml: leaks memory"
    assert reasons["1.2.0"].startswith("ranks below the chosen 1.3.0")
    assert reasons["latest"] == "ignored by 'latest'"
    assert "not a semver version" in reasons["nightly"]
    assert decision.final


def test_image_decision_asks_for_metadata_only_for_the_best_candidate() -> None:
    spec = image_spec(min_age=timedelta(hours=1))
    decision = decide_image(spec, cands("1.0.0", "2.0.0", "1.5.0"), now=NOW)
    assert [c.version for c in decision.unresolved] == ["2.0.0"]
    assert decision.chosen is None and not decision.final


def test_image_decision_checks_the_serving_api_label() -> None:
    tags = [
        Candidate("model-api", "2.0.0", labels={"io.nightshift.serving-api": "tabular/v2"}),
        Candidate(
            "model-api", "1.9.0", labels={"io.nightshift.serving-api": "tabular/v1, tabular/v2"}
        ),
    ]
    decision = decide_image(image_spec(), tags, now=NOW, required_api="tabular/v1")
    assert decision.chosen is not None and decision.chosen.version == "1.9.0"
    assert "needs serving API tabular/v1" in (decision.rejection_of("2.0.0") or "")


def card(version: str, created: datetime, **metrics: float) -> ModelCard:
    return ModelCard(
        name="iris",
        version=version,
        sha256=f"{abs(hash(version)):064x}"[:64],
        size=10,
        created=created,
        inputs=(TensorSpec("input", "tensor(float)", (None, 4)),),
        outputs=(TensorSpec("label", "tensor(int64)", (None,)),),
        serving_api="tabular/v1",
        metrics=metrics,
    )


def model_candidates(*cards: ModelCard) -> list[Candidate]:
    return [Candidate("iris", c.version, c.sha256, c.created, card=c) for c in cards]


MODEL_SPEC = ModelSpec(
    name="iris",
    store=None,
    policy=compile_policy("semver"),
    min_age=timedelta(hours=1),
    gates=ModelGates(
        (Threshold.parse("accuracy >= 0.9"),), (NoRegression("accuracy", "higher", 0.01),)
    ),
)
CARDS = [
    card("1.0.0", NOW - timedelta(days=5), accuracy=0.96),
    card("1.1.0", NOW - timedelta(days=2), accuracy=0.95),
    card("1.2.0", NOW - timedelta(minutes=10), accuracy=0.97),
    card("0.9.0", NOW - timedelta(days=9), accuracy=0.80),
]


@pytest.mark.parametrize(
    ("current", "extra", "apis", "chosen", "reasons"),
    [
        pytest.param(
            None,
            None,
            None,
            "1.1.0",
            {
                "1.2.0": "too new: 10m old",
                "1.0.0": "ranks below the chosen 1.1.0",
                "0.9.0": "ranks below",
            },
            id="maturity-skips-newest",
        ),
        pytest.param(
            {"accuracy": 0.99},
            None,
            None,
            None,
            {
                "1.1.0": "accuracy regresses 0.99 → 0.95",
                "1.2.0": "too new",
                "0.9.0": "accuracy 0.8 fails accuracy >= 0.9",
            },
            id="no-regression-blocks-all",
        ),
        pytest.param({"accuracy": 0.955}, None, None, "1.1.0", {}, id="within-tolerance"),
        pytest.param(
            None,
            ModelGates((Threshold.parse("accuracy >= 0.955"),)),
            None,
            "1.0.0",
            {"1.1.0": "accuracy 0.95 fails accuracy >= 0.955"},
            id="environment-gate",
        ),
        pytest.param(
            None,
            None,
            frozenset({"tabular/v2"}),
            None,
            {"1.1.0": "needs serving API tabular/v1, the image supports tabular/v2"},
            id="incompatible-image",
        ),
    ],
)
def test_model_decisions(
    current: dict[str, float] | None,
    extra: ModelGates | None,
    apis: frozenset[str] | None,
    chosen: str | None,
    reasons: dict[str, str],
) -> None:
    decision = decide_model(
        MODEL_SPEC,
        model_candidates(*CARDS),
        now=NOW,
        current=current,
        gates=MODEL_SPEC.gates.merged(extra) if extra else None,
        image_apis=apis,
    )
    assert (decision.chosen.version if decision.chosen else None) == chosen
    for version, reason in reasons.items():
        assert reason in (decision.rejection_of(version) or ""), decision.rejection_of(version)
    assert len(decision.rejected) == len(CARDS) - (1 if chosen else 0)


# ---- properties ------------------------------------------------------------------------------

identifiers = st.one_of(
    st.integers(min_value=0, max_value=30).map(str),
    st.text("abcrz-", min_size=1, max_size=4).filter(lambda s: not s.isdigit()),
)
versions = st.builds(
    lambda ma, mi, pa, pre: f"{ma}.{mi}.{pa}" + (f"-{'.'.join(pre)}" if pre else ""),
    st.integers(0, 4),
    st.integers(0, 12),
    st.integers(0, 12),
    st.lists(identifiers, max_size=3),
)
ranges = st.sampled_from(
    [
        "*",
        "^1.2.3",
        "~1.2",
        ">=1.0.0 <2.0.0",
        "1.x || 3.x",
        "<2.0.0",
        ">1.2.3-rc.1",
        "=1.2.3",
        "^0.2",
        ">=2.0.0-alpha <2.1",
    ]
)


build_metadata = st.lists(
    st.text("0123456789abcXYZ-", min_size=1, max_size=4), min_size=1, max_size=2
).map(lambda ids: "+" + ".".join(ids))
spelled_versions = st.builds(
    lambda prefix, version, build: f"{prefix}{version}{build}",
    st.sampled_from(["", "v", "V"]),
    versions,
    st.one_of(st.just(""), build_metadata),
)


def spec_precedence(a: str, b: str) -> int:
    """semver 2.0.0 §11, written out as the oracle: -1, 0 or 1 as `a` is lower, equal, higher.

    A `v` prefix is not part of the version, and build metadata (§10) never counts.
    """

    def split(text: str) -> tuple[list[int], list[str]]:
        text = text[1:] if text[:1] in ("v", "V") else text
        core, _, pre = text.split("+", 1)[0].partition("-")
        return [int(n) for n in core.split(".")], pre.split(".") if pre else []

    (core_a, pre_a), (core_b, pre_b) = split(a), split(b)
    if core_a != core_b:  # §11.2: major, minor, patch, numerically
        return -1 if core_a < core_b else 1
    if not pre_a or not pre_b:  # §11.3: a release ranks above its prereleases
        return int(not pre_a) - int(not pre_b)
    for x, y in zip(pre_a, pre_b, strict=False):  # §11.4: identifier by identifier
        if x == y:
            continue
        if x.isdigit() and y.isdigit():
            return -1 if int(x) < int(y) else 1
        if x.isdigit() != y.isdigit():  # numeric identifiers rank below alphanumeric ones
            return -1 if x.isdigit() else 1
        return -1 if x < y else 1  # ASCII order
    return (len(pre_a) > len(pre_b)) - (len(pre_a) < len(pre_b))  # more identifiers win


@settings(max_examples=500, deadline=None)
@given(spelled_versions, spelled_versions)
def test_semver_order_follows_the_spec_precedence(a: str, b: str) -> None:
    key_a, key_b = parse_semver(a), parse_semver(b)
    assert key_a is not None and key_b is not None
    ours = (key_a.key > key_b.key) - (key_a.key < key_b.key)
    assert ours == spec_precedence(a, b)


@settings(max_examples=200, deadline=None)
@given(versions, st.sampled_from(["", "v"]), build_metadata, build_metadata)
def test_build_metadata_never_changes_the_pick(
    version: str, prefix: str, build_a: str, build_b: str
) -> None:
    # Versions equal in precedence tie on it; the full tag text then decides, in any order.
    tags = [f"{prefix}{version}{build_a}", f"{version}{build_b}"]
    assert parse_semver(tags[0]).key == parse_semver(tags[1]).key  # type: ignore[union-attr]
    assert best("semver", tags, prereleases=True) == best("semver", tags[::-1], prereleases=True)


@settings(max_examples=400, deadline=None)
@given(ranges, versions, st.booleans())
def test_compiled_ranges_agree_with_semantic_version(
    range_text: str, version: str, pre: bool
) -> None:
    compiled = SemverRange.compile(range_text, prereleases=pre)
    parsed = parse_semver(version)
    assert parsed is not None
    assert compiled.matches(parsed) == reference_match(range_text, version, prereleases=pre)


tags_st = st.lists(
    st.one_of(
        versions,
        versions.map(lambda v: f"v{v}"),
        st.sampled_from(["latest", "main", "1.0.0-debug", "sha-abc123"]),
        st.builds(
            lambda n, h: f"main-{n}-{h}",
            st.integers(0, 10**6),
            st.text("0123456789abcdef", min_size=3, max_size=7),
        ),
    ),
    min_size=1,
    max_size=25,
    unique=True,
)


@settings(max_examples=200, deadline=None)
@given(tags_st, st.randoms(use_true_random=False))
def test_filter_and_extract_never_pick_an_excluded_tag(tags: list[str], rnd: random.Random) -> None:
    excluded = {t: "rejected" for t in tags if rnd.random() < 0.3}
    spec = image_spec(
        policy=compile_policy("numerical"),
        filter=TagFilter.compile(r"^main-(?P<ts>\d+)-[0-9a-f]+$", "$ts", ("*-debug", "re:^sha-")),
    )
    decision = decide_image(spec, cands(*tags, artifact="model-api"), now=NOW, excluded=excluded)
    if decision.chosen is not None:
        tag = decision.chosen.version
        assert tag.startswith("main-") and tag not in excluded
        assert not tag.endswith("-debug") and not tag.startswith("sha-")
    assert {r.candidate.version for r in decision.rejected} | (
        {decision.chosen.version} if decision.chosen else set()
    ) == set(tags)


ORDER_FILTERS = {
    "none": TagFilter(),
    # Extracts make ties: v1.0.0 and 1.0.0 both order as 1.0.0, main-5-ab and main-5-cd as 5.
    "semver-extract": TagFilter.compile(r"^v?(?P<v>[0-9].*)$", "$v", ("*-debug", "re:^sha-")),
    "number-extract": TagFilter.compile(r"^main-(?P<ts>[0-9]+)-", "$ts", ("latest",)),
}
timed_tags = st.lists(
    st.tuples(
        # Small pools, so that equal keys (`v1.2.0` and `1.2.0`) and equal times are common.
        st.builds(
            lambda prefix, minor, pre: f"{prefix}1.{minor}.0{pre}",
            st.sampled_from(["", "v"]),
            st.integers(0, 2),
            st.sampled_from(["", "-rc.1", "-debug"]),
        )
        | st.sampled_from(["latest", "main", "sha-abc123", "10", "9"])
        | st.builds(
            lambda n, h: f"main-{n}-{h}", st.integers(0, 3), st.sampled_from(["ab", "cd", "ef"])
        ),
        # Minutes before NOW, from a small set so equal build times (ties) are common.
        st.sampled_from([0, 30, 90, 600, 6000]),
    ),
    min_size=1,
    max_size=25,
    unique_by=lambda item: item[0],
)


@settings(max_examples=300, deadline=None)
@given(
    timed_tags,
    st.randoms(use_true_random=False),
    st.sampled_from(["semver", "numerical", "alphabetical", "newest-build"]),
    st.sampled_from(sorted(ORDER_FILTERS)),
    st.sampled_from([timedelta(0), timedelta(hours=1)]),
)
def test_decision_does_not_depend_on_input_order(
    tags: list[tuple[str, int]],
    rnd: random.Random,
    kind: str,
    filter_name: str,
    min_age: timedelta,
) -> None:
    spec = image_spec(
        policy=compile_policy(kind, prereleases=True) if kind == "semver" else compile_policy(kind),
        filter=ORDER_FILTERS[filter_name],
        min_age=min_age,
    )
    listed = [
        Candidate("model-api", tag, created=NOW - timedelta(minutes=ago)) for tag, ago in tags
    ]
    shuffled = list(listed)
    rnd.shuffle(shuffled)
    first = decide_image(spec, listed, now=NOW)
    second = decide_image(spec, shuffled, now=NOW)
    assert first.chosen == second.chosen
    assert first.reason == second.reason
    assert sorted((r.candidate.version, r.reason) for r in first.rejected) == sorted(
        (r.candidate.version, r.reason) for r in second.rejected
    )


@pytest.mark.parametrize(
    ("kind", "tag_filter", "tags"),
    [
        pytest.param("semver", ORDER_FILTERS["semver-extract"], ["v1.1.0", "1.1.0"], id="semver"),
        pytest.param(
            "numerical", ORDER_FILTERS["number-extract"], ["main-5-ab", "main-5-cd"], id="numerical"
        ),
        pytest.param(
            "newest-build", ORDER_FILTERS["number-extract"], ["main-5-ab", "main-5-cd"], id="newest"
        ),
    ],
)
def test_tags_with_the_same_extract_tie_on_the_tag(
    kind: str, tag_filter: TagFilter, tags: list[str]
) -> None:
    spec = image_spec(policy=compile_policy(kind), filter=tag_filter)
    picks = {
        decide_image(spec, [Candidate("model-api", t, created=NOW) for t in order], now=NOW)
        for order in (tags, tags[::-1])
    }
    assert len({p.chosen.version for p in picks if p.chosen}) == 1


def test_an_environments_gates_add_to_the_models_own() -> None:
    """prod's gates in promotion.yaml come on top of the model's: neither kind is lost."""
    own = ModelGates((Threshold.parse("accuracy >= 0.9"),), (NoRegression("f1"),))
    prod = ModelGates((Threshold.parse("accuracy >= 0.95"),), (NoRegression("auc"),))
    merged = own.merged(prod)
    assert [str(t) for t in merged.thresholds] == ["accuracy >= 0.9", "accuracy >= 0.95"]
    assert [g.metric for g in merged.no_regression] == ["f1", "auc"]
    assert merged.failures({"accuracy": 0.96, "f1": 0.9, "auc": 0.7}, {"auc": 0.8}) == [
        "auc regresses 0.8 → 0.7 (tolerance 0, higher is better)"
    ]


def test_a_gates_report_says_a_metric_the_new_card_lacks_is_missing() -> None:
    gates = ModelGates(no_regression=(NoRegression("f1"),))
    assert gates.report({}, {"f1": 0.9}) == [
        ("no regression in f1 (tolerance 0, higher is better)", False, "0.9 → missing")
    ]
