"""How every process serving the same database learns of a test-clock change at once, so that
the next request anywhere (another worker, another host) runs on the new time.

Each process keeps the clocks in memory (services/controls.ClockBook) and must reload them when
another changes one. Two ways, by database:

- `EpochFile` (SQLite, one host): a change stores a fresh value in a word of `clocks.epoch`
  in the data dir, which every process maps; every request reads it and reloads when it
  moved. Needs the data dir shared, on one host (a mapping is shared by one machine's
  processes only).
- `ClockChannel` (PostgreSQL, any number of hosts, nothing shared but the database): a change
  bumps the `clock_epoch` counter and NOTIFYs it in its own transaction; every process LISTENs
  on a connection of its own and reloads, then records the change as applied in
  `clock_listeners`. The request that made the change returns only once every live listener
  has applied it (the fence), so a request sent afterwards anywhere sees the new time. Reads
  pay nothing: no query, no `stat`. A listener heartbeats every HEARTBEAT_SECONDS; one silent
  for ALIVE_SECONDS (a killed process) no longer holds changes up.
"""

from __future__ import annotations

import asyncio
import ctypes
import logging
import mmap
import os
import secrets
import socket
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Protocol

from filelinks_api import failures, metrics, repository
from filelinks_api.db import Database
from filelinks_api.repository import Executor

log = logging.getLogger("filelinks_api.error")

CHANNEL = "filelinks_clocks"
HEARTBEAT_SECONDS = 1.0
ALIVE_SECONDS = 5.0
FENCE_POLL_SECONDS = 0.002
_WORD_SIZE = 8  # EpochFile's word

Reload = Callable[[], Awaitable[None]]


class ClockSync(Protocol):
    async def start(self, reload: Reload) -> None:
        """Before the first request: load the clocks (through `reload`) and start listening."""

    async def stop(self) -> None: ...

    def stale(self) -> bool:
        """At the start of every request: must the clocks be reloaded now?"""

    def mark(self, session: Executor) -> None:
        """Inside the transaction that changes a clock."""

    async def published(self) -> None:
        """After that transaction committed: returns once every process will see the change."""


class EpochFile:
    """A word in the file `path`, mapped by every process of the host: a change stores a fresh
    random value in it, and a request compares it with the one its process last saw, a read
    of shared memory (a `stat` of the file per request was 4% of a SQLite retrieve's samples).
    The store is one aligned 8-byte write (ctypes), made after the change committed; 0 means
    no clock was ever changed with this data dir."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._map: mmap.mmap | None = None
        self._word: ctypes.c_uint64 | None = None
        self._seen: int | None = None

    def _mapped(self) -> ctypes.c_uint64:
        if self._word is None:
            fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o600)
            try:
                # processes mapping it together: a second ftruncate to the size is a no-op
                if os.fstat(fd).st_size < _WORD_SIZE:
                    os.ftruncate(fd, _WORD_SIZE)
                self._map = mmap.mmap(fd, _WORD_SIZE)
            finally:
                os.close(fd)  # the mapping keeps the file
            self._word = ctypes.c_uint64.from_buffer(self._map)
        return self._word

    async def start(self, reload: Reload) -> None:
        self._seen = None

    async def stop(self) -> None:
        if self._map is not None:
            self._word = None  # the mapping cannot close while it points in
            self._map.close()
            self._map = None

    def stale(self) -> bool:
        current = self._mapped().value
        if current == self._seen:
            return False
        self._seen = current  # a change made while reloading moves it again: reloaded again
        return current != 0

    def mark(self, session: Executor) -> None:
        pass

    async def published(self) -> None:
        token = secrets.randbits(64) or 1
        self._mapped().value = token
        # another process's change stored after ours differs from it: reloaded then
        self._seen = token


class ClockChannel:
    def __init__(self, db: Database) -> None:
        self.db = db
        self.id = f"{socket.gethostname()}:{os.getpid()}:{secrets.token_hex(4)}"[:200]
        self._task: asyncio.Task[None] | None = None
        self._listening = False
        # other messages on the channel, "<topic>:<body>": the handler of each topic
        self._topics: dict[str, Callable[[str], None]] = {}

    def subscribe(self, topic: str, handler: Callable[[str], None]) -> None:
        """Pass the body of each message "<topic>:<body>" to `handler`, on the event loop (it
        must not block); such a message is not a clock change."""
        self._topics[topic] = handler

    async def send(self, topic: str, body: str) -> None:
        """NOTIFY every process listening on the database (this one too) of "<topic>:<body>"."""
        await self.db.write(repository.notify, CHANNEL, f"{topic}:{body}")

    @property
    def listening(self) -> bool:
        return self._listening

    def stale(self) -> bool:
        # Listening, the listener reloads as soon as a change is announced. Until it is (at
        # start, or while the database is unreachable), every request reloads.
        return not self._listening

    def mark(self, session: Executor) -> None:
        repository.bump_clock_epoch(session, CHANNEL)

    async def start(self, reload: Reload) -> None:
        self._task = asyncio.create_task(self._listen(reload))

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            try:
                await self._task
            except (asyncio.CancelledError, Exception):
                pass
            self._task = None
        try:
            await self.db.write(repository.delete_clock_listener, self.id)
        except Exception:  # the database is gone: the row ages out (ALIVE_SECONDS)
            pass

    async def _listen(self, reload: Reload) -> None:
        seen = -1
        loop = asyncio.get_running_loop()
        beat_due = 0.0  # the heartbeat's, by the loop's clock: other messages may keep coming
        while True:
            try:
                connected = False
                async for payload in self.db.listen(CHANNEL, idle=HEARTBEAT_SECONDS):
                    if payload is not None and self._dispatched(payload):
                        if connected and loop.time() < beat_due:
                            continue
                        payload = None  # not a clock change; the heartbeat is due
                    if not connected:
                        # (Re)connected: changes may have been missed. Known to be behind until
                        # reloaded, so that no change returns before this process has it.
                        connected = True
                        await self.db.write(repository.save_clock_listener, self.id, -1)
                    if payload is not None or seen < 0 or not self._listening:
                        epoch = await self.db.read(repository.current_clock_epoch)
                        await reload()
                        seen = epoch
                    await self.db.write(repository.save_clock_listener, self.id, seen)
                    beat_due = loop.time() + HEARTBEAT_SECONDS
                    self._listening = True
            except asyncio.CancelledError:
                self._listening = False
                raise
            except Exception as exc:
                failure = failures.classify(exc, "")
                metrics.BACKGROUND_FAILURES.labels("clock_listener", failure.kind.value).inc()
                if failure.unexpected:
                    log.error("the clock listener failed; listening again in 1 s", exc_info=exc)
                elif self._listening:
                    log.warning(
                        "lost the clock channel's connection (%s); listening again in 1 s", exc
                    )
                self._listening = False
                seen = -1
                await asyncio.sleep(1)

    def _dispatched(self, payload: str) -> bool:
        topic, colon, body = payload.partition(":")
        handler = self._topics.get(topic) if colon else None
        if handler is None:
            return False
        try:
            handler(body)
        except Exception:  # a bug in a handler: the clocks keep listening
            log.exception("could not handle the channel's message %r", payload[:200])
        return True

    async def published(self) -> None:
        epoch = await self.db.read(repository.current_clock_epoch)
        loop = asyncio.get_running_loop()
        deadline = loop.time() + ALIVE_SECONDS + HEARTBEAT_SECONDS
        while await self.db.read(repository.clock_listeners_behind, epoch, ALIVE_SECONDS):
            if loop.time() >= deadline:
                log.warning("a clock change was not confirmed by every listener in time")
                return
            await asyncio.sleep(FENCE_POLL_SECONDS)
