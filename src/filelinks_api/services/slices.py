"""Deleting many rows without holding up a worker: in slices, a transaction each.

On SQLite every write runs on the worker's event loop, and holds the database's one write
lock: a DELETE of thousands of rows held every request of the worker, and every API write of
every worker, for as long as it took (a request log prune of a thousand entries: 2.5 ms, ten
times a second under load). Housekeeping's deletes (the request log's bounds, expired
idempotency keys) go in slices of `SLICE` rows instead, the loop serving what waits between
two, and the lock free for the other workers' writes.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from filelinks_api.db import Database

# Rows per transaction: on SQLite, a slice of request log entries holds the loop about as
# long as a batch of new entries does (0.65 ms).
SLICE = 200


async def delete_in_slices(db: Database, work: Callable[..., int], *args: Any) -> int:
    """`work(session, *args, limit=SLICE)`, which deletes at most `limit` rows and says how
    many, until it deletes less than a slice; how many rows were deleted in all."""
    deleted = 0
    while True:
        count = await db.write(work, *args, limit=SLICE)
        deleted += count
        if count < SLICE:
            return deleted
        await asyncio.sleep(0)
