"""What keeps the stored state bounded while the service runs, in every worker process.

- Idempotency keys: a key is kept 24 hours by its account's clock, then forgotten
  (services/idempotency.prune_expired), every `KEYS_EVERY_SECONDS` (and by `serve` at start).
- The request log: besides the newest `FILELINKS_REQUEST_LOG_LIMIT` entries per scope (pruned
  as entries are written, api/request_log.py), at most `FILELINKS_REQUEST_LOG_TOTAL_LIMIT`
  entries in all, every `LOG_EVERY_SECONDS`: in open mode every key is a scope of its own,
  so the per-scope bound alone bounds nothing. Between two runs the log may hold what the
  service records in that time on top.
- On PostgreSQL, the planner's statistics: every run analyzes the tables that changed enough
  since their last analysis (repository/statistics.py), whether or not autovacuum runs; and,
  when the server's autovacuum is off, vacuums those holding many dead rows (the request
  log's prunes leave one per entry).

Deletes go in slices (services/slices.py). Several processes running this at once delete the
same rows; the second finds nothing left. A failed run is logged, and the next one tries
again.
"""

from __future__ import annotations

import asyncio
import logging
import random
from typing import Protocol

from filelinks_api import failures, metrics, repository
from filelinks_api.clock import Clock
from filelinks_api.db import Database
from filelinks_api.services import idempotency, request_log

log = logging.getLogger("filelinks_api.error")

LOG_EVERY_SECONDS = 10.0
KEYS_EVERY_SECONDS = 600.0


class HasDatabase(Protocol):
    db: Database
    log_db: Database  # the request log's (log_database.py)


class Housekeeping:
    def __init__(self, runtime: HasDatabase, clock: Clock, *, log_total: int | None) -> None:
        self.runtime = runtime  # its databases are looked up at each run (tests swap them)
        self.clock = clock
        self.log_total = log_total
        self.runs = 0  # completed runs, for tests to wait on
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        self._task = asyncio.get_running_loop().create_task(self._run())

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            try:
                await self._task
            except asyncio.CancelledError:
                pass
            self._task = None

    async def run_once(self, *, keys: bool) -> None:
        if self.log_total is not None:
            pruned = await request_log.prune_total(self.runtime.log_db, self.log_total)
            if pruned:
                metrics.REQUEST_LOG_ENTRIES.labels("pruned").inc(pruned)
        if keys:
            await idempotency.prune_expired(self.runtime.db, self.clock.now())
        if self.runtime.db.is_postgres:
            await self.runtime.db.write(repository.analyze_changed_tables)
            await self.runtime.db.append(repository.vacuum_dead_rows)  # outside a transaction

    async def _run(self) -> None:
        loop = asyncio.get_running_loop()
        # workers started together spread their runs out
        await asyncio.sleep(random.uniform(0, LOG_EVERY_SECONDS))
        keys_due = loop.time()
        while True:
            keys = loop.time() >= keys_due
            try:
                await self.run_once(keys=keys)
            except Exception as exc:
                failure = failures.classify(exc, "")
                metrics.BACKGROUND_FAILURES.labels("housekeeping", failure.kind.value).inc()
                if failure.unexpected:
                    log.error(
                        "housekeeping failed; trying again in %s s", LOG_EVERY_SECONDS, exc_info=exc
                    )
                else:
                    log.warning(
                        "housekeeping failed (%s); trying again in %s s", exc, LOG_EVERY_SECONDS
                    )
            else:
                if keys:
                    keys_due = loop.time() + KEYS_EVERY_SECONDS
            self.runs += 1
            await asyncio.sleep(LOG_EVERY_SECONDS)
