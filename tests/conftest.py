"""Fixtures: every database test runs on SQLite and, when FILELINKS_TEST_DATABASE_URL is set,
on PostgreSQL too. The schema comes from the migrations, once per run; each test runs inside
a transaction that is rolled back (the app's commits become savepoint releases)."""

from __future__ import annotations

import asyncio
import os
import secrets
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import create_engine
from sqlalchemy.orm import Session

from filelinks_api import ids
from filelinks_api.app import create_app
from filelinks_api.config import Settings
from filelinks_api.db import Database, migrate
from filelinks_api.log_database import create_log_table
from tests import pg
from tests.s3 import Moto, start_moto

pytest_plugins = ["tests.error_log_guard", "pytester"]

BACKENDS = ["sqlite"]
if os.environ.get("FILELINKS_TEST_DATABASE_URL"):
    BACKENDS.append("postgresql")


class FakeClock:
    """Time that tests move instead of sleeping."""

    def __init__(self, start: int = 1_800_000_000) -> None:
        self.current = start

    def now(self) -> int:
        return self.current

    def advance(self, seconds: int) -> None:
        self.current += seconds


def postgres_schema_url(schema: str) -> str:
    """The test database URL, every connection confined to `schema` through search_path."""
    return pg.schema_url(os.environ["FILELINKS_TEST_DATABASE_URL"], schema)


def create_postgres_schema(schema: str) -> None:
    pg.create_schema(os.environ["FILELINKS_TEST_DATABASE_URL"], schema)


def drop_postgres_schema(schema: str) -> None:
    pg.drop_schema(os.environ["FILELINKS_TEST_DATABASE_URL"], schema)


@pytest.fixture(scope="session")
def backend_url(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[str]:
    """A freshly migrated, empty database for `request.param` (the backend name)."""
    backend = request.param
    if backend == "sqlite":
        url = f"sqlite:///{tmp_path_factory.mktemp('db') / 'test.db'}"
        migrate(url)
        # Serving, the log has a file of its own (log_database.py); here the requests share
        # one rolled-back session, their log entries included, so its table is in this file.
        engine = create_engine(url)
        with engine.begin() as connection:
            create_log_table(connection)
        engine.dispose()
        yield url
        return
    schema = f"filelinks_test_{secrets.token_hex(4)}"
    create_postgres_schema(schema)
    url = postgres_schema_url(schema)
    try:
        migrate(url)
        yield url
    finally:
        drop_postgres_schema(schema)


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    """Every database test on every backend, unless it names its own backends."""
    own = any(
        "backend_url" in str(mark.args[0])
        for mark in metafunc.definition.iter_markers("parametrize")
    )
    if "backend_url" in metafunc.fixturenames and not own:
        metafunc.parametrize("backend_url", BACKENDS, indirect=True, scope="session")


@pytest.fixture(scope="session")
def database(backend_url: str) -> Iterator[Database]:
    db = Database.connect(backend_url)
    yield db
    asyncio.run(db.dispose())


@pytest.fixture
def session(database: Database) -> Iterator[Session]:
    connection = database.engine.connect()
    outer = connection.begin()
    db_session = Session(bind=connection, join_transaction_mode="create_savepoint")
    yield db_session
    db_session.close()
    outer.rollback()
    connection.close()


class SharedSession:
    """`read()`, `write()` and `append()` of a Database, on the test's session: the requests' work runs
    inline on it, their commits release savepoints, and the test rolls everything back."""

    def __init__(self, session: Session) -> None:
        self.session = session

    async def read(self, work: Any, *args: Any, **kwargs: Any) -> Any:
        try:
            return work(self.session, *args, **kwargs)
        finally:
            self.session.rollback()  # a savepoint with nothing written

    async def write(self, work: Any, *args: Any, **kwargs: Any) -> Any:
        try:
            result = work(self.session, *args, **kwargs)
            self.session.commit()
            return result
        except BaseException:
            self.session.rollback()  # undone, as Database.write() does
            raise

    async def append(self, work: Any, *args: Any, **kwargs: Any) -> Any:
        return await self.write(work, *args, **kwargs)

    async def lookup(self, lookup: Any, params: dict[str, Any]) -> Any:
        return await self.read(lookup.first, params)

    async def rows(self, rows: Any, params: dict[str, Any]) -> list[Any]:
        return await self.read(rows.all, params)

    async def ping(self) -> bool:
        return True

    async def dispose(self) -> None:
        pass


def share_session(app: FastAPI, session: Session) -> None:
    """Every request of `app` uses the test's session, which is rolled back after the test;
    the requests' commits release savepoints inside it."""
    app.state.runtime.db = app.state.runtime.log_db = SharedSession(session)


@pytest.fixture(scope="session")
def moto(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Moto]:
    """One real S3 server (moto's server mode) for the whole session; tests use buckets of
    their own."""
    server = start_moto(tmp_path_factory.mktemp("moto") / "moto.log")
    yield server
    server.stop()


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def settings(tmp_path: Path, backend_url: str) -> Settings:
    return Settings(data_dir=tmp_path / "data", database_url=backend_url, _env_file=None)  # type: ignore[call-arg]


@pytest.fixture
def app(settings: Settings, database: Database, session: Session, clock: FakeClock) -> FastAPI:
    application = create_app(settings, clock=clock, database=database)
    share_session(application, session)
    return application


def file_row(account: str, **values: object) -> dict[str, object]:
    """A `files` row to insert straight through the repository, defaults overridden by
    `values` (a new id unless one is given)."""
    return {
        "id": ids.file_id(),
        "account": account,
        "livemode": False,
        "created": 1_800_000_000,
        "expires_at": None,
        "filename": "a.pdf",
        "purpose": "dispute_evidence",
        "size": 1,
        "title": None,
        "type": "pdf",
        "sha256": "0" * 64,
        **values,
    }


def eventually(condition: Callable[[], bool], seconds: float = 10) -> None:
    """Wait until `condition()` holds: a poll with a deadline, never a wait for a time."""
    deadline = time.monotonic() + seconds
    while not condition():
        assert time.monotonic() < deadline, "not within the deadline"
        time.sleep(0.01)


def new_key(mode: str = "test") -> str:
    return f"sk_{mode}_{secrets.token_hex(12)}"


@pytest.fixture
def api_key() -> str:
    """A fresh key per test: in open mode every key is its own account, so tests never meet."""
    return new_key()


@pytest.fixture
def anonymous(app: FastAPI) -> Iterator[TestClient]:
    """No key, no cookie: a browser following a public link."""
    with TestClient(app) as test_client:
        yield test_client


@pytest.fixture
def client(app: FastAPI, api_key: str) -> Iterator[TestClient]:
    with TestClient(app, headers={"Authorization": f"Bearer {api_key}"}) as test_client:
        yield test_client
