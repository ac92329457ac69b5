"""Database.begin_write on SQLite: the write lock is awaited, not slept for with the loop stopped."""

from __future__ import annotations

import asyncio
import sqlite3
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import event, text
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import Session

from filelinks_api import ids, repository
from filelinks_api.app import create_app
from filelinks_api.config import Settings
from filelinks_api.db import Database, is_lock_timeout, migrate
from tests.conftest import file_row


@pytest.fixture
def sqlite_db(tmp_path: Path) -> Iterator[tuple[Database, Path]]:
    path = tmp_path / "lock.db"
    migrate(f"sqlite:///{path}")
    database = Database.connect(f"sqlite:///{path}")
    assert database.ping()  # the first connection puts the file in WAL, as `serve` does
    yield database, path
    database.dispose()


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


class TestBeginWrite:
    def test_waits_for_the_lock_while_the_loop_keeps_running(self, sqlite_db) -> None:
        database, path = sqlite_db
        holder = hold_write_lock(path)
        other_requests = Ticker()

        async def release_later() -> None:
            await asyncio.sleep(0.2)
            holder.execute("COMMIT")

        async def scenario() -> float:
            background = asyncio.create_task(other_requests.run())
            release = asyncio.create_task(release_later())
            started = time.monotonic()
            with database.writer() as session:
                await database.begin_write(session)
                waited = time.monotonic() - started
                session.execute(text("DELETE FROM idempotency_keys"))
                session.commit()
            await release
            background.cancel()
            return waited

        waited = asyncio.run(scenario())

        assert waited >= 0.15  # it did wait for the holder...
        assert other_requests.ticks >= 50  # ...and the loop ran other work meanwhile
        holder.close()

    def test_holds_the_lock_once_begun(self, sqlite_db) -> None:
        database, path = sqlite_db

        async def scenario() -> None:
            with database.writer() as session:
                await database.begin_write(session)
                other = sqlite3.connect(path, isolation_level=None, timeout=0)
                with pytest.raises(sqlite3.OperationalError, match="locked"):
                    other.execute("BEGIN IMMEDIATE")
                other.close()

        asyncio.run(scenario())

    def test_gives_up_with_a_lock_timeout(self, sqlite_db) -> None:
        database, path = sqlite_db
        holder = hold_write_lock(path)

        async def scenario() -> None:
            with database.writer() as session:
                await database.begin_write(session, timeout=0.1)

        with pytest.raises(OperationalError) as raised:
            asyncio.run(scenario())

        assert is_lock_timeout(raised.value)
        holder.close()

    def test_the_session_works_normally_after_retries(self, sqlite_db) -> None:
        database, path = sqlite_db
        holder = hold_write_lock(path)

        async def scenario() -> int:
            asyncio.get_running_loop().call_later(0.05, holder.execute, "COMMIT")
            with database.writer() as session:
                await database.begin_write(session)
                session.execute(
                    text(
                        "INSERT INTO account_clocks (account, livemode, frozen_at, offset_seconds)"
                        " VALUES ('acct_x', 0, 1, 0)"
                    )
                )
                session.commit()
            with database.reader() as connection:
                return len(connection.execute(text("SELECT * FROM account_clocks")).all())

        assert asyncio.run(scenario()) == 1
        holder.close()


class TestWritesThroughTheApp:
    """A POST with an Idempotency-Key commits its claim first, then begins its work: that
    second transaction must also wait for the lock without stopping the worker."""

    def test_the_work_after_the_claim_waits_without_blocking(self, tmp_path: Path) -> None:
        settings = Settings(data_dir=tmp_path / "data", _env_file=None)  # type: ignore[call-arg]
        settings.data_dir.mkdir()
        migrate(settings.resolved_database_url)
        app = create_app(settings)
        runtime = app.state.runtime
        key = "sk_test_" + "w" * 24
        with runtime.db.writer() as session:
            file = repository.insert_file(session, file_row(ids.account_for_key(key)))
            session.commit()
        db_path = settings.data_dir / "filelinks.db"
        holder = sqlite3.connect(db_path, isolation_level=None)
        held: list[float] = []

        def take_the_lock_once(_session: Session) -> None:
            # Right after the claim commits, "another process" starts writing for 200 ms.
            if not held:
                holder.execute("BEGIN IMMEDIATE")
                held.append(time.monotonic())
                asyncio.get_running_loop().call_later(0.2, holder.execute, "COMMIT")

        event.listen(runtime.db.writer, "after_commit", take_the_lock_once)
        other_requests = Ticker()
        status = 0
        body = f"file={file.id}".encode()

        async def post() -> None:
            nonlocal status

            async def receive() -> dict[str, object]:
                return {"type": "http.request", "body": body, "more_body": False}

            async def send(message: dict[str, object]) -> None:
                nonlocal status
                if message["type"] == "http.response.start":
                    status = int(message["status"])  # type: ignore[call-overload]

            headers = [
                (b"host", b"test"),
                (b"authorization", f"Bearer {key}".encode()),
                (b"idempotency-key", b"k-1"),
                (b"content-type", b"application/x-www-form-urlencoded"),
                (b"content-length", str(len(body)).encode()),
            ]
            scope = {
                "type": "http",
                "http_version": "1.1",
                "method": "POST",
                "scheme": "http",
                "path": "/v1/file_links",
                "raw_path": b"/v1/file_links",
                "query_string": b"",
                "root_path": "",
                "headers": headers,
                "client": ("127.0.0.1", 1),
                "server": ("127.0.0.1", 80),
            }
            await app(scope, receive, send)

        async def scenario() -> None:
            background = asyncio.create_task(other_requests.run())
            await post()
            background.cancel()

        asyncio.run(scenario())
        runtime.db.dispose()
        holder.close()

        assert held  # the lock was taken between the claim and the work
        assert status == 200
        # the worker kept running while the work waited for the lock
        assert other_requests.ticks >= 50
