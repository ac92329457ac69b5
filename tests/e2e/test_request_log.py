"""The request log against a real server: the SDK's own requests, read-your-requests across
workers, and an SDK error's request_log_url."""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
import stripe
from sqlalchemy import Engine, create_engine, text

from filelinks_api.config import normalize_database_url
from filelinks_api.services.clock_sync import ALIVE_SECONDS, HEARTBEAT_SECONDS
from tests import samples
from tests.conftest import new_key
from tests.e2e.conftest import POSTGRES, Server, server_on


def test_the_sdks_requests_are_logged_as_sent(sdk, http: httpx.Client, tmp_path):
    evidence = tmp_path / "evidence.pdf"
    evidence.write_bytes(samples.pdf("sdk"))
    with evidence.open("rb") as handle:
        uploaded = sdk.File.create(purpose="dispute_evidence", file=handle)
    link = sdk.FileLink.create(file=uploaded.id, metadata={"order": "6735"})

    logged = http.get("/_emulator/requests").json()["data"]

    assert [(e["method"], e["path"], e["status"]) for e in logged] == [
        ("POST", "/v1/file_links", 200),
        ("POST", "/v1/files", 200),
    ]
    create, upload = logged
    assert create["request"] == {"file": uploaded.id, "metadata": {"order": "6735"}}
    assert create["response"]["id"] == link.id
    assert create["client"].startswith("stripe-python/")
    assert create["idempotency_key"]  # the SDK sends one with every POST
    # as the SDK sent it: the path it opened
    assert upload["request"]["file"]["filename"] == str(evidence)
    assert upload["request"]["file"]["size"] == evidence.stat().st_size


def test_an_sdk_error_carries_the_url_of_its_log_entry(sdk, server: Server, http: httpx.Client):
    with pytest.raises(stripe.InvalidRequestError) as raised:
        sdk.FileLink.retrieve("link_missing")

    error = raised.value
    assert error.error is not None
    assert error.error.request_log_url == f"{server.url}/dashboard/logs/{error.request_id}"
    entry = http.get(f"/_emulator/requests/{error.request_id}").json()
    assert entry["error"]["code"] == "resource_missing"


def test_a_response_is_in_the_log_of_any_worker_once_received(two_workers: Server):
    key = new_key()
    auth = {"Authorization": f"Bearer {key}"}

    def request_then_look(n: int) -> int:
        # each on fresh connections, so the two may land on different workers
        got = httpx.get(f"{two_workers.url}/v1/files?limit={n % 10 + 1}", headers=auth)
        rid = got.headers["Request-Id"]
        return httpx.get(f"{two_workers.url}/_emulator/requests/{rid}", headers=auth).status_code

    with ThreadPoolExecutor(8) as pool:
        statuses = list(pool.map(request_then_look, range(80)))

    assert statuses == [200] * 80
    logged = httpx.get(
        f"{two_workers.url}/_emulator/requests", params={"limit": 100}, headers=auth
    ).json()["data"]
    assert len(logged) == 80


def test_reads_are_answered_while_another_process_holds_the_write_lock(tmp_path):
    """Two workers on SQLite, the log on (the default); another process holds the database's
    write lock for 2 s: GETs through either worker are answered at once, and are in the log."""
    with _two_warm_workers(tmp_path) as (server, auth):
        with _fresh_client(auth) as fresh, _locked(server.data_dir / "filelinks.db") as held:
            answers = _timed_gets(fresh, f"{server.url}/v1/file_links")
            assert time.monotonic() - held.since < 2.0  # all of them while the lock was held
            time.sleep(max(0.0, 2.0 - (time.monotonic() - held.since)))
        slowest = max(elapsed for elapsed, _ in answers)
        assert slowest < 0.1, f"a read waited {slowest:.3f} s behind the write lock"
        logged = httpx.get(
            f"{server.url}/_emulator/requests", params={"limit": 100}, headers=auth
        ).json()["data"]
        assert {rid for _, rid in answers} <= {entry["id"] for entry in logged}


def test_answers_do_not_wait_for_a_locked_log_and_a_log_query_waits_for_their_entries(tmp_path):
    """Two workers on SQLite: another process holds the request log's own file locked for
    1.5 s. GETs through either worker are answered at once (their entries are handed to the
    writers, log_marks.py); a log query made while the lock is held waits for the writers,
    and finds every one of them."""
    with _two_warm_workers(tmp_path) as (server, auth):
        # both workers keep their counters beside the log (the second may still be starting)
        writers = server.data_dir / "filelinks.requests.writers"
        deadline = time.monotonic() + 30
        while len(list(writers.glob("*.marks"))) < 2 and time.monotonic() < deadline:
            time.sleep(0.05)
        assert len(list(writers.glob("*.marks"))) == 2
        log_file = server.data_dir / "filelinks.requests.db"
        with _fresh_client(auth) as fresh, _locked(log_file) as held:
            answers = _timed_gets(fresh, f"{server.url}/v1/file_links")
            query = _log_query_until_released(fresh, server.url, held.since, held.rollback)
        _answered_at_once_and_found_after(answers, *query)


@pytest.mark.skipif(not POSTGRES, reason="needs FILELINKS_TEST_DATABASE_URL (PostgreSQL)")
def test_replicas_answer_while_the_log_is_locked_and_a_log_query_waits_for_them(two_hosts):
    """Two replicas sharing PostgreSQL: another session holds the log's table locked against
    inserts for 1.5 s. GETs through either replica are answered at once (their entries are
    handed to the writers); a log query sent through one meanwhile asks both replicas
    (log_barrier.py), waits for their writers, and finds every entry."""
    a, b = two_hosts
    auth = {"Authorization": f"Bearer {new_key()}"}
    engine = create_engine(normalize_database_url(a.database_url))
    try:
        _wait_for_listeners(engine, 2)
        fresh = httpx.Client(headers=auth, timeout=30)
        for host in two_hosts:
            assert fresh.get(f"{host.url}/v1/file_links").status_code == 200  # warm
        with engine.connect() as holder:
            holder.execute(text("LOCK TABLE request_log IN SHARE MODE"))  # reads go on
            held_since = time.monotonic()
            answers = _timed_gets(fresh, f"{a.url}/v1/file_links", 3)
            answers += _timed_gets(fresh, f"{b.url}/v1/file_links", 3)
            query = _log_query_until_released(fresh, a.url, held_since, holder.rollback)
        fresh.close()
    finally:
        engine.dispose()
    _answered_at_once_and_found_after(answers, *query)


@pytest.mark.skipif(not POSTGRES, reason="needs FILELINKS_TEST_DATABASE_URL (PostgreSQL)")
def test_a_killed_replica_holds_log_queries_up_only_briefly(two_hosts):
    a, b = two_hosts
    auth = {"Authorization": f"Bearer {new_key()}"}
    engine = create_engine(normalize_database_url(a.database_url))
    try:
        _wait_for_listeners(engine, 2)
    finally:
        engine.dispose()
    got = httpx.get(f"{a.url}/v1/file_links", headers=auth)
    b.process.kill()
    b.process.wait()
    started = time.monotonic()
    logged = httpx.get(f"{a.url}/_emulator/requests", headers=auth, timeout=30)
    took = time.monotonic() - started
    assert logged.status_code == 200
    assert [entry["id"] for entry in logged.json()["data"]] == [got.headers["Request-Id"]]
    assert took < ALIVE_SECONDS + HEARTBEAT_SECONDS + 2  # then b counts as gone
    started = time.monotonic()
    assert httpx.get(f"{a.url}/_emulator/requests", headers=auth).status_code == 200
    assert time.monotonic() - started < 1  # and is no longer waited for


def _wait_for_listeners(engine: Engine, count: int) -> None:
    """Until `count` processes listen on the database's channel (each starts listening in the
    background once serving)."""
    deadline = time.monotonic() + 30
    while True:
        with engine.connect() as connection:
            listening = connection.execute(
                text("SELECT count(*) FROM clock_listeners WHERE seen_epoch >= 0")
            ).scalar_one()
        if listening >= count or time.monotonic() > deadline:
            break
        time.sleep(0.05)
    assert listening >= count


@contextmanager
def _two_warm_workers(tmp_path: Path) -> Iterator[tuple[Server, dict[str, str]]]:
    """A server of two workers on SQLite, and a key's headers, used once (the key known, the
    pools warm)."""
    with server_on("sqlite", tmp_path / "data", workers=2) as server:
        auth = {"Authorization": f"Bearer {new_key()}"}
        with httpx.Client(base_url=server.url, headers=auth) as http:
            assert http.get("/v1/file_links").status_code == 200
        yield server, auth


def _fresh_client(auth: dict[str, str]) -> httpx.Client:
    """A new connection for every request (both workers answer some), on a client made
    beforehand: a GET's time is the server's answer, not httpx making a client (~50 ms)."""
    return httpx.Client(headers=auth, limits=httpx.Limits(max_keepalive_connections=0))


@dataclass
class _Held:
    connection: sqlite3.Connection
    since: float

    def rollback(self) -> None:
        self.connection.rollback()


@contextmanager
def _locked(path: Path) -> Iterator[_Held]:
    """Another process holding the SQLite file's write lock (BEGIN IMMEDIATE) from `since`
    until it rolls back, or the block ends."""
    connection = sqlite3.connect(path, isolation_level=None)
    try:
        connection.execute("BEGIN IMMEDIATE")
        yield _Held(connection, time.monotonic())
    finally:
        connection.close()  # rolls back what is still held


def _log_query_until_released(
    client: httpx.Client, base_url: str, held_since: float, release: Callable[[], object]
) -> tuple[httpx.Response, float, float]:
    """A log query through `base_url`, sent while a lock taken at `held_since` is held, which
    `release` lets go 1.5 s after it was taken: the query's answer, when it came, and when the
    lock went."""

    def ask() -> tuple[httpx.Response, float]:
        got = client.get(f"{base_url}/_emulator/requests", params={"limit": 100})
        return got, time.monotonic()

    with ThreadPoolExecutor(1) as pool:
        query = pool.submit(ask)
        held_for = 1.5 - (time.monotonic() - held_since)
        assert held_for > 0.5  # the query is made well before the lock goes
        time.sleep(held_for)
        released_at = time.monotonic()
        release()
        logged, answered_at = query.result(timeout=30)
    return logged, answered_at, released_at


def _answered_at_once_and_found_after(
    answers: list[tuple[float, str]], logged: httpx.Response, answered_at: float, released: float
) -> None:
    """Every GET answered in < 0.1 s though the log was locked; the log query answered once
    the lock went, not before, with every GET's entry."""
    slowest = max(elapsed for elapsed, _ in answers)
    assert slowest < 0.1, f"an answer waited {slowest:.3f} s for the locked log"
    assert logged.status_code == 200
    assert answered_at >= released  # once the entries were written, not before
    assert {rid for _, rid in answers} <= {entry["id"] for entry in logged.json()["data"]}


def _timed_gets(client: httpx.Client, url: str, count: int = 6) -> list[tuple[float, str]]:
    """`count` GETs of `url`, each answered 200: how long each took, and its request id."""
    answers = []
    for _ in range(count):
        started = time.monotonic()
        got = client.get(url)
        assert got.status_code == 200
        answers.append((time.monotonic() - started, got.headers["Request-Id"]))
    return answers
