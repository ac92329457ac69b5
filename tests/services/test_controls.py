"""services/controls: the test clock as stored, changed from several processes at once."""

from __future__ import annotations

import asyncio
import secrets
from pathlib import Path

import pytest

from filelinks_api.db import Database
from filelinks_api.errors import InvalidRequestError
from filelinks_api.repository import Scope
from filelinks_api.services import controls
from filelinks_api.services.clock_sync import EpochFile
from filelinks_api.services.controls import ClockBook
from tests.conftest import FakeClock


def book(database: Database, epoch: Path) -> ClockBook:
    """One process's clocks: its copy is reloaded at `refresh()` only (a request's start), so
    it goes stale while another process changes the clock."""

    async def load() -> dict[Scope, controls.AccountClock]:
        return await database.read(controls.load_clocks)

    return ClockBook(FakeClock(), EpochFile(epoch), load)


async def change(database: Database, clocks: ClockBook, scope: Scope, **change: object) -> None:
    values = {"frozen_at": None, "advance": None, "reset": False, **change}
    clock = await database.write(controls.set_clock, clocks, scope, **values)
    await clocks.changed(scope, clock)


async def stored(database: Database, scope: Scope) -> controls.AccountClock | None:
    return (await database.read(controls.load_clocks)).get(scope)


@pytest.fixture
def scope(database: Database):
    scope = Scope(f"acct_clock_{secrets.token_hex(6)}", False)
    yield scope
    asyncio.run(database.write(controls.reset_data, scope))
    asyncio.run(database.write(lambda s: controls.repository.delete_account_clock(s, scope)))


def test_advances_through_stale_copies_add_up(database, scope, tmp_path):
    async def run() -> controls.AccountClock | None:
        first, second = book(database, tmp_path / "epoch"), book(database, tmp_path / "epoch")
        await change(database, first, scope, frozen_at=2_000_000_000)
        await second.refresh()  # second's copy: frozen at 2_000_000_000
        await change(database, first, scope, advance=60)
        await change(database, second, scope, advance=60)  # from its copy: 2_000_000_060
        return await stored(database, scope)

    # (the offset from the fake real time, 1_800_000_000, rides along)
    assert asyncio.run(run()) == controls.AccountClock(frozen_at=2_000_000_120, offset=200_000_120)


def test_concurrent_advances_of_a_running_clock_add_up(database, scope, tmp_path):
    async def run() -> controls.AccountClock | None:
        clocks = book(database, tmp_path / "a")
        await asyncio.gather(*(change(database, clocks, scope, advance=60) for _ in range(20)))
        return await stored(database, scope)

    assert asyncio.run(run()) == controls.AccountClock(frozen_at=None, offset=1200)


@pytest.mark.parametrize(
    "change_",
    [{"frozen_at": 253402300800}, {"advance": 2**63 - 1}],
    ids=["frozen_at", "advance"],
)
def test_a_clock_past_the_year_9999_is_refused(database, scope, tmp_path, change_):
    async def run() -> None:
        clocks = book(database, tmp_path / "a")
        await change(database, clocks, scope, frozen_at=253402300000)
        await change(database, clocks, scope, **change_)

    with pytest.raises(InvalidRequestError, match="9999"):
        asyncio.run(run())
