"""api/request_log.LogWriter: an entry's request waits for its commit (or, with marks, a log
query waits for it), never for a prune."""

from __future__ import annotations

import asyncio
import secrets
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from filelinks_api import models, repository
from filelinks_api.api import request_log
from filelinks_api.api.request_log import LogWriter
from filelinks_api.db import Database
from filelinks_api.failures import WriteLockTimeout
from filelinks_api.log_marks import LogMarks
from filelinks_api.repository import Scope
from filelinks_api.services import slices as slices_module
from tests.services.slices import Slices
from tests.services.test_request_log import entry

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

    async def read(self, work: Any, scope: Scope, keep: int) -> None:
        """A prune's first step, finding where to cut: held; then nothing past the cut."""
        self.pruning.set()
        await self.let_go.wait()
        self.pruned.append(scope)
        self.done.set()


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


class HeldInserts:
    """A log database whose inserts wait to be let go; or fail, as a locked file does."""

    def __init__(self, *, fail: bool = False) -> None:
        self.inserted: list[str] = []
        self.let_go = asyncio.Event()
        self.writing = asyncio.Event()  # an insert has begun, and is held
        self.fail = fail

    async def append(self, work: Any, entries: list[dict[str, Any]]) -> None:
        self.writing.set()
        await self.let_go.wait()
        if self.fail:
            raise WriteLockTimeout("waited for the request log's file")
        self.inserted += [entry["id"] for entry in entries]


def test_with_marks_an_answer_does_not_wait_for_its_entry_a_log_query_does(
    tmp_path: Path,
) -> None:
    async def scenario() -> None:
        db = HeldInserts()
        writer = LogWriter(Runtime(db), keep=100, marks=LogMarks(tmp_path))  # type: ignore[arg-type]
        # handed in at once, the insert still held
        for n in range(3):
            await asyncio.wait_for(writer.record({"id": f"req_{n}"}, SCOPE), 0.5)
        assert db.inserted == []
        query = asyncio.ensure_future(writer.settle())
        await asyncio.wait_for(db.writing.wait(), 1)  # the insert is held
        assert not query.done()  # waits for the three
        db.let_go.set()
        await asyncio.wait_for(query, 1)
        assert db.inserted == ["req_0", "req_1", "req_2"]
        await writer.close()
        assert list(tmp_path.iterdir()) == []

    asyncio.run(scenario())


def test_without_marks_an_answer_waits_for_its_entry(tmp_path: Path) -> None:
    async def scenario() -> None:
        db = HeldInserts()
        writer = LogWriter(Runtime(db), keep=100)  # type: ignore[arg-type]
        recorded = asyncio.ensure_future(writer.record({"id": "req_0"}, SCOPE))
        await asyncio.wait_for(db.writing.wait(), 1)  # the insert is held
        assert not recorded.done()
        db.let_go.set()
        await asyncio.wait_for(recorded, 1)
        assert db.inserted == ["req_0"]

    asyncio.run(scenario())


def test_a_full_backlog_makes_answers_wait_again(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(request_log, "BACKLOG_LIMIT", 3)

    async def scenario() -> None:
        db = HeldInserts()
        writer = LogWriter(Runtime(db), keep=100, marks=LogMarks(tmp_path))  # type: ignore[arg-type]
        for n in range(3):  # handed in at once: three unwritten
            await asyncio.wait_for(writer.record({"id": f"req_{n}"}, SCOPE), 0.5)
        fourth = asyncio.ensure_future(writer.record({"id": "req_3"}, SCOPE))
        await asyncio.wait_for(db.writing.wait(), 1)  # the insert is held
        assert not fourth.done()  # the backlog is full: this one waits for its commit
        db.let_go.set()
        await asyncio.wait_for(fourth, 1)
        assert db.inserted == [f"req_{n}" for n in range(4)]
        await writer.close()

    asyncio.run(scenario())


def test_entries_that_could_not_be_written_settle_too(tmp_path: Path) -> None:
    async def scenario() -> None:
        db = HeldInserts(fail=True)
        writer = LogWriter(Runtime(db), keep=100, marks=LogMarks(tmp_path))  # type: ignore[arg-type]
        await writer.record({"id": "req_0"}, SCOPE)
        query = asyncio.ensure_future(writer.settle())
        await asyncio.wait_for(db.writing.wait(), 1)  # the insert is held
        assert not query.done()
        db.let_go.set()  # the insert fails: the entry is given up, and counted as settled
        await asyncio.wait_for(query, 1)
        assert db.inserted == []
        await writer.close()

    asyncio.run(scenario())


def test_closing_writes_the_entries_handed_in(tmp_path: Path) -> None:
    async def scenario() -> None:
        db = HeldInserts()
        writer = LogWriter(Runtime(db), keep=100, marks=LogMarks(tmp_path))  # type: ignore[arg-type]
        for n in range(3):
            await writer.record({"id": f"req_{n}"}, SCOPE)
        closing = asyncio.ensure_future(writer.close())
        await asyncio.wait_for(db.writing.wait(), 1)  # the insert is held
        assert not closing.done()  # waits for them
        db.let_go.set()
        await asyncio.wait_for(closing, 1)
        assert db.inserted == ["req_0", "req_1", "req_2"]

    asyncio.run(scenario())


def test_written_waits_for_what_was_handed_before_it(tmp_path: Path) -> None:
    """What a replica's answer to the log barrier waits for (log_barrier.py)."""

    async def scenario() -> None:
        db = HeldInserts()
        writer = LogWriter(Runtime(db), keep=100, marks=LogMarks(tmp_path))  # type: ignore[arg-type]
        await writer.written()  # nothing handed: at once
        await writer.record({"id": "req_0"}, SCOPE)
        before = asyncio.ensure_future(writer.written())
        await asyncio.wait_for(db.writing.wait(), 1)  # req_0's insert is held
        await writer.record({"id": "req_1"}, SCOPE)  # handed after the call
        assert not before.done()
        db.let_go.set()
        await asyncio.wait_for(before, 1)
        assert "req_0" in db.inserted
        await writer.close()
        assert db.inserted == ["req_0", "req_1"]

    asyncio.run(scenario())


class Batches(HeldInserts):
    """HeldInserts that keeps each batch, and says when the first one is written."""

    def __init__(self) -> None:
        super().__init__()
        self.batches: list[list[str]] = []
        self.first_written = asyncio.Event()

    async def append(self, work: Any, entries: list[dict[str, Any]]) -> None:
        await super().append(work, entries)
        self.batches.append([entry["id"] for entry in entries])
        self.first_written.set()


def test_a_deferring_writer_lets_every_batch_gather_not_only_the_first(tmp_path: Path) -> None:
    async def scenario() -> None:
        db = Batches()
        writer = LogWriter(Runtime(db), keep=100, marks=LogMarks(tmp_path), gather=0.01)  # type: ignore[arg-type]
        await writer.record({"id": "req_0"}, SCOPE)
        await asyncio.wait_for(db.writing.wait(), 1)  # the first batch is being written
        await writer.record({"id": "req_1"}, SCOPE)  # came during that write
        db.let_go.set()
        await asyncio.wait_for(db.first_written.wait(), 1)
        await writer.record({"id": "req_2"}, SCOPE)  # within the next batch's gathering
        await asyncio.wait_for(writer.written(), 1)
        assert db.batches == [["req_0"], ["req_1", "req_2"]]
        await writer.close()

    asyncio.run(scenario())


def test_a_log_query_cuts_a_gathering_batch_short(tmp_path: Path) -> None:
    async def scenario() -> None:
        db = Batches()
        db.let_go.set()
        writer = LogWriter(Runtime(db), keep=100, marks=LogMarks(tmp_path), gather=30)  # type: ignore[arg-type]
        await writer.record({"id": "req_0"}, SCOPE)
        await asyncio.sleep(0)  # one turn of the loop: the writer's flush starts, and gathers
        assert writer._gathering is not None
        assert db.batches == []
        await asyncio.wait_for(writer.written(), 1)
        assert db.batches == [["req_0"]]
        await writer.close()

    asyncio.run(scenario())


def test_while_a_log_query_waits_the_next_batch_does_not_gather(tmp_path: Path) -> None:
    async def scenario() -> None:
        db = Batches()
        writer = LogWriter(Runtime(db), keep=100, marks=LogMarks(tmp_path), gather=30)  # type: ignore[arg-type]
        await writer.record({"id": "req_0"}, SCOPE)
        first = asyncio.ensure_future(writer.written())
        await asyncio.wait_for(db.writing.wait(), 1)  # req_0's batch, cut short, is held
        await writer.record({"id": "req_1"}, SCOPE)  # came during that write
        second = asyncio.ensure_future(writer.written())  # waits for req_1 too
        db.let_go.set()
        await asyncio.wait_for(asyncio.gather(first, second), 1)
        assert db.batches == [["req_0"], ["req_1"]]
        await writer.close()

    asyncio.run(scenario())


def test_a_prune_deletes_in_slices_and_the_loop_serves_requests_between_them(
    backend_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """On SQLite a write runs on the worker's event loop: a prune of a thousand entries in one
    DELETE held every request of the worker for its 2-3 ms, the log-on p99 of a retrieve."""
    monkeypatch.setattr(slices_module, "SLICE", 10)
    scope = Scope(f"acct_slices{secrets.token_hex(4)}", False)
    db = Database.connect(backend_url)
    old = [
        entry(f"req_slice{n:03d}", account=scope.account, created=1_800_000_000 + n)
        for n in range(50)
    ]
    with db.engine.begin() as connection:
        repository.insert_request_logs(connection, old)

    async def record_and_prune() -> None:
        writer = LogWriter(Runtime(db), keep=5)  # type: ignore[arg-type]  # a prune every entry
        newest = entry("req_slice_new", account=scope.account, created=1_800_000_100)
        await writer.add(newest, scope)
        pruning = writer._pruning  # the prune that entry called for, started as it committed
        assert pruning is not None
        await asyncio.wait_for(pruning, 10)
        await writer.close()

    slices = Slices("request_log")
    try:
        asyncio.run(slices.during(record_and_prune()))
        with db.engine.connect() as connection:
            left = connection.execute(
                select(models.request_log.c.id).where(models.request_log.c.account == scope.account)
            )
            assert set(left.scalars()) == {f"req_slice{n:03d}" for n in range(46, 50)} | {
                "req_slice_new"
            }
        assert slices.sliced(at_least=5), slices.deletes  # 46 entries past the bound, by 10
    finally:
        with db.engine.begin() as connection:
            repository.delete_request_log(connection, scope)
        asyncio.run(db.dispose())
