"""Which error a config with several gets, and how each kind of schema error reads.

A person fixes errors one at a time from the top of the file, so the first in file order
is the one reported; on one line, a wrong key comes before what its body lacks, and the
innermost value before the list or mapping that holds it.
"""

from __future__ import annotations

import pytest

from bot.config.load import parse_config
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
