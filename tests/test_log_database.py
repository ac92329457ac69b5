"""Where the request log is kept (log_database.py): a file of its own beside a SQLite
database, the service's own database on PostgreSQL."""

from __future__ import annotations

import asyncio
import sqlite3
import threading
from pathlib import Path

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import create_engine, delete, inspect, select, text

from filelinks_api import repository
from filelinks_api.db import Database, migrate
from filelinks_api.failures import WriteLockTimeout
from filelinks_api.log_database import (
    LAYOUT,
    PostgresInserts,
    SqliteInserts,
    log_file,
    open_log_database,
    prepare_log_file,
)
from filelinks_api.models import metadata, request_log
from tests.conftest import BACKENDS


def test_the_log_file_lies_beside_the_database():
    assert log_file("sqlite:////data/filelinks.db") == Path("/data/filelinks.requests.db")
    assert log_file("sqlite:////data/store") == Path("/data/store.requests.db")
    assert log_file("postgresql+psycopg://postgres@127.0.0.1/test") is None
    assert log_file("sqlite://") is None  # in memory: no file to put beside it


def test_migrated_sqlite_and_the_log_file_hold_the_models_between_them(tmp_path: Path):
    """The migrations make every table but the log's (migration 0009 drops it); the log's
    file has it, as models.py defines it."""
    url = f"sqlite:///{tmp_path / 'filelinks.db'}"
    migrate(url)
    database = Database.connect(url)
    log_db = open_log_database(database)
    assert log_db.url == f"sqlite:///{tmp_path / 'filelinks.requests.db'}"

    def differences(engine_url: str) -> list[tuple[str, str]]:
        engine = create_engine(engine_url)
        with engine.connect() as connection:
            context = MigrationContext.configure(connection, opts={"compare_type": True})
            found = compare_metadata(context, metadata)
        engine.dispose()
        return [(change[0], change[1].name) for change in found if isinstance(change, tuple)]

    assert differences(url) == [
        ("add_table", "request_log"),
        ("add_index", "ix_request_log_account_livemode_created_seq"),
    ]
    assert "request_log" not in inspect(database.engine).get_table_names()
    # every other table is missing there; nothing of the log's differs from the models
    in_log_file = differences(log_db.url)
    assert {kind for kind, _ in in_log_file} == {"add_table", "add_index"}
    assert not [name for _, name in in_log_file if "request_log" in name]


def test_a_log_file_of_another_layout_starts_afresh(tmp_path: Path):
    path = tmp_path / "x.requests.db"
    with sqlite3.connect(path) as old:
        old.execute("CREATE TABLE request_log (seq INTEGER PRIMARY KEY, id TEXT)")
        old.execute("INSERT INTO request_log (id) VALUES ('req_old')")
    prepare_log_file(path)
    with sqlite3.connect(path) as now:
        assert now.execute("PRAGMA user_version").fetchone()[0] == LAYOUT
        assert now.execute("SELECT count(*) FROM request_log").fetchone()[0] == 0
        columns = {row[1] for row in now.execute("PRAGMA table_info(request_log)")}
    assert {"fault", "response", "idempotency_key"} <= columns
    # of this layout, it is kept as it is
    with sqlite3.connect(path) as kept:
        kept.execute(
            "INSERT INTO request_log (id, account, livemode, created, method, path, "
            "query, status, duration_ms, idempotent_replayed) "
            "VALUES ('req_1', 'acct', 0, 1, 'GET', '/v1/files', '', 200, 1.0, 0)"
        )
    prepare_log_file(path)
    with sqlite3.connect(path) as now:
        assert now.execute("SELECT id FROM request_log").fetchall() == [("req_1",)]


def test_workers_starting_together_make_the_table_once(tmp_path: Path):
    path = tmp_path / "together.requests.db"
    failures: list[BaseException] = []
    start = threading.Barrier(8)

    def worker() -> None:
        try:
            start.wait()
            prepare_log_file(path)
        except BaseException as exc:  # noqa: BLE001 - any failure fails the test
            failures.append(exc)

    threads = [threading.Thread(target=worker) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert failures == []
    with sqlite3.connect(path) as made:
        assert made.execute("PRAGMA user_version").fetchone()[0] == LAYOUT


def test_on_postgresql_the_log_is_the_services_database():
    database = Database.connect("postgresql+psycopg://postgres@127.0.0.1:1/none")
    assert open_log_database(database) is database


def test_a_damaged_log_file_is_set_aside_and_started_afresh(tmp_path: Path):
    """Written without fsync, the file may be left damaged by a crash of the machine: the
    service starts the log afresh instead of failing every entry."""
    path = tmp_path / "filelinks.requests.db"
    path.write_bytes(b"not a database, or what a lost page cache left of one" * 100)
    prepare_log_file(path)
    assert path.with_name("filelinks.requests.db.damaged").read_bytes().startswith(b"not a")
    with sqlite3.connect(path) as now:
        assert now.execute("PRAGMA user_version").fetchone()[0] == LAYOUT
        assert now.execute("SELECT count(*) FROM request_log").fetchone()[0] == 0


def test_the_log_is_written_without_fsync_the_database_with(tmp_path: Path):
    url = f"sqlite:///{tmp_path / 'filelinks.db'}"
    migrate(url)
    database = Database.connect(url)
    log_db = open_log_database(database)

    async def in_a_write(db: Database) -> int:
        return await db.write(lambda c: int(c.exec_driver_sql("PRAGMA synchronous").scalar_one()))

    assert asyncio.run(in_a_write(log_db)) == 0  # OFF
    assert asyncio.run(in_a_write(database)) == 1  # NORMAL: files, links and keys


def test_deletes_do_not_overwrite_every_freed_page(tmp_path: Path):
    """secure_delete FAST on every connection, reads, writes and the log's (the build here
    defaults to ON, which made a prune of large entries hold the log's lock for 170 ms)."""
    url = f"sqlite:///{tmp_path / 'filelinks.db'}"
    migrate(url)
    database = Database.connect(url)
    log_db = open_log_database(database)
    pragma = "PRAGMA secure_delete"

    async def settings(db: Database) -> tuple[int, int]:
        written = await db.write(lambda c: int(c.exec_driver_sql(pragma).scalar_one()))
        read = await db.read(lambda c: int(c.exec_driver_sql(pragma).scalar_one()))
        return written, read

    assert asyncio.run(settings(log_db)) == (2, 2)  # 2: FAST
    assert asyncio.run(settings(database)) == (2, 2)


def _entry(request_id: str, message: str | None = None) -> dict[str, object]:
    return {
        "id": request_id,
        "account": "acct_direct",
        "livemode": False,
        "created": 1_800_000_000,
        "method": "GET",
        "path": "/v1/files",
        "query": "",
        "status": 404 if message else 200,
        "duration_ms": 0.5,
        "idempotency_key": None,
        "idempotent_replayed": False,
        "stripe_version": None,
        "stripe_account": None,
        "client": "stripe-python/16.1.0",
        "request": {"limit": "3"},
        "response": "{}",
        "error": {"type": "invalid_request_error", "message": message} if message else None,
        "fault": None,
    }


@pytest.mark.parametrize(
    "backend_url", [b for b in BACKENDS if b == "postgresql"], indirect=True, scope="session"
)
def test_direct_inserts_write_a_batch_and_outlive_a_dropped_connection(database: Database):
    direct = PostgresInserts(database)

    def stored(*ids: str) -> list[tuple[str, int]]:
        with database.engine.connect() as connection:
            rows = connection.execute(
                select(request_log.c.id, request_log.c.status).where(request_log.c.id.in_(ids))
            )
            return sorted((row.id, row.status) for row in rows)

    async def scenario() -> None:
        assert await direct.insert([_entry("req_direct1"), _entry("req_direct2")])
        # a NUL inside a JSON value: not this way (the caller writes it the plain way)
        assert not await direct.insert([_entry("req_direct3", "file_\x00x")])
        # the server ends the connection (a restart, a cut link): the next batch still lands
        assert direct._connection is not None
        pid = direct._connection.info.backend_pid
        with database.engine.begin() as connection:
            connection.execute(text(f"SELECT pg_terminate_backend({pid})"))
        assert await direct.insert([_entry("req_direct4")])
        await direct.close()

    try:
        asyncio.run(scenario())
        assert stored("req_direct1", "req_direct2", "req_direct3", "req_direct4") == [
            ("req_direct1", 200),
            ("req_direct2", 200),
            ("req_direct4", 200),
        ]
    finally:
        with database.engine.begin() as connection:
            connection.execute(delete(request_log).where(request_log.c.account == "acct_direct"))


def test_sqlite_inserts_wait_for_the_file_lock_without_blocking_and_store_as_the_plain_way(
    tmp_path: Path,
):
    """The log writer's own connection on SQLite: its rows are what the plain insert stores;
    while another process holds the log file's lock the loop keeps running, and the batch
    lands once the lock is released; held past the timeout, it is the lock timeout."""
    url = f"sqlite:///{tmp_path / 'filelinks.db'}"
    migrate(url)
    log_db = open_log_database(Database.connect(url))
    direct = SqliteInserts(log_db)
    holder = sqlite3.connect(log_file(url), isolation_level=None, check_same_thread=False)

    async def scenario() -> tuple[int, BaseException | None]:
        assert await direct.insert([_entry("req_sqlite1", "file_\x00x"), _entry("req_sqlite2")])
        await log_db.write(
            lambda c: repository.insert_request_logs(c, [_entry("req_plain", "file_\x00x")])
        )
        holder.execute("BEGIN IMMEDIATE")
        asyncio.get_running_loop().call_later(0.3, holder.rollback)
        ticks = 0

        async def tick() -> None:
            nonlocal ticks
            while True:
                ticks += 1
                await asyncio.sleep(0.01)

        ticker = asyncio.ensure_future(tick())
        assert await direct.insert([_entry("req_sqlite3")])  # waited for the holder
        ticker.cancel()
        holder.execute("BEGIN IMMEDIATE")
        direct.timeout = 0.2
        failure = None
        try:
            await direct.insert([_entry("req_sqlite4")])
        except Exception as exc:  # noqa: BLE001 - asserted below
            failure = exc
        holder.rollback()
        await direct.close()
        return ticks, failure

    ticks, failure = asyncio.run(scenario())
    assert ticks >= 10  # the loop ran on while the batch waited (~0.3 s)
    assert isinstance(failure, WriteLockTimeout)
    with log_db.engine.connect() as connection:
        rows = {
            row.id: row._asdict()
            for row in connection.execute(select(request_log).where(request_log.c.id.like("req_%")))
        }
    assert set(rows) == {"req_sqlite1", "req_sqlite2", "req_plain", "req_sqlite3"}
    direct_row, plain_row = rows["req_sqlite1"], rows["req_plain"]
    for row in (direct_row, plain_row):
        del row["seq"], row["id"]
    assert direct_row == plain_row
