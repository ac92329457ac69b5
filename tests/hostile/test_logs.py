"""API keys never reach the server's log, whatever a client does with them."""

from __future__ import annotations

import base64
import socket

import httpx

from tests import samples
from tests.conftest import eventually, new_key
from tests.e2e.conftest import Server
from tests.hostile.conftest import KEY, LIVE_KEY


def test_no_api_key_appears_in_the_log(real_server: Server) -> None:
    unknown = new_key()  # well-formed, not configured: refused
    secrets = [KEY, LIVE_KEY, unknown, "sk_test_" + "Zq9" * 10]
    url = real_server.url
    ok = {"Authorization": f"Bearer {KEY}"}
    with httpx.Client(base_url=url, timeout=10) as http:
        statuses = [
            http.get("/v1/files", headers=ok).status_code,
            http.get("/v1/files", headers={"Authorization": f"Bearer {LIVE_KEY}"}).status_code,
            http.get(
                "/v1/files",
                headers={"Authorization": "Basic " + base64.b64encode(f"{KEY}:".encode()).decode()},
            ).status_code,
            http.post(
                "/v1/files",
                headers=ok,
                files={"file": ("a.pdf", samples.pdf(), "application/pdf")},
                data={"purpose": "dispute_evidence", "file_link_data[create]": "true"},
            ).status_code,
            # refused keys
            http.get("/v1/files", headers={"Authorization": f"Bearer {unknown}"}).status_code,
            http.get("/v1/files", headers={"Authorization": f"Bearer {secrets[3]}"}).status_code,
            http.get("/v1/files", headers={"Authorization": f"{KEY} extra"}).status_code,
            # keys where no key belongs
            http.get("/v1/files", params={"api_key": KEY}, headers=ok).status_code,
            http.get("/v1/files", params={"api_key": unknown}).status_code,
            http.post("/v1/file_links", data={"file": KEY}, headers=ok).status_code,
            http.post("/v1/file_links", data={"key": LIVE_KEY}, headers=ok).status_code,
            http.post(
                "/v1/file_links", data={"file": "file_x"}, headers={**ok, "Idempotency-Key": KEY}
            ).status_code,
            http.get("/v1/files", headers={**ok, "Stripe-Account": LIVE_KEY}).status_code,
        ]
    # a request uvicorn cannot parse, carrying a key
    host, port = url.removeprefix("http://").split(":")
    with socket.create_connection((host, int(port)), timeout=10) as sock:
        sock.sendall(f"GET /v1/files HTTP/1.1\r\nAuthorization: Bearer {KEY}\r\n".encode())
        sock.sendall(b"X-Bad: a\x00b\r\n\r\n")
        assert sock.recv(100).startswith(b"HTTP/1.1 400")
    assert statuses == [200, 200, 200, 200, 401, 401, 401, 400, 401, 400, 400, 400, 403]

    # the log is written by the server process
    eventually(lambda: "POST /v1/file_links 400" in real_server.log_text())
    log = real_server.log_text()
    assert "GET /v1/files 401" in log  # the requests were logged, at info
    assert "POST /v1/file_links 400" in log
    for secret in secrets:
        assert secret not in log
        assert secret[8:] not in log  # nor the part after the prefix
        assert base64.b64encode(f"{secret}:".encode()).decode() not in log
