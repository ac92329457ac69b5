"""Engines, and the two ways a request reaches the database: `Database.read()` and
`Database.write()`.

Concurrency style (measured, see bench/README.md): endpoints are `async def`; repository and
service code is synchronous SQLAlchemy, run through a `Reader` or `Writer`. On SQLite it runs
inline (a local file; a thread hop would cost more than the query). On PostgreSQL it runs on
SQLAlchemy's async engine over psycopg's AsyncConnection, in `run_sync`'s greenlet: every
round trip, commits included, is awaited, so one worker overlaps many requests' database work.

SQLite: WAL, foreign keys, and transactions begun by us (the pysqlite fix from SQLAlchemy's
dialect docs) so that writes take the lock up front with BEGIN IMMEDIATE instead of failing to
upgrade a read lock later. Writers wait for that lock with `asyncio.sleep`, never inside
sqlite3's busy handler; reads have an autocommit engine of their own and never wait for it.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from contextlib import AbstractAsyncContextManager
from pathlib import Path
from typing import Any, Concatenate, ParamSpec, TypeVar

import orjson
from alembic import command
from alembic.config import Config
from sqlalchemy import Connection, Engine, create_engine, event, text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import OperationalError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, create_async_engine

SQLITE_BUSY_TIMEOUT_MS = 5000
POSTGRES_LOCK_TIMEOUT = "3s"
# How long connecting to PostgreSQL may take (FILELINKS_DATABASE_TIMEOUT_SECONDS): a host that
# accepts TCP and never answers must not hang `serve`, `migrate` or a request.
DEFAULT_CONNECT_TIMEOUT = 10.0


_POOL: dict[str, Any] = {"pool_size": 8, "max_overflow": 8, "pool_timeout": 10}
# Async PostgreSQL pools: a worker now overlaps requests, so each one may hold several
# connections at once; per engine (reads, writes) and per worker, 4 + 6 at most.
_ASYNC_POOL: dict[str, Any] = {"pool_size": 4, "max_overflow": 6, "pool_timeout": 10}
# metadata columns: orjson instead of the stdlib (json.loads was 11% of a 100-link page)
_JSON: dict[str, Any] = {
    "json_serializer": lambda value: orjson.dumps(value).decode(),
    "json_deserializer": orjson.loads,
}


def create_db_engine(
    url: str, *, reads: bool = False, connect_timeout: float = DEFAULT_CONNECT_TIMEOUT
) -> Engine:
    """A synchronous engine: SQLite's engine of write transactions or, with `reads`, of
    autocommit reads; on PostgreSQL, the maintenance engine (tests, sweeps).

    Reads have an engine (and pool) of their own rather than execution options on the write
    engine: no BEGIN hook to dispatch, no per-connection option lookup (measured: 42 µs per
    one-row read instead of 64 on SQLite).
    """
    if url.startswith("sqlite"):
        engine = create_engine(
            url,
            connect_args={"check_same_thread": False, "timeout": SQLITE_BUSY_TIMEOUT_MS / 1000},
            **_POOL,
            **_JSON,
        )
        _configure_sqlite(engine, reads=reads)
        return engine
    engine = create_engine(url, connect_args=_pg_connect_args(connect_timeout), **_POOL, **_JSON)
    _set_lock_timeout(engine)
    return engine


def create_async_db_engine(
    url: str, *, reads: bool = False, connect_timeout: float = DEFAULT_CONNECT_TIMEOUT
) -> AsyncEngine:
    """PostgreSQL through psycopg's AsyncConnection; reads in autocommit (no BEGIN and
    ROLLBACK round trips)."""
    isolation = {"isolation_level": "AUTOCOMMIT"} if reads else {}
    engine = create_async_engine(
        url, connect_args=_pg_connect_args(connect_timeout), **_ASYNC_POOL, **_JSON, **isolation
    )
    _set_lock_timeout(engine.sync_engine)
    return engine


def _pg_connect_args(connect_timeout: float) -> dict[str, Any]:
    # libpq's connect_timeout covers the whole startup, a server that never answers included;
    # it counts whole seconds (at least 2).
    return {"connect_timeout": max(2, int(connect_timeout + 0.999))}


def _set_lock_timeout(engine: Engine) -> None:
    @event.listens_for(engine, "connect")
    def on_connect(dbapi_connection: Any, _record: Any) -> None:
        # A row lock that cannot be had quickly becomes Stripe's 429 lock_timeout.
        cursor = dbapi_connection.cursor()
        cursor.execute(f"SET lock_timeout = '{POSTGRES_LOCK_TIMEOUT}'")
        cursor.close()
        dbapi_connection.commit()


def _configure_sqlite(engine: Engine, *, reads: bool) -> None:
    @event.listens_for(engine, "connect")
    def on_connect(dbapi_connection: Any, _record: Any) -> None:
        # pysqlite begins nothing by itself; reads run each statement in its own implicit
        # transaction, writes begin explicitly (below).
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")
        cursor.close()

    if reads:
        return

    @event.listens_for(engine, "begin")
    def on_begin(connection: Any) -> None:
        options = connection.get_execution_options()
        if not options.get("sqlite_immediate", False):
            connection.exec_driver_sql("BEGIN")
        elif options.get("sqlite_nowait", False):
            # Fail at once if another process holds the lock (begin_write retries, awaiting).
            driver = connection.connection.driver_connection
            driver.execute("PRAGMA busy_timeout=0")
            try:
                connection.exec_driver_sql("BEGIN IMMEDIATE")
            finally:
                driver.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")
        else:
            connection.exec_driver_sql("BEGIN IMMEDIATE")


P = ParamSpec("P")
T = TypeVar("T")


class Reader:
    """Autocommit reads: `await reader.run(work, *args)` calls `work(connection, *args)`.

    Repository and service code is plain synchronous SQLAlchemy. On SQLite it runs inline:
    a local file answers in microseconds and reads never wait for the write lock. On
    PostgreSQL the connection is SQLAlchemy's async one (psycopg's AsyncConnection) and the
    work runs in `run_sync`'s greenlet, so every round trip is awaited, never blocking the loop.
    """

    __slots__ = ("_connection",)

    def __init__(self, connection: Connection | AsyncConnection) -> None:
        self._connection = connection

    async def run(
        self, work: Callable[Concatenate[Any, P], T], *args: P.args, **kwargs: P.kwargs
    ) -> T:
        connection = self._connection
        if isinstance(connection, AsyncConnection):
            return await connection.run_sync(work, *args, **kwargs)
        return work(connection, *args, **kwargs)


class Writer(Reader):
    """A write transaction, begun (on SQLite: holding the write lock). Nothing is kept unless
    `commit()` is awaited before the `async with` block ends."""

    __slots__ = ()

    async def commit(self) -> None:
        connection = self._connection
        if isinstance(connection, AsyncConnection):
            await connection.commit()
        else:
            connection.commit()


class Database:
    """The only way to reach the database from a request: `read()` and `write()`.

    `write()` is the one entry point to a write transaction, and always begins it without
    blocking the event loop (`_begin_sqlite_write`; PostgreSQL's round trips are awaited).
    `engine` is synchronous, for maintenance outside requests (tests, migrations' checks).
    """

    def __init__(self, url: str, *, connect_timeout: float = DEFAULT_CONNECT_TIMEOUT) -> None:
        self.url = url
        self.dialect = "sqlite" if url.startswith("sqlite") else "postgresql"
        self.engine = create_db_engine(url, connect_timeout=connect_timeout)
        self._read: Engine | AsyncEngine
        self._write: Engine | AsyncEngine
        if self.dialect == "sqlite":
            self._read = create_db_engine(url, reads=True)
            # Writes take the lock up front (BEGIN IMMEDIATE), never halfway through.
            self._write = self.engine.execution_options(sqlite_immediate=True)
        else:
            self._read = create_async_db_engine(url, connect_timeout=connect_timeout, reads=True)
            self._write = create_async_db_engine(url, connect_timeout=connect_timeout)
        self.write_timeout = SQLITE_BUSY_TIMEOUT_MS / 1000

    @classmethod
    def connect(cls, url: str, *, connect_timeout: float = DEFAULT_CONNECT_TIMEOUT) -> Database:
        return cls(url, connect_timeout=connect_timeout)

    def read(self) -> AbstractAsyncContextManager[Reader]:
        """A connection for reads; they never wait for the SQLite write lock."""
        return _Session(self._read, write=False, timeout=0)

    def write(self, *, timeout: float | None = None) -> AbstractAsyncContextManager[Writer]:
        """A write transaction; on SQLite it waits up to `timeout` for the write lock (then
        the lock timeout, Stripe's 429)."""
        return _Session(
            self._write, write=True, timeout=self.write_timeout if timeout is None else timeout
        )

    async def ping(self) -> bool:
        try:
            async with self.read() as reader:
                await reader.run(_select_one)
            return True
        except Exception:
            return False

    async def dispose(self) -> None:
        self.engine.dispose()
        for engine in (self._read, self._write):
            if isinstance(engine, AsyncEngine):
                await engine.dispose()
            else:
                engine.dispose()


def _select_one(connection: Connection) -> None:
    connection.execute(text("SELECT 1"))


class _Session:
    """`async with`: a Reader or a begun Writer, closed (and rolled back unless committed) on
    exit. A class rather than @asynccontextmanager: this is on every request's path."""

    __slots__ = ("_connection", "_engine", "_timeout", "_write")

    def __init__(self, engine: Engine | AsyncEngine, *, write: bool, timeout: float) -> None:
        self._engine = engine
        self._write = write
        self._timeout = timeout
        self._connection: Connection | AsyncConnection | None = None

    async def __aenter__(self) -> Writer:
        engine = self._engine
        connection: Connection | AsyncConnection
        if isinstance(engine, AsyncEngine):
            connection = async_connection = await engine.connect()
            if self._write:
                try:
                    await async_connection.begin()
                except BaseException:
                    await async_connection.close()
                    raise
        else:
            connection = engine.connect()
            if self._write:
                await _begin_sqlite_write(connection, self._timeout)
        self._connection = connection
        return Writer(connection)

    async def __aexit__(self, *exc_info: object) -> None:
        connection = self._connection
        self._connection = None
        if isinstance(connection, AsyncConnection):
            await connection.close()
        elif connection is not None:
            connection.close()


async def _begin_sqlite_write(connection: Connection, timeout: float) -> None:
    """BEGIN IMMEDIATE without blocking the event loop while another process holds the lock.

    sqlite3 waits for a lock inside its busy handler, sleeping with the whole worker stopped:
    with two workers, one writer froze every request of the other worker for milliseconds (42%
    of samples in a write profile). Here BEGIN IMMEDIATE fails at once instead, and is retried
    after an `asyncio.sleep` while the worker serves other requests, for up to `timeout`; then
    the lock timeout (429).
    """
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    delay = 0.0002
    while True:
        try:
            connection.execution_options(sqlite_nowait=True).begin()
            return
        except OperationalError as exc:
            if connection.in_transaction():
                connection.rollback()
            if not is_lock_timeout(exc) or loop.time() + delay > deadline:
                connection.close()
                raise
        except BaseException:
            connection.close()
            raise
        try:
            await asyncio.sleep(delay)
        except BaseException:  # cancelled while waiting
            connection.close()
            raise
        delay = min(delay * 2, 0.004)


_LOCK_ERRORS = ("database is locked", "locknotavailable", "lock timeout", "could not obtain lock")


def is_lock_timeout(exc: BaseException) -> bool:
    """SQLite's busy timeout or PostgreSQL's lock_timeout ran out."""
    if not isinstance(exc, OperationalError):
        return False
    text = f"{type(exc.orig).__name__} {exc.orig}".lower()
    return any(marker in text for marker in _LOCK_ERRORS)


def sqlite_path(url: str) -> Path | None:
    """The database file of a SQLite URL (None for another database)."""
    if not url.startswith("sqlite"):
        return None
    database = make_url(url).database
    return Path(database) if database else None


def migrations_dir() -> Path:
    """Inside the installed package (wheel) or at the repository root (editable install)."""
    packaged = Path(__file__).parent / "migrations"
    if packaged.is_dir():
        return packaged
    return Path(__file__).resolve().parents[2] / "migrations"


def alembic_config(url: str, *, connect_timeout: float = DEFAULT_CONNECT_TIMEOUT) -> Config:
    config = Config()
    config.set_main_option("script_location", str(migrations_dir()))
    config.attributes["url"] = url
    config.attributes["connect_args"] = _pg_connect_args(connect_timeout)
    return config


def migrate(url: str, *, connect_timeout: float = DEFAULT_CONNECT_TIMEOUT) -> None:
    """Upgrade the schema to the newest revision."""
    command.upgrade(alembic_config(url, connect_timeout=connect_timeout), "head")
