"""Fuzz the app from its own OpenAPI document: no 5xx, and every answer matches the document.

Schemathesis generates requests from /openapi.json in both of its modes. Positive cases
fit the document, and the document is precise for the loaded model (path parameters are
an enum of its name and version, the shape is [1..MAX_BATCH, n_features], every feature is
a bounded number), so they must reach inference: a share of them has to come back 200, or
the fuzz is only exercising the router. Negative cases break the document somewhere, and
each must be refused with a 4xx, never accepted and never a 5xx.

The document states the cross-field rule (`shape[0]` equals the rows in `data`) only up
to MAX_BATCH 64, and bounds features by the model's probed limit. This in-process fuzz
still aligns positive V2 shapes (`align_shape`) and leaves Schemathesis's "every
schema-valid body is accepted" check to `test_schemathesis_cli.py`, which runs the CLI
with `--checks all` against the real server; here the test's own minimum share of 200s
takes its place.
(Schemathesis's lazy pytest fixture loader does not work with pytest 9, so each operation is
driven through its Hypothesis strategy.)
"""

from __future__ import annotations

from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from schemathesis import checks
from schemathesis.generation import GenerationMode

from app import create_app
from tests.app.models import ModelFolder

POSITIVE, NEGATIVE = GenerationMode.POSITIVE, GenerationMode.NEGATIVE
# A small batch limit keeps generated bodies small (and the run fast) and makes the row
# counts Hypothesis picks for the shape and for the data agree often.
MAX_BATCH = 8
N_FEATURES = 4
# Positive bodies that must be answered 200. The rest are 400s for features near ±3.4e38
# (Hypothesis likes the bounds) that overflow the model, or flat data whose length is not
# a multiple of the feature count. Typically about half get 200; before the document named
# the model in its path enums, none did.
MIN_OK = 0.25


def align_shape(case: schemathesis.Case[Any]) -> schemathesis.Case[Any]:
    """Set a V2 body's shape[0] to its data's row count: the one cross-field rule."""
    body: Any = case.body
    inputs = body.get("inputs") if isinstance(body, dict) else None
    for tensor in inputs if isinstance(inputs, list) else []:
        data = tensor.get("data") if isinstance(tensor, dict) else None
        if isinstance(data, list) and isinstance(tensor.get("shape"), list):
            nested = bool(data) and isinstance(data[0], list)
            rows, extra = (len(data), 0) if nested else divmod(len(data), N_FEATURES)
            if 1 <= rows <= MAX_BATCH and not extra:
                tensor["shape"] = [rows, N_FEATURES]
    return case


@pytest.mark.parametrize(
    ("method", "path", "mode", "examples", "min_ok"),
    [
        pytest.param("POST", "/predict", POSITIVE, 120, MIN_OK, id="predict+"),
        pytest.param("POST", "/predict", NEGATIVE, 120, 0.0, id="predict-"),
        pytest.param("POST", "/v2/models/{name}/infer", POSITIVE, 120, MIN_OK, id="v2-infer+"),
        pytest.param("POST", "/v2/models/{name}/infer", NEGATIVE, 120, 0.0, id="v2-infer-"),
        pytest.param(
            "POST", "/v2/models/{name}/versions/{version}/infer", POSITIVE, 60, MIN_OK,
            id="v2-infer-versioned+",
        ),
        pytest.param(
            "POST", "/v2/models/{name}/versions/{version}/infer", NEGATIVE, 60, 0.0,
            id="v2-infer-versioned-",
        ),
        pytest.param("GET", "/v2/models/{name}", POSITIVE, 10, 1.0, id="v2-metadata+"),
        pytest.param("GET", "/v2/models/{name}", NEGATIVE, 20, 0.0, id="v2-metadata-"),
        pytest.param(
            "GET", "/v2/models/{name}/versions/{version}/ready", POSITIVE, 10, 1.0,
            id="v2-model-ready+",
        ),
        pytest.param(
            "GET", "/v2/models/{name}/versions/{version}/ready", NEGATIVE, 20, 0.0,
            id="v2-model-ready-",
        ),
        pytest.param("GET", "/v2/health/ready", POSITIVE, 5, 1.0, id="v2-ready+"),
        pytest.param("GET", "/version", POSITIVE, 5, 1.0, id="version+"),
        pytest.param("GET", "/metrics", POSITIVE, 5, 1.0, id="metrics+"),
    ],
)  # fmt: skip
def test_fuzzed_requests_are_answered_as_the_document_says(
    iris: ModelFolder, method: str, path: str, mode: GenerationMode, examples: int, min_ok: float
) -> None:
    app = create_app({**iris.settings(), "max_batch": MAX_BATCH})
    schema = schemathesis.openapi.from_wsgi("/openapi.json", app)
    strategy = schema[path][method].as_strategy(mode)
    if mode is POSITIVE:
        strategy = strategy.map(align_shape)
    statuses: list[int] = []

    @given(case=strategy)
    @settings(
        max_examples=examples,
        deadline=None,
        suppress_health_check=list(HealthCheck),
        database=None,
        derandomize=True,  # the same cases every run: a share of 200s must not be luck
    )
    def call(case: schemathesis.Case[Any]) -> None:
        response = case.call_and_validate(excluded_checks=[checks.positive_data_acceptance])
        statuses.append(response.status_code)
        assert response.status_code < 500, response.text
        if mode is NEGATIVE:
            assert 400 <= response.status_code < 500, (case.path_parameters, case.body)

    call()
    ok = sum(status == 200 for status in statuses)
    assert ok >= min_ok * len(statuses), f"{ok}/{len(statuses)} answered 200: {statuses}"
