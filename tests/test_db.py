"""Database.begin_write on SQLite: the write lock is awaited, not slept for with the loop stopped."""

from __future__ import annotations

import asyncio
import sqlite3
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import text
from sqlalchemy.exc import OperationalError

from filelinks_api.db import Database, is_lock_timeout, migrate


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


class TestBeginWrite:
    def test_waits_for_the_lock_while_the_loop_keeps_running(self, sqlite_db) -> None:
        database, path = sqlite_db
        holder = hold_write_lock(path)
        ticks = 0

        async def other_requests() -> None:
            nonlocal ticks
            while True:
                ticks += 1
                await asyncio.sleep(0.001)

        async def release_later() -> None:
            await asyncio.sleep(0.2)
            holder.execute("COMMIT")

        async def scenario() -> float:
            background = asyncio.create_task(other_requests())
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
        assert ticks >= 50  # ...and the loop ran other work meanwhile
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
