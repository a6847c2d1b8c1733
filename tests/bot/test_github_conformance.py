"""The GitHub fake and the bot's requests, held to GitHub's own OpenAPI description.

The description is npm `@octokit/openapi` (pinned in package-lock.json). Every test that
uses a fake checks its exchanges when it ends (the `forge` fixtures); here a bot session
that reaches every endpoint it uses is checked, and the check itself is shown to fail when
the fake drifts from the description.
"""

from __future__ import annotations

import pytest

from bot.forge.pr import close_superseded, open_or_update
from devstack.openapi_check import Exchange, describe, github_description
from tests.bot.test_github import REVIEWER_TOKEN, Forge, forge  # noqa: F401

PULLS = "/repos/{owner}/{repo}/pulls"
PULL = "/repos/{owner}/{repo}/pulls/{pull_number}"


def test_a_bot_session_conforms_to_githubs_description(forge: Forge) -> None:  # noqa: F811
    provider = forge.provider(page_size=1)
    for env in ("dev", "prod"):
        forge.push_branch(env, "1.1.0")
    spec = forge.spec("prod", labels=("promotion",), reviewers=("alice",))
    created = open_or_update(provider, spec)
    provider.request_reviewers(created.pull_request.number, (), ("platform",))
    open_or_update(provider, forge.spec("prod", body="new body", labels=("promotion", "prod")))
    open_or_update(provider, forge.spec("dev"))
    assert provider.get(created.pull_request.number).state == "open"
    close_superseded(provider, {"nightshift/promote-prod"}, "Superseded.")
    merged = forge.api(
        "PUT", f"/pulls/{created.pull_request.number}/merge", token=REVIEWER_TOKEN, json={}
    )
    assert merged.status_code == 200
    assert forge.api("GET", "/issues/2/comments").status_code == 200

    operations = {
        op.name
        for r in forge.fake.requests
        if (op := github_description().operation(r.method, r.path)) is not None
    }
    assert operations == {
        f"GET {PULLS}",
        f"POST {PULLS}",
        f"GET {PULL}",
        f"PATCH {PULL}",
        f"PUT {PULL}/merge",
        f"POST {PULL}/requested_reviewers",
        "POST /repos/{owner}/{repo}/issues/{issue_number}/labels",
        "GET /repos/{owner}/{repo}/issues/{issue_number}/comments",
        "POST /repos/{owner}/{repo}/issues/{issue_number}/comments",
    }
    violations = forge.fake.violations()
    assert violations == [], describe(violations)


@pytest.mark.parametrize(
    ("key", "value", "expected"),
    [
        pytest.param(
            "node_id",
            None,
            f"POST {PULLS}: response 201 at $: 'node_id' is a required property",
            id="required-field-dropped",
        ),
        pytest.param(
            "number",
            "1",
            f"POST {PULLS}: response 201 at $.number: '1' is not of type 'integer'",
            id="wrong-type",
        ),
        pytest.param(
            "state",
            "merged",
            f"POST {PULLS}: response 201 at $.state: 'merged' is not one of ['open', 'closed']",
            id="not-in-enum",
        ),
    ],
)
def test_a_field_broken_on_purpose_is_reported(
    forge: Forge,  # noqa: F811
    key: str,
    value: str | None,
    expected: str,
) -> None:
    forge.push_branch("prod", "1.1.0")
    if value is None:
        forge.fake.break_field(key)
    else:
        forge.fake.break_field(key, value)
    forge.api(
        "POST", "/pulls", json={"title": "t", "head": "nightshift/promote-prod", "base": "main"}
    )
    assert [str(v) for v in forge.fake.violations()] == [expected]
    forge.fake.clear_faults()
    forge.fake.state.log.clear()  # the drift is shown; the fixture's own check stays green


@pytest.mark.parametrize(
    ("exchange", "expected"),
    [
        pytest.param(
            Exchange("POST", "/repos/o/r/pulls", {}, {"title": 1, "head": "h"}, 201, None),
            [
                f"POST {PULLS}: request body at $: 'base' is a required property",
                f"POST {PULLS}: request body at $.title: 1 is not of type 'string'",
                f"POST {PULLS}: response 201 at $: None is not of type 'object'",
            ],
            id="body-type",
        ),
        pytest.param(
            Exchange("GET", "/repos/o/r/pulls", {"state": ["merged"]}, None, 200, []),
            [f"GET {PULLS}: query state at $: 'merged' is not one of ['open', 'closed', 'all']"],
            id="query-enum",
        ),
        pytest.param(
            Exchange("GET", "/repos/o/r/pulls", {"labels": ["x"]}, None, 200, []),
            [f"GET {PULLS}: query labels at $: not a documented parameter"],
            id="query-unknown",
        ),
        pytest.param(
            Exchange("GET", "/repos/o/r/pulls", {"per_page": ["x"]}, None, 200, []),
            [f"GET {PULLS}: query per_page at $: 'x' is not of type 'integer'"],
            id="query-type",
        ),
        pytest.param(
            Exchange("PATCH", "/repos/o/r/pulls/1", {}, {"state": "x"}, 409, {"message": "m"}),
            [
                f"PATCH {PULL}: request body at $.state: 'x' is not one of ['open', 'closed']",
                f"PATCH {PULL}: response 409 at $: status not documented",
            ],
            id="status-undocumented",
        ),
        pytest.param(
            Exchange(
                "POST",
                "/repos/o/r/pulls",
                {},
                {"title": 1},
                422,
                {"message": "Validation Failed", "documentation_url": "https://docs.github.com"},
            ),
            [],
            id="refused-request-is-not-a-violation",
        ),
        pytest.param(
            Exchange("DELETE", "/repos/o/r/pulls/1", {}, None, 204, None),
            ["DELETE /repos/o/r/pulls/1: operation at $: no such operation in the description"],
            id="no-operation",
        ),
    ],
)
def test_requests_and_responses_off_the_description_are_reported(
    exchange: Exchange, expected: list[str]
) -> None:
    assert [str(v) for v in github_description().check(exchange)] == expected
