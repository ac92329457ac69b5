"""Emulator controls: a test clock per account, a data reset, Stripe-generated files.

Not Stripe's API: these live under `/_emulator/` so test suites can watch links expire
without sleeping and start from a clean slate. Everything acts on the caller's scope only
(account, connected account, mode), so parallel suites with different keys never meet.

The clock of an account is either frozen at a timestamp or real time plus an offset. It is
stored in the database; each process keeps a copy, which services/clock_sync.py keeps current
in every process at once (a file's mtime on SQLite, LISTEN/NOTIFY on PostgreSQL).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from filelinks_api import repository
from filelinks_api.clock import Clock
from filelinks_api.errors import InvalidRequestError
from filelinks_api.repository import Executor, Scope
from filelinks_api.services.clock_sync import ClockSync
from filelinks_api.storage import Storage


@dataclass(frozen=True)
class AccountClock:
    frozen_at: int | None
    offset: int


class ClockBook:
    """The time as each account sees it."""

    def __init__(
        self,
        base: Clock,
        sync: ClockSync,
        load: Callable[[], Awaitable[dict[Scope, AccountClock]]],
    ):
        self.base = base
        self.sync = sync
        self._load = load
        self._clocks: dict[Scope, AccountClock] = {}

    async def start(self) -> None:
        await self.sync.start(self._reload)

    async def stop(self) -> None:
        await self.sync.stop()

    async def _reload(self) -> None:
        self._clocks = await self._load()

    async def refresh(self) -> None:
        """At the start of every request: reload the clocks if another process changed one."""
        if self.sync.stale():
            await self._reload()

    def now(self, scope: Scope) -> int:
        """The scope's time, as of the last `refresh()`."""
        clock = self._clocks.get(scope)
        if clock is None:
            return self.base.now()
        if clock.frozen_at is not None:
            return clock.frozen_at
        return self.base.now() + clock.offset

    def state(self, scope: Scope) -> dict[str, Any]:
        now = self.now(scope)
        clock = self._clocks.get(scope)
        return {
            "now": now,
            "frozen": clock is not None and clock.frozen_at is not None,
            "offset": now - self.base.now(),
        }

    async def changed(self, scope: Scope, clock: AccountClock | None) -> None:
        """After a committed change: update our copy; returns once every process has it."""
        if clock is None:
            self._clocks.pop(scope, None)
        else:
            self._clocks[scope] = clock
        await self.sync.published()


def load_clocks(session: Executor) -> dict[Scope, AccountClock]:
    return {
        Scope(row.account, row.livemode): AccountClock(row.frozen_at, row.offset_seconds)
        for row in repository.all_account_clocks(session)
    }


def set_clock(
    session: Executor,
    book: ClockBook,
    scope: Scope,
    *,
    frozen_at: int | None,
    advance: int | None,
    reset: bool,
) -> AccountClock | None:
    """Apply one change; the caller commits and then awaits `book.changed`."""
    given = sum(x is not None for x in (frozen_at, advance)) + int(reset)
    if given != 1:
        raise InvalidRequestError(
            "Send exactly one of frozen_at (a timestamp to freeze the clock at), advance"
            " (seconds to move it forward) or reset=true (back to real time)."
        )
    book.sync.mark(session)
    if reset:
        repository.delete_account_clock(session, scope)
        return None
    real_now = book.base.now()
    if frozen_at is not None:
        if frozen_at < 0:
            raise InvalidRequestError("frozen_at must be a Unix timestamp.", param="frozen_at")
        if frozen_at > LATEST:
            raise beyond_the_calendar("frozen_at")
        row = repository.save_account_clock(session, scope, frozen_at, frozen_at - real_now)
    else:
        assert advance is not None
        if advance < 0:
            raise InvalidRequestError(
                "The clock only moves forward: advance must be zero or more seconds.",
                param="advance",
            )
        if advance > LATEST:
            raise beyond_the_calendar("advance")
        # From the clock as stored, not this process's copy of it (another process may have
        # moved it since): one UPDATE, so concurrent advances all count.
        row = repository.advance_account_clock(session, scope, advance)
    clock = AccountClock(frozen_at=row.frozen_at, offset=row.offset_seconds)
    now = clock.frozen_at if clock.frozen_at is not None else real_now + clock.offset
    if now > LATEST:  # raised inside the transaction: the change is rolled back
        raise beyond_the_calendar("advance")
    return clock


# The latest time a clock may show: 9999-12-31T23:59:59Z (what a date can be written as, and
# far from the limits of the 64-bit columns that times are added to and stored in).
LATEST = 253_402_300_799


def beyond_the_calendar(param: str) -> InvalidRequestError:
    return InvalidRequestError(
        f"The clock can show at most {LATEST} (9999-12-31 23:59:59 UTC).", param=param
    )


def reset_data(session: Executor, book: ClockBook, scope: Scope) -> tuple[list[str], bool]:
    """Delete the scope's links, files, idempotency keys and fault rules, and put its clock
    back to real time (a clean slate includes the time). Returns the file ids whose bytes the
    caller removes once this commits, and whether the clock changed (then the caller awaits
    `book.changed(scope, None)`; other accounts' clocks are not reloaded for nothing)."""
    clock_reset = repository.delete_account_clock(session, scope)
    if clock_reset:
        book.sync.mark(session)
    return repository.delete_scope_data(session, scope), clock_reset


async def remove_bytes(storage: Storage, file_ids: list[str]) -> None:
    for file_id in file_ids:
        await storage.delete(file_id)
