"""/_emulator/requests: the caller's request log, and `request_log_url` in error bodies."""

from __future__ import annotations

import asyncio
import hashlib
import json

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import delete, select

from filelinks_api.app import create_app
from filelinks_api.models import request_log
from tests import samples
from tests.api.helpers import bearer, create_link, upload, uploaded
from tests.conftest import eventually, new_key, share_session

SDK_AGENT = json.dumps({"bindings_version": "16.1.0", "lang": "python", "publisher": "stripe"})


def entries(client: TestClient, **params: object) -> list[dict]:
    got = client.get("/_emulator/requests", params=params)
    assert got.status_code == 200, got.text
    body = got.json()
    assert body["object"] == "list"
    return list(body["data"])


class TestWhatIsRecorded:
    def test_a_retrieve_as_sent_and_answered(self, client, file_id_and_link):
        _, link = file_id_and_link
        got = client.get(
            f"/v1/file_links/{link['id']}?expand[]=file",
            headers={
                "Stripe-Version": "2026-06-24.dahlia",
                "X-Stripe-Client-User-Agent": SDK_AGENT,
            },
        )

        [entry] = entries(client, limit=1)

        assert entry["id"] == got.headers["Request-Id"]
        assert entry["object"] == "request_log"
        assert (entry["method"], entry["path"], entry["status"]) == (
            "GET",
            f"/v1/file_links/{link['id']}",
            200,
        )
        assert entry["query"] == "expand[]=file"
        assert entry["request"] == {"expand": ["file"]}
        assert entry["response"] == got.json()
        assert entry["error"] is None
        assert entry["client"] == "stripe-python/16.1.0"
        assert entry["stripe_version"] == "2026-06-24.dahlia"
        assert entry["idempotent_replayed"] is False
        assert entry["duration_ms"] >= 0
        assert entry["livemode"] is False

    def test_an_error_with_its_type_code_and_param(self, client):
        got = client.get("/v1/file_links/link_missing")

        entry = client.get(f"/_emulator/requests/{got.headers['Request-Id']}").json()

        assert entry["status"] == 404
        assert entry["error"] == {
            "type": "invalid_request_error",
            "code": "resource_missing",
            "param": "id",
            "message": "No such file link: 'link_missing'",
        }
        assert entry["response"] == got.json()

    def test_an_upload_as_its_name_size_and_hash_never_its_bytes(self, client):
        content = samples.pdf("logged")
        got = upload(client, content, "invoice.pdf", fields={"metadata_note": "x"})

        [entry] = entries(client, limit=1)

        assert entry["id"] == got.headers["Request-Id"]
        assert entry["request"]["file"] == {
            "filename": "invoice.pdf",
            "size": len(content),
            "sha256": hashlib.sha256(content).hexdigest(),
        }
        assert entry["request"]["purpose"] == "dispute_evidence"
        assert "%PDF" not in json.dumps(entry)

    def test_an_idempotent_replay_stands_out(self, client, file_id_and_link):
        file_id, _ = file_id_and_link
        headers = {"Idempotency-Key": "log-k1"}
        first = client.post("/v1/file_links", data={"file": file_id}, headers=headers)
        again = client.post("/v1/file_links", data={"file": file_id}, headers=headers)

        logged = entries(client, idempotency_key="log-k1")

        assert [e["id"] for e in logged] == [
            again.headers["Request-Id"],
            first.headers["Request-Id"],
        ]
        assert [e["idempotent_replayed"] for e in logged] == [True, False]
        assert logged[0]["response"] == logged[1]["response"] == first.json()

    def test_the_api_key_and_authorization_header_are_never_stored(self, client, api_key):
        client.get("/v1/files")
        client.post("/v1/file_links", data={"file": "file_x"})
        client.get("/v1/files", headers={"Authorization": f"Basic {api_key}"})

        everything = client.get("/_emulator/requests", params={"limit": 100}).text

        assert len(entries(client, limit=100)) == 3
        assert api_key not in everything
        assert api_key[-20:] not in everything
        assert "authorization" not in everything.lower()

    def test_an_unauthenticated_request_is_not_logged_and_gets_no_log_url(self, client, anonymous):
        refused = anonymous.get("/v1/files")
        assert refused.status_code == 401
        assert "request_log_url" not in refused.json()["error"]
        assert entries(client) == []

    def test_emulator_controls_themselves_are_not_logged(self, client):
        client.get("/_emulator/clock")
        client.get("/_emulator/requests")
        assert entries(client) == []

    def test_a_nul_in_the_path_is_logged_cleaned_with_the_entries_around_it(self, client):
        before = client.get("/v1/files")
        hostile = client.get("/v1/files/file_%00x")
        after = client.get("/v1/files")

        logged = {entry["id"]: entry for entry in entries(client, limit=10)}

        assert hostile.status_code == 404
        ids = [got.headers["Request-Id"] for got in (before, hostile, after)]
        assert set(ids) <= set(logged)
        assert logged[ids[1]]["path"] == "/v1/files/file_\ufffdx"


class TestRequestLogUrl:
    def test_an_authenticated_error_links_to_its_own_entry(self, client):
        got = client.post("/v1/file_links", data={"file": "file_nope"})

        url = got.json()["error"]["request_log_url"]

        assert url == f"http://testserver/dashboard/logs/{got.headers['Request-Id']}"
        assert list(got.json()["error"])[-2:] == ["request_log_url", "type"]  # Stripe's order

    def test_a_replayed_error_links_to_the_first_request(self, client):
        headers = {"Idempotency-Key": "log-err"}
        first = client.post("/v1/file_links", data={"file": "file_nope"}, headers=headers)
        again = client.post("/v1/file_links", data={"file": "file_nope"}, headers=headers)

        assert again.headers["Idempotent-Replayed"] == "true"
        assert again.json() == first.json()
        assert first.headers["Request-Id"] in again.json()["error"]["request_log_url"]


class TestPublicLinks:
    def test_a_hit_is_in_the_owners_log_without_its_bytes(
        self, client, anonymous, file_id_and_link
    ):
        _, link = file_id_and_link
        path = link["url"].removeprefix("http://testserver")
        got = anonymous.get(path)

        [entry] = entries(client, limit=1)

        assert entry["id"] == got.headers["Request-Id"]
        assert (entry["method"], entry["path"], entry["status"]) == ("GET", path, 200)
        assert entry["response"] is None

    def test_a_hit_on_an_expired_link_is_logged_as_its_404(
        self, client, anonymous, file_id_and_link
    ):
        _, link = file_id_and_link
        client.post(f"/v1/file_links/{link['id']}", data={"expires_at": "now"})
        path = link["url"].removeprefix("http://testserver")

        assert anonymous.get(path).status_code == 404

        [entry] = entries(client, limit=1)
        assert (entry["path"], entry["status"]) == (path, 404)

    def test_an_unknown_token_is_nobodys(self, client, anonymous):
        assert anonymous.get("/links/no-such-token").status_code == 404
        assert entries(client) == []


class TestListing:
    def test_newest_first_and_paged_without_skip_or_repeat(self, client):
        ids = [client.get(f"/v1/files?limit={n}").headers["Request-Id"] for n in range(1, 8)]

        first = entries(client, limit=3)
        second = entries(client, limit=3, starting_after=first[-1]["id"])
        third = entries(client, limit=3, starting_after=second[-1]["id"])
        back = entries(client, limit=3, ending_before=second[0]["id"])

        assert [e["id"] for e in first + second + third] == ids[::-1]
        assert back == first

    def test_an_unknown_cursor_is_resource_missing(self, client):
        got = client.get("/_emulator/requests", params={"starting_after": "req_nowhere"})
        assert got.status_code == 400, got.text
        error = got.json()["error"]
        assert (error["code"], error["param"]) == ("resource_missing", "starting_after")
        assert error["message"] == "No such request log entry: 'req_nowhere'"

    def test_filters(self, client, file_id_and_link):
        file_id, link = file_id_and_link
        client.get("/v1/files")
        client.get("/v1/file_links/link_missing")
        client.post(f"/v1/file_links/{link['id']}", data={"metadata[a]": "b"})

        assert {e["method"] for e in entries(client, method="post", limit=100)} == {"POST"}
        assert {e["path"] for e in entries(client, path="/v1/files", limit=100)} == {"/v1/files"}
        assert [e["status"] for e in entries(client, status="404")] == [404]
        assert [e["status"] for e in entries(client, status="4xx")] == [404]
        assert all(e["status"] == 200 for e in entries(client, status="2xx", limit=100))

    def test_created_filter_follows_the_accounts_clock(self, client, clock):
        client.get("/v1/files")
        clock.advance(100)
        later = client.get("/v1/files").headers["Request-Id"]

        assert [e["id"] for e in entries(client, **{"created[gte]": clock.now()})] == [later]

    def test_a_bad_filter_is_a_stripe_error(self, client):
        got = client.get("/_emulator/requests", params={"status": "teapot"})
        assert got.status_code == 400
        assert got.json()["error"]["param"] == "status"

    def test_an_unknown_entry_is_resource_missing(self, client):
        got = client.get("/_emulator/requests/req_nope")
        assert got.status_code == 404
        assert got.json()["error"]["code"] == "resource_missing"


class TestScopes:
    def test_another_key_sees_none_of_it(self, client, app, file_id_and_link):
        other = new_key()
        with TestClient(app, headers=bearer(other)) as stranger:
            mine = client.get("/v1/files").headers["Request-Id"]
            assert entries(stranger) == []
            assert stranger.get(f"/_emulator/requests/{mine}").status_code == 404

    def test_a_connected_account_has_its_own_log(self, client):
        client.get("/v1/files", headers={"Stripe-Account": "acct_1Connected"})

        assert entries(client) == []
        connected = client.get("/_emulator/requests", headers={"Stripe-Account": "acct_1Connected"})
        [entry] = connected.json()["data"]
        assert entry["stripe_account"] == "acct_1Connected"


class TestClearing:
    def test_delete_empties_the_callers_log(self, client):
        client.get("/v1/files")
        got = client.delete("/_emulator/requests")
        assert got.json() == {"deleted": True, "requests": 1}
        assert entries(client) == []

    def test_a_data_reset_empties_it_too(self, client):
        client.get("/v1/files")
        client.delete("/_emulator/data")
        assert entries(client) == []


def app_with(settings, database, session, clock, **changes: object) -> FastAPI:
    application = create_app(settings.model_copy(update=changes), clock=clock, database=database)
    share_session(application, session)
    return application


class TestSettings:
    def test_retention_keeps_the_newest_n(self, settings, database, session, clock, api_key):
        app = app_with(settings, database, session, clock, request_log_limit=5)
        with TestClient(app, headers=bearer(api_key)) as client:
            ids = [client.get("/v1/files").headers["Request-Id"] for _ in range(12)]
            # pruned by the writer's own task, after the responses: soon, not at once
            eventually(lambda: [e["id"] for e in entries(client, limit=100)] == ids[::-1][:5])

    def test_switched_off_nothing_is_recorded(self, settings, database, session, clock, api_key):
        app = app_with(settings, database, session, clock, request_log=False)
        with TestClient(app, headers=bearer(api_key)) as client:
            missing = client.get("/v1/file_links/link_missing")
            assert "request_log_url" not in missing.json()["error"]
            assert entries(client) == []

    def test_without_emulator_controls_there_is_no_log(
        self, settings, database, session, clock, api_key
    ):
        app = app_with(settings, database, session, clock, emulator_controls=False)
        with TestClient(app, headers=bearer(api_key)) as client:
            missing = client.get("/v1/file_links/link_missing")
            assert "request_log_url" not in missing.json()["error"]
            assert client.get("/_emulator/requests").status_code == 404


class TestLargeResponses:
    def test_a_response_over_64_kb_is_cut_and_marked(self, client):
        file_id = uploaded(client)["id"]
        metadata = {f"metadata[k{n}]": "v" * 500 for n in range(20)}
        for _ in range(10):
            create_link(client, file_id, **metadata)
        got = client.get("/v1/file_links", params={"limit": 10})
        assert len(got.content) > 64 * 1024

        [entry] = entries(client, limit=1)

        assert entry["response"]["truncated"] is True
        assert len(entry["response"]["text"].encode()) == 64 * 1024
        assert got.text.startswith(entry["response"]["text"])


@pytest.fixture
def file_id_and_link(client) -> tuple[str, dict]:
    file_id = uploaded(client)["id"]
    link = create_link(client, file_id)
    client.delete("/_emulator/requests")  # the setup's own requests are not the test's
    return file_id, link


def test_the_entry_has_committed_when_the_response_starts(settings, database, clock, api_key):
    """Read-your-requests without marks (PostgreSQL's way; an app given its database has
    none): at the moment the last byte of a response goes out, another connection (another
    worker, another replica) already finds its entry. A response whose
    body is one message is held whole, status line included, so that the client gets it in
    one piece (sent apart, the two pieces cost a log-on retrieve a tenth of its throughput)."""
    app = create_app(settings, clock=clock, database=database)  # its own Database: real commits
    log_db = app.state.runtime.log_db  # on SQLite a file of its own (log_database.py)
    seen: dict[str, str] = {}
    found: list[tuple[str, bool]] = []

    def committed() -> bool:
        with log_db.engine.connect() as other:
            query = select(request_log.c.id).where(request_log.c.id == seen["id"])
            return other.execute(query).first() is not None

    async def receive() -> dict[str, object]:
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message: dict) -> None:
        if message["type"] == "http.response.start":
            seen["id"] = dict(message["headers"])[b"request-id"].decode()
            found.append(("start", committed()))
        elif message["type"] == "http.response.body" and not message.get("more_body"):
            found.append(("end", committed()))

    async def scenario() -> None:
        async with app.router.lifespan_context(app):
            await app(
                {
                    "type": "http",
                    "http_version": "1.1",
                    "method": "GET",
                    "scheme": "http",
                    "path": "/v1/files",
                    "raw_path": b"/v1/files",
                    "query_string": b"",
                    "root_path": "",
                    "headers": [
                        (b"host", b"test"),
                        (b"authorization", f"Bearer {api_key}".encode()),
                    ],
                    "client": ("127.0.0.1", 1),
                    "server": ("127.0.0.1", 80),
                },
                receive,
                send,
            )

    try:
        asyncio.run(scenario())
    finally:
        with log_db.engine.begin() as connection:
            connection.execute(delete(request_log).where(request_log.c.id == seen.get("id")))

    assert found == [("start", True), ("end", True)]


def test_a_read_is_not_held_behind_another_process_write_lock(tmp_path):
    """WAL's promise with the log on (the default): readers never wait for writers. Another
    process holds SQLite's write lock for 2 s; a GET is answered meanwhile, and its entry
    is in the log once the lock is gone."""
    import sqlite3
    import threading
    import time

    from filelinks_api.config import Settings
    from filelinks_api.db import Database, migrate

    settings = Settings(data_dir=tmp_path / "data", _env_file=None)  # type: ignore[call-arg]
    (tmp_path / "data").mkdir()
    migrate(settings.resolved_database_url)
    database = Database.connect(settings.resolved_database_url)
    key = {"Authorization": f"Bearer {new_key()}"}
    with TestClient(create_app(settings, database=database)) as http:
        assert http.get("/v1/file_links", headers=key).status_code == 200  # warm: key, pool
        holder = sqlite3.connect(
            tmp_path / "data" / "filelinks.db", isolation_level=None, check_same_thread=False
        )
        holder.execute("BEGIN IMMEDIATE")
        released = threading.Timer(2.0, holder.rollback)
        released.start()
        try:
            started = time.perf_counter()
            got = http.get("/v1/file_links", headers=key)
            elapsed = time.perf_counter() - started
        finally:
            released.join()
            holder.close()
        assert got.status_code == 200
        assert elapsed < 0.1, f"answered in {elapsed:.3f} s behind the write lock"
        logged = http.get("/_emulator/requests", headers=key).json()["data"]
        assert got.headers["request-id"] in [entry["id"] for entry in logged]


@pytest.mark.parametrize(
    ("headers", "client"),
    [
        (
            {b"x-stripe-client-user-agent": b'{"lang":"node","bindings_version":"23.1.0"}'},
            "stripe-node/23.1.0",
        ),
        ({b"x-stripe-client-user-agent": b"[1]", b"user-agent": b"curl/8"}, "curl/8"),
        ({b"x-stripe-client-user-agent": b"{not json", b"user-agent": b"curl/8"}, "curl/8"),
        # too large to be kept in the parsed-headers cache: parsed all the same
        (
            {
                b"x-stripe-client-user-agent": b'{"lang":"python","bindings_version":"4.0.0","pad":"'
                + b"x" * 2000
                + b'"}'
            },
            "stripe-python/4.0.0",
        ),
        ({}, None),
    ],
)
def test_the_client_is_the_sdk_and_its_version_else_the_user_agent(headers, client):
    from filelinks_api.api.request_log import client_of

    assert client_of(headers) == client
    assert client_of(headers) == client  # the second time from the cache
