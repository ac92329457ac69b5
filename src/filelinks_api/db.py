"""Engines, sessions and migrations.

Concurrency style (measured, see bench/README.md): endpoints are `async def` and call the
synchronous SQLAlchemy API inline. A request never holds a connection across an `await`
(uploads are staged before the first query; sessions end before a response streams), so a
worker never waits for a connection that a suspended request of its own is holding.

SQLite: WAL, foreign keys, a busy timeout, and transactions begun by us (the pysqlite fix from
SQLAlchemy's dialect docs) so that write requests take the lock up front with BEGIN IMMEDIATE
instead of failing to upgrade a read lock later.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from alembic import command
from alembic.config import Config
from sqlalchemy import Engine, create_engine, event, text
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import Session, sessionmaker

SQLITE_BUSY_TIMEOUT_MS = 5000
POSTGRES_LOCK_TIMEOUT = "3s"


def create_db_engine(url: str) -> Engine:
    if url.startswith("sqlite"):
        engine = create_engine(
            url,
            connect_args={"check_same_thread": False, "timeout": SQLITE_BUSY_TIMEOUT_MS / 1000},
            pool_size=8,
            max_overflow=8,
            pool_timeout=10,
        )
        _configure_sqlite(engine)
        return engine
    engine = create_engine(url, pool_size=8, max_overflow=8, pool_timeout=10)

    @event.listens_for(engine, "connect")
    def on_connect(dbapi_connection: Any, _record: Any) -> None:
        # A row lock that cannot be had quickly becomes Stripe's 429 lock_timeout.
        with dbapi_connection.cursor() as cursor:
            cursor.execute(f"SET lock_timeout = '{POSTGRES_LOCK_TIMEOUT}'")
        dbapi_connection.commit()

    return engine


def _configure_sqlite(engine: Engine) -> None:
    @event.listens_for(engine, "connect")
    def on_connect(dbapi_connection: Any, _record: Any) -> None:
        dbapi_connection.isolation_level = None  # we emit BEGIN ourselves
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")
        cursor.close()

    @event.listens_for(engine, "begin")
    def on_begin(connection: Any) -> None:
        options = connection.get_execution_options()
        if options.get("sqlite_immediate", False):
            connection.exec_driver_sql("BEGIN IMMEDIATE")
        elif not options.get("sqlite_autocommit", False):
            connection.exec_driver_sql("BEGIN")
        # else: a read; each statement is its own implicit transaction, no BEGIN to pay for


@dataclass
class Database:
    engine: Engine
    reader: sessionmaker[Session]
    writer: sessionmaker[Session]

    @classmethod
    def connect(cls, url: str) -> Database:
        engine = create_db_engine(url)
        write_engine = engine.execution_options(sqlite_immediate=True)
        # Reads need no transaction of their own: on PostgreSQL autocommit saves the BEGIN and
        # ROLLBACK round trips, on SQLite the explicit BEGIN.
        if engine.dialect.name == "postgresql":
            read_engine = engine.execution_options(isolation_level="AUTOCOMMIT")
        else:
            read_engine = engine.execution_options(sqlite_autocommit=True)
        return cls(
            engine=engine,
            reader=sessionmaker(read_engine, expire_on_commit=False),
            writer=sessionmaker(write_engine, expire_on_commit=False),
        )

    def ping(self) -> bool:
        try:
            with self.engine.connect() as connection:
                connection.execute(text("SELECT 1"))
            return True
        except Exception:
            return False

    def dispose(self) -> None:
        self.engine.dispose()


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
