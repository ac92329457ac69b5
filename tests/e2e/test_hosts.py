"""Several hosts for real: two `serve` processes, each with a data dir of its own, sharing one
PostgreSQL database and one bucket (moto), and nothing else."""

from __future__ import annotations

import os
import secrets
import signal
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from tests import samples
from tests.conftest import (
    BACKENDS,
    create_postgres_schema,
    drop_postgres_schema,
    new_key,
    postgres_schema_url,
)
from tests.e2e.conftest import Server, auth, start_server
from tests.s3 import Moto, boto3_client, new_bucket

pytestmark = pytest.mark.skipif(
    "postgresql" not in BACKENDS, reason="needs FILELINKS_TEST_DATABASE_URL (PostgreSQL)"
)


@dataclass
class Hosts:
    a: Server
    b: Server
    database_url: str
    env: dict[str, str]
    moto: Moto
    bucket: str
    tmp: Path

    def start(self, name: str, **env: str) -> Server:
        return start_server(
            self.tmp / name, database_url=self.database_url, extra_env={**self.env, **env}
        )


@pytest.fixture
def hosts(tmp_path: Path, moto: Moto) -> Iterator[Hosts]:
    schema = f"filelinks_hosts_{secrets.token_hex(4)}"
    create_postgres_schema(schema)
    bucket = new_bucket()
    env = moto.env(bucket)
    url = postgres_schema_url(schema)
    a = start_server(tmp_path / "host-a", database_url=url, extra_env=env)
    b = start_server(tmp_path / "host-b", database_url=url, extra_env=env)
    try:
        yield Hosts(a, b, url, env, moto, bucket, tmp_path)
    finally:
        a.stop()
        b.stop()
        drop_postgres_schema(schema)


def upload(host: Server, key: str, content: bytes, **headers: str) -> httpx.Response:
    return httpx.post(
        f"{host.url}/v1/files",
        headers=auth(key, **headers),
        data={"purpose": "dispute_evidence", "file_link_data[create]": "true"},
        files={"file": ("a.pdf", content, "application/pdf")},
        timeout=30,
    )


def test_an_upload_through_one_host_is_served_by_the_other(hosts: Hosts):
    key = new_key()
    content = samples.pdf() + os.urandom(4_500_000)  # dispute_evidence: at most 5 MB
    uploaded = upload(hosts.a, key, content)
    assert uploaded.status_code == 200, uploaded.text
    file = uploaded.json()
    through_b = httpx.get(
        f"{hosts.b.url}/v1/files/{file['id']}/contents", headers=auth(key), timeout=30
    )
    assert through_b.content == content
    ranged = httpx.get(
        f"{hosts.b.url}/v1/files/{file['id']}/contents",
        headers=auth(key, Range="bytes=4000000-4000099"),
    )
    assert (ranged.status_code, ranged.content) == (206, content[4_000_000:4_000_100])
    link_path = file["links"]["data"][0]["url"].removeprefix(hosts.a.url)
    assert httpx.get(f"{hosts.b.url}{link_path}", timeout=30).content == content
    assert not list((hosts.b.data_dir / "files").rglob("file_*"))  # b keeps no copy


def test_an_idempotent_retry_sent_to_the_other_host_replays(hosts: Hosts):
    key = new_key()
    first = upload(hosts.a, key, samples.pdf(), **{"Idempotency-Key": "retry-1"})
    again = upload(hosts.b, key, samples.pdf(), **{"Idempotency-Key": "retry-1"})
    assert again.headers["Idempotent-Replayed"] == "true"
    assert again.json()["id"] == first.json()["id"]
    listed = httpx.get(f"{hosts.b.url}/v1/files", headers=auth(key)).json()
    assert [f["id"] for f in listed["data"]] == [first.json()["id"]]


def test_a_clock_moved_on_one_host_governs_expiry_on_the_other(hosts: Hosts):
    key = new_key()
    file = upload(hosts.a, key, samples.pdf()).json()
    frozen = file["created"] + 1000  # before the file's own expiry
    httpx.post(f"{hosts.a.url}/_emulator/clock", data={"frozen_at": frozen}, headers=auth(key))
    link = httpx.post(
        f"{hosts.b.url}/v1/file_links",
        data={"file": file["id"], "expires_at": frozen + 3600},
        headers=auth(key),
    ).json()
    assert link["created"] == frozen  # b runs on the time a set
    path = link["url"].removeprefix(hosts.b.url)
    assert httpx.get(f"{hosts.a.url}{path}").status_code == 200
    httpx.post(f"{hosts.a.url}/_emulator/clock", data={"advance": 7200}, headers=auth(key))
    # at once, on the other host: no file in common, no polling
    got = httpx.get(f"{hosts.b.url}/v1/file_links/{link['id']}", headers=auth(key)).json()
    assert got["expired"] is True
    assert httpx.get(f"{hosts.b.url}{path}").status_code == 404


def test_killing_a_host_mid_upload_loses_no_acknowledged_write_and_leaves_no_orphan(
    hosts: Hosts,
):
    key = new_key()
    acknowledged: dict[str, bytes] = {}
    stop = threading.Event()

    def keep_uploading() -> None:
        n = 0
        while not stop.is_set():
            content = samples.pdf() + f"%{n}".encode() * 20_000
            n += 1
            try:
                answered = upload(hosts.a, key, content)
            except httpx.HTTPError:
                return  # the host died under this one: it was never acknowledged
            if answered.status_code == 200:
                acknowledged[answered.json()["id"]] = content

    writers = [threading.Thread(target=keep_uploading) for _ in range(3)]
    for writer in writers:
        writer.start()
    deadline = time.monotonic() + 30
    while len(acknowledged) < 10 and time.monotonic() < deadline:
        time.sleep(0.01)
    os.kill(hosts.a.process.pid, signal.SIGKILL)
    hosts.a.process.wait()
    stop.set()
    for writer in writers:
        writer.join(timeout=30)
    assert len(acknowledged) >= 10

    # every acknowledged upload is whole through the other host
    for file_id, content in acknowledged.items():
        got = httpx.get(f"{hosts.b.url}/v1/files/{file_id}/contents", headers=auth(key))
        assert got.content == content, file_id

    # a host started afterwards sweeps what the kill left: the bucket then holds exactly the
    # bytes of the files that have rows
    sweeper = hosts.start("host-c", FILELINKS_ORPHAN_GRACE_SECONDS="0")
    try:
        listed = httpx.get(f"{sweeper.url}/v1/files?limit=100", headers=auth(key)).json()
    finally:
        sweeper.stop()
    rows = {f["id"] for f in listed["data"]}
    assert set(acknowledged) <= rows
    s3 = boto3_client(hosts.moto)
    objects = s3.list_objects_v2(Bucket=hosts.bucket).get("Contents", [])
    stored = {item["Key"].rsplit("/", 1)[1] for item in objects}
    assert stored == rows
    assert s3.list_multipart_uploads(Bucket=hosts.bucket).get("Uploads", []) == []
