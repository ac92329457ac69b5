"""Operating the service: JSON logs, the line saying where it listens, /metrics across workers,
and shutting down on SIGTERM with requests in flight."""

from __future__ import annotations

import json
import re
import secrets
import signal
import socket
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from tests import samples
from tests.conftest import (
    BACKENDS,
    create_postgres_schema,
    drop_postgres_schema,
    eventually,
    new_key,
    postgres_schema_url,
)
from tests.e2e.conftest import Server, auth, start_server


def stop(server: Server, sig: signal.Signals = signal.SIGTERM, timeout: float = 30) -> int:
    server.process.send_signal(sig)
    return server.process.wait(timeout=timeout)


# --- logs -----------------------------------------------------------------------------------


def test_json_logs_have_one_object_per_request_and_never_a_key(tmp_path: Path):
    server = start_server(tmp_path / "data", args=("--log-format", "json"))
    key = new_key()
    try:
        listed = httpx.get(f"{server.url}/v1/file_links", headers=auth(key))
        missing = httpx.get(f"{server.url}/v1/file_links/link_nope", headers=auth(key))
        uploaded = httpx.post(
            f"{server.url}/v1/files",
            headers=auth(key, **{"Idempotency-Key": "upload-1"}),
            data={"purpose": "dispute_evidence"},
            files={"file": ("a.pdf", samples.pdf(), "application/pdf")},
        )
        replayed = httpx.post(
            f"{server.url}/v1/files",
            headers=auth(key, **{"Idempotency-Key": "upload-1"}),
            data={"purpose": "dispute_evidence"},
            files={"file": ("a.pdf", samples.pdf(), "application/pdf")},
        )
        assert httpx.get(f"{server.url}/healthz").status_code == 200
        scraped = httpx.get(f"{server.url}/metrics")
        # one worker counts in multiprocess mode too (prometheus_client is first imported
        # after serve has set its directory)
        listed_count = metric(
            scraped.text,
            "filelinks_requests_total",
            route="/v1/file_links",
            method="GET",
            status="200",
        )
        assert listed_count == 1
        assert replayed.headers["Idempotent-Replayed"] == "true"
    finally:
        assert stop(server) == 0
    text = server.log_text()
    records = [json.loads(line) for line in text.splitlines() if line.strip()]  # all JSON
    assert key not in text
    access = {r["request_id"]: r for r in records if r["logger"] == "filelinks_api.access"}
    assert set(access) == {
        r.headers["Request-Id"] for r in (listed, missing, uploaded, replayed)
    }  # nothing for /healthz and /metrics
    first = access[listed.headers["Request-Id"]]
    assert first["level"] == "info"
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}\+00:00", first["time"])
    assert first["method"] == "GET"
    assert first["path"] == first["route"] == "/v1/file_links"
    assert first["status"] == 200
    assert first["account"].startswith("acct_")
    assert isinstance(first["duration_ms"], float)
    assert first["idempotency_key"] is None
    assert first["replayed"] is False
    assert access[missing.headers["Request-Id"]]["route"] == "/v1/file_links/{link_id}"
    assert access[missing.headers["Request-Id"]]["status"] == 404
    upload = access[uploaded.headers["Request-Id"]]
    assert (upload["idempotency_key"], upload["replayed"]) == ("upload-1", False)
    replay = access[replayed.headers["Request-Id"]]
    assert (replay["idempotency_key"], replay["replayed"]) == ("upload-1", True)
    [listening] = [r for r in records if r.get("event") == "listening"]
    # 127.0.0.1 is shown as the SDK examples name it: a dashboard signed in at that URL
    # shares its cookie with the request_log_url of an SDK aimed at localhost
    assert listening["url"] == server.url.replace("127.0.0.1", "localhost")
    assert listening["database"].startswith("sqlite:///")


@pytest.mark.parametrize("backend", BACKENDS)
def test_where_it_listens_is_said_at_every_log_level_without_the_password(
    tmp_path: Path, backend: str
):
    schema = None
    database_url = None
    if backend == "postgresql":
        schema = f"filelinks_ops_{secrets.token_hex(4)}"
        create_postgres_schema(schema)
        # the test server trusts every connection: the password is only there to be hidden
        database_url = postgres_schema_url(schema).replace("postgres@", "postgres:s3cret-pw@")
    try:
        server = start_server(
            tmp_path / "data", database_url=database_url, args=("--log-level", "warning")
        )
        assert stop(server) == 0
    finally:
        if schema:
            drop_postgres_schema(schema)
    text = server.log_text()
    assert f"listening on {server.url.replace('127.0.0.1', 'localhost')} (1 worker)" in text
    assert "filelinks-api: created the database schema in " in text  # a fresh database
    assert f"files in {tmp_path / 'data' / 'files'}" in text
    assert "s3cret-pw" not in text
    if backend == "postgresql":
        assert "database postgresql+psycopg://postgres:***@127.0.0.1" in text
    else:
        assert f"database sqlite:///{tmp_path / 'data' / 'filelinks.db'}" in text
    assert "filelinks_api.access" not in text  # --log-level warning: no request lines


def test_version():
    done = subprocess.run(
        [sys.executable, "-m", "filelinks_api", "--version"], capture_output=True, text=True
    )
    assert done.returncode == 0
    assert re.fullmatch(r"filelinks-api \d+\.\d+\.\d+\S*\n", done.stdout)


# --- metrics --------------------------------------------------------------------------------


def metric(text: str, name: str, **labels: str) -> float:
    """The value of one series in Prometheus' text format (0 when absent)."""
    wanted = ",".join(f'{k}="{v}"' for k, v in sorted(labels.items()))
    for line in text.splitlines():
        if line.startswith("#") or not line.strip():
            continue
        series, value = line.rsplit(" ", 1)
        found_name, _, found_labels = series.partition("{")
        found = ",".join(sorted(found_labels.rstrip("}").split(","))) if found_labels else ""
        if found_name == name and found == wanted:
            return float(value)
    return 0.0


def test_metrics_add_up_every_worker_after_real_traffic(two_workers: Server):
    server = two_workers
    key = new_key()
    pdf = samples.pdf()
    before = httpx.get(f"{server.url}/metrics").text
    # Many short connections, so that both workers serve some of them.
    file = httpx.post(
        f"{server.url}/v1/files",
        headers=auth(key, **{"Idempotency-Key": "m-1"}),
        data={"purpose": "dispute_evidence", "file_link_data[create]": "true"},
        files={"file": ("a.pdf", pdf, "application/pdf")},
    ).json()
    replay = httpx.post(
        f"{server.url}/v1/files",
        headers=auth(key, **{"Idempotency-Key": "m-1"}),
        data={"purpose": "dispute_evidence", "file_link_data[create]": "true"},
        files={"file": ("a.pdf", pdf, "application/pdf")},
    )
    assert replay.headers["Idempotent-Replayed"] == "true"
    link = file["links"]["data"][0]
    retrieves = 40
    retrieved = set()
    for _ in range(retrieves):
        got = httpx.get(f"{server.url}/v1/file_links/{link['id']}", headers=auth(key))
        assert got.status_code == 200
        retrieved.add(got.headers["Request-Id"])
    for _ in range(3):
        assert httpx.get(link["url"]).content == pdf
    assert httpx.get(f"{server.url}/v1/files/file_nope", headers=auth(key)).status_code == 404
    logged = retrieves + 6  # every /v1 request and link hit above; the metrics scrapes are not
    written = "filelinks_request_log_entries_total"
    after = httpx.get(f"{server.url}/metrics")
    assert after.headers["content-type"].startswith("text/plain")

    def grew(name: str, **labels: str) -> float:
        return metric(after.text, name, **labels) - metric(before, name, **labels)

    def log_caught_up() -> bool:
        # a serving worker answers before its entries are written (a batch gathers for up to
        # 20 ms): the written count reaches the requests' once their batches commit
        nonlocal after
        if grew(written, outcome="written") >= logged:
            return True
        after = httpx.get(f"{server.url}/metrics")
        return False

    eventually(log_caught_up)

    requests = "filelinks_requests_total"
    route = "/v1/file_links/{link_id}"
    assert grew(requests, route=route, method="GET", status="200") == retrieves
    assert grew(requests, route="/v1/files", method="POST", status="200") == 2
    assert grew(requests, route="/links/{token}", method="GET", status="200") == 3
    assert grew(requests, route="/v1/files/{file_id}", method="GET", status="404") == 1
    latency = "filelinks_request_duration_seconds_count"
    assert grew(latency, route=route) == retrieves
    assert grew("filelinks_uploaded_bytes_total") == len(pdf)  # the replay stored nothing
    assert grew("filelinks_downloaded_bytes_total") == 3 * len(pdf)
    assert grew("filelinks_idempotent_replays_total") == 1
    assert grew(written, outcome="written") == logged
    # both workers answered some of them (the JSON access log names the process), and the
    # sums above are over both
    records = [json.loads(line) for line in server.log_text().splitlines() if line.strip()]
    served_by = {r["pid"] for r in records if r.get("request_id") in retrieved}
    assert len(served_by) == 2


def test_metrics_can_be_turned_off(tmp_path: Path):
    server = start_server(tmp_path / "data", extra_env={"FILELINKS_METRICS": "false"})
    try:
        gone = httpx.get(f"{server.url}/metrics")
        assert gone.status_code == 404
        assert gone.json()["error"]["type"] == "invalid_request_error"
    finally:
        server.stop()


# --- shutting down ----------------------------------------------------------------------------


def multipart_upload(host: str, port: int, key: str, payload: bytes) -> tuple[socket.socket, bytes]:
    """A socket with an upload's request line and headers sent, and the body still to send."""
    boundary = "----filelinks-test-boundary"
    body = (
        (
            f'--{boundary}\r\nContent-Disposition: form-data; name="purpose"\r\n\r\n'
            "dispute_evidence\r\n"
            f'--{boundary}\r\nContent-Disposition: form-data; name="file";'
            ' filename="slow.pdf"\r\nContent-Type: application/pdf\r\n\r\n'
        ).encode()
        + payload
        + f"\r\n--{boundary}--\r\n".encode()
    )
    head = (
        f"POST /v1/files HTTP/1.1\r\nHost: {host}:{port}\r\nAuthorization: Bearer {key}\r\n"
        f"Content-Type: multipart/form-data; boundary={boundary}\r\n"
        f"Content-Length: {len(body)}\r\n\r\n"
    ).encode()
    connection = socket.create_connection((host, port), timeout=30)
    connection.sendall(head)
    return connection, body


def read_response(connection: socket.socket) -> bytes:
    chunks = []
    while True:
        try:
            chunk = connection.recv(65536)
        except (ConnectionResetError, TimeoutError):
            break
        if not chunk:
            break
        chunks.append(chunk)
    return b"".join(chunks)


def file_rows(data_dir: Path) -> list[tuple[str, int]]:
    with sqlite3.connect(data_dir / "filelinks.db") as db:
        return list(db.execute("SELECT id, size FROM files"))


@pytest.mark.parametrize("workers", [1, 2])
def test_sigterm_lets_an_upload_in_flight_finish_then_exits_0(tmp_path: Path, workers: int):
    server = start_server(tmp_path / "data", workers=workers)
    port = int(server.url.rsplit(":", 1)[1])
    key = new_key()
    payload = samples.pdf() + b"%" * 300_000
    connection, body = multipart_upload("127.0.0.1", port, key, payload)
    half = len(body) // 2
    connection.sendall(body[:half])
    staging = server.data_dir / "files" / "tmp"
    eventually(lambda: any(staging.glob("upload-*")))  # the handler is reading the body
    server.process.send_signal(signal.SIGTERM)
    eventually(lambda: "Shutting down" in server.log_text())
    connection.sendall(body[half:])
    response = read_response(connection)
    connection.close()
    assert server.process.wait(timeout=30) == 0
    status_line, _, rest = response.partition(b"\r\n")
    assert status_line == b"HTTP/1.1 200 OK", response[:500]
    file_id = json.loads(rest.split(b"\r\n\r\n", 1)[1])["id"]
    assert file_rows(server.data_dir) == [(file_id, len(payload))]
    stored = server.data_dir / "files"
    assert any(
        path.name == file_id and path.stat().st_size == len(payload) for path in stored.rglob("*")
    )


# uvicorn logs the traceback of the request its graceful-shutdown timeout cancels
@pytest.mark.expect_error_log
@pytest.mark.parametrize("workers", [1, 2])
def test_an_upload_cut_off_by_shutdown_leaves_no_row_and_no_bytes(tmp_path: Path, workers: int):
    server = start_server(
        tmp_path / "data",
        workers=workers,
        extra_env={"FILELINKS_SHUTDOWN_TIMEOUT_SECONDS": "1"},
    )
    port = int(server.url.rsplit(":", 1)[1])
    connection, body = multipart_upload("127.0.0.1", port, new_key(), samples.pdf() * 50)
    connection.sendall(body[: len(body) // 2])  # and never the rest
    staging = server.data_dir / "files" / "tmp"
    eventually(lambda: any(staging.glob("upload-*")))  # the handler is reading the body
    started = time.monotonic()
    server.process.send_signal(signal.SIGTERM)
    assert server.process.wait(timeout=30) == 0
    assert time.monotonic() - started < 15  # bounded by the shutdown timeout, not the body's
    connection.close()
    assert file_rows(server.data_dir) == []
    # a staged part may remain after the cut-off (no row has it); the next start sweeps it
    restarted = start_server(tmp_path / "data", extra_env={"FILELINKS_ORPHAN_GRACE_SECONDS": "0"})
    try:
        assert [p for p in (server.data_dir / "files").rglob("*") if p.is_file()] == []
        assert file_rows(server.data_dir) == []
    finally:
        restarted.stop()
