"""services/housekeeping: state stays bounded while the service runs, not only at start."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select

from filelinks_api.app import create_app
from filelinks_api.db import Database
from filelinks_api.models import idempotency_keys, request_log
from filelinks_api.services import housekeeping
from tests.api.helpers import bearer, upload
from tests.conftest import eventually

DAY = 24 * 3600


@pytest.fixture
def database(backend_url: str) -> Iterator[Database]:
    """A Database of this test's own (its app's event loop is the test client's)."""
    db = Database.connect(backend_url)
    yield db
    asyncio.run(db.dispose())


@pytest.fixture(autouse=True)
def often(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(housekeeping, "LOG_EVERY_SECONDS", 0.01)
    monkeypatch.setattr(housekeeping, "KEYS_EVERY_SECONDS", 0.0)


def test_keys_past_their_24_hours_are_pruned_while_serving(settings, database, clock, api_key):
    app = create_app(settings, clock=clock, database=database, housekeeping=True)

    def keys() -> int:
        with database.engine.connect() as other:
            query = select(func.count()).where(idempotency_keys.c.request_id == seen["id"])
            return int(other.execute(query).scalar_one())

    with TestClient(app, headers=bearer(api_key)) as client:
        first = upload(client, headers={"Idempotency-Key": "k-prune"})
        seen = {"id": first.headers["Request-Id"]}
        assert keys() == 1
        clock.advance(DAY + 1)
        eventually(lambda: keys() == 0)


def test_the_request_log_is_bounded_in_all(settings, database, clock):
    settings = settings.model_copy(update={"request_log_total_limit": 3})
    app = create_app(settings, clock=clock, database=database, housekeeping=True)
    log_db = app.state.runtime.log_db  # on SQLite a file of its own (log_database.py)

    def entries() -> int:
        with log_db.engine.connect() as other:
            return int(other.execute(select(func.count()).select_from(request_log)).scalar_one())

    with TestClient(app) as client:
        for number in range(6):  # six accounts: the per-scope bound alone would keep them all
            client.get("/v1/files", headers=bearer(f"sk_test_housekeeping{number:02d}"))
        eventually(lambda: entries() <= 3)
