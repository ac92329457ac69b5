"""services/clock_sync.EpochFile: how the processes of one host sharing a SQLite data dir learn
of each other's clock changes (the channel PostgreSQL uses is tested in tests/e2e)."""

from __future__ import annotations

import asyncio
import subprocess
import sys
from pathlib import Path

from filelinks_api.services.clock_sync import EpochFile


async def _nothing() -> None:
    pass


def _started(path: Path) -> EpochFile:
    epoch = EpochFile(path)
    asyncio.run(epoch.start(_nothing))
    return epoch


def test_no_change_ever_made_is_not_stale(tmp_path):
    epoch = _started(tmp_path / "clocks.epoch")
    assert not epoch.stale()
    assert not epoch.stale()


def test_a_change_is_stale_once_for_the_others_and_never_for_its_maker(tmp_path):
    maker, other = _started(tmp_path / "clocks.epoch"), _started(tmp_path / "clocks.epoch")
    assert not other.stale()
    asyncio.run(maker.published())
    assert not maker.stale()
    assert other.stale()
    assert not other.stale()


def test_a_change_made_by_another_right_after_ours_is_not_missed(tmp_path):
    ours, theirs = _started(tmp_path / "clocks.epoch"), _started(tmp_path / "clocks.epoch")
    asyncio.run(ours.published())
    asyncio.run(theirs.published())
    assert ours.stale()


def test_a_change_made_by_another_process_is_seen_without_reopening(tmp_path):
    path = tmp_path / "clocks.epoch"
    epoch = _started(path)
    assert not epoch.stale()  # mapped now, before the other process exists
    publish = (
        "import asyncio, sys; from pathlib import Path;"
        " from filelinks_api.services.clock_sync import EpochFile;"
        " asyncio.run(EpochFile(Path(sys.argv[1])).published())"
    )
    for _ in range(2):  # every change, not only the first
        subprocess.run([sys.executable, "-c", publish, str(path)], check=True, timeout=60)
        assert epoch.stale()
        assert not epoch.stale()


def test_a_file_written_by_an_earlier_version_reads_as_a_change(tmp_path):
    # before, a change wrote 16 hex characters into the file, and a start reloaded if it existed
    path = tmp_path / "clocks.epoch"
    path.write_text("0123456789abcdef")
    epoch = _started(path)
    assert epoch.stale()
    assert not epoch.stale()
    asyncio.run(_started(path).published())
    assert epoch.stale()


def test_stop_unmaps_and_a_later_look_maps_again(tmp_path):
    path = tmp_path / "clocks.epoch"
    epoch = _started(path)
    asyncio.run(_started(path).published())
    asyncio.run(epoch.stop())
    assert epoch.stale()  # mapped afresh: the change was never seen
