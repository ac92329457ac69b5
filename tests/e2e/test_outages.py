"""Outages, for real: PostgreSQL and the object store behind a TCP proxy the test cuts or
blackholes, a data dir on a full file system, a bucket deleted under the service, a claim
left by a dead process, SQLite's lock held by another process. Two workers where the fault
is shared. What a client that retries as the Stripe SDKs do sees: a retryable 503 in time,
never an outage replayed as its key's answer, and one object per key."""

from __future__ import annotations

import os
import secrets
import sqlite3
import subprocess
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from urllib.parse import urlsplit

import httpx
import pytest
import stripe
from sqlalchemy.engine import make_url

from tests import samples
from tests.conftest import (
    create_postgres_schema,
    drop_postgres_schema,
    new_key,
    postgres_schema_url,
)
from tests.e2e.conftest import Server, auth, start_server
from tests.proxy import Proxy, proxy_to
from tests.s3 import Moto, boto3_client, new_bucket

TIMEOUT = 2  # FILELINKS_DATABASE_TIMEOUT_SECONDS of these servers
MARGIN = 3  # what "within the timeout" allows on top, on a busy 2-core CI machine

needs_postgres = pytest.mark.skipif(
    not os.environ.get("FILELINKS_TEST_DATABASE_URL"), reason="needs FILELINKS_TEST_DATABASE_URL"
)


def upload(server: Server, key: str, **headers: str) -> httpx.Response:
    return httpx.post(
        f"{server.url}/v1/files",
        headers=auth(key, **headers),
        data={"purpose": "dispute_evidence"},
        files={"file": ("a.pdf", samples.pdf(), "application/pdf")},
        timeout=60,
    )


def timed(call, *args, **kwargs):  # type: ignore[no-untyped-def]
    started = time.monotonic()
    got = call(*args, **kwargs)
    return got, time.monotonic() - started


def wait_until_healthy(server: Server, deadline: float = 30) -> None:
    end = time.monotonic() + deadline
    while time.monotonic() < end:
        try:
            if httpx.get(f"{server.url}/healthz", timeout=TIMEOUT + MARGIN).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.05)
    raise AssertionError("the service did not recover")


def wait_for_connections(server: Server, count: int, deadline: float = 10) -> None:
    """Until `count` client connections to the server are established (/proc/net/tcp)."""
    port = f"{urlsplit(server.url).port:04X}"
    end = time.monotonic() + deadline
    while time.monotonic() < end:
        lines = Path("/proc/net/tcp").read_text().splitlines()[1:]
        # remote address ends with the server's port, state 01 = ESTABLISHED
        found = sum(
            1 for line in lines if line.split()[2].endswith(f":{port}") and line.split()[3] == "01"
        )
        if found >= count:
            return
        time.sleep(0.01)
    raise AssertionError(f"fewer than {count} connections reached the server")


def assert_retryable_503(got: httpx.Response) -> None:
    assert got.status_code == 503, got.text
    assert got.headers["Stripe-Should-Retry"] == "true"
    assert got.json()["error"]["type"] == "api_error"


# --- PostgreSQL behind a proxy ------------------------------------------------------------------


@pytest.fixture(scope="module")
def pg_proxy() -> Iterator[Proxy]:
    url = urlsplit(os.environ["FILELINKS_TEST_DATABASE_URL"].replace("+psycopg", ""))
    with proxy_to(url.hostname or "127.0.0.1", url.port or 5432) as proxy:
        yield proxy


@pytest.fixture(scope="module")
def pg_server(pg_proxy: Proxy, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    schema = f"filelinks_outage_{secrets.token_hex(4)}"
    create_postgres_schema(schema)
    url = make_url(postgres_schema_url(schema)).set(port=pg_proxy.port)
    server = start_server(
        tmp_path_factory.mktemp("outage-pg") / "data",
        database_url=url.render_as_string(hide_password=False),
        workers=2,
        extra_env={"FILELINKS_DATABASE_TIMEOUT_SECONDS": str(TIMEOUT)},
    )
    try:
        yield server
    finally:
        server.stop()
        drop_postgres_schema(schema)


@pytest.fixture
def pg(pg_proxy: Proxy, pg_server: Server) -> Iterator[Server]:
    pg_proxy.restore()
    wait_until_healthy(pg_server)
    yield pg_server
    pg_proxy.restore()


# a link id and a public link token that reach the database (Database.lookup on
# PostgreSQL), found or not
LINK = "link_1NoSuchLinkIdHereAtAll00"
TOKEN = "NoSuchTokenHereAtAll0000000000"


@needs_postgres
class TestDatabaseOutage:
    def test_a_cut_database_is_a_retryable_503_in_time(self, pg: Server, pg_proxy: Proxy):
        key = new_key()
        pg_proxy.cut()
        for _ in range(4):  # both workers, reads (a list, a lookup) and writes
            got, took = timed(httpx.get, f"{pg.url}/v1/file_links", headers=auth(key), timeout=30)
            assert_retryable_503(got)
            assert took < TIMEOUT + MARGIN
            got, took = timed(
                httpx.get, f"{pg.url}/v1/file_links/{LINK}", headers=auth(key), timeout=30
            )
            assert_retryable_503(got)
            assert took < TIMEOUT + MARGIN
            got, took = timed(httpx.get, f"{pg.url}/links/{TOKEN}", timeout=30)
            assert_retryable_503(got)
            assert took < TIMEOUT + MARGIN
            got, took = timed(upload, pg, key, **{"Idempotency-Key": secrets.token_hex(8)})
            assert_retryable_503(got)
            assert took < TIMEOUT + MARGIN

    def test_a_silent_database_is_a_503_within_the_timeout(self, pg: Server, pg_proxy: Proxy):
        key = new_key()
        file_id = upload(pg, key).json()["id"]
        pg_proxy.blackhole()
        calls = [
            lambda: httpx.get(f"{pg.url}/v1/files/{file_id}", headers=auth(key), timeout=30),
            lambda: httpx.get(f"{pg.url}/v1/file_links/{LINK}", headers=auth(key), timeout=30),
            lambda: httpx.get(f"{pg.url}/links/{TOKEN}", timeout=30),
            lambda: httpx.post(
                f"{pg.url}/v1/file_links",
                headers=auth(key, **{"Idempotency-Key": "silent-1"}),
                data={"file": file_id},
                timeout=30,
            ),
            lambda: httpx.get(f"{pg.url}/healthz", timeout=30),
        ]
        with ThreadPoolExecutor(12) as pool:  # more than one request per worker at once
            answers = list(pool.map(lambda call: timed(call), calls * 4))
        for got, took in answers:
            assert got.status_code == 503, got.text
            assert took < TIMEOUT + MARGIN, f"answered after {took:.1f} s"
        pg_proxy.restore()
        wait_until_healthy(pg)
        # the key's request was answered 503: the retry runs it, exactly once
        retried = httpx.post(
            f"{pg.url}/v1/file_links",
            headers=auth(key, **{"Idempotency-Key": "silent-1"}),
            data={"file": file_id},
            timeout=30,
        )
        deadline = time.monotonic() + 10
        while retried.status_code == 409:  # a claim of the blackholed attempt, until its lease
            assert time.monotonic() < deadline, "the claim was never freed"
            time.sleep(float(retried.headers["Retry-After"]))
            retried = httpx.post(
                f"{pg.url}/v1/file_links",
                headers=auth(key, **{"Idempotency-Key": "silent-1"}),
                data={"file": file_id},
                timeout=30,
            )
        assert retried.status_code == 200, retried.text
        assert "Idempotent-Replayed" not in retried.headers
        links = httpx.get(f"{pg.url}/v1/file_links", headers=auth(key), params={"file": file_id})
        assert len(links.json()["data"]) == 1

    def test_an_sdk_retrying_through_a_database_reset_creates_one_link(
        self, pg: Server, pg_proxy: Proxy
    ):
        key = new_key()
        file_id = upload(pg, key).json()["id"]
        client = stripe.StripeClient(
            key, base_addresses={"api": pg.url, "files": pg.url}, max_network_retries=4
        )
        pg_proxy.cut()
        healed = threading.Timer(1.0, pg_proxy.restore)
        healed.start()
        try:
            link = client.v1.file_links.create(
                params={"file": file_id}, options={"idempotency_key": "reset-1"}
            )
        finally:
            healed.join()
        assert link.file == file_id
        again = client.v1.file_links.create(
            params={"file": file_id}, options={"idempotency_key": "reset-1"}
        )
        assert again.id == link.id
        listed = client.v1.file_links.list(params={"file": file_id})
        assert [each.id for each in listed.data] == [link.id]


# --- the object store behind a proxy --------------------------------------------------------------


@pytest.fixture(scope="module")
def store_proxy(moto: Moto) -> Iterator[Proxy]:
    endpoint = urlsplit(moto.endpoint)
    with proxy_to(endpoint.hostname or "127.0.0.1", endpoint.port or 80) as proxy:
        yield proxy


@pytest.fixture(scope="module")
def s3_server(
    moto: Moto, store_proxy: Proxy, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[Server, str]]:
    bucket = new_bucket()
    env = moto.env(bucket)
    env["AWS_ENDPOINT_URL"] = f"http://127.0.0.1:{store_proxy.port}"
    env["FILELINKS_DATABASE_TIMEOUT_SECONDS"] = str(TIMEOUT)
    server = start_server(tmp_path_factory.mktemp("outage-s3") / "data", workers=2, extra_env=env)
    try:
        yield server, bucket
    finally:
        server.stop()


@pytest.fixture
def s3(store_proxy: Proxy, s3_server: tuple[Server, str]) -> Iterator[Server]:
    store_proxy.restore()
    yield s3_server[0]
    store_proxy.restore()


class TestStoreOutage:
    def test_an_outage_is_not_replayed_for_the_key(self, s3: Server, store_proxy: Proxy):
        key = new_key()
        store_proxy.cut()
        failed = upload(s3, key, **{"Idempotency-Key": "up-1"})
        assert_retryable_503(failed)
        store_proxy.restore()

        retried = upload(s3, key, **{"Idempotency-Key": "up-1"})

        assert retried.status_code == 200, retried.text
        assert "Idempotent-Replayed" not in retried.headers
        replayed = upload(s3, key, **{"Idempotency-Key": "up-1"})
        assert replayed.headers["Idempotent-Replayed"] == "true"
        assert replayed.json()["id"] == retried.json()["id"]
        listed = httpx.get(f"{s3.url}/v1/files", headers=auth(key)).json()["data"]
        assert [each["id"] for each in listed] == [retried.json()["id"]]

    def test_a_silent_store_is_a_503_within_the_timeout(self, s3: Server, store_proxy: Proxy):
        key = new_key()
        stored = upload(s3, key).json()["id"]
        store_proxy.blackhole()
        got, took = timed(upload, s3, key)
        assert_retryable_503(got)
        assert took < TIMEOUT + MARGIN, f"answered after {took:.1f} s"
        contents = f"{s3.url}/v1/files/{stored}/contents"
        got, took = timed(httpx.get, contents, headers=auth(key), timeout=30)
        assert_retryable_503(got)
        assert took < TIMEOUT + MARGIN, f"answered after {took:.1f} s"

    def test_a_deleted_bucket_is_created_again(
        self, s3: Server, s3_server: tuple[Server, str], moto: Moto
    ):
        key = new_key()
        assert upload(s3, key).status_code == 200
        admin = boto3_client(moto)
        bucket = s3_server[1]
        for each in admin.list_objects_v2(Bucket=bucket).get("Contents", []):
            admin.delete_object(Bucket=bucket, Key=each["Key"])
        admin.delete_bucket(Bucket=bucket)

        got = upload(s3, key)

        assert got.status_code == 200, got.text
        assert httpx.get(got.json()["url"], headers=auth(key)).content == samples.pdf()


# --- a full disk ----------------------------------------------------------------------------------


@pytest.fixture
def small_disk(tmp_path: Path) -> Iterator[Path]:
    """A 512 KiB file system for the data dir (CI runs as root)."""
    mount = tmp_path / "small"
    mount.mkdir()
    done = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=512k", "tmpfs", str(mount)], capture_output=True
    )
    if done.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {done.stderr.decode().strip()}")
    try:
        yield mount
    finally:
        subprocess.run(["umount", "-l", str(mount)], check=False)


def test_a_full_disk_is_a_clear_retryable_error(small_disk: Path, tmp_path: Path):
    server = start_server(
        small_disk / "data",
        database_url=f"sqlite:///{tmp_path / 'filelinks.db'}",
        extra_env={"FILELINKS_METRICS": "false"},
    )
    key = new_key()
    try:
        too_big = httpx.post(
            f"{server.url}/v1/files",
            headers=auth(key, **{"Idempotency-Key": "big-1"}),
            data={"purpose": "dispute_evidence"},
            files={"file": ("a.pdf", samples.pdf(pad=1024 * 1024), "application/pdf")},
            timeout=30,
        )
        assert_retryable_503(too_big)
        assert "disk is full" in too_big.json()["error"]["message"]
        # the failed upload left nothing behind: a small one fits, and the key was released
        small = upload(server, key, **{"Idempotency-Key": "big-1"})
        assert small.status_code == 200, small.text
        assert "Idempotent-Replayed" not in small.headers
    finally:
        server.stop()
    assert "Traceback" not in server.log_text()


def test_the_metrics_files_are_not_in_a_full_tmpdir(small_disk: Path, tmp_path: Path):
    # prometheus-client's files are memory-mapped and sparse: once they grow on a full file
    # system, a write into a new page kills the worker with SIGBUS. A container's TMPDIR is
    # often a small tmpfs; the data dir is where the service's disk space is.
    (small_disk / "filler").write_bytes(b"\0" * 512 * 1024)  # the file system is full now
    server = start_server(tmp_path / "data", workers=2, extra_env={"TMPDIR": str(small_disk)})
    key = new_key()
    try:
        for _ in range(4):
            assert upload(server, key).status_code == 200
        scraped = httpx.get(f"{server.url}/metrics")
        assert scraped.status_code == 200
        assert "filelinks_requests_total" in scraped.text
        counted = list((tmp_path / "data").glob("metrics-*/*.db"))
        assert counted, "the workers' metrics files are in the data dir"
        assert not [p for p in small_disk.rglob("*.db")]
    finally:
        server.stop()
    assert not list((tmp_path / "data").glob("metrics-*"))  # removed when serve stops


# --- a claim whose owner died ---------------------------------------------------------------------


def test_the_sdk_default_retries_outlast_a_dead_owners_claim(tmp_path: Path):
    server = start_server(tmp_path / "data")
    key = new_key()
    try:
        file_id = upload(server, key).json()["id"]
        endpoint = "/v1/file_links"
        # a claim just taken by a process that then died (its lease is fresh, never renewed)
        account = httpx.get(f"{server.url}/v1/files/{file_id}", headers=auth(key))
        assert account.status_code == 200
        with sqlite3.connect(server.data_dir / "filelinks.db") as db:
            owner = db.execute("SELECT account FROM files WHERE id = ?", (file_id,)).fetchone()[0]
            db.execute(
                "INSERT INTO idempotency_keys (account, livemode, key, endpoint, digest,"
                " created, started_at, request_id) VALUES (?, 0, 'dead-1', ?, NULL, ?, ?,"
                " 'req_dead')",
                (owner, endpoint, int(time.time()), time.time()),
            )
        # stripe-python's default for its module-level API: 2 retries, 0.5 s then 0.5-1 s
        client = stripe.StripeClient(
            key,
            base_addresses={"api": server.url, "files": server.url},
            max_network_retries=stripe.max_network_retries,
        )
        assert stripe.max_network_retries == 2

        started = time.monotonic()
        link = client.v1.file_links.create(
            params={"file": file_id}, options={"idempotency_key": "dead-1"}
        )

        assert link.file == file_id
        assert time.monotonic() - started < 10
        logged = httpx.get(
            f"{server.url}/_emulator/requests",
            headers=auth(key),
            params={"idempotency_key": "dead-1"},
        ).json()["data"]
        assert [entry["status"] for entry in logged][-1] == 409  # the first attempt waited
        assert logged[0]["status"] == 200
    finally:
        server.stop()


# --- SQLite: writers waiting for another process's lock -------------------------------------------


def test_a_read_is_answered_while_twenty_writers_wait_for_the_lock(tmp_path: Path):
    server = start_server(tmp_path / "data")
    key = new_key()
    try:
        file_id = upload(server, key).json()["id"]
        holder = sqlite3.connect(server.data_dir / "filelinks.db", isolation_level=None)
        holder.execute("BEGIN IMMEDIATE")
        released = threading.Event()

        def create() -> int:
            return httpx.post(
                f"{server.url}/v1/file_links",
                headers=auth(key),
                data={"file": file_id},
                timeout=30,
            ).status_code

        try:
            with ThreadPoolExecutor(20) as pool:
                writers = [pool.submit(create) for _ in range(20)]
                wait_for_connections(server, 20)
                assert not any(w.done() for w in writers)
                health, took = timed(httpx.get, f"{server.url}/healthz", timeout=5)
                assert health.status_code == 200
                assert took < 1.0, f"a read waited {took:.2f} s behind the writers"
                holder.execute("COMMIT")
                released.set()
                statuses = [w.result() for w in writers]
        finally:
            if not released.is_set():
                holder.execute("ROLLBACK")
            holder.close()
        assert statuses == [200] * 20
    finally:
        server.stop()
