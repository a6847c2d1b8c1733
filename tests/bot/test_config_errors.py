"""Which error a config with several gets, and how each kind of schema error reads.

A person fixes errors one at a time from the top of the file, so the first in file order
is the one reported; on one line, a wrong key comes before what its body lacks, and the
innermost value before the list or mapping that holds it.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from bot.config.load import load_config, parse_config
from bot.config.source import MAX_BYTES, MAX_VALUES, read_source
from bot.errors import ConfigError

TOP = "apiVersion: nightshift/v1\n"
ENV = "environments:\n  - name: dev\n    source: newest\n"


def error_of(text: str) -> str:
    with pytest.raises(ConfigError) as caught:
        parse_config(text, origin="c.yaml")
    message = str(caught.value)
    assert "\n" not in message
    return message


def test_the_first_error_in_the_file_is_reported_whatever_order_the_schema_checks() -> None:
    # The schema checks registries before environments; the file has environments first.
    text = (
        TOP
        + "environments:\n  - name: dev\n    source: latest\n"
        + ("registries:\n  r:\n    type: ecr\n    url: https://r.example\n")
    )
    assert error_of(text).startswith("c.yaml:4: environments[0].source: expected one of newest")
    text = (
        TOP
        + ENV
        + "registries:\n  r:\n    type: ecr\n    url: https://r.example\n"
        + ("holds:\n  - environment: dev\n    artifact: x\n    reason: ''\n")
    )
    assert error_of(text).startswith("c.yaml:7: registries.r.type: expected one of acr, oci")


def test_on_one_line_a_bad_name_comes_before_what_its_body_lacks() -> None:
    message = error_of(TOP + ENV + "images:\n  Model_API: {}\n")
    assert message == (
        "c.yaml:6: images.Model_API: expected a name of lowercase letters, digits, '.', '_'"
        " or '-' (invalid name 'Model_API')"
    )


def test_on_one_line_the_innermost_value_comes_first() -> None:
    message = error_of(TOP + "environments: [{name: dev, source: latest}, 5]\n")
    assert message.startswith("c.yaml:2: environments[0].source: expected one of newest, got")


def test_an_unknown_key_is_reported_on_its_own_line_not_its_values() -> None:
    text = TOP + ENV + "    soakk:\n      days: 1\n"
    assert error_of(text).startswith("c.yaml:5: environments[0].soakk: expected one of the keys")


def test_a_bad_name_is_reported_on_its_own_line_not_its_values() -> None:
    text = TOP + ENV + "models:\n  Iris:\n    store: file:///m\n"
    assert error_of(text).startswith("c.yaml:6: models.Iris: expected a name of lowercase")


def test_within_the_branch_meant_the_first_error_in_the_file_wins() -> None:
    text = (
        TOP
        + ENV
        + (
            "registries:\n  r:\n    type: oci\n    url: https://r.example\n    auth:\n"
            "      type: basic\n      usernameEnv: not a var\n      pasword: x\n"
        )
    )
    assert error_of(text).startswith(
        "c.yaml:11: registries.r.auth.usernameEnv: expected an environment variable name"
    )


@pytest.mark.parametrize(
    ("text", "message"),
    [
        pytest.param(
            TOP + "environments: []\n",
            "c.yaml:2: environments: expected at least one environment (the list is empty)",
            id="empty-list",
        ),
        pytest.param(
            TOP + ENV + "models:\n  iris:\n    policy: {}\n",
            "c.yaml:7: models.iris.policy: expected exactly one of semver, numerical,"
            " alphabetical, newestBuild (got 0 keys)",
            id="no-policy",
        ),
        pytest.param(
            TOP + ENV + "models:\n  iris:\n    policy: {semver: , numerical: }\n",
            "c.yaml:7: models.iris.policy: expected exactly one of semver, numerical,"
            " alphabetical, newestBuild (got 2 keys)",
            id="two-policies",
        ),
        pytest.param(
            TOP + ENV + "models:\n  iris:\n    store: '  '\n",
            "c.yaml:7: models.iris.store: expected a string (it is empty)",
            id="blank-string",
        ),
        pytest.param(
            TOP + ENV + "models:\n  iris:\n    store: [a]\n",
            "c.yaml:7: models.iris.store: expected a string, got a list",
            id="list-for-string",
        ),
        pytest.param(
            TOP + ENV + "registries:\n  r: {type: oci, url: 'https://r', retries: yes}\n",
            "c.yaml:6: registries.r.retries: expected a whole number, got 'yes'",
            id="bool-for-integer",
        ),
        pytest.param(
            TOP + ENV + "registries:\n  r: {type: oci, url: 'https://r', retries: 21}\n",
            "c.yaml:6: registries.r.retries: expected a whole number of at most 20, got '21'",
            id="past-maximum",
        ),
        pytest.param(
            TOP + ENV + "registries:\n  r: {type: oci, url: 'https://r', timeoutSeconds: 0}\n",
            "c.yaml:6: registries.r.timeoutSeconds: expected a number of at least 0.1, got '0'",
            id="below-minimum",
        ),
        pytest.param(
            TOP + ENV + "models:\n  iris:\n    policy: {newestBuild: {order: asc}}\n",
            "c.yaml:7: models.iris.policy.newestBuild.order: expected one of the keys  (unknown"
            " key 'order')",
            id="option-a-policy-does-not-take",
        ),
        pytest.param(
            TOP + ENV + "dashboard: {title: '" + "x" * 257 + "'}\n",
            "c.yaml:5: dashboard.title: expected one line of at most 256 characters",
            id="title-too-long",
        ),
        pytest.param(
            TOP + ENV + "registries:\n  r: {type: oci, url: 'https://r', auth: 7}\n",
            "c.yaml:6: registries.r.auth: expected one of anonymous, basic, bearer-token,"
            " azure-default-credential, or a mapping with type, got '7'",
            id="no-branch-fits",
        ),
        pytest.param(
            "apiVersion: 1\n" + ENV,
            "c.yaml:1: apiVersion: expected 'nightshift/v1', got '1'",
            id="const",
        ),
    ],
)
def test_each_kind_of_schema_error_reads(text: str, message: str) -> None:
    assert error_of(text).startswith(message), error_of(text)


# ---- the reader: what it refuses before the schema, each at its line ----------------------

GOOD = TOP + ENV


def test_a_file_over_1_mib_names_the_line_it_passes_the_limit_and_its_size(tmp_path: Path) -> None:
    body = GOOD + "# padding\n" * (MAX_BYTES // 10)
    path = tmp_path / "promotion.yaml"
    path.write_text(body)
    line = body.encode()[:MAX_BYTES].count(b"\n") + 1
    expected = (
        f"c.yaml:{line}: the file passes 1 MiB on this line ({len(body)} bytes in all);"
        " a promotion.yaml is at most 1 MiB"
    )
    with pytest.raises(ConfigError) as caught:
        load_config(path, shown_as="c.yaml")
    assert str(caught.value) == expected
    assert error_of(body) == expected
    exact = GOOD + "#" * (MAX_BYTES - len(GOOD) - 1) + "\n"
    path.write_text(exact)
    assert load_config(path).environments[0].name == "dev"


def test_a_folder_is_not_a_file_and_says_so(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as caught:
        load_config(tmp_path, shown_as="c.yaml")
    assert str(caught.value) == "c.yaml: cannot read it (Is a directory)"


def test_bytes_that_are_not_utf8_name_their_line(tmp_path: Path) -> None:
    path = tmp_path / "promotion.yaml"
    path.write_bytes(GOOD.encode() + b"# caf\xe9\n")
    with pytest.raises(ConfigError) as caught:
        load_config(path, shown_as="c.yaml")
    assert str(caught.value) == "c.yaml:5: not UTF-8 (byte 0xe9); save the file as UTF-8"


@pytest.mark.parametrize(
    ("text", "message"),
    [
        pytest.param(
            TOP + "foo: bar: baz\n",
            "c.yaml:2: not valid YAML (mapping values are not allowed here)",
            id="scanner-error",
        ),
        pytest.param(
            TOP + "x: \udcff\n",
            "c.yaml: not valid YAML (unacceptable character #xdcff: special characters are not"
            " allowed",
            id="reader-error",
        ),
        pytest.param(
            GOOD + "? [a, b]\n: c\n",
            "c.yaml:5: expected string keys (a key that is a list)",
            id="list-key",
        ),
        pytest.param(
            GOOD + "? {a: b}\n: c\n",
            "c.yaml:5: expected string keys (a key that is a mapping)",
            id="mapping-key",
        ),
        pytest.param(
            GOOD + '"\\ud800": c\n',
            "c.yaml:5: expected text keys (a lone surrogate escape)",
            id="surrogate-key",
        ),
        pytest.param(
            GOOD + "x: &a [*a]\n",
            "c.yaml:5: x[0]: expected no alias inside its own anchor (a recursive alias)",
            id="recursive-alias",
        ),
        pytest.param(
            GOOD
            + "registries:\n  r: {type: oci, url: 'https://r', retries: 1"
            + "0" * 5000
            + "}\n",
            "c.yaml:6: registries.r.retries: expected a number (5001 characters long)",
            id="too-many-digits",
        ),
        pytest.param(
            GOOD + "registries:\n  r: {type: oci, url: 'https://r', retries: !!python/none ''}\n",
            "c.yaml:6: registries.r.retries: expected a plain value (could not determine a"
            " constructor for the tag",
            id="unsafe-tag",
        ),
        pytest.param(
            GOOD + "registries:\n  r: {type: oci, url: 'https://r', timeoutSeconds: 1.0e+3}\n",
            "c.yaml:6: registries.r.timeoutSeconds: expected a number of at most 600, got '1.0e+3'",
            id="number-as-written",
        ),
        pytest.param(
            GOOD + "models:\n  iris:\n    store: ~\n",
            "c.yaml:7: models.iris.store: expected a string, got nothing",
            id="null-where-text-goes",
        ),
    ],
)
def test_the_reader_refuses_in_one_line(text: str, message: str) -> None:
    assert error_of(text).startswith(message), error_of(text)


def test_nesting_counts_down_as_collections_close() -> None:
    # Ten levels, one closed, then eight more: 18 deep at the second run of brackets.
    text = GOOD + "bundles: " + "[" * 9 + "[], " + "[" * 8 + "]" * 8 + "]" * 9 + "\n"
    assert error_of(text) == (
        "c.yaml:5: nested more than 16 levels deep; nothing in a promotion.yaml nests that far"
    )


def test_the_values_limit_holds_at_its_edge() -> None:
    # GOOD is 10 nodes (mappings, lists, keys and scalars); `x`, its list and the items
    # bring it to MAX_VALUES exactly, and one item more is one value too many.
    inside = GOOD + "x: [" + "1, " * (MAX_VALUES - 12) + "]\n"
    assert "values" not in error_of(inside)
    outside = GOOD + "x: [" + "1, " * (MAX_VALUES - 11) + "]\n"
    assert error_of(outside) == (
        f"c.yaml:1: more than {MAX_VALUES} values once aliases are expanded; a promotion.yaml"
        " holds far fewer"
    )


def test_an_alias_bomb_is_refused_at_the_line_that_explodes() -> None:
    lines = ["a: &a [x, x, x, x, x, x, x, x, x, x]"] + [
        f"{chr(98 + i)}: &{chr(98 + i)} [" + ", ".join([f"*{chr(97 + i)}"] * 10) + "]"
        for i in range(5)
    ]
    text = GOOD + "bomb:\n" + "".join(f"  {line}\n" for line in lines)
    # `e` is the first anchor past the limit (111,111 values); `f` only repeats it.
    assert error_of(text).startswith(f"c.yaml:10: more than {MAX_VALUES} values")


def test_an_anchor_used_twice_is_not_a_recursive_alias() -> None:
    text = TOP + (
        "environments:\n  - name: dev\n    source: newest\n    reviewers: &team [ana, bo]\n"
        "  - name: prod\n    from: dev\n    reviewers: *team\n"
    )
    config = parse_config(text)
    assert config.environments[1].reviewers == ("ana", "bo")


def test_a_line_for_a_key_that_is_not_there_is_its_mappings() -> None:
    source = read_source(GOOD + "models:\n  iris:\n    store: s\n", "c.yaml")
    assert source.line(("models", "iris", "gates", "thresholds")) == 7
    assert source.line(("models", "iris", "store")) == 7
    assert source.key_line(("models", "iris")) == 6
    assert source.line(("models", "iris")) == 7
