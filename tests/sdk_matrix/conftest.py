"""The SDK matrix: each SDK version in a process of its own (its own virtualenv or
node_modules, from `envs.py`), driving one real `filelinks-api serve`.

SDK compatibility is about the wire, not the database, so the matrix runs on the embedded
SQLite default only; the `tests/e2e` suite covers PostgreSQL with the project's own SDK.
"""

from __future__ import annotations

import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests import samples
from tests.conftest import new_key
from tests.e2e.conftest import Server, start_server

HERE = Path(__file__).parent
SCENARIO_TIMEOUT = 120


@pytest.fixture(scope="session")
def matrix_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    running = start_server(tmp_path_factory.mktemp("sdk-matrix") / "data")
    try:
        yield running
    finally:
        running.stop()


@pytest.fixture(scope="session")
def evidence(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("sdk-matrix-files") / "evidence.pdf"
    path.write_bytes(samples.pdf("sdk matrix"))
    return path


def run_scenario(command: list[str], server: Server) -> str:
    """Runs one scenario with a fresh key (a fresh, empty account); its JSON line."""
    done = subprocess.run(
        [*command[:1], str(HERE / command[1]), server.url, new_key(), *command[2:]],
        capture_output=True,
        text=True,
        timeout=SCENARIO_TIMEOUT,
    )
    assert done.returncode == 0, (
        f"{' '.join(command)} failed:\n{done.stdout}\n{done.stderr}\n"
        f"server log:\n{server.log_text()[-3000:]}"
    )
    return done.stdout.strip().splitlines()[-1]
