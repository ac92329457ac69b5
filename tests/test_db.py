"""Database.write(), the one way to a write transaction: it never blocks the event loop while
it waits (SQLite's write lock, PostgreSQL's row locks and round trips), commits what its work
did when the work returns, and keeps nothing when the work fails."""

from __future__ import annotations

import asyncio
import gc
import secrets
import sqlite3
import time
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from psycopg import sql
from psycopg.pq import TransactionStatus
from sqlalchemy import Connection, text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import OperationalError

from filelinks_api import pg_direct, repository
from filelinks_api.app import create_app
from filelinks_api.config import Settings
from filelinks_api.db import Database, migrate, sqlite_path
from filelinks_api.failures import DatabaseTimeout, is_lock_timeout
from filelinks_api.models import FileLinkRow, file_links
from filelinks_api.pg_direct import DirectReads
from filelinks_api.repository import Page, Scope
from filelinks_api.repository.fast import _by_scope_params
from filelinks_api.repository.file_links import _GET_FILE_LINK
from tests import samples
from tests.conftest import BACKENDS, new_key
from tests.test_repository import insert_file_and_link

INSERT_CLOCK = text(
    "INSERT INTO account_clocks (account, livemode, frozen_at, offset_seconds)"
    " VALUES (:account, false, 1, 0)"
)
SHOW_SETTINGS = "SELECT current_setting('search_path'), current_setting('application_name')"
COUNT_CLOCKS = text("SELECT count(*) FROM account_clocks WHERE account = :account")


@pytest.fixture
def sqlite_db(tmp_path: Path) -> Iterator[tuple[Database, Path]]:
    path = tmp_path / "lock.db"
    migrate(f"sqlite:///{path}")
    database = Database.connect(f"sqlite:///{path}")
    assert asyncio.run(database.ping())  # the first connection puts the file in WAL
    yield database, path
    asyncio.run(database.dispose())


def hold_write_lock(path: Path) -> sqlite3.Connection:
    """Another process's writer, as far as SQLite can tell: a connection in BEGIN IMMEDIATE."""
    holder = sqlite3.connect(path, isolation_level=None)
    holder.execute("BEGIN IMMEDIATE")
    return holder


class Ticker:
    """Counts how often the event loop gets to run other work, once a millisecond at most."""

    def __init__(self) -> None:
        self.ticks = 0

    async def run(self) -> None:
        while True:
            self.ticks += 1
            await asyncio.sleep(0.001)


def insert_clock(connection: Connection, account: str) -> None:
    connection.execute(INSERT_CLOCK, {"account": account})


def count(connection: Connection, account: str) -> int:
    return int(connection.execute(COUNT_CLOCKS, {"account": account}).scalar_one())


async def count_clocks(database: Database, account: str) -> int:
    return await database.read(count, account)


class TestWriteOnSQLite:
    def test_waits_for_the_lock_while_the_loop_keeps_running(self, sqlite_db) -> None:
        database, path = sqlite_db
        holder = hold_write_lock(path)
        other_requests = Ticker()

        async def scenario() -> float:
            background = asyncio.create_task(other_requests.run())
            asyncio.get_running_loop().call_later(0.2, holder.execute, "COMMIT")
            started = time.monotonic()
            await database.write(insert_clock, "acct_w")
            waited = time.monotonic() - started
            background.cancel()
            return waited

        waited = asyncio.run(scenario())

        assert waited >= 0.15  # it did wait for the holder...
        assert other_requests.ticks >= 50  # ...and the loop ran other work meanwhile
        assert asyncio.run(count_clocks(database, "acct_w")) == 1
        holder.close()

    def test_holds_the_lock_once_begun(self, sqlite_db) -> None:
        database, path = sqlite_db

        def try_another_writer(_connection: Connection) -> None:
            other = sqlite3.connect(path, isolation_level=None, timeout=0)
            with pytest.raises(sqlite3.OperationalError, match="locked"):
                other.execute("BEGIN IMMEDIATE")
            other.close()

        asyncio.run(database.write(try_another_writer))

    def test_gives_up_with_a_lock_timeout(self, sqlite_db) -> None:
        database, path = sqlite_db
        holder = hold_write_lock(path)

        database.write_timeout = 0.1

        with pytest.raises(OperationalError) as raised:
            asyncio.run(database.write(insert_clock, "acct_never"))

        assert is_lock_timeout(raised.value)
        holder.close()


@pytest.fixture
def committing(database: Database) -> Iterator[Database]:
    """The shared test database, for a test that commits for real: emptied afterwards, as the
    rolled-back tests expect to find it."""
    yield database
    with database.engine.begin() as connection:
        for table in ("file_links", "files", "idempotency_keys", "account_clocks"):
            connection.execute(text(f"DELETE FROM {table}"))


@pytest.mark.usefixtures("committing")
class TestWrite:
    """On both databases."""

    def test_keeps_what_its_work_did(self, database: Database) -> None:
        account = new_key()

        async def scenario() -> int:
            await database.write(insert_clock, account)
            return await count_clocks(database, account)

        assert asyncio.run(scenario()) == 1

    def test_keeps_nothing_when_its_work_fails(self, database: Database) -> None:
        account = new_key()

        def insert_then_fail(connection: Connection) -> None:
            insert_clock(connection, account)
            raise RuntimeError("the endpoint failed")

        async def scenario() -> int:
            with pytest.raises(RuntimeError):
                await database.write(insert_then_fail)
            return await count_clocks(database, account)

        assert asyncio.run(scenario()) == 0

    def test_append_keeps_its_rows_and_leaves_writes_transactional(
        self, database: Database
    ) -> None:
        """append() commits without a transaction of its own on PostgreSQL (autocommit); the
        connections it used go back to the pool transactional again, so a write() on any of
        them still undoes everything when its work fails."""
        # all 8 of the pool's connections at once (more would wait, binding the pool's queue
        # to this test's event loop)
        appended = [new_key() for _ in range(8)]
        failed = new_key()

        def insert_then_fail(connection: Connection) -> None:
            insert_clock(connection, failed)
            raise RuntimeError("the endpoint failed")

        async def scenario() -> tuple[list[int], int]:
            await asyncio.gather(*(database.append(insert_clock, a) for a in appended))
            for _ in range(12):
                with pytest.raises(RuntimeError):
                    await database.write(insert_then_fail)
            counts = [await count_clocks(database, a) for a in appended]
            return counts, await count_clocks(database, failed)

        assert asyncio.run(scenario()) == ([1] * 8, 0)

    def test_many_concurrent_writes_all_commit(self, database: Database) -> None:
        accounts = [new_key() for _ in range(20)]

        async def scenario() -> list[int]:
            await asyncio.gather(*(database.write(insert_clock, a) for a in accounts))
            return [await count_clocks(database, a) for a in accounts]

        assert asyncio.run(scenario()) == [1] * 20


# --- requests on one worker ---------------------------------------------------------------


@asynccontextmanager
async def serving(app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    """The app on this event loop, as one uvicorn worker runs it."""
    async with (
        app.router.lifespan_context(app),
        httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://test") as http,
    ):
        yield http


def auth(key: str, **headers: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}", **headers}


@pytest.fixture
def real_app(tmp_path: Path, backend_url: str) -> FastAPI:
    """The app on its own Database (no shared test session): writes really wait for locks.
    The request log is off: with it, every request writes its entry before it completes."""
    settings = Settings(
        data_dir=tmp_path / "data", database_url=backend_url, request_log=False, _env_file=None
    )  # type: ignore[call-arg]
    return create_app(settings)


async def until_a_write_waits(db: Database, seconds: float = 10) -> None:
    """Until a request's write is waiting for a lock another process holds: on SQLite, a
    writer at the head of this process's queue (polling for the file's lock); on
    PostgreSQL, a lock requested and not granted."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + seconds
    while True:
        if db.is_postgres:
            waiting = await db.read(
                lambda c: c.execute(
                    text("SELECT count(*) FROM pg_locks WHERE NOT granted")
                ).scalar()
            )
        else:
            waiting = any(lock.locked() for lock in db._writer_locks.values())
        if waiting:
            return
        assert loop.time() < deadline, "no write started waiting"
        await asyncio.sleep(0.005)  # a poll with a deadline


class TestAWaitingWriteLeavesTheWorkerServing:
    """While one request's write waits for a lock, another request on the same worker (the
    same event loop) is answered."""

    def test_an_idempotent_upload_waiting_for_the_sqlite_lock(self, tmp_path: Path) -> None:
        # The request log is off: a logged request writes its entry before it completes, so
        # with it on the list would (rightly) wait for the lock too.
        settings = Settings(data_dir=tmp_path / "data", request_log=False, _env_file=None)  # type: ignore[call-arg]
        settings.data_dir.mkdir()
        migrate(settings.resolved_database_url)
        app = create_app(settings)
        path = sqlite_path(settings.resolved_database_url)
        assert path is not None
        uploader, reader = new_key(), new_key()

        async def scenario() -> tuple[httpx.Response, httpx.Response, bool]:
            async with serving(app) as http:
                assert await app.state.runtime.db.ping()  # WAL on, as `serve` leaves it
                holder = hold_write_lock(path)  # until the list has been answered
                upload = asyncio.create_task(
                    http.post(
                        "/v1/files",
                        data={"purpose": "dispute_evidence"},
                        files={"file": ("a.pdf", samples.pdf(), "application/pdf")},
                        headers=auth(uploader, **{"Idempotency-Key": "upload-1"}),
                    )
                )
                await until_a_write_waits(app.state.runtime.db)
                listed = await http.get("/v1/file_links", headers=auth(reader))
                upload_still_waiting = not upload.done()
                holder.execute("COMMIT")
                uploaded = await upload
                holder.close()
                return listed, uploaded, upload_still_waiting

        listed, uploaded, upload_still_waiting = asyncio.run(scenario())

        assert listed.status_code == 200
        assert upload_still_waiting  # the list was answered while the upload waited
        assert uploaded.status_code == 200, uploaded.text
        assert uploaded.json()["purpose"] == "dispute_evidence"

    def test_an_update_waiting_for_a_lock(self, real_app: FastAPI, committing: Database) -> None:
        database = committing
        owner, reader = new_key(), new_key()

        async def scenario() -> tuple[httpx.Response, httpx.Response, bool]:
            async with serving(real_app) as http:
                file = await http.post(
                    "/v1/files",
                    data={"purpose": "dispute_evidence"},
                    files={"file": ("a.pdf", samples.pdf(), "application/pdf")},
                    headers=auth(owner),
                )
                link = await http.post(
                    "/v1/file_links", data={"file": file.json()["id"]}, headers=auth(owner)
                )
                link_id = link.json()["id"]
                # "Another process" holds the lock the update needs until the list has been
                # answered: the link's row on PostgreSQL, the database's write lock on SQLite.
                path = sqlite_path(database.url)
                holder: sqlite3.Connection | Connection
                if path is not None:
                    holder = hold_write_lock(path)
                else:
                    holder = database.engine.connect()
                    holder.execute(
                        text("SELECT 1 FROM file_links WHERE id = :id FOR UPDATE"), {"id": link_id}
                    )
                update = asyncio.create_task(
                    http.post(
                        f"/v1/file_links/{link_id}",
                        data={"metadata[order]": "6735"},
                        headers=auth(owner),
                    )
                )
                await until_a_write_waits(real_app.state.runtime.db)
                listed = await http.get("/v1/file_links", headers=auth(reader))
                update_still_waiting = not update.done()
                holder.rollback()
                updated = await update
                holder.close()
                return listed, updated, update_still_waiting

        listed, updated, update_still_waiting = asyncio.run(scenario())

        assert listed.status_code == 200
        assert update_still_waiting
        assert updated.status_code == 200, updated.text
        assert updated.json()["metadata"] == {"order": "6735"}


def test_a_request_gets_a_retryable_503_when_the_database_never_answers(tmp_path: Path) -> None:
    from tests.test_cli import SilentServer

    silent = SilentServer()
    settings = Settings(
        data_dir=tmp_path / "data",
        database_url=f"postgresql://postgres@127.0.0.1:{silent.port}/x",
        database_timeout_seconds=2,
        _env_file=None,  # type: ignore[call-arg]
    )
    try:
        with TestClient(create_app(settings)) as http:
            started = time.monotonic()
            got = http.get("/v1/file_links", headers=auth(new_key()))
            took = time.monotonic() - started
    finally:
        silent.close()

    assert got.status_code == 503
    assert got.json()["error"]["type"] == "api_error"
    assert got.headers["Stripe-Should-Retry"] == "true"
    assert took < 10


def test_sqlite_reads_keep_a_connection_per_loop_and_see_every_commit(tmp_path: Path) -> None:
    """Database._reader: one read connection per event loop, kept open between reads, back
    in the pool once its loop is gone; each read sees the newest commit, this process's or
    another's."""
    url = f"sqlite:///{tmp_path / 'reads.db'}"
    migrate(url)
    database = Database.connect(url)
    other = sqlite3.connect(tmp_path / "reads.db", isolation_level=None)
    other.execute("CREATE TABLE seen (n INTEGER)")

    def count(connection: Connection) -> int:
        return int(connection.execute(text("SELECT count(*) FROM seen")).scalar_one())

    pool = database._read.pool  # type: ignore[attr-defined]

    async def scenario() -> list[int]:
        seen = [await database.read(count)]
        assert pool.checkedout() == 1  # kept by the loop between reads
        await database.write(lambda c: c.execute(text("INSERT INTO seen VALUES (1)")))
        seen.append(await database.read(count))
        other.execute("INSERT INTO seen VALUES (2)")  # another process's commit
        seen.append(await database.read(count))
        assert pool.checkedout() == 1  # the same one
        return seen

    assert asyncio.run(scenario()) == [0, 1, 2]
    gc.collect()  # the loop is gone: its connection went back to the pool
    assert pool.checkedout() == 0
    assert asyncio.run(scenario()) == [2, 3, 4]
    asyncio.run(database.dispose())
    other.close()


def test_sqlite_writes_keep_a_connection_per_loop_and_leave_nothing_uncommitted(
    tmp_path: Path,
) -> None:
    """Database._writer: one write connection per event loop, kept between writes; a unit
    that raises is rolled back and the next one begins afresh on the same connection; another
    process's writes still wait for, and get, the lock in between."""
    url = f"sqlite:///{tmp_path / 'writes.db'}"
    migrate(url)
    database = Database.connect(url)
    other = sqlite3.connect(tmp_path / "writes.db", isolation_level=None)
    other.execute("CREATE TABLE kept (n INTEGER)")
    pool = database._write.pool  # type: ignore[attr-defined]

    def insert(connection: Connection, n: int, fail: bool = False) -> None:
        connection.execute(text("INSERT INTO kept VALUES (:n)"), {"n": n})
        if fail:
            raise ValueError("the unit fails after its insert")

    async def scenario() -> None:
        await database.write(insert, 1)
        assert pool.checkedout() == 1  # kept by the loop between writes
        with pytest.raises(ValueError, match="after its insert"):
            await database.write(insert, 2, fail=True)
        other.execute("INSERT INTO kept VALUES (3)")  # the lock is free: nothing left open
        await database.write(insert, 4)
        assert pool.checkedout() == 1  # the same one

    asyncio.run(scenario())
    assert [n for (n,) in other.execute("SELECT n FROM kept ORDER BY n")] == [1, 3, 4]
    gc.collect()  # the loop is gone: its connection went back to the pool
    assert pool.checkedout() == 0
    asyncio.run(database.dispose())
    other.close()


@pytest.mark.usefixtures("committing")
class TestLookup:
    """Database.lookup: a one-row read as a statement of its own; on PostgreSQL, on a
    connection of pg_direct's, outside SQLAlchemy's pool and greenlet."""

    def test_finds_the_row_a_read_finds(self, database: Database) -> None:
        with database.engine.begin() as connection:
            _, link = insert_file_and_link(connection, {}, {"expires_at": None})
        scope = Scope(link.account, link.livemode)

        async def scenario() -> tuple[object, ...]:
            found = await repository.find_file_link(database, scope, link.id)
            read = await database.read(repository.get_file_link, scope, link.id)
            elsewhere = await repository.find_file_link(
                database, Scope("acct_other", True), link.id
            )
            missing = await repository.find_file_link(database, scope, "link_NoSuchLink000000000")
            unstorable = await repository.find_file_link(database, scope, "link_\x00x")
            return found, read, elsewhere, missing, unstorable

        found, read, elsewhere, missing, unstorable = asyncio.run(scenario())
        assert found == read == link  # every column, metadata's JSON and the booleans included
        assert isinstance(found, FileLinkRow)
        assert found.metadata == {"order": "6735", "note": "ünïcode"}
        assert (elsewhere, missing, unstorable) == (None, None, None)

    def test_finds_a_public_file_as_a_read_does(self, database: Database) -> None:
        with database.engine.begin() as connection:
            file, link = insert_file_and_link(connection, {"filename": "été.pdf"}, {})

        async def scenario() -> tuple[object, ...]:
            found = await repository.find_public_file(database, link.token)
            read = await database.read(repository.get_public_file, link.token)
            unknown = await repository.find_public_file(database, "no-such-token")
            return found, read, unknown

        found, read, unknown = asyncio.run(scenario())
        assert found == read
        assert found is not None
        assert (found.link_expires_at, found.file()) == (link.expires_at, file)
        assert unknown is None

    def test_a_first_page_is_the_page_a_read_finds(self, database: Database) -> None:
        with database.engine.begin() as connection:
            links = [
                insert_file_and_link(connection, {}, {"created": created})[1]
                for created in (1_800_000_003, 1_800_000_001, 1_800_000_002)
            ]
        scope = Scope(links[0].account, links[0].livemode)

        async def scenario() -> tuple[Page[FileLinkRow], ...]:
            found = await repository.find_first_page(database, file_links, FileLinkRow, scope, 2)
            read = await database.read(
                repository.page,
                file_links,
                FileLinkRow,
                scope,
                [],
                limit=2,
                starting_after=None,
                ending_before=None,
            )
            rest = await repository.find_first_page(database, file_links, FileLinkRow, scope, 3)
            return found, read, rest

        found, read, rest = asyncio.run(scenario())
        assert found == read
        assert found.rows == [links[0], links[2]]  # newest first
        assert found.has_more
        assert rest.rows == [links[0], links[2], links[1]]
        assert not rest.has_more

    def test_a_file_and_its_links_are_what_a_read_finds(self, database: Database) -> None:
        with database.engine.begin() as connection:
            file, first = insert_file_and_link(connection, {}, {"created": 1_800_000_002})
            values = {name: value for name, value in first._asdict().items() if name != "seq"}
            others = [
                repository.insert_file_link(
                    connection, {**values, "id": link_id, "token": token, "created": created}
                )
                for created, link_id, token in (
                    (1_800_000_009, "link_Newest", "tok_newest"),
                    (1_800_000_001, "link_Oldest", "tok_oldest"),
                )
            ]
        scope = Scope(file.account, file.livemode)

        async def scenario() -> tuple[object, ...]:
            found = await repository.find_file(database, scope, file.id)
            page = await repository.find_links_of_file(database, scope, file.id, 2)
            read = await database.read(repository.links_for_files, scope, [file.id], 2)
            none = await repository.find_links_of_file(database, scope, "file_NoLinks", 2)
            return found, page, read[file.id], none

        found, page, read, none = asyncio.run(scenario())
        assert found == file
        assert page == read
        assert page.rows == [others[0], first]  # newest first
        assert page.has_more
        assert none == Page(rows=[], has_more=False)


def _grow(connection: Connection, link: FileLinkRow, first: int, last: int) -> None:
    """Links `first` to `last` of `link`'s scope and file."""
    connection.execute(
        text(
            "INSERT INTO file_links (id, account, livemode, created, file, metadata, token)"
            " SELECT 'link_grown_' || n, :account, :livemode, :created, :file, '{}',"
            " 'token_grown_' || n FROM generate_series(CAST(:first AS integer),"
            " CAST(:last AS integer)) AS n"
        ),
        {
            "account": link.account,
            "livemode": link.livemode,
            "created": link.created,
            "file": link.file,
            "first": first,
            "last": last,
        },
    )


def _lookup_of(database: Database, link: FileLinkRow) -> Any:
    return repository.find_file_link(database, Scope(link.account, link.livemode), link.id)


@pytest.mark.parametrize(
    "backend_url", [b for b in BACKENDS if b == "postgresql"], indirect=True, scope="session"
)
@pytest.mark.usefixtures("committing")
class TestDirectReadsOnPostgres:
    def test_a_dropped_connection_is_replaced_and_the_read_runs_again(
        self, database: Database
    ) -> None:
        with database.engine.begin() as connection:
            _, link = insert_file_and_link(connection, {}, {})
        direct = database._direct
        assert direct is not None

        async def scenario() -> tuple[object, object, int, int]:
            first = await _lookup_of(database, link)
            (kept,) = (cursor.connection for cursor in direct._pool().idle)
            with database.engine.begin() as connection:  # a restart, a cut link
                connection.execute(text(f"SELECT pg_terminate_backend({kept.info.backend_pid})"))
            again = await _lookup_of(database, link)
            (now_kept,) = (cursor.connection for cursor in direct._pool().idle)
            pids = kept.info.backend_pid, now_kept.info.backend_pid
            await direct.close()
            return first, again, *pids

        first, again, dead_pid, new_pid = asyncio.run(scenario())
        assert first == again == link
        assert new_pid != dead_pid

    def test_a_lookup_is_planned_for_its_table_as_it_is_never_by_a_cached_generic_plan(
        self, database: Database
    ) -> None:
        """psycopg prepares a statement run 5 times on a connection, and PostgreSQL then may
        cache one generic plan for it, kept on that connection however the table grows: made
        while a table had a page or two, a sequential scan (a retrieve took 64 ms at 26,000
        links in bench/run.py --rounds, 0.1 ms at first). The service's connections plan every
        execution for the table as it is (plan_cache_mode = force_custom_plan)."""
        with database.engine.begin() as connection:
            _, link = insert_file_and_link(connection, {}, {})
            _grow(connection, link, 1, 20)
        direct = DirectReads(database.url, timeout=10, connect_args=database.connect_args, size=1)
        dialect = database._read.dialect
        params = _by_scope_params(Scope(link.account, link.livemode), link.id)

        async def plans(cursor: Any) -> tuple[int, int, str]:
            for _ in range(20):  # prepared (psycopg, from the 5th), then past 5 custom plans
                assert await _GET_FILE_LINK.first_direct(cursor, dialect, params) == link
            connection = cursor.connection
            cursor = await connection.execute(
                "SELECT name, generic_plans, custom_plans FROM pg_prepared_statements"
                " WHERE statement LIKE %s",
                ["SELECT file_links.seq%"],
            )
            name, generic, custom = await cursor.fetchone()
            explained = sql.SQL("EXPLAIN EXECUTE {}({}, {}, {})").format(
                sql.Identifier(name), *(sql.Literal(params[key]) for key in params)
            )
            cursor = await connection.execute(explained)
            return generic, custom, "\n".join(row[0] for row in await cursor.fetchall())

        async def scenario() -> tuple[tuple[int, int, str], tuple[int, int, str]]:
            try:
                small = await direct.run(plans)  # while the scope has 21 links
                with database.engine.begin() as connection:
                    _grow(connection, link, 21, 20_000)
                return small, await direct.run(plans)
            finally:
                await direct.close()

        (generic, custom, _), (generic_after, _, grown) = asyncio.run(scenario())
        assert generic == 0, (generic, custom)
        assert custom >= 10, (generic, custom)
        assert generic_after == 0
        assert "Index Scan using uq_file_links_id" in grown, grown

    def test_every_connection_of_the_service_plans_each_statement_anew(
        self, database: Database
    ) -> None:
        def mode(connection: Connection) -> str:
            return str(connection.execute(text("SHOW plan_cache_mode")).scalar_one())

        async def direct_mode(cursor: Any) -> str:
            await cursor.execute("SHOW plan_cache_mode")
            return str((await cursor.fetchone())[0])

        async def scenario() -> list[str]:
            assert database._direct is not None
            return [
                await database.read(mode),
                await database.write(mode),
                await database._direct.run(direct_mode),
            ]

        with database.engine.connect() as connection:
            assert mode(connection) == "force_custom_plan"
        assert asyncio.run(scenario()) == ["force_custom_plan"] * 3

    def test_every_connection_takes_the_urls_options_whole(self, database: Database) -> None:
        """A URL whose `options` hold two settings (a space between them): every connection
        the service makes gets both, as SQLAlchemy's engines do. Rendered back to a string,
        SQLAlchemy writes the space as `+`, which libpq keeps as a `+`: the direct reads' and
        the log's connections got `search_path` `schema+-c...` (every retrieve: "relation
        does not exist") and the listener's lost the second setting."""
        url = make_url(database.url)
        name = f"filelinks_{secrets.token_hex(4)}"
        options = f"{url.query['options']} -capplication_name={name}"
        spaced = Database.connect(
            url.update_query_dict({"options": options}).render_as_string(hide_password=False)
        )
        wanted = (str(url.query["options"]).removeprefix("-csearch_path="), name)

        def shown(connection: Connection) -> tuple[str, str]:
            got = connection.execute(text(SHOW_SETTINGS)).one()
            return str(got[0]), str(got[1])

        async def direct_shown(cursor: Any) -> tuple[str, str]:
            await cursor.execute(SHOW_SETTINGS)
            got = await cursor.fetchone()
            return str(got[0]), str(got[1])

        def listener_of(connection: Connection) -> str | None:
            return connection.execute(
                text(
                    "SELECT application_name FROM pg_stat_activity"
                    " WHERE query LIKE 'LISTEN %' AND application_name = :name"
                ),
                {"name": name},
            ).scalar()

        async def scenario() -> list[Any]:
            assert spaced._direct is not None
            own = await pg_direct.connect(spaced.url, spaced.connect_args)  # the log's inserts
            try:
                async with own.cursor() as cursor:
                    logs = await direct_shown(cursor)
            finally:
                await own.close()
            listening = spaced.listen("filelinks_options_test", idle=5)
            try:
                assert await anext(listening) is None  # listening now
                listener = await spaced.read(listener_of)
            finally:
                await listening.aclose()
            return [
                await spaced.read(shown),
                await spaced.write(shown),
                await spaced._direct.run(direct_shown),
                logs,
                listener,
            ]

        try:
            read, write, direct, logs, listener = asyncio.run(scenario())
        finally:
            asyncio.run(spaced.dispose())
        assert read == write == direct == logs == wanted
        assert listener == name

    def test_a_listener_gets_every_notification_that_arrives_in_one_read(
        self, database: Database
    ) -> None:
        """NOTIFYs committed together reach the listening connection in one read. Each is
        yielded: the listener used to keep only the last of such a batch, so a clock change
        followed by a log barrier's question was lost (the clocks stayed stale until the next
        change), and a barrier's answer followed by another message left its log query waiting
        a round of ASK_AGAIN_SECONDS or more."""
        channel = f"filelinks_{secrets.token_hex(4)}"

        def notify_three(connection: Connection) -> None:
            for payload in ("one", "two", "three"):
                repository.notify(connection, channel, payload)

        async def scenario() -> list[str | None]:
            listening = database.listen(channel, idle=0.5)
            try:
                assert await anext(listening) is None  # listening now
                await database.write(notify_three)
                return [await anext(listening) for _ in range(3)]
            finally:
                await listening.aclose()

        assert asyncio.run(scenario()) == ["one", "two", "three"]

    def test_at_most_size_connections_per_loop_each_kept(self, database: Database) -> None:
        with database.engine.begin() as connection:
            _, link = insert_file_and_link(connection, {}, {})
        direct = DirectReads(database.url, timeout=10, connect_args=database.connect_args, size=3)
        dialect = database._read.dialect
        made: list[object] = []
        cursors: list[object] = []

        async def statement(cursor: Any) -> Any:
            made.append(cursor.connection)
            cursors.append(cursor)
            await cursor.execute("SELECT pg_sleep(0.05)")
            params = _by_scope_params(Scope(link.account, link.livemode), link.id)
            return await _GET_FILE_LINK.first_direct(cursor, dialect, params)

        async def scenario() -> tuple[list[Any], int]:
            rows = await asyncio.gather(*(direct.run(statement) for _ in range(12)))
            idle = len(direct._pool().idle)
            await direct.close()
            return rows, idle

        rows, idle = asyncio.run(scenario())
        assert rows == [link] * 12
        assert len({id(connection) for connection in made}) == 3  # made once, then reused
        assert len({id(cursor) for cursor in cursors}) == 3  # each with its one cursor
        assert idle == 3

    def test_a_read_cancelled_midway_leaves_its_connection_behind(self, database: Database) -> None:
        direct = DirectReads(database.url, timeout=10, connect_args=database.connect_args)
        used: list[Any] = []

        async def slow(cursor: Any) -> None:
            used.append(cursor.connection)
            await cursor.execute("SELECT pg_sleep(5)")

        async def scenario() -> tuple[int, float]:
            task = asyncio.ensure_future(direct.run(slow))
            deadline = time.monotonic() + 5
            while not (used and used[0].info.transaction_status == TransactionStatus.ACTIVE):
                assert time.monotonic() < deadline, "the statement never started"
                await asyncio.sleep(0.005)  # a poll with a deadline: the query is at the server
            task.cancel()
            with pytest.raises(asyncio.CancelledError):
                await task
            idle = len(direct._pool().idle)
            started = time.monotonic()
            await direct.run(lambda cursor: cursor.execute("SELECT 1"))
            took = time.monotonic() - started
            await asyncio.gather(*pg_direct._closing)  # the dropped one, closed in the background
            await direct.close()
            return idle, took

        idle, took = asyncio.run(scenario())
        assert idle == 0  # mid-statement: never handed to the next read
        assert took < 2  # the next read is on a new connection, not behind the sleep
        assert used[0].closed


def test_a_lookup_is_a_database_timeout_when_postgres_never_answers() -> None:
    from tests.test_cli import SilentServer

    silent = SilentServer()
    database = Database.connect(
        f"postgresql+psycopg://postgres@127.0.0.1:{silent.port}/x", connect_timeout=2
    )
    link = FileLinkRow(1, "link_x", "acct_silent", False, 1, None, "file_x", {}, "tok")
    try:
        started = time.monotonic()
        with pytest.raises(DatabaseTimeout):
            asyncio.run(_lookup_of(database, link))
        took = time.monotonic() - started
    finally:
        silent.close()
    assert 1.5 < took < 5
