"""Idempotency and concurrent writes against a real server with two worker processes."""

from __future__ import annotations

import socket
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import httpx
import pytest
import stripe
from sqlalchemy import create_engine, select, text

from filelinks_api.models import idempotency_keys
from tests import samples
from tests.conftest import BACKENDS, new_key
from tests.e2e.conftest import Server, auth, make_file


def test_twenty_concurrent_creates_with_one_key_make_one_link(two_workers: Server):
    key = new_key()
    file_id = make_file(two_workers, key)
    barrier = threading.Barrier(20)

    def create(_: int) -> httpx.Response:
        barrier.wait()
        return httpx.post(
            f"{two_workers.url}/v1/file_links",
            data={"file": file_id},
            headers={**auth(key), "Idempotency-Key": "same-key"},
            timeout=30,
        )

    with ThreadPoolExecutor(20) as pool:
        responses = list(pool.map(create, range(20)))
    statuses = sorted(r.status_code for r in responses)
    assert set(statuses) <= {200, 409}, [
        r.text for r in responses if r.status_code not in (200, 409)
    ]
    ok = [r for r in responses if r.status_code == 200]
    assert ok, statuses
    assert len({r.json()["id"] for r in ok}) == 1
    for conflict in (r for r in responses if r.status_code == 409):
        assert conflict.json()["error"]["code"] == "idempotency_key_in_use"
        assert conflict.headers["Stripe-Should-Retry"] == "true"
    listed = httpx.get(
        f"{two_workers.url}/v1/file_links", params={"file": file_id}, headers=auth(key)
    ).json()
    assert len(listed["data"]) == 1
    print(f"20 same-key creates: {statuses.count(200)} x 200, {statuses.count(409)} x 409, 1 link")


def test_fifty_concurrent_metadata_updates_all_land(two_workers: Server):
    key = new_key()
    file_id = make_file(two_workers, key)
    link = httpx.post(
        f"{two_workers.url}/v1/file_links", data={"file": file_id}, headers=auth(key)
    ).json()
    barrier = threading.Barrier(50)

    def update(n: int) -> httpx.Response:
        barrier.wait()
        return httpx.post(
            f"{two_workers.url}/v1/file_links/{link['id']}",
            data={f"metadata[k{n}]": str(n)},
            headers={**auth(key), "Idempotency-Key": f"update-{n}"},
            timeout=30,
        )

    with ThreadPoolExecutor(50) as pool:
        responses = list(pool.map(update, range(50)))
    assert [r.status_code for r in responses] == [200] * 50, [r.text for r in responses]
    final = httpx.get(f"{two_workers.url}/v1/file_links/{link['id']}", headers=auth(key)).json()
    assert final["metadata"] == {f"k{n}": str(n) for n in range(50)}
    print("50 concurrent metadata updates: 50 x 200, 50 of 50 keys present")


# PostgreSQL only: SQLite runs a claim and its work back to back under one write lock, so no
# test can hold a request between them there; tests/api/test_idempotency.py covers the 409 rule
# on both databases.
@pytest.mark.parametrize("two_workers", [b for b in BACKENDS if b == "postgresql"], indirect=True)
def test_a_request_still_executing_makes_a_retry_wait_with_409(two_workers: Server):
    """The first request has claimed its key and waits for a row lock that "another process"
    holds; a retry with the key meanwhile gets the retryable 409, then the first's answer."""
    key = new_key()
    file = httpx.post(
        f"{two_workers.url}/v1/files",
        files={"file": ("a.pdf", samples.pdf(), "application/octet-stream")},
        data={"purpose": "dispute_evidence"},
        headers=auth(key),
    ).json()
    link = httpx.post(
        f"{two_workers.url}/v1/file_links", data={"file": file["id"]}, headers=auth(key)
    ).json()
    same_key = {**auth(key), "Idempotency-Key": "in-flight"}
    update = {"metadata[order]": "6735"}
    engine = create_engine(two_workers.database_url)
    holder = engine.connect()
    holder.execute(text("SELECT 1 FROM file_links WHERE id = :id FOR UPDATE"), {"id": link["id"]})
    results: list[httpx.Response] = []
    first = threading.Thread(
        target=lambda: results.append(
            httpx.post(
                f"{two_workers.url}/v1/file_links/{link['id']}",
                data=update,
                headers=same_key,
                timeout=30,
            )
        )
    )
    first.start()
    try:
        # Wait, without touching the key, until the first request holds it.
        deadline = time.monotonic() + 2
        claimed = False
        while time.monotonic() < deadline and not claimed:
            with engine.connect() as connection:
                claimed = bool(
                    connection.execute(
                        select(idempotency_keys.c.seq).where(
                            idempotency_keys.c.key == "in-flight",
                            idempotency_keys.c.status.is_(None),
                        )
                    ).first()
                )
            time.sleep(0.01)
        assert claimed
        conflict = httpx.post(
            f"{two_workers.url}/v1/file_links/{link['id']}",
            data=update,
            headers=same_key,
            timeout=30,
        )
    finally:
        holder.rollback()
        holder.close()
        first.join(timeout=30)
        engine.dispose()
    assert conflict.status_code == 409
    assert conflict.headers["Stripe-Should-Retry"] == "true"
    assert conflict.json()["error"]["code"] == "idempotency_key_in_use"
    assert conflict.json()["error"]["type"] == "idempotency_error"
    assert results[0].status_code == 200, results[0].text
    replay = httpx.post(
        f"{two_workers.url}/v1/file_links/{link['id']}", data=update, headers=same_key
    )
    assert replay.headers["Idempotent-Replayed"] == "true"
    assert replay.content == results[0].content


class DropFirstResponseProxy:
    """Forwards each HTTP request to the server; swallows the first POST's response, as a
    network failure would, after the server has done the work."""

    def __init__(self, target: str) -> None:
        self.target = target
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.url = f"http://127.0.0.1:{self.listener.getsockname()[1]}"
        self.dropped = 0
        self.posts = 0
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    def _serve(self) -> None:
        while True:
            try:
                conn, _ = self.listener.accept()
            except OSError:
                return
            threading.Thread(target=self._handle, args=(conn,), daemon=True).start()

    def _handle(self, conn: socket.socket) -> None:
        with conn:
            data = b""
            while b"\r\n\r\n" not in data:
                chunk = conn.recv(65536)
                if not chunk:
                    return
                data += chunk
            head, _, body = data.partition(b"\r\n\r\n")
            lines = head.decode("latin-1").split("\r\n")
            method, path, _ = lines[0].split(" ", 2)
            headers = dict(line.split(": ", 1) for line in lines[1:])
            length = int(next((v for k, v in headers.items() if k.lower() == "content-length"), 0))
            while len(body) < length:
                body += conn.recv(65536)
            forwarded = {
                k: v for k, v in headers.items() if k.lower() not in ("host", "connection")
            }
            response = httpx.request(method, self.target + path, headers=forwarded, content=body)
            if method == "POST":
                self.posts += 1
                if self.dropped == 0:
                    self.dropped += 1
                    return  # close without answering: the client sees a connection error
            reply = f"HTTP/1.1 {response.status_code} OK\r\n".encode()
            for name, value in response.headers.items():
                if name.lower() not in (
                    "content-length",
                    "connection",
                    "transfer-encoding",
                    "content-encoding",
                ):
                    reply += f"{name}: {value}\r\n".encode()
            reply += (
                f"Content-Length: {len(response.content)}\r\nConnection: close\r\n\r\n".encode()
            )
            conn.sendall(reply + response.content)

    def close(self) -> None:
        self.listener.close()


def test_sdk_retry_after_a_lost_response_creates_exactly_one_link(two_workers: Server):
    key = new_key()
    file_id = make_file(two_workers, key)
    proxy = DropFirstResponseProxy(two_workers.url)
    saved = (stripe.api_key, stripe.api_base, stripe.max_network_retries)
    try:
        stripe.api_key = key
        stripe.api_base = proxy.url
        stripe.max_network_retries = 2
        link = stripe.FileLink.create(file=file_id, metadata={"attempt": "sdk"})
    finally:
        stripe.api_key, stripe.api_base, stripe.max_network_retries = saved
        proxy.close()
    assert proxy.dropped == 1
    assert proxy.posts == 2  # the lost attempt and the SDK's retry with the same key
    listed = httpx.get(
        f"{two_workers.url}/v1/file_links", params={"file": file_id}, headers=auth(key)
    ).json()
    assert [item["id"] for item in listed["data"]] == [link.id]
    assert link.last_response.headers["Idempotent-Replayed"] == "true"
