"""stripe-python, oldest maintained, middle and newest, every way each version can be called:
the module-level API, `StripeClient`, and their async calls (see `envs.PYTHON_SDKS`)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.e2e.conftest import Server
from tests.sdk_matrix.conftest import run_scenario
from tests.sdk_matrix.envs import PYTHON_SDKS, PythonSdk, python_env

CASES = [
    pytest.param(sdk, api, id=f"stripe-python-{sdk.version}-{api}")
    for sdk in PYTHON_SDKS
    for api in sdk.apis
]


@pytest.mark.parametrize(("sdk", "api"), CASES)
def test_scenario(matrix_server: Server, evidence: Path, sdk: PythonSdk, api: str) -> None:
    python = python_env(sdk)

    seen = json.loads(
        run_scenario([str(python), "scenario_python.py", str(evidence), api], matrix_server)
    )

    assert seen["ok"] is True
    assert (seen["stripe"], seen["api"]) == (sdk.version, api)
    # the version the SDK pins (none before 6.x) is accepted and echoed back
    assert seen["stripe_version_echoed"] == (seen["stripe_version_sent"] or "2026-06-24.dahlia")


def test_the_matrix_has_three_versions_and_every_api() -> None:
    assert [sdk.version for sdk in PYTHON_SDKS] == ["4.2.1", "10.12.1", "16.1.0"]
    assert {api for sdk in PYTHON_SDKS for api in sdk.apis} == {
        "module",
        "client",
        "module_async",
        "client_async",
    }
