"""Where the request log is kept: a database of its own on SQLite, the service's on PostgreSQL.

Every logged request writes an entry, which a log query must find once the request's answer
is out (read-your-requests, api/request_log.py). On SQLite a write needs the database's one
write lock, the lock every API write takes: a log query (or, in an app given its database, an
answer) would then wait behind another process's write. So on SQLite the log lives in a file of its own beside the database
(`filelinks.requests.db` beside `filelinks.db`), with a lock of its own. On PostgreSQL it is
the `request_log` table of the service's database, UNLOGGED (migration 0006): no WAL flush
on commit, and no lock an API write takes.

The file's table is created here, not by the migrations (migration 0009 drops the table from
the SQLite database); `PRAGMA user_version` names its layout, and a file of another layout is
started afresh. It is written without fsync (the commit of an entry is then a write to the
page cache): the log is a diagnostic, which may lose its last entries, or all of them if a
crash of the machine damaged the file (set aside, and started afresh); never a file, link or
key, which stay in the service's database, fsynced as before.
"""

from __future__ import annotations

import asyncio
import logging
import sqlite3
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Protocol

import psycopg
from sqlalchemy import Connection
from sqlalchemy.dialects import sqlite
from sqlalchemy.engine import make_url
from sqlalchemy.exc import DBAPIError, StatementError
from sqlalchemy.schema import CreateIndex, CreateTable

from filelinks_api import pg_direct
from filelinks_api.db import DEFAULT_CONNECT_TIMEOUT, Database, begin_when_free, sqlite_path
from filelinks_api.failures import DatabaseTimeout, WriteLockTimeout
from filelinks_api.models import request_log
from filelinks_api.repository.request_log import INSERT_JSON_ROWS, json_rows, request_log_rows

log = logging.getLogger("filelinks_api.error")

# The file's layout: bump it with any change to the `request_log` table.
LAYOUT = 1
# How long a worker starting with others waits for the one creating the file's table.
_CREATE_TIMEOUT = 30.0


def log_file(database_url: str) -> Path | None:
    """The log's own file for a SQLite database URL (None: PostgreSQL, or a database with no
    file)."""
    path = sqlite_path(database_url)
    if path is None or str(path) == ":memory:":
        return None
    return path.with_name(f"{path.stem}.requests{path.suffix or '.db'}")


def writers_dir(log_path: Path) -> Path:
    """Where the processes writing the log file `log_path` keep their counters
    (log_marks.py)."""
    return log_path.with_name(f"{log_path.stem}.writers")


def open_log_database(
    database: Database, *, connect_timeout: float = DEFAULT_CONNECT_TIMEOUT
) -> Database:
    """The database the request log is written to and read from, for the service's
    `database`: a `Database` on the log's own file (its table made ready), or `database`."""
    path = log_file(database.url)
    if path is None:
        return database
    prepare_log_file(path)
    url = make_url(database.url).set(database=str(path)).render_as_string(hide_password=False)
    return Database.connect(url, connect_timeout=connect_timeout, durable=False)


def prepare_log_file(path: Path) -> None:
    """Create the log's table in `path`, or start it afresh if its layout is another.
    Workers starting together: the first takes the write lock, the others wait for it. A file
    SQLite cannot read (the log is written without fsync: a crash of the machine may leave it
    damaged) is set aside as `<name>.damaged` and the log starts afresh."""
    try:
        _prepare_waiting(path)
    except sqlite3.DatabaseError as exc:
        if isinstance(exc, sqlite3.OperationalError):
            raise  # locked, unwritable, no space: not the file's content
        log.warning("the request log's file %s is damaged (%s): starting it afresh", path, exc)
        path.replace(path.with_name(f"{path.name}.damaged"))
        for suffix in ("-wal", "-shm"):
            path.with_name(f"{path.name}{suffix}").unlink(missing_ok=True)
        _prepare_waiting(path)


def _prepare_waiting(path: Path) -> None:
    # Switching a new file to WAL while another worker does the same can fail at once with
    # "database is locked" (SQLite does not wait in its busy handler there): try again.
    deadline = time.monotonic() + _CREATE_TIMEOUT
    while True:
        try:
            _prepare(path)
            return
        except sqlite3.OperationalError as exc:
            if "locked" not in str(exc) or time.monotonic() > deadline:
                raise
        time.sleep(0.01)


def _prepare(path: Path) -> None:
    connection = sqlite3.connect(path, timeout=_CREATE_TIMEOUT, isolation_level=None)
    try:
        connection.execute("PRAGMA journal_mode=WAL")
        if connection.execute("PRAGMA user_version").fetchone()[0] == LAYOUT:
            return
        connection.execute("BEGIN IMMEDIATE")
        if connection.execute("PRAGMA user_version").fetchone()[0] != LAYOUT:
            connection.execute(f"DROP TABLE IF EXISTS {request_log.name}")
            for statement in _layout():
                connection.execute(statement)
            connection.execute(f"PRAGMA user_version = {LAYOUT}")
        connection.execute("COMMIT")
    finally:
        connection.close()


def create_log_table(connection: Connection) -> None:
    """The log's table in another SQLite database (the tests', whose requests share one
    rolled-back session, their log entries included)."""
    for statement in _layout():
        connection.exec_driver_sql(statement)


def _layout() -> list[str]:
    """`request_log` as models.py defines it, in SQLite's DDL."""
    dialect = sqlite.dialect()
    statements = [str(CreateTable(request_log).compile(dialect=dialect))]
    statements += [
        str(CreateIndex(index).compile(dialect=dialect)) for index in request_log.indexes
    ]
    return statements


class DirectInserts(Protocol):
    """The log's inserts on a connection of the log writer's own, outside SQLAlchemy's pool
    (and, on PostgreSQL, its greenlet): a serving process's log writer writes its batches
    this way; prunes, clears and reads go through the log's `Database` as before."""

    async def insert(self, rows: Sequence[dict[str, Any]]) -> bool:
        """Insert `rows` (as services.request_log.storable leaves them); False, having done
        nothing, for rows this way cannot take (then the caller writes them the plain way)."""

    async def close(self) -> None: ...


def direct_inserts(log_db: Database) -> DirectInserts:
    """The direct inserts into the log `log_db` keeps."""
    if log_db.is_postgres:
        return PostgresInserts(log_db)
    return SqliteInserts(log_db)


class SqliteInserts:
    """The log's inserts on SQLite on a sqlite3 connection of their own, per event loop:
    BEGIN IMMEDIATE (waiting for the other workers' batches without blocking the loop, as
    Database.write does), the driver's executemany, COMMIT; no pool, no SQLAlchemy
    transaction, a lock held by another process seen as sqlite3's own error, not wrapped.
    Measured in-process: about 35 µs per batch of one entry and 140 per batch of eight,
    against 60 and 165 as a unit of work of `Database.append`."""

    def __init__(self, log_db: Database) -> None:
        path = sqlite_path(log_db.url)
        assert path is not None, log_db.url
        self.path = path
        self.dialect = log_db.engine.dialect  # its column types' bind processors (JSON)
        self.timeout = log_db.write_timeout
        self._connections: dict[asyncio.AbstractEventLoop, sqlite3.Connection] = {}

    async def insert(self, rows: Sequence[dict[str, Any]]) -> bool:
        loop = asyncio.get_running_loop()
        connection = self._connected(loop)
        sql, params = request_log_rows(self.dialect, rows)
        try:
            await begin_when_free(
                lambda: connection.execute("BEGIN IMMEDIATE"),
                _busy,
                loop.time() + self.timeout,
            )
        except sqlite3.OperationalError as exc:
            if _busy(exc):
                raise WriteLockTimeout("waited for the request log's file") from None
            raise _wrapped(exc, sql, params) from exc
        try:
            connection.executemany(sql, params)
            connection.execute("COMMIT")
        except sqlite3.Error as exc:
            if connection.in_transaction:
                connection.execute("ROLLBACK")
            raise _wrapped(exc, sql, params) from exc
        return True

    async def close(self) -> None:
        connections, self._connections = self._connections, {}
        for connection in connections.values():
            connection.close()

    def _connected(self, loop: asyncio.AbstractEventLoop) -> sqlite3.Connection:
        connection = self._connections.get(loop)
        if connection is None:
            connection = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False)
            connection.execute("PRAGMA journal_mode=WAL")
            connection.execute("PRAGMA synchronous=OFF")  # as the log's Database (durable=False)
            connection.execute("PRAGMA busy_timeout=0")  # never waits in sqlite3's handler
            self._connections[loop] = connection
        return connection


def _busy(exc: Exception) -> bool:
    return isinstance(exc, sqlite3.OperationalError) and "locked" in str(exc)


def _wrapped(exc: sqlite3.Error, sql: str, params: Any) -> StatementError:
    """sqlite3's error as SQLAlchemy's, so that failures.classify reads it as any other."""
    return DBAPIError.instance(sql, params, exc, sqlite3.Error)


class PostgresInserts:
    """The log's inserts on PostgreSQL, on a psycopg connection of their own (autocommit),
    outside SQLAlchemy's pool and greenlet: a batch is one statement, its rows one JSON array
    (repository.request_log.json_rows). Measured in-process: 100-110 µs of CPU per batch of
    1-8 entries this way, 240-275 µs as a unit of work of `Database.append`.

    Bounded like any unit of work: a batch not written within `timeout` raises
    `DatabaseTimeout`, and its connection is closed. A connection found dead is replaced and
    the batch sent once more: if the first one had landed, the unique request ids refuse the
    repeat as a whole, and the batch counts as written.
    """

    def __init__(self, database: Database) -> None:
        self.url = database.url
        self.timeout = database.timeout
        self.connect_args = database.connect_args
        self._connection: psycopg.AsyncConnection[Any] | None = None
        self._loop: asyncio.AbstractEventLoop | None = None

    async def insert(self, rows: Sequence[dict[str, Any]]) -> bool:
        payload = json_rows(rows)
        if payload is None:
            return False
        try:
            async with asyncio.timeout(self.timeout):
                try:
                    await self._execute(payload)
                except psycopg.OperationalError:
                    await self._drop()  # dead (the database restarted, a link was cut): anew
                    try:
                        await self._execute(payload)
                    except psycopg.errors.UniqueViolation:
                        pass  # the first one landed before the connection died
        except TimeoutError:
            await self._drop()
            raise DatabaseTimeout(
                f"no answer from the database within {self.timeout:g} s"
            ) from None
        except BaseException:
            await self._drop()
            raise
        return True

    async def close(self) -> None:
        await self._drop()

    async def _execute(self, payload: str) -> None:
        connection = await self._connected()
        await connection.execute(INSERT_JSON_ROWS, (payload,))

    async def _connected(self) -> psycopg.AsyncConnection[Any]:
        loop = asyncio.get_running_loop()
        if self._connection is None or self._loop is not loop or self._connection.closed:
            self._connection = None  # one made on another loop (a test's) cannot be used here
            self._connection = await pg_direct.connect(self.url, self.connect_args)
            self._loop = loop
        return self._connection

    async def _drop(self) -> None:
        connection, self._connection = self._connection, None
        if connection is None or self._loop is not asyncio.get_running_loop():
            return
        pg_direct.drop(connection)
