"""A real `filelinks-api serve` for what only a real server shows: slow clients, requests
uvicorn itself cannot parse, and what ends up in the log. It runs in strict key mode with a
one-second body timeout. The database plays no part in these, so SQLite only."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.conftest import new_key
from tests.e2e.conftest import Server, start_server

BODY_TIMEOUT = 1.0
KEY = new_key()
LIVE_KEY = new_key("live")


@pytest.fixture(scope="session")
def real_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    base = tmp_path_factory.mktemp("hostile")
    server = start_server(
        base / "data",
        extra_env={
            "FILELINKS_BODY_TIMEOUT_SECONDS": str(BODY_TIMEOUT),
            "FILELINKS_API_KEYS": f"{KEY}=acct_1Hostile,{LIVE_KEY}=acct_1Hostile",
        },
        args=("--log-level", "info"),
    )
    try:
        yield server
    finally:
        server.stop()
