"""Slow and malformed clients against a real server: the body timeout ends a body that does
not arrive in time with Stripe's 408 (and closes the connection), staged bytes are removed,
requests uvicorn cannot parse still get Stripe's envelope, and everyone else is served
meanwhile."""

from __future__ import annotations

import hashlib
import json
import socket
import time
from dataclasses import dataclass

import httpx
import pytest

from tests import samples
from tests.e2e.conftest import Server
from tests.hostile.checks import BOUNDARY, REQUEST_ID, multipart, part, staged_files
from tests.hostile.conftest import BODY_TIMEOUT, KEY

AUTH = f"Authorization: Bearer {KEY}\r\n".encode()


@dataclass
class RawResponse:
    status: int
    headers: dict[str, str]
    body: bytes
    closed: bool  # the server closed the connection after answering
    elapsed: float

    def error(self) -> dict[str, str]:
        assert REQUEST_ID.fullmatch(self.headers.get("request-id", "")), self.headers
        assert self.headers["content-type"] == "application/json"
        body = json.loads(self.body)
        assert list(body) == ["error"]
        error: dict[str, str] = body["error"]
        assert error["type"] == "invalid_request_error"
        assert error["message"]
        return error


def connect(server: Server) -> socket.socket:
    host, port = server.url.removeprefix("http://").split(":")
    return socket.create_connection((host, int(port)), timeout=10)


def read_response(
    sock: socket.socket, started: float, *, check_closed: bool = False
) -> RawResponse:
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = sock.recv(65536)
        assert chunk, f"connection closed without an answer: {data!r}"
        data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    elapsed = time.monotonic() - started
    status_line, *lines = head.decode("latin-1").split("\r\n")
    headers = {k.lower(): v.strip() for k, _, v in (line.partition(":") for line in lines)}
    while len(body) < int(headers["content-length"]):
        chunk = sock.recv(65536)
        assert chunk
        body += chunk
    closed = False
    if check_closed:
        sock.settimeout(2)
        try:
            closed = sock.recv(1) == b""
        except (TimeoutError, ConnectionResetError):
            pass
    return RawResponse(int(status_line.split()[1]), headers, body, closed, elapsed)


def request_head(method: str, path: str, content_type: str, length: int) -> bytes:
    return (
        f"{method} {path} HTTP/1.1\r\nHost: test\r\n".encode()
        + AUTH
        + f"Content-Type: {content_type}\r\nContent-Length: {length}\r\n\r\n".encode()
    )


FORM = "application/x-www-form-urlencoded"
MULTIPART = "multipart/form-data; boundary=" + BOUNDARY.decode()


def stalled_form(server: Server) -> socket.socket:
    """A form POST that declares 100 bytes and sends 5."""
    sock = connect(server)
    sock.sendall(request_head("POST", "/v1/file_links", FORM, 100) + b"file=")
    return sock


def test_a_body_that_stops_arriving_gets_a_408_and_the_connection_closed(
    real_server: Server,
) -> None:
    started = time.monotonic()
    with stalled_form(real_server) as sock:
        got = read_response(sock, started, check_closed=True)
    assert got.status == 408
    assert "not received within 1 seconds" in got.error()["message"]
    assert got.closed
    # not before the timeout: uvloop's timers run on libuv's millisecond clock (read once per
    # loop turn), so one may fire up to a millisecond early by time.monotonic()
    assert BODY_TIMEOUT - 0.002 <= got.elapsed < BODY_TIMEOUT + 2


def test_an_upload_trickling_in_is_ended_at_the_deadline_and_its_bytes_removed(
    real_server: Server,
) -> None:
    content = samples.pdf(pad=10_000)
    body = multipart(part(b"purpose", b"dispute_evidence"), part(b"file", content, b"a.pdf"))
    started = time.monotonic()
    with connect(real_server) as sock:
        sock.sendall(request_head("POST", "/v1/files", MULTIPART, len(body)))
        sent = 0
        # 200 bytes every 50 ms: never a pause near the timeout, but 3 s for the whole body.
        try:
            while sent < len(body) and time.monotonic() - started < BODY_TIMEOUT + 3:
                sock.sendall(body[sent : sent + 200])
                sent += 200
                time.sleep(0.05)
        except (BrokenPipeError, ConnectionResetError):
            pass  # the server answered and closed while we were still sending
        got = read_response(sock, started)
    assert got.status == 408
    got.error()
    assert got.elapsed < BODY_TIMEOUT + 2
    assert sent < len(body)
    assert staged_files(real_server.data_dir / "files") == []


def test_a_body_sent_in_pieces_within_the_deadline_is_served(real_server: Server) -> None:
    body = b"file=file_missing&metadata[a]=b"
    started = time.monotonic()
    with connect(real_server) as sock:
        sock.sendall(request_head("POST", "/v1/file_links", FORM, len(body)) + body[:5])
        for piece in (body[5:15], body[15:]):
            time.sleep(BODY_TIMEOUT / 4)
            sock.sendall(piece)
        got = read_response(sock, started)
    assert got.status == 400  # parsed in full: the file does not exist
    assert got.error()["param"] == "file"


def test_the_service_answers_others_while_slow_clients_hang(real_server: Server) -> None:
    stalled = [stalled_form(real_server) for _ in range(30)]
    try:
        started = time.monotonic()
        with httpx.Client(
            base_url=real_server.url, headers={"Authorization": f"Bearer {KEY}"}
        ) as c:
            uploaded = c.post(
                "/v1/files",
                files={"file": ("a.pdf", samples.pdf("meanwhile"), "application/pdf")},
                data={"purpose": "dispute_evidence"},
            )
            listed = c.get("/v1/files", params={"limit": 1})
        served_in = time.monotonic() - started
        assert uploaded.status_code == 200, uploaded.text
        assert listed.json()["data"][0]["id"] == uploaded.json()["id"]
        assert served_in < BODY_TIMEOUT  # answered while all 30 were still hanging
        statuses = [read_response(sock, started).status for sock in stalled]
        assert statuses == [408] * 30
    finally:
        for sock in stalled:
            sock.close()


def test_a_slow_reader_of_a_download_is_not_cut_by_the_body_timeout(real_server: Server) -> None:
    content = samples.csv(rows=600_000)  # ~12 MB: more than the socket buffers hold
    with httpx.Client(base_url=real_server.url, headers={"Authorization": f"Bearer {KEY}"}) as c:
        file = c.post(
            "/v1/files",
            files={"file": ("big.csv", content, "text/csv")},
            data={"purpose": "tax_document_user_upload", "file_link_data[create]": "true"},
        ).json()
        digest = hashlib.sha256()
        with c.stream("GET", file["links"]["data"][0]["url"]) as download:
            chunks = download.iter_raw()
            digest.update(next(chunks))
            time.sleep(BODY_TIMEOUT * 1.5)
            for chunk in chunks:
                digest.update(chunk)
    assert digest.hexdigest() == hashlib.sha256(content).hexdigest()


UNPARSABLE = {
    "raw-bytes-in-path": b"GET /v1/files/\xff\xfe HTTP/1.1\r\nHost: t\r\n" + AUTH + b"\r\n",
    "nul-in-path": b"GET /v1/files/a\x00b HTTP/1.1\r\nHost: t\r\n" + AUTH + b"\r\n",
    "raw-bytes-in-query": b"GET /v1/files?purpose=\xff HTTP/1.1\r\nHost: t\r\n" + AUTH + b"\r\n",
    "nul-in-idempotency-key": (
        request_head("POST", "/v1/file_links", FORM, 6).replace(
            b"\r\n\r\n", b"\r\nIdempotency-Key: a\x00b\r\n\r\n"
        )
        + b"file=x"
    ),
    "url-of-200-kb": b"GET /v1/files/" + b"a" * 200_000 + b" HTTP/1.1\r\nHost: t\r\n\r\n",
    "garbage": b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03" + b"\x00" * 100,
    "ten-thousand-query-params": (
        b"GET /v1/files?" + b"&".join(b"p%d=1" % i for i in range(10_000)) + b" HTTP/1.1\r\n"
        b"Host: t\r\n" + AUTH + b"\r\n"
    ),
}


@pytest.mark.parametrize("raw", UNPARSABLE.values(), ids=UNPARSABLE.keys())
def test_a_request_uvicorn_cannot_parse_gets_a_stripe_error(
    real_server: Server, raw: bytes
) -> None:
    started = time.monotonic()
    with connect(real_server) as sock:
        sock.sendall(raw)
        got = read_response(sock, started)
    assert 400 <= got.status < 500
    got.error()
    assert httpx.get(f"{real_server.url}/healthz").status_code == 200


def test_dot_segments_in_raw_paths_reach_nothing(real_server: Server) -> None:
    for path in [
        b"/v1/files/../../etc/passwd",
        b"/links/../filelinks.db",
        b"/links/..%2F..%2Ffilelinks.db",
        b"/v1/files/%2E%2E/contents",
    ]:
        started = time.monotonic()
        with connect(real_server) as sock:
            sock.sendall(b"GET " + path + b" HTTP/1.1\r\nHost: t\r\n" + AUTH + b"\r\n")
            got = read_response(sock, started)
        assert got.status == 404, (path, got.body)
        got.error()
        assert b"SQLite" not in got.body
