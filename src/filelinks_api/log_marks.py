"""Read-your-requests on one host, without holding answers back for their log entries.

On SQLite the request log is a file of its own (log_database.py), written only by the worker
processes of one host. There a logged response goes out as soon as its entry is handed to the
process's log writer, which commits entries in the background, in the order they came, batch
after batch (api/request_log.py). What keeps read-your-requests (once a client has its
response, any log query that starts afterwards finds the entry, through any worker) is a pair
of counters per process, in a small file of its own in a directory beside the log: how many
entries it has been handed, and how many of them it has settled (written, or given up on). A
log query first reads every process's handed count, then waits until that process's settled
count reaches it (`settle`).

A process holds an exclusive `flock` on its file for as long as it runs: a file whose lock can
be taken belongs to a process that is gone (a crash, a kill), whose unwritten entries are lost
as the README says; it is not waited for, and its file is removed. The counters are two 8-byte
words of a shared mapping of that file, each written with one aligned store (ctypes), and read
by other processes with `pread`.
"""

from __future__ import annotations

import asyncio
import ctypes
import fcntl
import mmap
import os
import secrets
import struct
from pathlib import Path

SUFFIX = ".marks"
_WORDS = struct.Struct("=QQ")  # handed, settled
_POLL = 0.001  # seconds between two looks at the counters a query waits on


class LogMarks:
    """This process's counters, in `directory`: call `handed` for each entry the log writer
    takes, `settled` as its batches are written or given up, in the same order."""

    def __init__(self, directory: Path) -> None:
        directory.mkdir(parents=True, exist_ok=True)
        name = f"{os.getpid()}-{secrets.token_hex(4)}"
        # made and locked under another name first: a query never sees the file unlocked
        staging = directory / f"{name}.new"
        self.path = directory / f"{name}{SUFFIX}"
        fd = os.open(staging, os.O_RDWR | os.O_CREAT | os.O_EXCL, 0o600)
        try:
            os.ftruncate(fd, _WORDS.size)
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            self._map = mmap.mmap(fd, _WORDS.size)
            os.rename(staging, self.path)
        except BaseException:
            os.close(fd)
            staging.unlink(missing_ok=True)
            raise
        self._fd = fd  # kept open, and so locked, for the process's life
        self._handed: ctypes.c_uint64 | None = ctypes.c_uint64.from_buffer(self._map, 0)
        self._settled: ctypes.c_uint64 | None = ctypes.c_uint64.from_buffer(self._map, 8)

    def handed(self) -> None:
        assert self._handed is not None, "closed"
        self._handed.value += 1

    def settled(self, count: int) -> None:
        assert self._settled is not None, "closed"
        self._settled.value += count

    def close(self) -> None:
        """Remove the file (the process's entries are all settled, or lost)."""
        if self._handed is None:
            return
        self.path.unlink(missing_ok=True)
        self._handed = self._settled = None  # the mapping cannot close while they point in
        self._map.close()
        os.close(self._fd)


async def settle(directory: Path, timeout: float) -> bool:
    """Return once every entry handed to a running process's log writer before this call has
    settled; False if `timeout` seconds passed first (a writer stuck longer than its own
    write timeout allows). Files of processes that are gone are removed on the way."""
    waiting: list[tuple[int, int]] = []  # an open file and the handed count to wait for
    try:
        for path in directory.glob(f"*{SUFFIX}"):
            try:
                fd = os.open(path, os.O_RDONLY)
            except FileNotFoundError:
                continue  # its process closed it meanwhile
            if not _running(fd):
                path.unlink(missing_ok=True)
                os.close(fd)
                continue
            handed, settled = _WORDS.unpack(os.pread(fd, _WORDS.size, 0))
            if settled >= handed:
                os.close(fd)
            else:
                waiting.append((fd, handed))
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while waiting:
            if loop.time() >= deadline:
                return False
            await asyncio.sleep(_POLL)
            still = []
            for fd, handed in waiting:
                if _WORDS.unpack(os.pread(fd, _WORDS.size, 0))[1] >= handed or not _running(fd):
                    os.close(fd)
                else:
                    still.append((fd, handed))
            waiting = still
        return True
    finally:
        for fd, _ in waiting:
            os.close(fd)


def _running(fd: int) -> bool:
    """Whether the process owning the file open as `fd` still runs: it holds the lock."""
    try:
        fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
    except BlockingIOError:
        return True
    fcntl.flock(fd, fcntl.LOCK_UN)
    return False
