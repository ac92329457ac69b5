"""stripe-node, the newest two majors: uploads reach the emulator through the constructor's
`host` (stripe-node 22 on)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.e2e.conftest import Server
from tests.sdk_matrix.conftest import run_scenario
from tests.sdk_matrix.envs import NODE_SDKS, node_binary, node_env


@pytest.mark.parametrize("version", NODE_SDKS, ids=lambda v: f"stripe-node-{v}")
def test_scenario(matrix_server: Server, evidence: Path, version: str) -> None:
    sdk_dir = node_env(version)

    seen = json.loads(
        run_scenario(
            [node_binary(), "scenario_node.cjs", str(evidence), str(sdk_dir)], matrix_server
        )
    )

    assert seen["ok"] is True
    assert seen["stripe"] == version
    assert seen["stripe_version_echoed"] == seen["stripe_version_sent"]
