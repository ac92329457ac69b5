"""schemathesis against the service's own OpenAPI document, on a live server: positive and
negative cases for every operation, with a fixed seed and a bounded number of examples.
Invariants: no 5xx; every failure is Stripe's error envelope with a Request-Id; the server
stays up."""

from __future__ import annotations

import re

import httpx
import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis.errors import Unsatisfiable
from schemathesis import GenerationMode

from tests.e2e.conftest import Server

EXAMPLES_PER_OPERATION = 25
REQUEST_ID = re.compile(r"^req_[A-Za-z0-9]{14}$")


def check(response, counts: dict[str, int]) -> None:
    counts["cases"] += 1
    assert response.status_code < 500, (response.status_code, response.text[:500])
    request_id = response.headers.get("request-id", [""])[0]  # lower-cased, lists of values
    assert REQUEST_ID.match(request_id), response.headers
    if response.status_code >= 400:
        counts["errors"] += 1
        error = response.json()["error"]
        assert isinstance(error, dict)
        assert error["type"] in {"invalid_request_error", "idempotency_error", "api_error"}
        assert isinstance(error["message"], str)
        assert error["message"]


@pytest.mark.parametrize("mode", [GenerationMode.POSITIVE, GenerationMode.NEGATIVE], ids=str)
def test_no_input_makes_a_5xx_or_a_non_stripe_error(server: Server, api_key: str, mode):
    schema = schemathesis.openapi.from_url(f"{server.url}/openapi.json")
    counts = {"cases": 0, "errors": 0}
    unsatisfiable: list[str] = []
    auth = {"Authorization": f"Bearer {api_key}"}
    operations = [result.ok() for result in schema.get_all_operations()]
    assert len(operations) >= 12

    for operation in operations:
        if operation.path == "/_emulator/data":
            continue  # the reset would only empty this test's own account; nothing to fuzz

        @given(case=operation.as_strategy(generation_mode=mode))
        @settings(
            max_examples=EXAMPLES_PER_OPERATION,
            derandomize=True,
            deadline=None,
            database=None,
            suppress_health_check=list(HealthCheck),
        )
        def run(case) -> None:
            check(case.call(base_url=server.url, headers=auth, timeout=30), counts)

        try:
            run()
        except Unsatisfiable:
            # Negative mode finds nothing to break in an operation without parameters.
            assert mode == GenerationMode.NEGATIVE, operation.path
            unsatisfiable.append(f"{operation.method} {operation.path}")

    assert len(unsatisfiable) <= 4, unsatisfiable
    assert httpx.get(f"{server.url}/healthz").status_code == 200
    print(
        f"\nfuzz {mode}: {counts['cases']} cases, {counts['errors']} Stripe errors, 0 5xx;"
        f" nothing to negate in {unsatisfiable}"
    )
    assert counts["cases"] >= EXAMPLES_PER_OPERATION
