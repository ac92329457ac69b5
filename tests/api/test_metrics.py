"""The counters that real traffic rarely reaches, in-process (the default registry): lock
timeouts, an unreachable database, a request log entry that could not be written. Counted
traffic across workers is tests/e2e/test_operability.py."""

from __future__ import annotations

import socket
import sqlite3
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from prometheus_client import REGISTRY

from filelinks_api.app import create_app
from filelinks_api.config import Settings
from filelinks_api.db import Database, migrate
from tests.conftest import new_key


def value(name: str, **labels: str) -> float:
    return REGISTRY.get_sample_value(name, labels) or 0.0


def settings_for(tmp_path: Path, **overrides: object) -> Settings:
    return Settings(data_dir=tmp_path / "data", _env_file=None, **overrides)  # type: ignore[call-arg]


def auth() -> dict[str, str]:
    return {"Authorization": f"Bearer {new_key()}"}


def test_a_lock_timeout_is_counted(tmp_path: Path):
    settings = settings_for(tmp_path)
    (tmp_path / "data").mkdir()
    migrate(settings.resolved_database_url)
    database = Database.connect(settings.resolved_database_url)
    database.write_timeout = 0.1
    before = value("filelinks_lock_timeouts_total")
    path = tmp_path / "data" / "filelinks.db"
    holder = sqlite3.connect(path, isolation_level=None)
    holder.execute("BEGIN IMMEDIATE")
    try:
        with TestClient(create_app(settings, database=database)) as http:
            refused = http.post("/v1/file_links", data={"file": "file_x"}, headers=auth())
    finally:
        holder.close()
    assert refused.status_code == 429
    assert refused.json()["error"]["code"] == "lock_timeout"
    assert value("filelinks_lock_timeouts_total") == before + 1
    assert (
        value("filelinks_requests_total", route="/v1/file_links", method="POST", status="429") >= 1
    )


def test_an_unreachable_database_is_counted(tmp_path: Path):
    with socket.socket() as probe:  # a port nothing listens on: connection refused
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    settings = settings_for(
        tmp_path, database_url=f"postgresql://postgres@127.0.0.1:{port}/x", request_log=False
    )
    before = value("filelinks_database_errors_total", kind="unavailable")
    with TestClient(create_app(settings)) as http:
        got = http.get("/v1/file_links", headers=auth())
    assert got.status_code == 503
    assert value("filelinks_database_errors_total", kind="unavailable") == before + 1


# a table that is not there is a bug, not an outage: its traceback is logged
@pytest.mark.expect_error_log
def test_a_request_log_entry_that_cannot_be_written_is_counted_as_dropped(tmp_path: Path):
    settings = settings_for(tmp_path)
    (tmp_path / "data").mkdir()
    migrate(settings.resolved_database_url)
    database = Database.connect(settings.resolved_database_url)
    app = create_app(settings, database=database)
    with app.state.runtime.log_db.engine.begin() as connection:  # the log's own file
        connection.exec_driver_sql("DROP TABLE request_log")
    dropped = value("filelinks_request_log_entries_total", outcome="dropped")
    with TestClient(app) as http:
        got = http.get("/v1/file_links", headers=auth())
    assert got.status_code == 200  # the API answers; only its log entry is lost
    assert value("filelinks_request_log_entries_total", outcome="dropped") == dropped + 1


def test_a_made_up_method_is_counted_as_other(tmp_path: Path):
    """Any token is an HTTP method: counting each as its own series would let a client grow
    the metrics without bound."""
    settings = settings_for(tmp_path, request_log=False)
    (tmp_path / "data").mkdir()
    migrate(settings.resolved_database_url)
    before = value("filelinks_requests_total", route="/v1/files", method="OTHER", status="404")
    with TestClient(create_app(settings)) as http:
        for method in ("BREW", "WHEN", "XYZZY"):
            assert http.request(method, "/v1/files", headers=auth()).status_code == 404
    after = value("filelinks_requests_total", route="/v1/files", method="OTHER", status="404")
    assert after == before + 3
    assert value("filelinks_requests_total", route="/v1/files", method="BREW", status="404") == 0
