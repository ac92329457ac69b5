"""services/housekeeping: state stays bounded while the service runs, not only at start."""

from __future__ import annotations

import asyncio
import os
import secrets
import time
from collections.abc import Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import delete, func, insert, select, text

from filelinks_api import repository
from filelinks_api.app import create_app
from filelinks_api.clock import SystemClock
from filelinks_api.db import Database, migrate
from filelinks_api.models import idempotency_keys, request_log
from filelinks_api.services import housekeeping
from filelinks_api.services import request_log as log_service
from filelinks_api.services import slices as slices_module
from tests.api.helpers import bearer, upload
from tests.conftest import (
    create_postgres_schema,
    drop_postgres_schema,
    eventually,
    file_row,
    postgres_schema_url,
)
from tests.services.slices import Slices
from tests.services.test_request_log import SCOPE as LOG_SCOPE
from tests.services.test_request_log import entry

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


class LogRuntime:
    def __init__(self, database: Database) -> None:
        self.db = self.log_db = database


def test_the_total_bound_is_kept_in_slices_and_the_loop_serves_requests_between_them(
    database: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    """In open mode every key is an account: the total bound, not the per-scope one, deletes
    what ten seconds of requests recorded, in one DELETE a stall of every request of the
    worker on SQLite (a write runs on its event loop)."""
    monkeypatch.setattr(slices_module, "SLICE", 10)
    accounts = [f"acct_total{secrets.token_hex(4)}" for _ in range(5)]
    entries = [
        entry(f"req_total_slice{n:03d}", account=accounts[n % 5], created=1_800_000_000 + n)
        for n in range(50)
    ]
    with database.engine.begin() as connection:
        repository.insert_request_logs(connection, entries)
    keeper = housekeeping.Housekeeping(LogRuntime(database), SystemClock(), log_total=5)  # type: ignore[arg-type]
    slices = Slices("request_log")

    try:
        asyncio.run(slices.during(keeper.run_once(keys=False)))
        with database.engine.connect() as connection:
            left = set(connection.execute(select(request_log.c.id)).scalars())
        assert left == {f"req_total_slice{n:03d}" for n in range(45, 50)}
        assert slices.sliced(at_least=5), slices.deletes  # 45 entries past the bound, by 10
    finally:
        with database.engine.begin() as connection:
            connection.execute(delete(request_log).where(request_log.c.account.in_(accounts)))


def test_expired_keys_are_forgotten_in_slices_and_the_loop_serves_requests_between_them(
    database: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    """stripe-python sends a key with every POST: at 10 a second a run (every 10 minutes)
    forgets 6,000 keys, in one DELETE a stall of the worker and, on SQLite, of every worker's
    writes (the database's one write lock)."""
    monkeypatch.setattr(slices_module, "SLICE", 10)
    account = f"acct_keys{secrets.token_hex(4)}"
    now = int(time.time())

    def key(name: str, created: int) -> dict[str, Any]:
        return {
            "account": account,
            "livemode": False,
            "key": name,
            "endpoint": "/v1/file_links",
            "digest": None,
            "created": created,
            "started_at": 0.0,
            "status": 200,
            "body": b"{}",
            "request_id": f"req_{name}",
        }

    expired = [key(f"expired{n:02d}", now - 2 * DAY + n) for n in range(45)]
    with database.engine.begin() as connection:
        connection.execute(insert(idempotency_keys), [*expired, key("fresh", now)])
    keeper = housekeeping.Housekeeping(LogRuntime(database), SystemClock(), log_total=None)  # type: ignore[arg-type]
    slices = Slices("idempotency_keys")

    try:
        asyncio.run(slices.during(keeper.run_once(keys=True)))
        with database.engine.connect() as connection:
            query = select(idempotency_keys.c.key).where(idempotency_keys.c.account == account)
            assert set(connection.execute(query).scalars()) == {"fresh"}
        assert slices.sliced(at_least=5), slices.deletes  # 45 keys past their day, by 10
    finally:
        with database.engine.begin() as connection:
            connection.execute(
                delete(idempotency_keys).where(idempotency_keys.c.account == account)
            )


@pytest.fixture
def fresh_postgres() -> Iterator[Database]:
    """A migrated PostgreSQL schema of the test's own: its tables' statistics start empty."""
    if not os.environ.get("FILELINKS_TEST_DATABASE_URL"):
        pytest.skip("needs FILELINKS_TEST_DATABASE_URL (PostgreSQL)")
    schema = f"filelinks_upkeep_{secrets.token_hex(4)}"
    create_postgres_schema(schema)
    database = Database.connect(postgres_schema_url(schema))
    try:
        migrate(database.url)
        yield database
    finally:
        asyncio.run(database.dispose())
        drop_postgres_schema(schema)


def table_stat(database: Database, table: str, column: str) -> Any:
    """`column` of `table`'s row in pg_stat_user_tables (the current schema's)."""
    with database.engine.connect() as connection:
        query = (
            f"SELECT {column} FROM pg_stat_user_tables"
            " WHERE schemaname = current_schema() AND relname = :table"
        )
        return connection.execute(text(query), {"table": table}).scalar_one()


def flush_statistics(database: Database) -> None:
    with database.engine.connect() as connection:
        connection.execute(text("SELECT pg_stat_force_next_flush()"))
        connection.commit()  # idle now: its counts reach the statistics views


def run_housekeeping(database: Database) -> None:
    class Runtime:
        db = log_db = database

    keeper = housekeeping.Housekeeping(Runtime(), SystemClock(), log_total=None)
    asyncio.run(keeper.run_once(keys=False))


def test_on_postgres_a_table_that_grew_is_analyzed_and_a_list_walks_its_index(
    fresh_postgres: Database,
) -> None:
    """Whether or not the server's autovacuum runs (this machine's does not): without
    statistics, the first page of an account holding thousands of fresh links was a scan of
    all of them and a sort."""
    database = fresh_postgres
    file = file_row("acct_stats")
    with database.engine.begin() as connection:
        repository.insert_file(connection, file)
        connection.execute(
            text(
                "INSERT INTO file_links"
                " (id, account, livemode, created, expires_at, file, metadata, token)"
                " SELECT 'link_' || n, 'acct_stats', false, 1800000000 + n, NULL, :file,"
                " '{}', 'token_' || n FROM generate_series(1, 3000) AS n"
            ),
            {"file": file["id"]},
        )
    flush_statistics(database)
    eventually(lambda: table_stat(database, "file_links", "n_mod_since_analyze") >= 3000)

    run_housekeeping(database)

    with database.engine.connect() as connection:
        plan = "\n".join(
            row[0]
            for row in connection.execute(
                text(
                    "EXPLAIN SELECT * FROM file_links WHERE account = 'acct_stats'"
                    " AND livemode = false ORDER BY created DESC, seq DESC LIMIT 101"
                )
            )
        )
    assert table_stat(database, "file_links", "last_analyze") is not None
    assert "Index Scan Backward" in plan, plan
    assert "Sort" not in plan, plan
    assert asyncio.run(database.write(repository.analyze_changed_tables)) == []


def test_on_postgres_without_autovacuum_the_request_logs_dead_rows_are_reclaimed(
    fresh_postgres: Database,
) -> None:
    """The request log's prunes delete a row per entry written: with the server's autovacuum
    off (this machine's), housekeeping vacuums the table; with it on, it leaves it to it."""
    database = fresh_postgres
    entries = [entry(f"req_dead{n:05d}", created=1_800_000_000 + n) for n in range(3000)]
    with database.engine.begin() as connection:
        repository.insert_request_logs(connection, entries)
    asyncio.run(log_service.prune_scope(database, LOG_SCOPE, keep=100))
    flush_statistics(database)
    eventually(lambda: table_stat(database, "request_log", "n_dead_tup") >= 2900)
    with database.engine.connect() as connection:
        autovacuum = connection.execute(text("SHOW autovacuum")).scalar_one()

    run_housekeeping(database)

    if autovacuum == "off":
        assert table_stat(database, "request_log", "last_vacuum") is not None
        eventually(lambda: table_stat(database, "request_log", "n_dead_tup") < 100)
    else:
        assert table_stat(database, "request_log", "last_vacuum") is None  # autovacuum's work
