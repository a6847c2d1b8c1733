"""promotion.yaml: the real file loads, and bad files fail with file, line, key path and why."""

from __future__ import annotations

import textwrap
from collections.abc import Callable
from datetime import time, timedelta
from pathlib import Path

import pytest

from bot.config.load import load_config, parse_config
from bot.config.model import Config, EnvironmentSpec
from bot.errors import ConfigError
from bot.policies import ModelGates
from bot.policies.candidate import Candidate
from devstack.procs import ROOT

GOOD = """\
apiVersion: nightshift/v1
registries:
  acr:
    type: acr
    url: nightshiftacr.azurecr.io
    auth: azure-default-credential
  local:
    type: oci
    url: http://127.0.0.1:5000
    auth:
      type: basic
      usernameEnv: REG_USER
      passwordEnv: REG_PASSWORD
images:
  model-api:
    registry: acr
    repository: nightshift/model-api
    policy:
      semver:
        range: ^1.2
    filter:
      pattern: '^v?(?P<v>.*)$'
      extract: $v
    ignore: [latest]
    minAge: 15m
  worker:
    registry: local
    repository: nightshift/worker
    policy: {newestBuild: }
    filter: {pattern: '^build-'}
models:
  iris:
    policy:
      numerical: {order: asc}
    gates:
      thresholds: ["accuracy >= 0.9"]
environments:
  - name: dev
    source: newest
  - name: prod
    from: dev
    soak: 1h30m
holds:
  - environment: prod
    artifact: iris
    version: 1.10
    reason: freeze
schedule:
  at: "22:30"
  timezone: UTC
"""


def test_the_repository_config_loads() -> None:
    config = load_config(ROOT / "environments" / "promotion.yaml")
    assert [e.name for e in config.environments] == ["dev", "staging", "prod"]
    dev, staging, prod = config.environments
    assert dev.takes_newest and dev.mode == "direct"
    assert (
        staging.upstream == "dev"
        and staging.mode == "pull-request"
        and staging.soak == timedelta(hours=24)
    )
    assert prod.upstream == "staging" and prod.soak == timedelta(hours=72)
    assert str(prod.path) == "environments/prod"
    assert prod.gates["iris"].thresholds[0].value == 0.93
    assert config.images["model-api"].repository == "nightshift/model-api"
    assert config.registries["acr"].auth.kind == "azure-default-credential"
    assert config.bundles[0].image == "model-api" and config.bundles[0].model == "iris"
    assert config.schedule is not None and config.schedule.at == time(2, 30)


def test_a_good_config_gets_defaults_and_keeps_scalars_as_written() -> None:
    config = parse_config(GOOD)
    assert config.registries["acr"].url == "https://nightshiftacr.azurecr.io"
    assert config.registries["local"].auth.password_env == "REG_PASSWORD"
    assert config.images["worker"].policy.kind == "newest-build"
    assert config.images["worker"].max_config_reads == 100
    assert config.environments[1].mode == "pull-request"
    assert config.environments[1].soak == timedelta(hours=1, minutes=30)
    assert config.holds[0].version == "1.10"  # not the float 1.1
    assert config.schedule is not None and config.schedule.at == time(22, 30)  # not sexagesimal


def broken(old: str, new: str) -> str:
    assert old in GOOD, old
    return GOOD.replace(old, new, 1)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        pytest.param(
            broken("nightshift/v1", "nightshift/v2"),
            "cfg.yaml:1: apiVersion: expected 'nightshift/v1', got 'nightshift/v2'",
            id="api-version",
        ),
        pytest.param(
            broken("        range: ^1.2", "        range: ^1.x.y.z"),
            "cfg.yaml:20: images.model-api.policy.semver.range: expected a semver range such as ^1.2 or '>=1.0.0 <2' (invalid semver range '^1.x.y.z'",  # noqa: E501
            id="bad-range",
        ),
        pytest.param(
            broken("      extract: $v", "      extract: $version"),
            "cfg.yaml:23: images.model-api.filter.extract: expected a template of the pattern's named groups, such as $version (extract refers to group 'version'",  # noqa: E501
            id="bad-extract",
        ),
        pytest.param(
            broken("      pattern: '^v?(?P<v>.*)$'", "      pattern: '^v?(?P<v>.*$'"),
            "cfg.yaml:22: images.model-api.filter.pattern: expected a regular expression (invalid filter pattern regex '^v?(?P<v>.*$': missing ), unterminated subpattern",  # noqa: E501
            id="bad-pattern",
        ),
        pytest.param(
            broken("    ignore: [latest]", "    ignore:\n      - latest\n      - 're:[a-'"),
            "cfg.yaml:26: images.model-api.ignore[1]: expected a glob, or re: and a regular expression (invalid ignore regex '[a-': unterminated character set",  # noqa: E501
            id="bad-ignore-regex",
        ),
        pytest.param(
            broken("    registry: local", "    registry: ghcr"),
            "cfg.yaml:27: images.worker.registry: expected a registry declared under registries (acr, local) (unknown registry 'ghcr')",  # noqa: E501
            id="unknown-registry",
        ),
        pytest.param(
            broken("    from: dev", "    from: qa"),
            "cfg.yaml:41: environments[1].from: expected the name of an earlier environment (dev) (got 'qa')",  # noqa: E501
            id="unknown-upstream",
        ),
        pytest.param(
            broken("    soak: 1h30m", "    soak: ninety minutes"),
            "cfg.yaml:42: environments[1].soak: expected a duration such as 90s, 30m, 24h, 2d, 1w or 1h30m",  # noqa: E501
            id="bad-duration",
        ),
        pytest.param(
            broken("    minAge: 15m", "    minAge: 15m\n    maxAge: 1d"),
            "cfg.yaml:26: images.model-api.maxAge: expected one of the keys registry, repository, policy, filter, ignore, minAge, maxConfigReads (unknown key 'maxAge')",  # noqa: E501
            id="unknown-key",
        ),
        pytest.param(
            broken("      passwordEnv: REG_PASSWORD", "      password: hunter2"),
            "cfg.yaml:13: registries.local.auth.password: expected passwordEnv: the name of an environment variable (secrets are never written in the config)",  # noqa: E501
            id="inline-secret",
        ),
        pytest.param(
            broken("      passwordEnv: REG_PASSWORD", "      passwordEnv: not a var"),
            "cfg.yaml:13: registries.local.auth.passwordEnv: expected an environment variable name",
            id="bad-env-name",
        ),
        pytest.param(
            broken("    auth: azure-default-credential", "    auth: basic"),
            "cfg.yaml:6: registries.acr.auth: expected usernameEnv",
            id="basic-missing-env",
        ),
        pytest.param(
            broken("  timezone: UTC", "  timezone: Mars/Olympus"),
            "cfg.yaml:50: schedule.timezone: expected an IANA timezone",
            id="bad-timezone",
        ),
        pytest.param(
            broken('  at: "22:30"', '  at: "25:00"'),
            "cfg.yaml:49: schedule.at: expected a time of day HH:MM",
            id="bad-time",
        ),
        pytest.param(
            broken("    artifact: iris", "    artifact: cats"),
            "cfg.yaml:45: holds[0].artifact: expected an image or model name (iris, model-api, worker) (unknown artifact 'cats')",  # noqa: E501
            id="unknown-artifact",
        ),
        pytest.param(
            broken('      thresholds: ["accuracy >= 0.9"]', '      thresholds: ["accuracy ~ 0.9"]'),
            "cfg.yaml:36: models.iris.gates.thresholds[0]: expected a threshold such as 'accuracy >= 0.9'",  # noqa: E501
            id="bad-threshold",
        ),
        pytest.param(
            broken("    source: newest\n", "    source: newest\n    soak: 1h\n"),
            "environments[0].soak: expected soak only with 'from:'",
            id="soak-on-first",
        ),
        pytest.param(
            broken("  - name: prod\n    from: dev", "  - name: dev\n    from: dev"),
            "cfg.yaml:40: environments[1].name: expected a unique name ('dev' is declared twice)",
            id="duplicate-env",
        ),
        pytest.param(
            broken("  - name: prod\n    from: dev", "  - name: prod"),
            "cfg.yaml:40: environments[1]: expected exactly one of 'source: newest' or 'from: <environment>' (neither is given)",  # noqa: E501
            id="no-source",
        ),
        pytest.param(
            broken("      numerical: {order: asc}", "      numerical: {order: up}"),
            "cfg.yaml:34: models.iris.policy.numerical.order: expected one of asc, desc",
            id="bad-order",
        ),
        pytest.param(
            broken("    policy: {newestBuild: }", "    policy: {newestBuild: , semver: }"),
            "images.worker.policy: expected exactly one of semver, numerical, alphabetical, newestBuild (got 2 keys)",  # noqa: E501
            id="two-policies",
        ),
        pytest.param(
            broken("    filter: {pattern: '^build-'}\n", ""),
            "cfg.yaml:29: images.worker.policy: expected a filter.pattern with newestBuild on an OCI registry (registry 'local' lists no build times, so the config of every tag would be read; narrow the tags with filter.pattern)",  # noqa: E501
            id="newest-build-on-oci-needs-a-pattern",
        ),
        pytest.param(
            broken("    minAge: 15m", "    minAge: 15m\n    maxConfigReads: 0"),
            "cfg.yaml:26: images.model-api.maxConfigReads: expected a whole number of at least 1",
            id="max-config-reads-zero",
        ),
        pytest.param(
            broken("    type: acr\n", "    type: acr\n    type: oci\n"),
            "cfg.yaml:5: registries.acr.type: expected each key once (duplicate key)",
            id="duplicate-key",
        ),
        pytest.param(
            "apiVersion: nightshift/v1\nenvironments: [\n",
            "cfg.yaml:3: not valid YAML",
            id="invalid-yaml",
        ),
        pytest.param("", "cfg.yaml:1: the file is empty", id="empty"),
        pytest.param(
            "- a\n",
            "cfg.yaml:1: expected a mapping with apiVersion and environments, got a list",
            id="not-a-mapping",
        ),
        pytest.param(
            "apiVersion: nightshift/v1\n",
            "cfg.yaml:1: expected a key 'environments' ('environments' is missing)",
            id="missing-environments",
        ),
    ],
)
def test_bad_configs_fail_with_precise_errors(text: str, message: str) -> None:
    with pytest.raises(ConfigError) as caught:
        parse_config(text, origin="cfg.yaml")
    assert message in str(caught.value)
    assert "\n" not in str(caught.value)


def test_a_missing_file_is_a_config_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="no such file"):
        load_config(tmp_path / "promotion.yaml")


def test_errors_never_echo_secret_values(tmp_path: Path) -> None:
    path = tmp_path / "promotion.yaml"
    path.write_text(broken("      passwordEnv: REG_PASSWORD", "      password: hunter2-secret"))
    with pytest.raises(ConfigError) as caught:
        load_config(path)
    assert "hunter2" not in str(caught.value)
    assert str(path) in str(caught.value)


def test_acr_refuses_basic_auth() -> None:
    text = textwrap.dedent(GOOD).replace(
        "    auth: azure-default-credential",
        "    auth: {type: basic, usernameEnv: U, passwordEnv: P}",
    )
    with pytest.raises(
        ConfigError,
        match=r"cfg.yaml:6: registries.acr.auth.type: expected anonymous, bearer-token or azure-default-credential for ACR",  # noqa: E501
    ):
        parse_config(text, origin="cfg.yaml")


@pytest.mark.parametrize(
    "mutate",
    [
        pytest.param(lambda c: c.images.__setitem__("x", None), id="images"),
        pytest.param(lambda c: c.registries.__setitem__("x", None), id="registries"),
        pytest.param(lambda c: c.models.pop("iris"), id="models"),
        pytest.param(lambda c: c.environments[1].gates.__setitem__("x", None), id="env-gates"),
        pytest.param(lambda c: c.environments[0].gates.clear(), id="env-gates-default"),
    ],
)
def test_the_loaded_config_cannot_be_changed_in_place(mutate: Callable[[Config], None]) -> None:
    text = broken("    soak: 1h30m", "    soak: 1h30m\n    gates:\n      iris: {}")
    config = parse_config(text)
    with pytest.raises((TypeError, AttributeError)):
        mutate(config)
    assert set(config.images) == {"model-api", "worker"} and set(config.models) == {"iris"}
    assert set(config.environments[1].gates) == {"iris"} and not config.environments[0].gates


def test_specs_built_by_hand_are_frozen_too() -> None:
    gates = {"iris": ModelGates()}
    env = EnvironmentSpec("dev", None, reviewers=["alice"], gates=gates)  # type: ignore[arg-type]
    gates["other"] = ModelGates()  # the caller's dict is copied, not shared
    assert set(env.gates) == {"iris"} and env.reviewers == ("alice",)
    with pytest.raises(TypeError):
        env.gates["other"] = ModelGates()  # type: ignore[index]


def test_ignore_entries_with_the_same_group_name_are_each_applied() -> None:
    # Each entry is valid alone, so together they are too: they are not one joined regex.
    text = broken("    ignore: [latest]", "    ignore: ['re:^(?P<a>x)', 're:^(?P<a>y)', latest]")
    image = parse_config(text).images["model-api"]
    kept, rejected = image.filter.apply(
        [Candidate("model-api", t) for t in ("x1", "y1", "latest", "1.2.0")]
    )
    assert [k.candidate.version for k in kept] == ["1.2.0"]
    assert {r.candidate.version: r.reason for r in rejected} == {
        "x1": "ignored by 're:^(?P<a>x)'",
        "y1": "ignored by 're:^(?P<a>y)'",
        "latest": "ignored by 'latest'",
    }


def test_newest_build_without_a_pattern_is_fine_where_the_listing_has_build_times() -> None:
    text = broken("    filter: {pattern: '^build-'}\n", "").replace(
        "    registry: local\n    repository: nightshift/worker",
        "    registry: acr\n    repository: nightshift/worker\n    maxConfigReads: 5",
    )
    worker = parse_config(text).images["worker"]
    assert worker.policy.kind == "newest-build" and worker.filter.pattern is None
    assert worker.max_config_reads == 5


@pytest.mark.parametrize("written", ["{newestBuild: }", "{newestBuild: {}}", "{newestBuild: true}"])
def test_a_policy_without_options_may_be_empty_or_true(written: str) -> None:
    """docs/promotion-config.md: `newestBuild: {}`, a bare `newestBuild:` and
    `newestBuild: true` mean the same; before, `true` was refused."""
    config = parse_config(GOOD.replace("policy: {newestBuild: }", f"policy: {written}"))
    assert config.images["worker"].policy.kind == "newest-build"


def test_newest_build_false_is_refused_saying_what_to_write() -> None:
    with pytest.raises(ConfigError) as err:
        parse_config(
            GOOD.replace("policy: {newestBuild: }", "policy: {newestBuild: false}"),
            origin="cfg.yaml",
        )
    assert "images.worker.policy.newestBuild: expected a mapping of options, {}, or true" in str(
        err.value
    )
