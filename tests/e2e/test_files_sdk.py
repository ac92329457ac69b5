"""The Files API through stripe-python against a real server: module level and StripeClient."""

from __future__ import annotations

import socket
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
import stripe

from tests import samples
from tests.conftest import new_key
from tests.e2e.conftest import STORAGE_PARAMS, Server, server_on_each_storage, start_server

# upload, download, link URL and HEAD on each storage backend too
server = pytest.fixture(scope="session", params=STORAGE_PARAMS)(server_on_each_storage)

REAL_FILES = [
    ("dispute_evidence", samples.pdf("evidence"), "evidence.pdf", "pdf", "application/pdf"),
    ("business_logo", samples.png(16, 16), "logo.png", "png", "image/png"),
    ("tax_document_user_upload", samples.csv(50), "ledger.csv", "csv", "text/csv"),
]


def write(tmp_path: Path, name: str, content: bytes) -> Path:
    """A real local file, so stripe-python sends its full path as the filename."""
    path = tmp_path / "uploads" / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(content)
    return path


def staged_files(server: Server) -> list[Path]:
    return list((server.data_dir / "files" / "tmp").iterdir())


class TestModuleLevelUpload:
    @pytest.mark.parametrize(
        ("purpose", "content", "name", "kind", "mime"), REAL_FILES, ids=["pdf", "png", "csv"]
    )
    def test_uploads_and_downloads_identical_bytes(
        self, sdk, server, http, tmp_path, purpose, content, name, kind, mime
    ):
        path = write(tmp_path, name, content)
        with open(path, "rb") as fp:
            file = stripe.File.create(purpose=purpose, file=fp)
        assert isinstance(file, stripe.File)
        assert file.id.startswith("file_")
        assert file.filename == name  # the SDK sent the full local path
        assert (file.purpose, file.size, file.type) == (purpose, len(content), kind)
        assert file.url == f"{server.url}/v1/files/{file.id}/contents"
        download = http.get(file.url)
        assert download.status_code == 200
        assert download.content == content
        assert download.headers["content-type"].split(";")[0] == mime
        assert name in download.headers["content-disposition"]

    def test_retrieve_equals_create(self, sdk, tmp_path):
        with open(write(tmp_path, "a.pdf", samples.pdf()), "rb") as fp:
            file = stripe.File.create(purpose="dispute_evidence", file=fp)
        assert stripe.File.retrieve(file.id).to_dict() == file.to_dict()

    def test_file_link_data_round_trip(self, sdk, http, tmp_path):
        content = samples.png()
        with open(write(tmp_path, "shot.png", content), "rb") as fp:
            file = stripe.File.create(
                purpose="dispute_evidence",
                file=fp,
                file_link_data={"create": True, "metadata": {"case": "dp_123"}},
            )
        [link] = file.links.data
        assert isinstance(link, stripe.FileLink)
        assert link.file == file.id
        assert link.metadata.to_dict() == {"case": "dp_123"}
        assert stripe.FileLink.retrieve(link.id).to_dict() == link.to_dict()
        assert [item.id for item in stripe.FileLink.list(file=file.id).data] == [link.id]
        public = httpx.get(link.url)
        assert public.status_code == 200
        assert public.content == content

    def test_list_auto_pages_newest_first(self, sdk, tmp_path):
        path = write(tmp_path, "a.png", samples.png())
        made = []
        for _ in range(5):
            with open(path, "rb") as fp:
                made.append(stripe.File.create(purpose="business_icon", file=fp).id)
        listed = [file.id for file in stripe.File.list(limit=2).auto_paging_iter()]
        assert listed == made[::-1]
        backwards = stripe.File.list(ending_before=made[0], limit=2).auto_paging_iter()
        assert [file.id for file in backwards] == made[1:]
        icons = stripe.File.list(purpose="business_icon", limit=100)
        assert [file.id for file in icons.data] == made[::-1]
        assert stripe.File.list(purpose="dispute_evidence").data == []

    def test_links_url_pages_through_every_link(self, sdk, tmp_path):
        with open(write(tmp_path, "a.pdf", samples.pdf()), "rb") as fp:
            file = stripe.File.create(purpose="dispute_evidence", file=fp)
        made = [stripe.FileLink.create(file=file.id).id for _ in range(12)]
        links = stripe.File.retrieve(file.id, expand=["links"]).links
        assert len(links.data) == 10
        assert [link.id for link in links.auto_paging_iter()] == made[::-1]

    def test_list_expands_data_links(self, sdk, tmp_path):
        with open(write(tmp_path, "a.pdf", samples.pdf()), "rb") as fp:
            file = stripe.File.create(
                purpose="dispute_evidence", file=fp, file_link_data={"create": True}
            )
        [listed] = stripe.File.list(expand=["data.links"]).data
        assert listed.links.data[0].id == file.links.data[0].id

    def test_non_ascii_filename_round_trips(self, sdk, http, tmp_path):
        name = "r\u00e9sum\u00e9 2026.pdf"
        with open(write(tmp_path, name, samples.pdf()), "rb") as fp:
            file = stripe.File.create(purpose="dispute_evidence", file=fp)
        assert file.filename == name
        disposition = http.get(file.url).headers["content-disposition"]
        assert "filename*=UTF-8''r%C3%A9sum%C3%A9%202026.pdf" in disposition


class TestStripeClientUpload:
    @pytest.mark.parametrize(
        ("purpose", "content", "name", "kind", "mime"), REAL_FILES, ids=["pdf", "png", "csv"]
    )
    def test_uploads_and_downloads_identical_bytes(
        self, client, http, tmp_path, purpose, content, name, kind, mime
    ):
        with open(write(tmp_path, name, content), "rb") as fp:
            file = client.v1.files.create(params={"purpose": purpose, "file": fp})
        assert (file.filename, file.size, file.type) == (name, len(content), kind)
        assert http.get(f"/v1/files/{file.id}/contents").content == content
        assert client.v1.files.retrieve(file.id).to_dict() == file.to_dict()

    def test_file_link_data_round_trip(self, client, tmp_path, server):
        with open(write(tmp_path, "a.pdf", samples.pdf()), "rb") as fp:
            file = client.v1.files.create(
                params={
                    "purpose": "pci_document",
                    "file": fp,
                    "file_link_data": {"create": True, "metadata": {"k": "v"}},
                }
            )
        [link] = file.links.data
        assert client.v1.file_links.retrieve(link.id).to_dict() == link.to_dict()
        assert link.url.startswith(f"{server.url}/links/")

    def test_lists_with_the_client(self, client, tmp_path):
        with open(write(tmp_path, "a.pdf", samples.pdf()), "rb") as fp:
            file = client.v1.files.create(params={"purpose": "dispute_evidence", "file": fp})
        listed = client.v1.files.list(params={"purpose": "dispute_evidence"})
        assert [item.id for item in listed.data] == [file.id]


class TestUploadErrors:
    def test_bad_purpose_is_an_invalid_request_error(self, sdk, tmp_path):
        with (
            open(write(tmp_path, "a.pdf", samples.pdf()), "rb") as fp,
            pytest.raises(stripe.InvalidRequestError) as caught,
        ):
            stripe.File.create(purpose="holiday_photos", file=fp)
        assert caught.value.param == "purpose"
        assert caught.value.http_status == 400
        assert str(caught.value.user_message).startswith("Invalid purpose: must be one of")
        assert caught.value.request_id.startswith("req_")

    def test_bad_purpose_through_the_client(self, client, tmp_path):
        with (
            open(write(tmp_path, "a.pdf", samples.pdf()), "rb") as fp,
            pytest.raises(stripe.InvalidRequestError) as caught,
        ):
            client.v1.files.create(params={"purpose": "selfie", "file": fp})
        assert caught.value.param == "purpose"

    def test_missing_file(self, sdk):
        with pytest.raises(stripe.InvalidRequestError) as caught:
            stripe.File.create(purpose="dispute_evidence")
        assert (caught.value.param, caught.value.code) == ("file", "parameter_missing")

    def test_wrong_type_leaves_nothing_staged(self, sdk, server, tmp_path):
        with (
            open(write(tmp_path, "notes.txt", b"plain text\n"), "rb") as fp,
            pytest.raises(stripe.InvalidRequestError) as caught,
        ):
            stripe.File.create(purpose="dispute_evidence", file=fp)
        assert caught.value.param == "file"
        assert staged_files(server) == []
        assert stripe.File.list().data == []

    def test_over_the_purpose_limit(self, sdk, server, tmp_path):
        content = samples.png() + b"\x00" * (512_001 - len(samples.png()))
        with (
            open(write(tmp_path, "big.png", content), "rb") as fp,
            pytest.raises(stripe.InvalidRequestError) as caught,
        ):
            stripe.File.create(purpose="business_logo", file=fp)
        assert caught.value.param == "file"
        assert staged_files(server) == []
        assert stripe.File.list().data == []

    def test_link_for_a_purpose_without_links(self, sdk, tmp_path):
        with (
            open(write(tmp_path, "id.png", samples.png()), "rb") as fp,
            pytest.raises(stripe.InvalidRequestError) as caught,
        ):
            stripe.File.create(
                purpose="identity_document", file=fp, file_link_data={"create": True}
            )
        assert caught.value.param == "file_link_data[create]"

    def test_publishable_key_cannot_create_a_link(self, server, tmp_path):
        publishable = stripe.StripeClient(
            "pk_test_" + "p" * 24, base_addresses={"api": server.url, "files": server.url}
        )
        with (
            open(write(tmp_path, "a.pdf", samples.pdf()), "rb") as fp,
            pytest.raises(stripe.PermissionError) as caught,
        ):
            publishable.v1.files.create(
                params={
                    "purpose": "dispute_evidence",
                    "file": fp,
                    "file_link_data": {"create": True},
                }
            )
        assert caught.value.http_status == 403
        assert caught.value.json_body["error"]["code"] == "secret_key_required"

    def test_unknown_parameter(self, sdk, tmp_path):
        with (
            open(write(tmp_path, "a.pdf", samples.pdf()), "rb") as fp,
            pytest.raises(stripe.InvalidRequestError) as caught,
        ):
            stripe.File.create(purpose="dispute_evidence", file=fp, title="mine")
        assert (caught.value.param, caught.value.code) == ("title", "parameter_unknown")


class TestAccounts:
    def test_another_key_cannot_retrieve_download_or_list(self, client, server, http, tmp_path):
        with open(write(tmp_path, "a.pdf", samples.pdf()), "rb") as fp:
            file = client.v1.files.create(params={"purpose": "dispute_evidence", "file": fp})
        other_key = new_key()
        other = stripe.StripeClient(
            other_key, base_addresses={"api": server.url, "files": server.url}
        )
        with pytest.raises(stripe.InvalidRequestError) as caught:
            other.v1.files.retrieve(file.id)
        assert (caught.value.code, caught.value.http_status) == ("resource_missing", 404)
        assert other.v1.files.list().data == []
        download = httpx.get(
            f"{server.url}/v1/files/{file.id}/contents",
            headers={"Authorization": f"Bearer {other_key}"},
        )
        assert download.status_code == 404
        assert download.json()["error"]["code"] == "resource_missing"
        assert http.get(f"/v1/files/{file.id}/contents").status_code == 200


@pytest.fixture(scope="module")
def capped_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    """A server (SQLite) whose global upload cap is 100 kB."""
    running = start_server(
        tmp_path_factory.mktemp("capped") / "data",
        extra_env={"FILELINKS_MAX_UPLOAD_BYTES": "100000"},
    )
    yield running
    running.stop()


class TestGlobalCap:
    def test_sdk_gets_a_400_for_a_file_over_the_cap(self, capped_server, tmp_path):
        client = stripe.StripeClient(
            new_key(),
            base_addresses={"api": capped_server.url, "files": capped_server.url},
            max_network_retries=0,
        )
        content = samples.pdf(pad=3_000_000)
        with (
            open(write(tmp_path, "big.pdf", content), "rb") as fp,
            pytest.raises(stripe.InvalidRequestError) as caught,
        ):
            client.v1.files.create(params={"purpose": "dispute_evidence", "file": fp})
        assert caught.value.param == "file"
        assert staged_files(capped_server) == []
        assert client.v1.files.list().data == []
        with open(write(tmp_path, "small.pdf", samples.pdf()), "rb") as fp:
            assert client.v1.files.create(params={"purpose": "dispute_evidence", "file": fp}).size


class TestInterruptedUpload:
    def test_client_gone_mid_upload_leaves_nothing(self, server, api_key, http):
        boundary = "b4f8c2d1"
        head = (
            f'--{boundary}\r\nContent-Disposition: form-data; name="purpose"\r\n\r\n'
            "dispute_evidence\r\n"
            f'--{boundary}\r\nContent-Disposition: form-data; name="file"; filename="a.pdf"\r\n'
            "Content-Type: application/octet-stream\r\n\r\n"
        ).encode()
        sent = head + samples.pdf(pad=2_000_000)[:1_000_000]
        port = int(server.url.rsplit(":", 1)[1])
        with socket.create_connection(("127.0.0.1", port)) as conn:
            conn.sendall(
                b"POST /v1/files HTTP/1.1\r\nHost: x\r\n"
                + f"Authorization: Bearer {api_key}\r\n".encode()
                + f"Content-Type: multipart/form-data; boundary={boundary}\r\n".encode()
                + f"Content-Length: {len(head) + 2_100_000}\r\n\r\n".encode()
                + sent
            )
            deadline = time.monotonic() + 5
            while not staged_files(server) and time.monotonic() < deadline:
                time.sleep(0.01)
            assert staged_files(server), "the upload was being staged"
        deadline = time.monotonic() + 5
        while staged_files(server) and time.monotonic() < deadline:
            time.sleep(0.02)
        assert staged_files(server) == []
        assert http.get("/v1/files").json()["data"] == []
