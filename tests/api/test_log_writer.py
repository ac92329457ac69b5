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
        self.pruning = asyncio.Event()  # a prune has begun
        self.done = asyncio.Event()  # a prune has ended

    async def append(self, work: Any, entries: list[dict[str, Any]]) -> None:
        self.inserted += [entry["id"] for entry in entries]

    async def write(self, work: Any, scopes: list[Scope], *, keep: int) -> int:
        self.pruning.set()
        await self.let_go.wait()
        self.pruned += scopes
        self.done.set()
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
        await asyncio.wait_for(db.done.wait(), 1)
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
    writing = asyncio.Event()
    fail = asyncio.Event()

    class BrokenLater(LogWriter):
        async def _write(self, entries: list[dict[str, Any]]) -> list[Exception | None]:
            writing.set()
            await fail.wait()  # others hand in their entries meanwhile
            raise TypeError("a bug in the writer")

    async def scenario() -> None:
        writer = BrokenLater(Runtime(SlowPrunes()), keep=100)  # type: ignore[arg-type]
        first = asyncio.ensure_future(writer.add({"id": "req_first"}, SCOPE))
        await asyncio.wait_for(writing.wait(), 1)  # the first batch is being written
        later = [writer.add({"id": f"req_later_{n}"}, SCOPE) for n in range(3)]

        async def then_fail() -> None:
            fail.set()  # runs after the later adds have handed in their entries (task order)

        *outcomes, _ = await asyncio.wait_for(
            asyncio.gather(first, *later, then_fail(), return_exceptions=True), 1
        )
        assert len(outcomes) == 4
        assert all(isinstance(outcome, RuntimeError) for outcome in outcomes), outcomes

    asyncio.run(scenario())


def test_closing_the_writer_stops_a_prune_in_progress() -> None:
    async def scenario() -> None:
        db = SlowPrunes()
        writer = LogWriter(Runtime(db), keep=1)  # type: ignore[arg-type]
        await writer.add({"id": "req_1"}, SCOPE)
        await asyncio.wait_for(db.pruning.wait(), 1)  # the prune has begun, and is held
        await asyncio.wait_for(writer.close(), 1)
        # close() returned once the prune task had ended: cancelled, never let go
        assert db.pruned == []
        assert not db.done.is_set()

    asyncio.run(scenario())
