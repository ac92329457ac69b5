"""api/request_log.LogWriter: an entry's request waits for its commit, never for a prune."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from filelinks_api.api.request_log import LogWriter
from filelinks_api.repository import Scope

SCOPE = Scope("acct_writer", False)


class SlowPrunes:
    """A log database whose inserts land at once and whose prunes wait to be let go."""

    def __init__(self) -> None:
        self.inserted: list[str] = []
        self.pruned: list[Scope] = []
        self.let_go = asyncio.Event()

    async def append(self, work: Any, entries: list[dict[str, Any]]) -> None:
        self.inserted += [entry["id"] for entry in entries]

    async def write(self, work: Any, scopes: list[Scope], *, keep: int) -> int:
        await self.let_go.wait()
        self.pruned += scopes
        return 0


class Runtime:
    def __init__(self, log_db: SlowPrunes) -> None:
        self.log_db = log_db


def test_a_request_waits_for_its_entry_not_for_a_prune() -> None:
    async def scenario() -> None:
        db = SlowPrunes()
        writer = LogWriter(Runtime(db), keep=1)  # type: ignore[arg-type]  # pruned every entry
        await asyncio.wait_for(writer.add({"id": "req_1"}, SCOPE), 1)
        # the prune the first entry called for is still held: the next entries commit anyway
        await asyncio.wait_for(writer.add({"id": "req_2"}, SCOPE), 1)
        await asyncio.wait_for(writer.add({"id": "req_3"}, SCOPE), 1)
        assert db.inserted == ["req_1", "req_2", "req_3"]
        assert db.pruned == []
        db.let_go.set()
        for _ in range(100):
            if db.pruned:
                break
            await asyncio.sleep(0.01)
        assert set(db.pruned) == {SCOPE}

    asyncio.run(scenario())


@pytest.mark.expect_error_log  # the writer's bug, logged with its traceback
def test_a_writer_that_fails_unexpectedly_fails_its_requests_entries_never_hangs_them() -> None:
    class Broken(LogWriter):
        async def _write(self, entries: list[dict[str, Any]]) -> list[Exception | None]:
            raise TypeError("a bug in the writer")

    async def scenario() -> None:
        writer = Broken(Runtime(SlowPrunes()), keep=100)  # type: ignore[arg-type]
        adds = [writer.add({"id": f"req_{n}"}, SCOPE) for n in range(3)]
        outcomes = await asyncio.wait_for(asyncio.gather(*adds, return_exceptions=True), 1)
        assert all(isinstance(outcome, RuntimeError) for outcome in outcomes), outcomes

    asyncio.run(scenario())


@pytest.mark.expect_error_log  # the writer's bug, logged with its traceback
def test_entries_arriving_while_a_writer_fails_fail_too() -> None:
    class BrokenLater(LogWriter):
        async def _write(self, entries: list[dict[str, Any]]) -> list[Exception | None]:
            await asyncio.sleep(0.01)  # others hand in their entries meanwhile
            raise TypeError("a bug in the writer")

    async def scenario() -> None:
        writer = BrokenLater(Runtime(SlowPrunes()), keep=100)  # type: ignore[arg-type]
        first = asyncio.ensure_future(writer.add({"id": "req_first"}, SCOPE))
        await asyncio.sleep(0.001)  # the first batch is being written
        later = [writer.add({"id": f"req_later_{n}"}, SCOPE) for n in range(3)]
        outcomes = await asyncio.wait_for(asyncio.gather(first, *later, return_exceptions=True), 1)
        assert all(isinstance(outcome, RuntimeError) for outcome in outcomes), outcomes

    asyncio.run(scenario())


def test_closing_the_writer_stops_a_prune_in_progress() -> None:
    async def scenario() -> None:
        db = SlowPrunes()
        writer = LogWriter(Runtime(db), keep=1)  # type: ignore[arg-type]
        await writer.add({"id": "req_1"}, SCOPE)
        await asyncio.sleep(0)  # the prune has begun, and is held
        await asyncio.wait_for(writer.close(), 1)
        db.let_go.set()
        await asyncio.sleep(0.01)
        assert db.pruned == []  # stopped before the database was let go

    asyncio.run(scenario())
