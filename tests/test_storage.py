"""The storage contract, run against both backends: local disk, and S3 on a real S3 HTTP server
(moto). Then what only the S3 backend has: multipart puts, the integrity check, unfinished
multipart uploads, and the start-up check of the store."""

from __future__ import annotations

import asyncio
import hashlib
import os
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from filelinks_api.config import Settings, SettingsError
from filelinks_api.errors import InvalidRequestError
from filelinks_api.failures import DatabaseTimeout
from filelinks_api.storage import (
    ContentsMissing,
    LocalStorage,
    StagedFile,
    Storage,
    kept_only_on_success,
)
from filelinks_api.storage.s3 import PART, S3Location, S3Storage, check_store, s3_location
from tests.s3 import CREDENTIALS, Moto, boto3_client, free_port, new_bucket, start_moto


def run(coro: Any) -> Any:
    return asyncio.run(coro)


async def collect(chunks: AsyncIterator[bytes]) -> bytes:
    return b"".join([chunk async for chunk in chunks])


async def read(storage: Storage, file_id: str, start: int = 0, end: int | None = None) -> bytes:
    return await collect(await storage.open(file_id, start, end))


async def ids(storage: Storage, older_than: float) -> list[str]:
    return sorted([file_id async for file_id in storage.stored_ids(older_than=older_than)])


def location(moto: Moto, bucket: str, prefix: str = "contract") -> S3Location:
    settings = Settings(storage_url=f"s3://{bucket}/{prefix}", _env_file=None)  # type: ignore[call-arg]
    return s3_location(settings, {**CREDENTIALS, "AWS_ENDPOINT_URL": moto.endpoint})


@pytest.fixture(params=["local", "s3"])
def storage(request: pytest.FixtureRequest, tmp_path: Path) -> Storage:
    backend: Storage
    if request.param == "local":
        backend = LocalStorage(tmp_path / "files")
    else:
        moto: Moto = request.getfixturevalue("moto")
        where = location(moto, new_bucket())
        assert check_store(where) is True  # created the bucket
        backend = S3Storage(where, staging=tmp_path / "files" / "tmp")
    run(backend.prepare())
    return backend


def stage(storage: Storage, content: bytes, chunk: int = 65536) -> StagedFile:
    staged = storage.stage()
    for start in range(0, len(content), chunk):
        staged.write(content[start : start + chunk])
    return staged


def store(storage: Storage, file_id: str, content: bytes) -> StagedFile:
    staged = stage(storage, content)
    staged.finish()
    run(storage.commit(staged, file_id))
    return staged


def staged_paths(storage: Storage) -> list[Path]:
    tmp: Path = storage.tmp  # type: ignore[attr-defined]
    return sorted(tmp.glob("upload-*"))


CONTENT = os.urandom(300_000)


class TestContract:
    def test_staging_counts_hashes_and_keeps_the_head(self, storage: Storage) -> None:
        staged = stage(storage, CONTENT, chunk=1000)
        assert staged.size == len(CONTENT)
        assert staged.sha256() == hashlib.sha256(CONTENT).hexdigest()
        assert staged.head == CONTENT[:8192]
        staged.finish()
        assert staged.path.read_bytes() == CONTENT  # sniffing reads the staged file back

    def test_commit_then_open_gives_the_bytes_back(self, storage: Storage) -> None:
        staged = store(storage, "file_Contract0000000001", CONTENT)
        assert staged.stored_as == "file_Contract0000000001"
        assert run(read(storage, "file_Contract0000000001")) == CONTENT
        assert staged_paths(storage) == []  # nothing left staged once committed

    @pytest.mark.parametrize(
        ("start", "end"),
        [(0, 1), (10, 20), (65_535, 65_537), (299_999, 300_000), (100, None), (0, 300_000)],
    )
    def test_open_reads_one_byte_range(self, storage: Storage, start: int, end: int | None) -> None:
        store(storage, "file_Ranges000000000001", CONTENT)
        assert run(read(storage, "file_Ranges000000000001", start, end)) == CONTENT[start:end]

    def test_open_of_missing_contents_fails_before_any_byte(self, storage: Storage) -> None:
        with pytest.raises(ContentsMissing):
            run(storage.open("file_NeverStored00000001"))

    def test_delete_removes_the_contents_and_is_idempotent(self, storage: Storage) -> None:
        store(storage, "file_Deleted00000000001", b"gone soon")
        run(storage.delete("file_Deleted00000000001"))
        run(storage.delete("file_Deleted00000000001"))
        with pytest.raises(ContentsMissing):
            run(storage.open("file_Deleted00000000001"))

    def test_discard_leaves_nothing_staged(self, storage: Storage) -> None:
        staged = stage(storage, b"half an upload")
        assert staged_paths(storage) != []
        staged.discard()
        assert staged_paths(storage) == []

    def test_stored_ids_are_those_older_than_asked(self, storage: Storage) -> None:
        store(storage, "file_StoredA0000000001", b"a")
        store(storage, "file_StoredB0000000002", b"b")
        assert run(ids(storage, older_than=0)) == [
            "file_StoredA0000000001",
            "file_StoredB0000000002",
        ]
        assert run(ids(storage, older_than=3600)) == []  # just written: maybe mid-commit

    def test_sweep_staged_removes_only_old_staged_uploads(self, storage: Storage) -> None:
        old, live = stage(storage, b"old"), stage(storage, b"live")
        old.finish()
        then = time.time() - 120
        os.utime(old.path, (then, then))
        assert run(storage.sweep_staged(older_than=60)) == 1
        assert not old.path.exists()
        assert live.path.exists()
        live.discard()

    def test_rejects_what_is_not_a_file_id(self, storage: Storage) -> None:
        with pytest.raises(ValueError, match="not a file id"):
            run(storage.delete("../../etc/passwd"))


# --- S3 only ---------------------------------------------------------------------------------------


@pytest.fixture
def s3(moto: Moto, tmp_path: Path) -> S3Storage:
    where = location(moto, new_bucket(), prefix="deep/prefix")
    check_store(where)
    backend = S3Storage(where, staging=tmp_path / "tmp")
    run(backend.prepare())
    return backend


class TestS3Storage:
    def test_large_contents_go_up_in_parts_and_ranges_span_them(
        self, s3: S3Storage, moto: Moto
    ) -> None:
        content = os.urandom(2 * PART + 12345)
        store(s3, "file_Multipart000000001", content)
        head = boto3_client(moto).head_object(
            Bucket=s3.location.bucket, Key="deep/prefix/objects/file_Multipart000000001"
        )
        assert head["ContentLength"] == len(content)
        assert "-" in head["ETag"]  # a multipart upload's ETag: <md5 of md5s>-<parts>
        assert run(read(s3, "file_Multipart000000001")) == content
        span = (PART - 10, PART + 10)
        assert run(read(s3, "file_Multipart000000001", *span)) == content[span[0] : span[1]]

    def test_bytes_changed_after_staging_never_become_an_object(self, s3: S3Storage) -> None:
        staged = stage(s3, b"what arrived" * 1000)
        staged.finish()
        staged.path.write_bytes(b"what is on disk now" * 1000)
        with pytest.raises(Exception, match="changed on disk"):
            run(s3.commit(staged, "file_Tampered000000001"))
        assert staged.stored_as is None
        with pytest.raises(ContentsMissing):
            run(s3.open("file_Tampered000000001"))

    def test_sweep_aborts_unfinished_multipart_uploads_under_its_prefix_only(
        self, s3: S3Storage, moto: Moto
    ) -> None:
        # (moto reports every upload as initiated in 2010, so the grace period cannot be seen
        # here: abort_stale_uploads compares Initiated with it as sweep_staged_dir does mtimes)
        client = boto3_client(moto)
        bucket = s3.location.bucket
        client.create_multipart_upload(Bucket=bucket, Key="deep/prefix/objects/file_Crashed01")
        client.create_multipart_upload(Bucket=bucket, Key="other/objects/file_NotOurs001")
        assert run(s3.sweep_staged(older_than=0)) == 1
        left = [u["Key"] for u in client.list_multipart_uploads(Bucket=bucket).get("Uploads", [])]
        assert left == ["other/objects/file_NotOurs001"]

    def test_stored_ids_never_include_what_is_not_ours(self, s3: S3Storage, moto: Moto) -> None:
        client = boto3_client(moto)
        bucket = s3.location.bucket
        for key in (
            "deep/prefix/objects/notes.txt",
            "deep/prefix/objects/sub/file_Nested0001",
            "deep/prefix/file_OutsideObjects1",
            "other/objects/file_OtherPrefix01",
        ):
            client.put_object(Bucket=bucket, Key=key, Body=b"not ours")
        store(s3, "file_Ours0000000000001", b"ours")
        assert run(ids(s3, older_than=0)) == ["file_Ours0000000000001"]


class TestFsyncs:
    """An upload's fsyncs (up to 200 MB) never run on the event loop; a copy on its way to
    S3 is not fsynced at all (the store makes the bytes durable)."""

    @staticmethod
    def watch_fsyncs(monkeypatch: pytest.MonkeyPatch) -> list[bool]:
        on_loop: list[bool] = []
        real = os.fsync

        def watched(fd: int) -> None:
            try:
                asyncio.get_running_loop()
                on_loop.append(True)
            except RuntimeError:
                on_loop.append(False)
            real(fd)

        monkeypatch.setattr(os, "fsync", watched)
        return on_loop

    def test_local_commit_fsyncs_in_a_thread(
        self, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        local = LocalStorage(tmp_path / "files")
        run(local.prepare())
        on_loop = self.watch_fsyncs(monkeypatch)

        store(local, "file_Fsynced0000000000001", b"%PDF-1.4 x")

        assert on_loop == [False, False]  # the file, then its directory; neither on the loop

    def test_s3_commit_does_not_fsync_its_staged_copy(
        self, s3: S3Storage, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        on_loop = self.watch_fsyncs(monkeypatch)

        store(s3, "file_NotFsynced000000000001", b"%PDF-1.4 x")

        assert on_loop == []


class TestKeptOnlyOnSuccess:
    """After a failure, stored bytes are deleted only when the row surely never committed."""

    @staticmethod
    def fail_after_commit(local: LocalStorage, file_id: str, failure: BaseException) -> None:
        async def upload() -> None:
            staged = stage(local, b"%PDF-1.4 x")
            staged.finish()
            async with kept_only_on_success(local, staged):
                await local.commit(staged, file_id)
                raise failure

        with pytest.raises(type(failure)):
            run(upload())

    def test_our_refusal_deletes_the_bytes(self, tmp_path: Path) -> None:
        local = LocalStorage(tmp_path / "files")
        run(local.prepare())
        self.fail_after_commit(local, "file_Refused00000000000001", InvalidRequestError("no"))
        assert not local.path_for("file_Refused00000000000001").exists()

    def test_a_failure_that_may_have_committed_keeps_them(self, tmp_path: Path) -> None:
        # a COMMIT whose answer never came: the row may exist, so must its bytes
        local = LocalStorage(tmp_path / "files")
        run(local.prepare())
        self.fail_after_commit(local, "file_MayExist00000000000001", DatabaseTimeout("silent"))
        assert local.path_for("file_MayExist00000000000001").exists()


class TestCheckStore:
    def test_creates_a_missing_bucket_once(self, moto: Moto) -> None:
        where = location(moto, new_bucket())
        assert check_store(where) is True
        assert check_store(where) is False

    def test_an_unreachable_store_is_one_settings_error(self, moto: Moto) -> None:
        where = location(moto, new_bucket())
        dead = S3Location(**{**where.__dict__, "endpoint": f"http://127.0.0.1:{free_port()}"})
        with pytest.raises(SettingsError, match="cannot reach the object store at http://127"):
            check_store(dead, timeout=2)

    def test_refused_credentials_are_one_settings_error(self, tmp_path: Path) -> None:
        strict = start_moto(tmp_path / "moto-auth.log", {"INITIAL_NO_AUTH_ACTION_COUNT": "0"})
        try:
            where = location(strict, new_bucket())
            with pytest.raises(SettingsError, match="refused the credentials"):
                check_store(where)
        finally:
            strict.stop()

    @pytest.mark.parametrize(
        ("raw", "env", "want"),
        [
            ("s3://bucket-a", {}, ("bucket-a", "", None, "us-east-1", False)),
            (
                "s3://bucket-b/a/b/",
                {"AWS_ENDPOINT_URL": "http://minio:9000/", "AWS_REGION": "eu-west-3"},
                ("bucket-b", "a/b", "http://minio:9000", "eu-west-3", True),
            ),
            (
                "s3://bucket-c/p",
                {"AWS_ENDPOINT_URL": "http://x:1", "AWS_ENDPOINT_URL_S3": "http://s3only:2"},
                ("bucket-c", "p", "http://s3only:2", "us-east-1", True),
            ),
        ],
    )
    def test_location_from_the_url_and_the_aws_variables(
        self, raw: str, env: dict[str, str], want: tuple[Any, ...]
    ) -> None:
        settings = Settings(storage_url=raw, _env_file=None)  # type: ignore[call-arg]
        got = s3_location(settings, env)
        assert (got.bucket, got.prefix, got.endpoint, got.region, got.path_style) == want

    def test_addressing_style_can_be_forced(self) -> None:
        env = {"AWS_ENDPOINT_URL": "http://minio:9000"}
        virtual = Settings(storage_url="s3://b-1", s3_addressing_style="virtual", _env_file=None)  # type: ignore[call-arg]
        path = Settings(storage_url="s3://b-1", s3_addressing_style="path", _env_file=None)  # type: ignore[call-arg]
        assert s3_location(virtual, env).path_style is False
        assert s3_location(path, {}).path_style is True

    @pytest.mark.parametrize("raw", ["s3://", "s3://Bad_Bucket/x", "s3://b?x=1"])
    def test_a_malformed_storage_url_is_refused(self, raw: str) -> None:
        settings = Settings(storage_url=raw, _env_file=None)  # type: ignore[call-arg]
        with pytest.raises(SettingsError, match="FILELINKS_STORAGE_URL"):
            s3_location(settings, {})
