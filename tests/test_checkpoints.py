"""SQLite's WAL checkpoints of the service's database run on a thread of their own
(checkpoints.py), not in a request's commit: the write connections checkpoint only as a
backstop, the thread copies the WAL into the database file, the WAL stays bounded under writes
that never pause, and the thread stops with the Database. The request log's file keeps
SQLite's own checkpoint."""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Callable
from pathlib import Path

from sqlalchemy import text

from filelinks_api.checkpoints import BACKSTOP_FRAMES
from filelinks_api.db import Database, migrate
from filelinks_api.log_database import SqliteInserts, open_log_database
from tests.test_log_database import _entry

PAGE = 4096


def _checkpoint_threads(path: Path) -> list[str]:
    """The checkpoint threads of `path` (other tests' databases may have theirs)."""
    return [t.name for t in threading.enumerate() if t.name == f"checkpoint {path}"]


def _wait_for(condition: Callable[[], bool], timeout: float = 5.0) -> bool:
    """Poll `condition` until it holds or `timeout` passes (the thread's checkpoint runs on
    its own schedule: nothing to wait on but its effect on the file)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.02)
    return condition()


def test_a_commit_checkpoints_only_as_a_backstop_and_the_thread_copies_the_wal_back(tmp_path: Path):
    path = tmp_path / "filelinks.db"
    url = f"sqlite:///{path}"
    migrate(url)
    database = Database.connect(url)
    assert database.checkpointer is not None
    before = path.stat().st_size

    async def write_rows() -> int:
        await database.write(lambda c: c.execute(text("CREATE TABLE blobs (b BLOB)")))
        for _ in range(50):
            await database.write(
                lambda c: c.execute(text("INSERT INTO blobs VALUES (randomblob(20000))"))
            )
        return await database.write(
            lambda c: int(c.exec_driver_sql("PRAGMA wal_autocheckpoint").scalar_one())
        )

    try:
        # a commit checkpoints only as the backstop
        assert asyncio.run(write_rows()) == BACKSTOP_FRAMES
        assert _checkpoint_threads(path) == [f"checkpoint {path}"]
        # ~1 MB written: the thread copies it from the WAL into the database file
        assert _wait_for(lambda: path.stat().st_size > before + 900_000), path.stat().st_size
        # counted once the checkpoint returns, which is after the file has grown
        checkpointer = database.checkpointer
        assert _wait_for(lambda: checkpointer.checkpoints >= 1), checkpointer.checkpoints
    finally:
        asyncio.run(database.dispose())
    assert _checkpoint_threads(path) == []  # stopped with the Database


def test_the_wal_stays_bounded_under_writes_that_never_pause(tmp_path: Path):
    """A PASSIVE checkpoint never catches up with writers that never pause (frames arrive
    while it copies), nor can the thread's RESTART take the lock between them: the writers'
    own checkpoint, at BACKSTOP_FRAMES, still restarts the WAL."""
    path = tmp_path / "busy.db"
    url = f"sqlite:///{path}"
    database = Database.connect(url)

    async def write_without_pause() -> int:
        await database.write(lambda c: c.execute(text("CREATE TABLE blobs (b BLOB)")))
        written = 0
        while written < 8 * BACKSTOP_FRAMES * PAGE:
            await database.write(
                lambda c: (
                    c.exec_driver_sql("INSERT INTO blobs VALUES (randomblob(3 * 4096));").close()
                    or c.exec_driver_sql(
                        "DELETE FROM blobs WHERE rowid < (SELECT max(rowid) - 50 FROM blobs)"
                    ).close()
                )
            )
            written += 4 * PAGE
        return written

    try:
        written = asyncio.run(write_without_pause())
        wal = path.with_name(f"{path.name}-wal").stat().st_size
    finally:
        asyncio.run(database.dispose())
    # without the backstop the WAL holds all of it and more (247 MB for 131 MB written, the
    # deletes' pages too); with it, 5,200-10,200 frames of the 32,000 written (five runs)
    assert wal < written / 2, (wal, written)
    assert database.checkpointer is not None
    assert database.checkpointer.checkpoints >= 1


def test_the_request_logs_file_keeps_sqlites_own_checkpoint(tmp_path: Path):
    """Written without fsync, its checkpoints are copies only: on the thread they cost a
    logged retrieve more than inline (checkpoints.py)."""
    url = f"sqlite:///{tmp_path / 'filelinks.db'}"
    migrate(url)
    log_db = open_log_database(Database.connect(url))
    direct = SqliteInserts(log_db)

    async def settings() -> tuple[int, int]:
        await direct.insert([_entry("req_ckpt")])
        connection = direct._connected(asyncio.get_running_loop())
        own = int(connection.execute("PRAGMA wal_autocheckpoint").fetchone()[0])
        await direct.close()
        written = await log_db.write(
            lambda c: int(c.exec_driver_sql("PRAGMA wal_autocheckpoint").scalar_one())
        )
        return own, written

    try:
        assert log_db.checkpointer is None
        assert asyncio.run(settings()) == (1000, 1000)  # SQLite's default
    finally:
        asyncio.run(log_db.dispose())
