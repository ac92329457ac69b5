"""log_marks: a log query waits for the entries every running process was handed before it,
and for nothing else."""

from __future__ import annotations

import asyncio
import subprocess
import sys
import time
from pathlib import Path

from filelinks_api.log_marks import SUFFIX, LogMarks, settle


def test_a_query_waits_for_the_entries_handed_before_it_not_after(tmp_path: Path) -> None:
    async def scenario() -> None:
        writer = LogMarks(tmp_path)  # another worker's, as far as `settle` can tell
        try:
            writer.handed()
            writer.handed()
            query = asyncio.ensure_future(settle(tmp_path, timeout=5))
            await asyncio.sleep(0)  # the query's first step reads what was handed, then polls
            assert not query.done()
            writer.handed()  # after the query began: not waited for
            writer.settled(1)
            # a negative: some fifty polls (one a millisecond) and still one entry short
            done, _ = await asyncio.wait({query}, timeout=0.05)
            assert not done
            writer.settled(1)  # the two handed before it
            assert await asyncio.wait_for(query, 1) is True
            # nothing handed and unsettled but the third: a new query waits for it
            assert await settle(tmp_path, timeout=0.05) is False
            writer.settled(1)
            assert await settle(tmp_path, timeout=0.05) is True
        finally:
            writer.close()

    asyncio.run(scenario())


def test_a_process_that_is_gone_is_not_waited_for_and_its_file_is_removed(
    tmp_path: Path,
) -> None:
    # a worker killed with three entries handed and none written
    script = (
        "import os, sys\n"
        "from pathlib import Path\n"
        "from filelinks_api.log_marks import LogMarks\n"
        "marks = LogMarks(Path(sys.argv[1]))\n"
        "for _ in range(3):\n"
        "    marks.handed()\n"
        "os._exit(0)\n"
    )
    subprocess.run([sys.executable, "-c", script, str(tmp_path)], check=True, timeout=60)
    assert len(list(tmp_path.glob(f"*{SUFFIX}"))) == 1  # left behind, unsettled

    started = time.monotonic()
    assert asyncio.run(settle(tmp_path, timeout=5)) is True
    assert time.monotonic() - started < 1
    assert list(tmp_path.glob(f"*{SUFFIX}")) == []


def test_a_running_writer_that_never_settles_bounds_the_wait(tmp_path: Path) -> None:
    writer = LogMarks(tmp_path)
    try:
        writer.handed()
        started = time.monotonic()
        assert asyncio.run(settle(tmp_path, timeout=0.3)) is False
        elapsed = time.monotonic() - started
        assert 0.3 <= elapsed < 3
        assert writer.path.exists()  # still running: its file stays
    finally:
        writer.close()


def test_closing_removes_the_file_and_each_writer_has_its_own(tmp_path: Path) -> None:
    first, second = LogMarks(tmp_path), LogMarks(tmp_path)  # two apps of one process
    assert first.path != second.path
    assert sorted(tmp_path.glob(f"*{SUFFIX}")) == sorted([first.path, second.path])
    second.handed()
    first.close()
    assert not first.path.exists()
    assert asyncio.run(settle(tmp_path, timeout=0.05)) is False  # the second's entry
    second.settled(1)
    assert asyncio.run(settle(tmp_path, timeout=0.05)) is True
    second.close()
    assert list(tmp_path.iterdir()) == []
