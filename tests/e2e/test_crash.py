"""Crash safety: SIGKILL in the middle of a burst of writes loses no acknowledged write, leaves
no row without its bytes, and `serve` removes the orphan bytes at its next start.

Run with -s to see the figures (acknowledged, lost, orphans before and after the restart).
"""

from __future__ import annotations

import asyncio
import hashlib
import os
import random
import secrets
import signal
import socket
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import create_engine, select
from sqlalchemy.orm import Session

from filelinks_api import repository
from filelinks_api.config import Settings
from filelinks_api.models import file_links, files
from filelinks_api.services.files import Sweep
from filelinks_api.services.files import sweep_orphans as services_sweep
from filelinks_api.storage import LocalStorage, Storage
from filelinks_api.storage.s3 import S3Storage, s3_location
from tests import samples
from tests.conftest import (
    BACKENDS,
    create_postgres_schema,
    drop_postgres_schema,
    file_row,
    new_key,
    postgres_schema_url,
)
from tests.e2e.conftest import Server, start_server
from tests.s3 import Moto, boto3_client, new_bucket

# The restarted server may sweep at once: no other replica shares this data dir.
NO_GRACE = {"FILELINKS_ORPHAN_GRACE_SECONDS": "0"}
THREADS = 6
KILL_AFTER_ACKS = 40


@dataclass
class Ledger:
    """What the server acknowledged with a 2xx, as the clients saw it."""

    files: dict[str, bytes] = field(default_factory=dict)  # file id -> bytes
    links: dict[str, bytes] = field(default_factory=dict)  # /links/<token> -> bytes
    lock: threading.Lock = field(default_factory=threading.Lock)

    @property
    def count(self) -> int:
        return len(self.files) + len(self.links)


def _writer(server: Server, key: str, number: int, ledger: Ledger, stop: threading.Event) -> None:
    rng = random.Random(number)
    last_file: tuple[str, bytes] | None = None
    with httpx.Client(
        base_url=server.url, headers={"Authorization": f"Bearer {key}"}, timeout=10
    ) as http:
        for i in range(10_000):
            if stop.is_set():
                return
            try:
                if i % 3 == 2 and last_file is not None:
                    got = http.post("/v1/file_links", data={"file": last_file[0]})
                    if got.status_code == 200:
                        with ledger.lock:
                            ledger.links[_link_path(got.json())] = last_file[1]
                    continue
                content = samples.pdf(f"{number}-{i}", pad=rng.randrange(20_000, 400_000))
                data = {"purpose": "dispute_evidence"}
                if i % 3 == 0:
                    data["file_link_data[create]"] = "true"
                got = http.post(
                    "/v1/files", data=data, files={"file": ("a.pdf", content, "application/pdf")}
                )
            except httpx.HTTPError:
                return  # the server is gone
            if got.status_code == 200:
                file = got.json()
                last_file = (file["id"], content)
                with ledger.lock:
                    ledger.files[file["id"]] = content
                    for link in file["links"]["data"]:
                        ledger.links[_link_path(link)] = content


def _link_path(link: dict[str, Any]) -> str:
    return "/links/" + link["url"].rsplit("/", 1)[1]


def _stall_an_upload(server: Server, key: str) -> socket.socket:
    """An upload whose bytes stop half way: its staged file is in tmp/ when the kill comes."""
    boundary = "crash"
    body = (
        f'--{boundary}\r\nContent-Disposition: form-data; name="purpose"\r\n\r\n'
        "dispute_evidence\r\n"
        f'--{boundary}\r\nContent-Disposition: form-data; name="file"; filename="a.pdf"\r\n'
        "Content-Type: application/pdf\r\n\r\n"
    ).encode() + samples.pdf(pad=100_000)
    host, port = server.url.removeprefix("http://").split(":")
    sock = socket.create_connection((host, int(port)))
    sock.sendall(
        (
            "POST /v1/files HTTP/1.1\r\nHost: crash\r\n"
            f"Authorization: Bearer {key}\r\n"
            f"Content-Type: multipart/form-data; boundary={boundary}\r\n"
            f"Content-Length: {len(body) * 2}\r\n\r\n"
        ).encode()
        + body
    )
    return sock


@dataclass
class DiskState:
    rows: dict[str, tuple[int, str]]  # file id -> (size, sha256)
    tokens: int
    stored: set[str]  # ids under objects/
    staged: list[Path]

    @property
    def orphans(self) -> set[str]:
        return self.stored - set(self.rows)

    @property
    def rows_without_bytes(self) -> list[str]:
        return [file_id for file_id in self.rows if file_id not in self.stored]


@dataclass
class CrashSite:
    """Where the crashed server keeps its rows and bytes, and how the test looks at them."""

    data_dir: Path
    server_url: str | None  # the database URL for the server (None: SQLite in the data dir)
    inspect_url: str  # the database URL to inspect with
    env: dict[str, str]  # NO_GRACE, and the S3 settings when the bytes live in moto
    moto: Moto | None = None
    bucket: str = ""

    @property
    def storage(self) -> Storage:
        if self.moto is None:
            return LocalStorage(self.data_dir / "files")
        settings = Settings(storage_url=self.env["FILELINKS_STORAGE_URL"], _env_file=None)  # type: ignore[call-arg]
        location = s3_location(settings, self.env)
        return S3Storage(location, staging=self.data_dir / "files" / "tmp")

    def stored(self) -> set[str]:
        async def collect() -> set[str]:
            return {file_id async for file_id in self.storage.stored_ids(older_than=0)}

        return asyncio.run(collect())

    def contents(self, file_id: str) -> bytes:
        async def read() -> bytes:
            return b"".join([chunk async for chunk in await self.storage.open(file_id)])

        return asyncio.run(read())

    def plant(self, name: str, content: bytes) -> None:
        """Bytes under the storage's objects/ (name: a file id, or something not ours)."""
        if self.moto is None:
            path = self.data_dir / "files" / "objects" / "an" / name
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(content)
        else:
            key = f"filelinks/objects/{name}"
            boto3_client(self.moto).put_object(Bucket=self.bucket, Key=key, Body=content)

    def planted(self, name: str) -> bytes | None:
        if self.moto is None:
            path = self.data_dir / "files" / "objects" / "an" / name
            return path.read_bytes() if path.exists() else None
        client = boto3_client(self.moto)
        try:
            got = client.get_object(Bucket=self.bucket, Key=f"filelinks/objects/{name}")
        except client.exceptions.NoSuchKey:
            return None
        return bytes(got["Body"].read())

    def multipart_uploads(self) -> list[str]:
        if self.moto is None:
            return []
        listed = boto3_client(self.moto).list_multipart_uploads(Bucket=self.bucket)
        return [upload["Key"] for upload in listed.get("Uploads", [])]


def _inspect(site: CrashSite) -> DiskState:
    engine = create_engine(site.inspect_url)
    try:
        with engine.connect() as connection:
            rows = {
                row.id: (row.size, row.sha256)
                for row in connection.execute(select(files.c.id, files.c.size, files.c.sha256))
            }
            tokens = len(connection.execute(select(file_links.c.token)).all())
    finally:
        engine.dispose()
    staged = sorted((site.data_dir / "files" / "tmp").glob("*"))
    return DiskState(rows, tokens, site.stored(), staged)


@pytest.fixture(
    params=[(db, where) for where in ("local", "s3") for db in BACKENDS],
    ids=lambda param: "-".join(param),
)
def crash_site(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[CrashSite]:
    backend, where = request.param
    data_dir = tmp_path / "data"
    env = dict(NO_GRACE)
    moto, bucket = None, ""
    if where == "s3":
        moto, bucket = request.getfixturevalue("moto"), new_bucket()
        env.update(moto.env(bucket))
    if backend == "sqlite":
        yield CrashSite(data_dir, None, f"sqlite:///{data_dir / 'filelinks.db'}", env, moto, bucket)
        return
    schema = f"filelinks_crash_{secrets.token_hex(4)}"
    create_postgres_schema(schema)
    url = postgres_schema_url(schema)
    try:
        yield CrashSite(data_dir, url, url, env, moto, bucket)
    finally:
        drop_postgres_schema(schema)


def test_sigkill_mid_burst_loses_no_acknowledged_write_and_orphans_are_swept(
    crash_site: CrashSite, request: pytest.FixtureRequest
) -> None:
    site = crash_site
    data_dir, server_url = site.data_dir, site.server_url
    keys = [new_key(), new_key()]
    server = start_server(data_dir, database_url=server_url, extra_env=site.env)
    ledger, stop = Ledger(), threading.Event()
    stalled = _stall_an_upload(server, keys[0])
    try:
        deadline = time.monotonic() + 10
        while not list((data_dir / "files" / "tmp").glob("upload-*")):
            assert time.monotonic() < deadline, "the stalled upload was never staged"
            time.sleep(0.01)
        writers = [
            threading.Thread(target=_writer, args=(server, keys[n % 2], n, ledger, stop))
            for n in range(THREADS)
        ]
        for writer in writers:
            writer.start()
        while ledger.count < KILL_AFTER_ACKS and time.monotonic() < deadline:
            time.sleep(0.005)
        os.kill(server.process.pid, signal.SIGKILL)  # no shutdown of any kind
        server.process.wait()
        stop.set()
        for writer in writers:
            writer.join(timeout=15)
    finally:
        stop.set()
        stalled.close()
        server.stop()
    with ledger.lock:
        acked_files, acked_links = dict(ledger.files), dict(ledger.links)
    assert len(acked_files) + len(acked_links) >= KILL_AFTER_ACKS

    before = _inspect(site)
    # Bytes moved into place whose row never committed are rare to catch in the act: plant
    # one, with something that is not ours (the sweep must leave that alone).
    site.plant("file_plantedorphan", b"orphan")
    (data_dir / "files" / "tmp" / "upload-planted").write_bytes(b"half an upload")
    site.plant("notes.txt", b"keep me")
    if site.moto is not None:  # a put to the store cut short by the kill
        boto3_client(site.moto).create_multipart_upload(
            Bucket=site.bucket, Key="filelinks/objects/file_plantedmultipart"
        )

    server = start_server(data_dir, database_url=server_url, extra_env=site.env)
    try:
        lost = []
        with httpx.Client(
            base_url=server.url, headers={"Authorization": f"Bearer {keys[0]}"}, timeout=10
        ) as http:
            for file_id, content in acked_files.items():
                # written by one of the two accounts: only its own key may read it
                got = [
                    http.get(
                        f"/v1/files/{file_id}/contents", headers={"Authorization": f"Bearer {k}"}
                    )
                    for k in keys
                ]
                if not any(g.status_code == 200 and g.content == content for g in got):
                    lost.append(file_id)
            for path, content in acked_links.items():
                got = http.get(path)
                if got.status_code != 200 or got.content != content:
                    lost.append(path)
        log = server.log_text()
    finally:
        server.stop()
    after = _inspect(site)

    print(
        f"\n[crash {request.node.callspec.id}] acknowledged: {len(acked_files)} files +"
        f" {len(acked_links)} links; lost after SIGKILL: {len(lost)};"
        f" rows without bytes: {len(after.rows_without_bytes)};"
        f" orphans before restart: {len(before.orphans)} stored + {len(before.staged)} staged"
        f" (+1 planted each); orphans after restart: {len(after.orphans)} stored +"
        f" {len(after.staged)} staged"
    )
    assert lost == []
    assert before.rows_without_bytes == []
    assert after.rows_without_bytes == []
    for file_id, (size, sha256) in after.rows.items():
        content = site.contents(file_id)
        assert len(content) == size
        assert hashlib.sha256(content).hexdigest() == sha256
    assert after.orphans == set()
    assert after.staged == []
    assert site.planted("file_plantedorphan") is None
    assert site.planted("notes.txt") == b"keep me"
    assert site.multipart_uploads() == []
    assert "without a row and" in log  # the sweep reported what it removed
    assert len(before.staged) >= 1  # the stalled upload was there to sweep


# --- the sweep rule itself ----------------------------------------------------------------------


def _store(storage: LocalStorage, file_id: str, age: float) -> Path:
    path = storage.path_for(file_id)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(b"bytes of " + file_id.encode())
    then = time.time() - age
    os.utime(path, (then, then))
    return path


def _row(session: Session, file_id: str) -> None:
    repository.insert_file(session, file_row("acct_sweep", id=file_id, created=1))


class _OnSession:
    """The sweep's row lookups on the test's session, which holds the uncommitted rows."""

    def __init__(self, session: Session) -> None:
        self.session = session

    async def read(self, work: Any, *args: Any, **kwargs: Any) -> Any:
        return work(self.session, *args, **kwargs)


def sweep_orphans(session: Session, storage: LocalStorage, *, grace_seconds: float) -> Sweep:
    """The service's sweep, as `serve` runs it at start."""
    return asyncio.run(services_sweep(_OnSession(session), storage, grace_seconds=grace_seconds))


def stored_ids(storage: LocalStorage, *, older_than: float) -> list[str]:
    async def collect() -> list[str]:
        return [file_id async for file_id in storage.stored_ids(older_than=older_than)]

    return asyncio.run(collect())


class TestOrphanSweep:
    @pytest.fixture
    def storage(self, tmp_path: Path) -> LocalStorage:
        storage = LocalStorage(tmp_path / "files")
        storage.tmp.mkdir(parents=True)
        storage.objects.mkdir(parents=True)
        return storage

    def test_removes_old_bytes_without_a_row_and_keeps_the_rest(
        self, session: Session, storage: LocalStorage
    ) -> None:
        kept = _store(storage, "file_HasARow000000000001", age=3600)
        _row(session, "file_HasARow000000000001")
        orphan = _store(storage, "file_NoRowAtAll000000002", age=3600)
        young = _store(storage, "file_JustMovedIn00000003", age=1)  # another replica's, mid-commit
        swept = sweep_orphans(session, storage, grace_seconds=60)
        assert swept.stored == 1
        assert kept.exists()
        assert not orphan.exists()
        assert young.exists()

    def test_removes_staged_uploads_older_than_the_grace_period(
        self, session: Session, storage: LocalStorage
    ) -> None:
        old, live = storage.tmp / "upload-old", storage.tmp / "upload-live"
        for path, age in ((old, 120), (live, 1)):
            path.write_bytes(b"partial")
            os.utime(path, (time.time() - age, time.time() - age))
        assert sweep_orphans(session, storage, grace_seconds=60).staged == 1
        assert not old.exists()
        assert live.exists()

    def test_checks_rows_in_batches_across_accounts(
        self, session: Session, storage: LocalStorage
    ) -> None:
        ids = [f"file_Batch{n:019d}" for n in range(1200)]
        for n, file_id in enumerate(ids):
            _store(storage, file_id, age=0)
            if n % 2:
                _row(session, file_id)
        swept = sweep_orphans(session, storage, grace_seconds=0)
        assert swept.stored == 600
        assert sorted(stored_ids(storage, older_than=0)) == sorted(ids[1::2])

    def test_never_touches_files_that_are_not_its_own(
        self, session: Session, storage: LocalStorage
    ) -> None:
        foreign = [storage.objects / "notes.txt", storage.objects / "ab" / "file_wrongdir"]
        for path in foreign:
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text("not ours")
        assert sweep_orphans(session, storage, grace_seconds=0).stored == 0
        assert all(path.exists() for path in foreign)
