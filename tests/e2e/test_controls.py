"""The test clock across processes: a change made through one worker, or one host, is seen by
all at once."""

from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor

import httpx
import pytest
from sqlalchemy import create_engine, text

from filelinks_api.config import normalize_database_url
from filelinks_api.services.clock_sync import ALIVE_SECONDS, HEARTBEAT_SECONDS
from tests import samples
from tests.conftest import (
    new_key,
)
from tests.e2e.conftest import POSTGRES, Server


def test_every_worker_follows_a_clock_change_at_once(two_workers: Server):
    key = new_key()
    headers = {"Authorization": f"Bearer {key}"}
    with httpx.Client(base_url=two_workers.url, headers=headers, timeout=30) as http:
        file_id = http.post(
            "/v1/files",
            data={"purpose": "dispute_evidence"},
            files={"file": ("a.pdf", samples.pdf(), "application/octet-stream")},
        ).json()["id"]
        frozen = http.post("/_emulator/clock", data={"frozen_at": 2_000_000_000}).json()
        assert frozen["now"] == 2_000_000_000
        link = http.post(
            "/v1/file_links", data={"file": file_id, "expires_at": 2_000_003_600}
        ).json()
        assert link["created"] == 2_000_000_000

        http.post("/_emulator/clock", data={"advance": 7200})

        # Fresh connections, so requests spread over both worker processes.
        for _ in range(30):
            with httpx.Client(base_url=two_workers.url, headers=headers) as fresh:
                assert fresh.get("/_emulator/clock").json()["now"] == 2_000_007_200
                assert fresh.get(f"/v1/file_links/{link['id']}").json()["expired"] is True
                assert httpx.get(link["url"]).status_code == 404


def test_concurrent_advances_on_a_frozen_clock_all_count(two_workers: Server):
    headers = {"Authorization": f"Bearer {new_key()}"}
    with httpx.Client(base_url=two_workers.url, headers=headers, timeout=30) as http:
        http.post("/_emulator/clock", data={"frozen_at": 2_000_000_000}).raise_for_status()

    def advance(_: int) -> int:
        # a connection each, so the advances spread over both worker processes
        with httpx.Client(base_url=two_workers.url, headers=headers, timeout=30) as fresh:
            return fresh.post("/_emulator/clock", data={"advance": 60}).status_code

    with ThreadPoolExecutor(max_workers=20) as pool:
        statuses = list(pool.map(advance, range(20)))

    assert statuses == [200] * 20
    state = httpx.get(f"{two_workers.url}/_emulator/clock", headers=headers).json()
    assert (state["now"], state["frozen"]) == (2_000_000_000 + 20 * 60, True)


def test_an_advanced_running_clock_keeps_its_offset_as_time_passes(server: Server):
    key = new_key()
    headers = {"Authorization": f"Bearer {key}"}
    moved = httpx.post(f"{server.url}/_emulator/clock", data={"advance": 86400}, headers=headers)
    assert moved.json()["offset"] == 86400
    again = httpx.get(f"{server.url}/_emulator/clock", headers=headers).json()
    assert 86400 - 2 <= again["offset"] <= 86400
    assert again["frozen"] is False


@pytest.mark.skipif(not POSTGRES, reason="needs FILELINKS_TEST_DATABASE_URL (PostgreSQL)")
def test_a_clock_change_on_one_host_governs_the_other_at_once(two_hosts):
    a, b = two_hosts
    headers = {"Authorization": f"Bearer {new_key()}"}
    with httpx.Client(headers=headers, timeout=30) as http:
        file_id = http.post(
            f"{a.url}/v1/files",
            data={"purpose": "dispute_evidence"},
            files={"file": ("a.pdf", samples.pdf(), "application/octet-stream")},
        ).json()["id"]
        http.post(f"{a.url}/_emulator/clock", data={"frozen_at": 2_000_000_000})
        link = http.post(
            f"{b.url}/v1/file_links", data={"file": file_id, "expires_at": 2_000_003_600}
        ).json()
        assert link["created"] == 2_000_000_000  # b follows a's freeze
        for step in range(1, 6):
            # each change through one host, read at once through the other
            changer, reader = (a, b) if step % 2 else (b, a)
            http.post(f"{changer.url}/_emulator/clock", data={"advance": 1000})
            now = 2_000_000_000 + 1000 * step
            assert http.get(f"{reader.url}/_emulator/clock").json()["now"] == now
            expired = http.get(f"{reader.url}/v1/file_links/{link['id']}").json()["expired"]
            assert expired is (now >= 2_000_003_600)
    assert not (a.data_dir / "clocks.epoch").exists()  # the database carried it, not a file
    assert not (b.data_dir / "clocks.epoch").exists()


@pytest.mark.skipif(not POSTGRES, reason="needs FILELINKS_TEST_DATABASE_URL (PostgreSQL)")
def test_a_killed_host_holds_clock_changes_up_only_briefly(two_hosts):
    a, b = two_hosts
    headers = {"Authorization": f"Bearer {new_key()}"}
    b.process.kill()
    b.process.wait()
    started = time.monotonic()
    changed = httpx.post(f"{a.url}/_emulator/clock", data={"advance": 60}, headers=headers)
    took = time.monotonic() - started
    assert changed.status_code == 200
    assert took < ALIVE_SECONDS + HEARTBEAT_SECONDS + 2  # then b counts as gone
    started = time.monotonic()
    httpx.post(f"{a.url}/_emulator/clock", data={"advance": 60}, headers=headers)
    assert time.monotonic() - started < 1  # and no longer waited for


@pytest.mark.skipif(not POSTGRES, reason="needs FILELINKS_TEST_DATABASE_URL (PostgreSQL)")
def test_a_clock_change_waits_for_a_live_listener_that_has_not_applied_it(two_hosts):
    """The fence: a listener whose heartbeat is fresh and that has not applied the change
    holds the change's response up, until its heartbeat ages out (it never answers)."""
    a, _ = two_hosts
    engine = create_engine(normalize_database_url(a.database_url))
    with engine.begin() as connection:
        connection.execute(
            text(
                "INSERT INTO clock_listeners (id, seen_epoch, heartbeat_at)"
                " VALUES ('a-silent-process', -1, now())"
            )
        )
    engine.dispose()
    started = time.monotonic()
    changed = httpx.post(
        f"{a.url}/_emulator/clock",
        data={"advance": 60},
        headers={"Authorization": f"Bearer {new_key()}"},
        timeout=30,
    )
    took = time.monotonic() - started
    assert changed.status_code == 200
    assert ALIVE_SECONDS - 1 <= took < ALIVE_SECONDS + HEARTBEAT_SECONDS + 2
