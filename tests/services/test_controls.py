"""services/controls: the test clock as stored, changed from several processes at once."""

from __future__ import annotations

import asyncio
import secrets
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import TypeVar

import pytest

from filelinks_api import repository
from filelinks_api.db import Database
from filelinks_api.errors import InvalidRequestError
from filelinks_api.repository import Scope
from filelinks_api.services import controls
from filelinks_api.services.clock_sync import EpochFile
from filelinks_api.services.controls import AccountClock, ClockBook
from tests.conftest import FakeClock

T = TypeVar("T")


def book(database: Database, epoch: Path) -> ClockBook:
    """One process's clocks: its copy is reloaded at `refresh()` only (a request's start), so
    it goes stale while another process changes the clock."""

    async def load() -> dict[Scope, AccountClock]:
        return await database.read(controls.load_clocks)

    return ClockBook(FakeClock(), EpochFile(epoch), load)


async def change(database: Database, clocks: ClockBook, scope: Scope, **change: object) -> None:
    values = {"frozen_at": None, "advance": None, "reset": False, **change}
    clock = await database.write(controls.set_clock, clocks, scope, **values)
    await clocks.changed(scope, clock)


def scenario(backend_url: str, work: Callable[[Database, Scope], Awaitable[T]]) -> T:
    """`work` on a Database of its own, in one event loop (the one its pool's waiters belong
    to), on a fresh scope whose clock is removed afterwards."""
    scope = Scope(f"acct_clock_{secrets.token_hex(6)}", False)

    async def run() -> T:
        database = Database.connect(backend_url)
        try:
            return await work(database, scope)
        finally:
            await database.write(repository.delete_account_clock, scope)
            await database.dispose()

    return asyncio.run(run())


async def stored(database: Database, scope: Scope) -> AccountClock | None:
    return (await database.read(controls.load_clocks)).get(scope)


def test_advances_through_stale_copies_add_up(backend_url, tmp_path):
    async def work(database: Database, scope: Scope) -> AccountClock | None:
        first, second = book(database, tmp_path / "epoch"), book(database, tmp_path / "epoch")
        await change(database, first, scope, frozen_at=2_000_000_000)
        await second.refresh()  # second's copy: frozen at 2_000_000_000
        await change(database, first, scope, advance=60)
        await change(database, second, scope, advance=60)  # from its copy: 2_000_000_060
        return await stored(database, scope)

    # (the offset from the fake real time, 1_800_000_000, rides along)
    want = AccountClock(frozen_at=2_000_000_120, offset=200_000_120)
    assert scenario(backend_url, work) == want


def test_concurrent_advances_of_a_running_clock_add_up(backend_url, tmp_path):
    async def work(database: Database, scope: Scope) -> AccountClock | None:
        clocks = book(database, tmp_path / "epoch")
        await asyncio.gather(*(change(database, clocks, scope, advance=60) for _ in range(20)))
        return await stored(database, scope)

    assert scenario(backend_url, work) == AccountClock(frozen_at=None, offset=1200)


@pytest.mark.parametrize(
    "change_",
    [{"frozen_at": 253402300800}, {"advance": 2**63 - 1}],
    ids=["frozen_at", "advance"],
)
def test_a_clock_past_the_year_9999_is_refused(backend_url, tmp_path, change_):
    async def work(database: Database, scope: Scope) -> None:
        clocks = book(database, tmp_path / "epoch")
        await change(database, clocks, scope, frozen_at=253402300000)
        await change(database, clocks, scope, **change_)

    with pytest.raises(InvalidRequestError, match="9999"):
        scenario(backend_url, work)
