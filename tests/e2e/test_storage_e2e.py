"""Contents through a real `serve` on each storage backend (local disk; S3 on moto), on each
database: byte ranges, HEAD, a multipart-sized upload, and what `serve` says when the store
cannot be used."""

from __future__ import annotations

import hashlib
import io
import os
import subprocess
import sys
from pathlib import Path

import httpx
import pytest
import stripe

from tests import samples
from tests.e2e.conftest import (
    STORAGE_PARAMS,
    Server,
    free_port,
    server_on_each_storage,
    start_server,
)
from tests.s3 import CREDENTIALS, Moto, boto3_client, new_bucket, start_moto

server = pytest.fixture(scope="session", params=STORAGE_PARAMS)(server_on_each_storage)

BIG = samples.pdf(
    "big", pad=12_000_000
)  # over two of S3Storage's 5 MiB parts; pci_document takes 16 MB


@pytest.fixture
def big_file(client: stripe.StripeClient) -> stripe.File:
    return client.v1.files.create(params={"purpose": "pci_document", "file": io.BytesIO(BIG)})


class TestContents:
    def test_a_large_upload_downloads_identical_through_contents_and_link(
        self, client: stripe.StripeClient, http: httpx.Client, big_file: stripe.File
    ) -> None:
        assert big_file.size == len(BIG)
        got = http.get(f"/v1/files/{big_file.id}/contents")
        assert got.status_code == 200
        assert hashlib.sha256(got.content).digest() == hashlib.sha256(BIG).digest()
        link = client.v1.file_links.create(params={"file": big_file.id})
        public = httpx.get(link.url, timeout=30)
        assert public.status_code == 200
        assert public.content == BIG

    @pytest.mark.parametrize(
        ("header", "start", "end"),
        [
            ("bytes=0-0", 0, 1),
            ("bytes=5242870-5242889", 5_242_870, 5_242_890),  # across a part boundary
            ("bytes=-100", len(BIG) - 100, len(BIG)),
            ("bytes=11999990-", 11_999_990, len(BIG)),
        ],
    )
    def test_single_byte_ranges(
        self, http: httpx.Client, big_file: stripe.File, header: str, start: int, end: int
    ) -> None:
        got = http.get(f"/v1/files/{big_file.id}/contents", headers={"Range": header})
        assert got.status_code == 206
        assert got.headers["content-range"] == f"bytes {start}-{end - 1}/{len(BIG)}"
        assert got.content == BIG[start:end]

    def test_an_unsatisfiable_range_is_416(self, http: httpx.Client, big_file: stripe.File) -> None:
        got = http.get(f"/v1/files/{big_file.id}/contents", headers={"Range": f"bytes={len(BIG)}-"})
        assert got.status_code == 416
        assert got.headers["content-range"] == f"bytes */{len(BIG)}"

    def test_head_has_the_headers_and_no_body(
        self, client: stripe.StripeClient, big_file: stripe.File
    ) -> None:
        link = client.v1.file_links.create(params={"file": big_file.id})
        got = httpx.head(link.url, headers={"Range": "bytes=10-19"}, timeout=30)
        assert got.status_code == 206
        assert got.headers["content-length"] == "10"
        assert got.headers["accept-ranges"] == "bytes"
        assert got.content == b""


class TestContentsGoneFromTheStore:
    def test_is_a_404_naming_the_file_and_the_link_is_unavailable(
        self, server: Server, client: stripe.StripeClient, http: httpx.Client, request
    ) -> None:
        file = client.v1.files.create(
            params={"purpose": "dispute_evidence", "file": io.BytesIO(samples.pdf("gone"))}
        )
        link = client.v1.file_links.create(params={"file": file.id})
        if request.node.callspec.params["server"].endswith("-s3"):
            moto: Moto = request.getfixturevalue("moto")
            bucket = _bucket_of(server)
            boto3_client(moto).delete_object(Bucket=bucket, Key=f"filelinks/objects/{file.id}")
        else:
            next((server.data_dir / "files" / "objects").glob(f"*/{file.id}")).unlink()
        got = http.get(f"/v1/files/{file.id}/contents")
        assert got.status_code == 404
        assert file.id in got.json()["error"]["message"]
        assert httpx.get(link.url, timeout=30).status_code == 404


def _bucket_of(server: Server) -> str:
    line = next(line for line in server.log_text().splitlines() if "files in s3://" in line)
    return line.split("files in s3://", 1)[1].split("/", 1)[0]


# --- serve refuses a store it cannot use ----------------------------------------------------------


def _serve(tmp_path: Path, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    clean = {k: v for k, v in os.environ.items() if not k.startswith(("FILELINKS_", "AWS_"))}
    return subprocess.run(
        [sys.executable, "-m", "filelinks_api", "serve", "--port", str(free_port())],
        env={**clean, "FILELINKS_DATA_DIR": str(tmp_path / "data"), **env},
        capture_output=True,
        text=True,
        timeout=60,
    )


def _one_error_line(done: subprocess.CompletedProcess[str]) -> str:
    assert done.returncode == 2, done.stderr
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1, done.stderr
    assert lines[0].startswith("filelinks-api: error: FILELINKS_STORAGE_URL: ")
    return lines[0]


class TestServeChecksTheStore:
    def test_creates_the_bucket_when_missing(self, moto: Moto, tmp_path: Path) -> None:
        bucket = new_bucket()
        running = start_server(tmp_path / "data", extra_env=moto.env(bucket))
        try:
            assert f"created bucket {bucket}" in running.log_text()
        finally:
            running.stop()
        names = [b["Name"] for b in boto3_client(moto).list_buckets()["Buckets"]]
        assert bucket in names

    def test_an_unreachable_store_is_one_line_and_exit_2(self, tmp_path: Path) -> None:
        env = {
            **CREDENTIALS,
            "AWS_ENDPOINT_URL": f"http://127.0.0.1:{free_port()}",
            "FILELINKS_STORAGE_URL": "s3://unreachable-bucket/x",
        }
        line = _one_error_line(_serve(tmp_path, env))
        assert "cannot reach the object store at http://127.0.0.1:" in line

    def test_refused_credentials_are_one_line_and_exit_2(self, tmp_path: Path) -> None:
        strict = start_moto(tmp_path / "moto-auth.log", {"INITIAL_NO_AUTH_ACTION_COUNT": "0"})
        try:
            line = _one_error_line(_serve(tmp_path, strict.env(new_bucket())))
        finally:
            strict.stop()
        assert "refused the credentials" in line
        assert "AWS_ACCESS_KEY_ID" in line
