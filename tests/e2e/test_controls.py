"""The test clock across two worker processes: a change made through one is seen by all."""

from __future__ import annotations

import httpx

from tests import samples
from tests.conftest import new_key
from tests.e2e.conftest import Server


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


def test_an_advanced_running_clock_keeps_its_offset_as_time_passes(server: Server):
    key = new_key()
    headers = {"Authorization": f"Bearer {key}"}
    moved = httpx.post(f"{server.url}/_emulator/clock", data={"advance": 86400}, headers=headers)
    assert moved.json()["offset"] == 86400
    again = httpx.get(f"{server.url}/_emulator/clock", headers=headers).json()
    assert 86400 - 2 <= again["offset"] <= 86400
    assert again["frozen"] is False
