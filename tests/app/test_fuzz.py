"""Fuzz the app from its own OpenAPI document: no 5xx, and every answer matches the document.

Schemathesis generates valid and invalid bodies and paths from /openapi.json; its checks
hold the app to the document (documented status codes, content types, response schemas)
and to the rule that bad input never gets a 5xx. One check is left out for inference:
"every schema-valid body is accepted". A JSON schema cannot state a model's numeric domain:
finite features as large as 3e38 pass the schema yet overflow the model's arithmetic, and
the app answers those with a 400 naming the row rather than emit NaN. (Schemathesis's lazy
pytest fixture loader does not work with pytest 9, so each operation is driven through its
Hypothesis strategy.)
"""

from __future__ import annotations

from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from schemathesis import checks

from app import create_app
from tests.app.models import ModelFolder


@pytest.mark.parametrize(
    ("method", "path", "examples"),
    [
        pytest.param("POST", "/predict", 150, id="predict"),
        pytest.param("POST", "/v2/models/{name}/infer", 150, id="v2-infer"),
        pytest.param(
            "POST", "/v2/models/{name}/versions/{version}/infer", 60, id="v2-infer-versioned"
        ),
        pytest.param("GET", "/v2/models/{name}", 20, id="v2-metadata"),
        pytest.param("GET", "/v2/models/{name}/versions/{version}/ready", 20, id="v2-model-ready"),
        pytest.param("GET", "/v2/health/ready", 5, id="v2-ready"),
        pytest.param("GET", "/version", 5, id="version"),
        pytest.param("GET", "/metrics", 5, id="metrics"),
    ],
)
def test_fuzzed_requests_get_no_5xx_and_match_the_document(
    iris: ModelFolder, method: str, path: str, examples: int
) -> None:
    app = create_app({**iris.settings(), "max_batch": 64})
    schema = schemathesis.openapi.from_wsgi("/openapi.json", app)
    operation = schema[path][method]

    @given(case=operation.as_strategy())
    @settings(
        max_examples=examples, deadline=None, suppress_health_check=list(HealthCheck), database=None
    )
    def call(case: schemathesis.Case[Any]) -> None:
        response = case.call_and_validate(excluded_checks=[checks.positive_data_acceptance])
        assert response.status_code < 500

    call()
