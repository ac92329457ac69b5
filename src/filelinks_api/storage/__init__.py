"""File contents behind one small async interface, on local disk or in an S3-compatible store.

Bytes are staged into a local `tmp/` as they arrive (hashed and counted on the way), then put
in place under a name derived from the file id only, before the row commits: a crash can
leave orphan bytes (swept at start), never a row without bytes.

`FILELINKS_STORAGE_URL` picks the backend (`open_storage`): unset, `LocalStorage` under the
data dir; `s3://bucket/prefix`, `S3Storage` (storage/s3.py).
"""

from __future__ import annotations

from filelinks_api.config import Settings
from filelinks_api.storage.base import (
    CHUNK,
    HEAD_BYTES,
    STALE_STAGED_SECONDS,
    ContentsMissing,
    StagedFile,
    Storage,
    StoreUnavailable,
    kept_only_on_success,
)
from filelinks_api.storage.local import LocalStaged, LocalStorage


def open_storage(settings: Settings) -> Storage:
    """The backend `settings` name (no I/O: `serve` checks an S3 store before it starts)."""
    if settings.storage_url is None:
        return LocalStorage(settings.files_dir)
    from filelinks_api.storage.s3 import S3Storage, s3_location

    return S3Storage(
        s3_location(settings),
        staging=settings.files_dir / "tmp",
        timeout=settings.database_timeout_seconds,
    )


__all__ = [
    "CHUNK",
    "HEAD_BYTES",
    "STALE_STAGED_SECONDS",
    "ContentsMissing",
    "LocalStaged",
    "LocalStorage",
    "StagedFile",
    "Storage",
    "StoreUnavailable",
    "kept_only_on_success",
    "open_storage",
]
