"""The storage interface, its errors, and what both backends share."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Protocol

from filelinks_api.errors import ServiceUnavailable, StripeError

CHUNK = 64 * 1024
HEAD_BYTES = 8192
# A staged upload untouched this long was left by a crash (see `LocalStorage.sweep_staged`).
STALE_STAGED_SECONDS = 24 * 3600


class ContentsMissing(StripeError):
    """A file's row exists but its bytes do not (the data dir was moved, cleaned or damaged).
    A clean 404 naming the file, never a 500 halfway through a response."""

    status = 404

    def __init__(self, file_id: str) -> None:
        super().__init__(
            f"The contents of file '{file_id}' are missing from this emulator's storage (was its"
            " data directory moved or cleaned?). Upload the file again.",
            code="resource_missing",
            param="id",
        )


class StoreUnavailable(ServiceUnavailable):
    """The object store did not answer, or refused a request: a 503, retryable."""

    def __init__(self, detail: str) -> None:
        super().__init__(
            f"The file store is unavailable ({detail}). Try again later.",
        )


class StagedFile(Protocol):
    size: int
    head: bytes
    path: Path
    stored_as: str | None  # the file id, once `Storage.commit` has put the bytes in place

    def write(self, chunk: bytes) -> None: ...

    def finish(self) -> None:
        """All bytes have arrived: make them readable at `path` (sniffing opens the file)."""

    def discard(self) -> None: ...

    def sha256(self) -> str: ...


class Storage(Protocol):
    """Where contents live. Everything that may wait on a disk or a network is async; `stage`
    only opens a local temp file, and `StagedFile.write` appends to it."""

    description: str  # for the start-up line: a directory or s3://bucket/prefix

    async def prepare(self) -> None:
        """At each worker's start: create what it writes into."""

    def stage(self) -> StagedFile: ...

    async def commit(self, staged: StagedFile, file_id: str) -> None:
        """Put the staged bytes in place as `file_id`'s contents (they are then durable)."""

    async def open(
        self, file_id: str, start: int = 0, end: int | None = None
    ) -> AsyncIterator[bytes]:
        """The bytes [start, end) in chunks. Awaiting it finds the contents, so a missing file
        fails here (as ContentsMissing), before any response has started."""
        ...

    async def delete(self, file_id: str) -> None: ...

    async def sweep_staged(self, *, older_than: float) -> int:
        """Remove interrupted uploads (staged files, unfinished multipart uploads) older than
        `older_than` seconds; returns how many."""
        ...

    def stored_ids(self, *, older_than: float) -> AsyncIterator[str]:
        """The ids of the stored contents last written more than `older_than` seconds ago."""
        ...


@asynccontextmanager
async def kept_only_on_success(storage: Storage, staged: StagedFile | None) -> AsyncIterator[None]:
    """Around an upload's handling: if the block fails, its staged bytes are discarded, or,
    once put in place, deleted when the failure is one of our refusals (the row never
    committed); after any other failure they stay for the sweep, since the row may have
    committed (a COMMIT whose answer was lost)."""
    try:
        yield
    except BaseException as exc:
        if staged is not None:
            if staged.stored_as is None:
                staged.discard()
            elif isinstance(exc, StripeError):
                # refused by a rule of ours: its transaction rolled back, the row never was
                try:
                    await storage.delete(staged.stored_as)
                except Exception:
                    pass  # the first failure is the one to report; the sweep gets the bytes
            # Anything else (the database went silent or away during the COMMIT, the request
            # was cancelled) may have committed the row after all: the bytes stay, and the
            # start-up sweep removes them if no row has them.
        raise
