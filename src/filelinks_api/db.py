"""Engines, sessions and migrations.

Concurrency style (measured, see bench/README.md): endpoints are `async def` and call the
synchronous SQLAlchemy API inline. A request never holds a connection across an `await`
(uploads are staged before the first query; sessions end before a response streams), so a
worker never waits for a connection that a suspended request of its own is holding.

SQLite: WAL, foreign keys, a busy timeout, and transactions begun by us (the pysqlite fix from
SQLAlchemy's dialect docs) so that write requests take the lock up front with BEGIN IMMEDIATE
instead of failing to upgrade a read lock later. Requests wait for that lock with
`asyncio.sleep` (`Database.begin_write`), holding no connection while they wait; reads have an
autocommit engine of their own and never wait for it.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson
from alembic import command
from alembic.config import Config
from sqlalchemy import Connection, Engine, create_engine, event, text
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import Session, sessionmaker

SQLITE_BUSY_TIMEOUT_MS = 5000
POSTGRES_LOCK_TIMEOUT = "3s"


_POOL: dict[str, Any] = {"pool_size": 8, "max_overflow": 8, "pool_timeout": 10}
# metadata columns: orjson instead of the stdlib (json.loads was 11% of a 100-link page)
_JSON: dict[str, Any] = {
    "json_serializer": lambda value: orjson.dumps(value).decode(),
    "json_deserializer": orjson.loads,
}


def create_db_engine(url: str, *, reads: bool = False) -> Engine:
    """The engine of write transactions or, with `reads`, the one of autocommit reads.

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
    # Reads need no transaction of their own: autocommit saves the BEGIN and ROLLBACK trips.
    isolation = {"isolation_level": "AUTOCOMMIT"} if reads else {}
    engine = create_engine(url, **_POOL, **_JSON, **isolation)

    @event.listens_for(engine, "connect")
    def on_connect(dbapi_connection: Any, _record: Any) -> None:
        # A row lock that cannot be had quickly becomes Stripe's 429 lock_timeout.
        with dbapi_connection.cursor() as cursor:
            cursor.execute(f"SET lock_timeout = '{POSTGRES_LOCK_TIMEOUT}'")
        dbapi_connection.commit()

    return engine


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


@dataclass
class Database:
    engine: Engine  # transactions: writes, migrations, maintenance
    read_engine: Engine  # autocommit, one statement at a time
    writer: sessionmaker[Session]

    @classmethod
    def connect(cls, url: str) -> Database:
        engine = create_db_engine(url)
        # Writes take the lock up front on SQLite (BEGIN IMMEDIATE), never halfway through.
        write_engine = engine.execution_options(sqlite_immediate=True)
        return cls(
            engine=engine,
            read_engine=create_db_engine(url, reads=True),
            writer=sessionmaker(write_engine, expire_on_commit=False),
        )

    async def begin_write(
        self, session: Session, *, timeout: float = SQLITE_BUSY_TIMEOUT_MS / 1000
    ) -> None:
        """Begin `session`'s transaction holding SQLite's write lock, without blocking the
        event loop while another process holds it.

        sqlite3 waits for a lock inside its busy handler, sleeping with the whole worker
        stopped: with two workers, one writer froze every request of the other worker for
        milliseconds (42% of samples in a write profile). Here BEGIN IMMEDIATE fails at once
        instead, and is retried after an `asyncio.sleep` while the worker serves other
        requests, for up to `timeout`; then the lock timeout (429), as before.
        PostgreSQL takes row locks inside its statements: nothing to do. Nor for a session
        already in its transaction, or bound to a connection whose owner runs the transaction
        (the tests' session).
        """
        if (
            self.engine.dialect.name != "sqlite"
            or session.in_transaction()
            or not isinstance(session.get_bind(), Engine)
        ):
            return
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        delay = 0.0002
        while True:
            try:
                session.connection(execution_options={"sqlite_nowait": True})
                return
            except OperationalError as exc:
                session.rollback()
                if not is_lock_timeout(exc) or loop.time() + delay > deadline:
                    raise
            await asyncio.sleep(delay)
            delay = min(delay * 2, 0.004)

    def reader(self) -> Connection:
        """A connection for reads; they never wait for the SQLite write lock."""
        return self.read_engine.connect()

    def ping(self) -> bool:
        try:
            with self.reader() as connection:
                connection.execute(text("SELECT 1"))
            return True
        except Exception:
            return False

    def dispose(self) -> None:
        self.engine.dispose()
        self.read_engine.dispose()


_LOCK_ERRORS = ("database is locked", "locknotavailable", "lock timeout", "could not obtain lock")


def is_lock_timeout(exc: BaseException) -> bool:
    """SQLite's busy timeout or PostgreSQL's lock_timeout ran out."""
    if not isinstance(exc, OperationalError):
        return False
    text = f"{type(exc.orig).__name__} {exc.orig}".lower()
    return any(marker in text for marker in _LOCK_ERRORS)


def migrations_dir() -> Path:
    """Inside the installed package (wheel) or at the repository root (editable install)."""
    packaged = Path(__file__).parent / "migrations"
    if packaged.is_dir():
        return packaged
    return Path(__file__).resolve().parents[2] / "migrations"


def alembic_config(url: str) -> Config:
    config = Config()
    config.set_main_option("script_location", str(migrations_dir()))
    config.attributes["url"] = url
    return config


def migrate(url: str) -> None:
    """Upgrade the schema to the newest revision."""
    command.upgrade(alembic_config(url), "head")
