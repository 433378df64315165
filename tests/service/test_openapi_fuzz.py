"""Schemathesis against the OpenAPI document: generated requests to every operation, no 5xx.

The service runs in-process over the demo corpus, open (no keys). Bodies,
query strings and paths come from the document itself, valid and invalid.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from schemathesis.checks import not_a_server_error
from service_env import ServiceEnv, start_service

from dayshift.cli.demo import corpus_dir


@pytest.fixture(scope="module")
def env(tmp_path_factory: pytest.TempPathFactory, models) -> Iterator[ServiceEnv]:  # type: ignore[no-untyped-def]
    for started in start_service(tmp_path_factory.mktemp("fuzz"), models, rate_limit_burst=100_000):
        with started.service.pool.use("default") as runtime:
            runtime.ingestor.sync(corpus_dir())
        yield started


def test_no_operation_answers_with_a_server_error(env: ServiceEnv) -> None:
    schema = schemathesis.openapi.from_asgi("/openapi.json", env.client.app)
    operations = [result.ok() for result in schema.get_all_operations()]
    assert len(operations) >= 11
    for operation in operations:
        cases = 0

        @given(case=operation.as_strategy())
        @settings(max_examples=40, deadline=None, database=None, suppress_health_check=list(HealthCheck))
        def call(case: schemathesis.Case) -> None:
            nonlocal cases
            cases += 1
            case.call_and_validate(checks=[not_a_server_error])

        call()
        assert cases > 0, operation.label
