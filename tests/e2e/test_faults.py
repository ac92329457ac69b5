"""Fault rules against a real server with two worker processes, on each database: what the
real SDKs do with an injected error, a slow answer and a lost response, and a real TCP reset.

Each SDK creates a file link with its own retries (and its own Idempotency-Key) while one
rule acts on `POST /v1/file_links`; the request log then tells how many attempts reached the
server and what each got.
"""

from __future__ import annotations

import json
import socket
import subprocess
import threading
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx
import pytest
import stripe

from tests.conftest import new_key
from tests.e2e.conftest import Server, auth, make_file
from tests.sdk_matrix.envs import NODE_SDKS, node_binary, node_env

HERE = Path(__file__).parent
CLIENT_TIMEOUT_SECONDS = 1
SLOWER_THAN_THE_CLIENT_MS = 3000


def add_rule(server: Server, key: str, **params: Any) -> dict[str, Any]:
    response = httpx.post(f"{server.url}/_emulator/faults", data=params, headers=auth(key))
    assert response.status_code == 200, response.text
    rule: dict[str, Any] = response.json()
    return rule


def attempts(server: Server, key: str) -> list[dict[str, Any]]:
    """The log's entries for POST /v1/file_links, oldest first."""
    entries = httpx.get(
        f"{server.url}/_emulator/requests",
        params={"path": "/v1/file_links", "method": "POST"},
        headers=auth(key),
    ).json()["data"]
    return list(reversed(entries))


def links(server: Server, key: str) -> list[str]:
    data = httpx.get(f"{server.url}/v1/file_links", headers=auth(key)).json()["data"]
    return [link["id"] for link in data]


def python_create(server: Server, key: str, file_id: str) -> dict[str, Any]:
    client = stripe.StripeClient(
        key,
        base_addresses={"api": server.url, "files": server.url},
        max_network_retries=2,
        http_client=stripe.RequestsClient(timeout=CLIENT_TIMEOUT_SECONDS),
    )
    try:
        link = client.v1.file_links.create(params={"file": file_id})
    except stripe.StripeError as error:
        return {
            "ok": False,
            "class": type(error).__name__,
            "status": error.http_status,
            # stripe-python's RateLimitError leaves `code` unset; its error object has it
            "code": error.error.code if error.error is not None else error.code,
        }
    replayed = link.last_response.headers.get("idempotent-replayed") == "true"
    return {"ok": True, "id": link.id, "replayed": replayed}


def node_create(server: Server, key: str, file_id: str) -> dict[str, Any]:
    done = subprocess.run(
        [
            node_binary(),
            str(HERE / "faults_node.cjs"),
            server.url,
            key,
            str(node_env(NODE_SDKS[-1])),
            file_id,
            "2",
            str(CLIENT_TIMEOUT_SECONDS * 1000),
        ],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, f"{done.stdout}\n{done.stderr}"
    outcome: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    outcome.pop("stripe")
    outcome.pop("type", None)
    return outcome


SDKS = {"stripe-python": python_create, "stripe-node": node_create}

# (rule, what the SDK returns, what each attempt got: status, replayed, the rule acted)
SCENARIOS: dict[str, tuple[dict[str, Any], dict[str, Any], list[tuple[int, bool, bool]]]] = {
    # the lost response: applied, kept for the key; the SDK's retry gets it replayed
    "reset-after": (
        {"action": "reset", "when": "after"},
        {"ok": True, "replayed": True},
        [(200, False, True), (200, True, False)],
    ),
    # nothing applied: the retry runs the request
    "reset-before": (
        {"action": "reset", "when": "before"},
        {"ok": True, "replayed": False},
        [(0, False, True), (200, False, False)],
    ),
    # Stripe-Should-Retry: false, kept for the key: both SDKs raise at once
    "error-500": (
        {"action": "error", "status": 500},
        {"ok": False, "status": 500, "code": None},
        [(500, False, True)],
    ),
    # rate limited (false too): raised at once, and not kept for the key
    "error-429": (
        {"action": "error", "status": 429},
        {"ok": False, "status": 429, "code": "rate_limit"},
        [(429, False, True)],
    ),
    # Stripe-Should-Retry: true, the key released: the retry runs the request
    "error-503": (
        {"action": "error", "status": 503},
        {"ok": True, "replayed": False},
        [(503, False, True), (200, False, False)],
    ),
    # slower than the client's timeout: applied meanwhile; the retry gets it replayed
    "delay": (
        {"action": "delay", "delay_ms": SLOWER_THAN_THE_CLIENT_MS},
        {"ok": True, "replayed": True},
        [(200, False, True), (200, True, False)],
    ),
}

ERROR_CLASSES = {
    ("stripe-python", 500): "APIError",
    ("stripe-python", 429): "RateLimitError",
    ("stripe-node", 500): "StripeAPIError",
    ("stripe-node", 429): "StripeRateLimitError",
}


@pytest.mark.parametrize("scenario", SCENARIOS)
@pytest.mark.parametrize("sdk", SDKS)
def test_what_the_sdk_does_under_a_fault(two_workers: Server, sdk: str, scenario: str):
    rule_params, expected, expected_attempts = SCENARIOS[scenario]
    key = new_key()
    file_id = make_file(two_workers, key)
    rule = add_rule(two_workers, key, method="POST", path="/v1/file_links", **rule_params)

    outcome = SDKS[sdk](two_workers, key, file_id)

    seen = attempts(two_workers, key)
    made = links(two_workers, key)
    print(f"{sdk} {scenario}: {outcome}; attempts {[(a['status'], a['fault']) for a in seen]}")
    if expected["ok"]:
        assert outcome.pop("id") in made
        assert len(made) == 1
    else:
        assert outcome.pop("class") == ERROR_CLASSES[(sdk, expected["status"])]
        assert made == []
    assert outcome == expected
    assert [
        (a["status"], a["idempotent_replayed"], a["fault"] is not None) for a in seen
    ] == expected_attempts
    assert len({a["idempotency_key"] for a in seen}) == 1
    assert seen[0]["idempotency_key"] is not None
    assert seen[0]["fault"] == {"id": rule["id"], "action": rule_params["action"]}


def test_a_times_1_rule_fires_once_across_two_workers(two_workers: Server):
    key = new_key()
    served_by: set[int] = set()
    for _ in range(5):  # until a round has run on both workers (the kernel picks)
        add_rule(two_workers, key, action="error", status=500, times=1)
        barrier = threading.Barrier(16)

        def get(_: int, barrier: threading.Barrier = barrier) -> httpx.Response:
            barrier.wait()
            # a connection per request: both workers accept them
            return httpx.get(f"{two_workers.url}/v1/file_links", headers=auth(key), timeout=30)

        with ThreadPoolExecutor(16) as pool:
            responses = list(pool.map(get, range(16)))
        assert sorted(r.status_code for r in responses) == [200] * 15 + [500]
        ids = {r.headers["request-id"] for r in responses}
        records = [json.loads(line) for line in two_workers.log_text().splitlines() if line]
        served_by = {r["pid"] for r in records if r.get("request_id") in ids}
        if len(served_by) == 2:
            break
    assert len(served_by) == 2
    rules = httpx.get(f"{two_workers.url}/_emulator/faults", headers=auth(key)).json()["data"]
    assert {rule["remaining"] for rule in rules} == {0}


def test_a_rule_added_through_one_worker_acts_in_both(two_workers: Server):
    key = new_key()
    add_rule(two_workers, key, action="error", status=402, times=8)
    statuses = [
        httpx.get(f"{two_workers.url}/v1/files", headers=auth(key)).status_code for _ in range(8)
    ]
    assert statuses == [402] * 8


def test_a_reset_is_a_tcp_reset_with_no_bytes(two_workers: Server):
    key = new_key()
    add_rule(two_workers, key, action="reset", when="before")
    host, port = two_workers.url.removeprefix("http://").split(":")
    received = b""
    with socket.create_connection((host, int(port)), timeout=10) as conn:
        conn.sendall(
            f"GET /v1/files HTTP/1.1\r\nHost: {host}\r\nAuthorization: Bearer {key}\r\n\r\n".encode()
        )
        try:
            while chunk := conn.recv(65536):
                received += chunk
        except ConnectionResetError:
            pass
    assert received == b""
    log = two_workers.log_text()
    assert "Exception in ASGI application" not in log
    assert "Internal Server Error" not in log
