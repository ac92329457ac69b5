"""SQLite's WAL checkpoints on a thread of their own, not inside a request's commit.

By default SQLite checkpoints in the commit that takes the WAL past 1,000 pages: that commit
copies the WAL back into the database file and, with `synchronous=NORMAL`, fsyncs both, while
the worker's event loop, which runs SQLite inline (db.py), waits with every request it holds.
Measured on this machine (a link-like row with two indexes, one commit each): a commit took
38 µs on average, 11 µs at the median, and 63% of all commit time was in commits of over 1 ms
(up to 10.6 ms); with the automatic checkpoint off, 16 µs on average and never over 0.4 ms.

So a `Database` on a SQLite file written with fsync (the service's, not the request log's: see
below) raises the automatic checkpoint of its write connections to a backstop (BACKSTOP_FRAMES)
and keeps a `Checkpointer`: a thread that, every `interval` after a write of this process, runs
a PASSIVE checkpoint on a connection of its own, and a RESTART once the WAL holds
RESTART_FRAMES (so that the next write reuses it from its start). sqlite3 lets go of the GIL
while it copies and syncs, so the loop goes on serving; a writer that finds the lock taken by
the RESTART waits for it as for any other writer, awaiting (db.py).
Durability is unchanged: commits are not fsynced (WAL, `synchronous=NORMAL`), checkpoints are.

Measured in the real server (`bench/run.py --compare`, SQLite, 2 workers, 16 connections, the
same service without it): create 1.04-1.06x req/s in four runs, update 0.98-1.02x. The request
log's file, written without fsync, keeps SQLite's own checkpoint: its checkpoints are copies
only, and moving them to the thread made a retrieve (whose only write is its log entry) 0.90x
in one run out of two.
"""

from __future__ import annotations

import logging
import sqlite3
import threading
from pathlib import Path

log = logging.getLogger("filelinks_api.error")

# How long after a write the WAL is checkpointed, at most: at 3,000 writes a second of ~6 pages
# each, about 1,800 pages, near SQLite's own 1,000-page mark; idle, no checkpoint at all.
INTERVAL_SECONDS = 0.1

# A WAL of this many frames (pages) or more is restarted once checkpointed: see _run.
RESTART_FRAMES = 1000
RESTART_WAIT_MS = 50
# The write connections' own automatic checkpoint, kept as a backstop: writers that never
# pause leave no moment for the thread's RESTART (SQLite's locks are not fair), and a PASSIVE
# checkpoint never completes while frames keep coming; at this many frames the committing
# writer checkpoints what the thread has not yet copied (little), while it holds the lock, so
# the WAL restarts. SQLite's default is 1,000.
BACKSTOP_FRAMES = 4000
# Intervals the thread leaves the checkpoints to the writers, once it finds the WAL past it.
BACKOFF_INTERVALS = 10


class Checkpointer:
    """Checkpoints `path`'s WAL on a daemon thread, started by the first `wrote()`."""

    def __init__(self, path: Path, *, interval: float = INTERVAL_SECONDS) -> None:
        self.path = path
        self.interval = interval
        self.writes = 0  # counted by the writers (the GIL makes `+= 1` good enough: a count
        self._done = 0  # lost now and then only delays a checkpoint by one interval)
        self.checkpoints = 0  # how many ran (tests, diagnostics)
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()

    def wrote(self) -> None:
        """A write of this process committed: checkpoint within `interval`."""
        self.writes += 1
        if self._thread is None:
            self._start()

    def _start(self) -> None:
        with self._lock:
            if self._thread is not None:
                return
            self._thread = threading.Thread(
                target=self._run, name=f"checkpoint {self.path}", daemon=True
            )
            self._thread.start()

    def _run(self) -> None:
        stop = self._stop
        connection: sqlite3.Connection | None = None
        failed = False
        try:
            idle = 0
            while not stop.wait(self.interval):
                writes = self.writes
                if writes == self._done:
                    continue
                if idle:
                    idle -= 1
                    continue
                try:
                    if connection is None:
                        connection = sqlite3.connect(self.path, isolation_level=None)
                        connection.execute("PRAGMA synchronous=NORMAL")  # as db.py's
                        connection.execute(f"PRAGMA busy_timeout={RESTART_WAIT_MS}")
                    _, frames, _ = connection.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchone()
                    if frames >= BACKSTOP_FRAMES:
                        # writers that never pause: theirs restarts the WAL; a checkpoint of
                        # this thread running then would make them skip theirs
                        idle = BACKOFF_INTERVALS
                    elif frames >= RESTART_FRAMES:
                        connection.execute("PRAGMA wal_checkpoint(RESTART)").fetchone()
                except sqlite3.Error as exc:  # tried again at the next interval
                    if not failed:
                        log.warning("could not checkpoint %s: %s", self.path, exc)
                    failed = True
                    if connection is not None:
                        connection.close()
                        connection = None
                    continue
                failed = False
                self._done = writes
                self.checkpoints += 1
        finally:
            if connection is not None:
                connection.close()

    def stop(self, timeout: float = 5.0) -> None:
        """Stop the thread (a checkpoint in progress finishes first); a later write starts
        another."""
        with self._lock:
            stop, self._stop = self._stop, threading.Event()
            thread, self._thread = self._thread, None
        stop.set()
        if thread is not None:
            thread.join(timeout)
