"""POST /v1/files, GET /v1/files/{id}, GET /v1/files, GET /v1/files/{id}/contents."""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select
from sqlalchemy.orm import Session

from filelinks_api.app import create_app
from filelinks_api.config import Settings
from filelinks_api.db import Database
from filelinks_api.models import file_links, files
from filelinks_api.purposes import UPLOAD_PURPOSES
from tests import samples
from tests.api.helpers import bearer, error_of, post_link, upload, uploaded
from tests.conftest import FakeClock, new_key, share_session
from tests.samples import multipart

DAY = 86_400
INVALID_BODY = (
    "Invalid request (check your POST parameters): For assistance, contact support at"
    " https://support.stripe.com/contact/."
)


# --- helpers ----------------------------------------------------------------------------------


def disk_state(settings: Settings) -> list[tuple[str, int]]:
    root = settings.files_dir
    return sorted(
        (str(p.relative_to(root)), p.stat().st_size) for p in root.rglob("*") if p.is_file()
    )


def table_state(session: Session) -> tuple[list[str], list[str]]:
    return (
        sorted(session.execute(select(files.c.id)).scalars()),
        sorted(session.execute(select(file_links.c.id)).scalars()),
    )


@pytest.fixture
def unchanged(client: TestClient, settings: Settings, session: Session) -> Callable[[], None]:
    """Call it after a refused upload: no new bytes on disk (staged or stored), no new rows."""
    before = disk_state(settings), table_state(session)

    def check() -> None:
        assert (disk_state(settings), table_state(session)) == before

    return check


@pytest.fixture
def make_client(
    settings: Settings, database: Database, session: Session, clock: FakeClock
) -> Iterator[Callable[..., TestClient]]:
    """A client on an app of its own (other settings), sharing the test's session and clock."""
    opened: list[TestClient] = []

    def make(key: str, **updates: Any) -> TestClient:
        application = create_app(
            settings.model_copy(update=updates), clock=clock, database=database
        )

        share_session(application, session)
        test_client = TestClient(application, headers={"Authorization": f"Bearer {key}"})
        test_client.__enter__()
        opened.append(test_client)
        return test_client

    yield make
    for test_client in opened:
        test_client.__exit__(None, None, None)


@pytest.fixture
def other_client(client: TestClient) -> Iterator[TestClient]:
    """The same app, another secret key: another account."""
    with TestClient(client.app, headers={"Authorization": f"Bearer {new_key()}"}) as other:
        yield other


# Per purpose: a sample it accepts, the type it gets, its expiry in days, whether downloadable.
PURPOSES = {
    "account_requirement": (samples.pdf(), "a.pdf", "pdf", None, False),
    "additional_verification": (samples.jpeg(), "a.jpg", "jpg", None, False),
    "business_icon": (samples.gif(), "icon.gif", "gif", None, True),
    "business_logo": (samples.png(), "logo.png", "png", None, True),
    "customer_signature": (samples.svg(), "sig.svg", "svg", 7, True),
    "dispute_evidence": (samples.pdf(), "e.pdf", "pdf", 270, True),
    "identity_document": (samples.png(), "id.png", "png", None, False),
    "issuing_regulatory_reporting": (samples.json_doc(), "r.json", "json", 730, True),
    "pci_document": (samples.pdf(), "aoc.pdf", "pdf", None, True),
    "platform_terms_of_service": (b"# Terms\n\nBe nice.\n", "tos.md", "md", None, False),
    "tax_document_user_upload": (samples.csv(), "tax.csv", "csv", None, True),
    "terminal_android_apk": (samples.apk(), "app.apk", "apk", 180, True),
    "terminal_reader_splashscreen": (samples.png(), "splash.png", "png", 365, True),
    "terminal_wifi_certificate": (samples.pem(), "wifi.pem", "pem", None, False),
    "terminal_wifi_private_key": (samples.pem(), "wifi.key", "pem", None, False),
}


def test_the_purpose_table_covers_every_upload_purpose():
    assert sorted(PURPOSES) == sorted(UPLOAD_PURPOSES)


# --- POST /v1/files ---------------------------------------------------------------------------


class TestCreateFile:
    def test_returns_the_file_object(self, client, clock):
        content = samples.pdf()
        file = uploaded(client, content, "evidence.pdf")
        assert list(file) == [
            "id",
            "object",
            "created",
            "expires_at",
            "filename",
            "links",
            "purpose",
            "size",
            "title",
            "type",
            "url",
        ]
        assert file["id"].startswith("file_")
        assert len(file["id"]) == 5 + 24
        assert file["object"] == "file"
        assert file["created"] == clock.now()
        assert file["expires_at"] == clock.now() + 270 * DAY
        assert file["filename"] == "evidence.pdf"
        assert file["links"] == {
            "object": "list",
            "data": [],
            "has_more": False,
            "url": f"/v1/file_links?file={file['id']}",
        }
        assert file["purpose"] == "dispute_evidence"
        assert file["size"] == len(content)
        assert file["title"] is None
        assert file["type"] == "pdf"
        assert file["url"] == f"http://testserver/v1/files/{file['id']}/contents"

    @pytest.mark.parametrize("purpose", sorted(PURPOSES))
    def test_purpose_sets_type_expiry_and_url(self, client, clock, purpose):
        content, filename, kind, days, downloadable = PURPOSES[purpose]
        file = uploaded(client, content, filename, purpose=purpose)
        assert file["purpose"] == purpose
        assert file["type"] == kind
        assert file["expires_at"] == (None if days is None else clock.now() + days * DAY)
        if downloadable:
            assert file["url"] == f"http://testserver/v1/files/{file['id']}/contents"
        else:
            assert file["url"] is None

    def test_public_url_setting_is_the_base_of_url(self, make_client):
        public = make_client(new_key(), public_url="https://files.example.com")
        file = uploaded(public)
        assert file["url"] == f"https://files.example.com/v1/files/{file['id']}/contents"

    @pytest.mark.parametrize(
        ("purpose", "content", "filename", "kind"),
        [
            ("dispute_evidence", samples.pdf(), "a.pdf", "pdf"),
            ("dispute_evidence", samples.png(), "a.png", "png"),
            ("dispute_evidence", samples.jpeg(), "a.jpeg", "jpg"),
            ("tax_document_user_upload", samples.csv(), "a.csv", "csv"),
            ("tax_document_user_upload", samples.docx(), "a.docx", "docx"),
            ("tax_document_user_upload", samples.xlsx(), "a.xlsx", "xlsx"),
            ("issuing_regulatory_reporting", samples.json_doc(), "a.json", "json"),
            ("business_logo", samples.gif(), "a.gif", "gif"),
            ("platform_terms_of_service", b"plain terms\n", "a.txt", "txt"),
        ],
    )
    def test_accepts_the_types_of_its_purpose(self, client, purpose, content, filename, kind):
        assert uploaded(client, content, filename, purpose=purpose)["type"] == kind

    @pytest.mark.parametrize(
        ("purpose", "content", "filename", "mimetypes"),
        [
            (
                "dispute_evidence",
                b"just some text\n",
                "notes.txt",
                "application/pdf, image/jpeg, image/png",
            ),
            (
                "dispute_evidence",
                samples.docx(),
                "a.docx",
                "application/pdf, image/jpeg, image/png",
            ),
            ("issuing_regulatory_reporting", samples.pdf(), "a.pdf", "application/json"),
            ("pci_document", samples.png(), "a.png", "application/pdf"),
            ("business_logo", samples.pdf(), "a.pdf", "image/jpeg, image/png, image/gif"),
            (
                "terminal_android_apk",
                samples.docx(),
                "a.apk",
                "application/vnd.android.package-archive",
            ),
        ],
    )
    def test_refuses_a_type_its_purpose_does_not_accept(
        self, client, unchanged, purpose, content, filename, mimetypes
    ):
        # Stripe's words, its mimetypes in the upload guide's order (docs/stripe-behavior.md §10)
        error = error_of(upload(client, content, filename, purpose=purpose))
        assert error == {
            "message": "We don't currently support that file type. Try uploading a file with one"
            f" of the following mimetypes: {mimetypes}.",
            "param": "file",
            "type": "invalid_request_error",
        }
        unchanged()

    def test_type_comes_from_the_content_not_the_extension(self, client):
        assert uploaded(client, samples.png(), "really-a-png.pdf")["type"] == "png"

    def test_refuses_content_that_only_claims_an_accepted_extension(self, client):
        error = error_of(upload(client, b"not a pdf at all\n", "fake.pdf"))
        assert error["param"] == "file"

    @pytest.mark.parametrize(
        ("filename", "kind"), [("terms.txt", "txt"), ("terms.md", "md"), ("terms", "txt")]
    )
    def test_extension_decides_among_text_types(self, client, filename, kind):
        content = b"Terms of service\n\nBe nice.\n"
        file = uploaded(client, content, filename, purpose="platform_terms_of_service")
        assert file["type"] == kind

    def test_csv_without_its_extension_is_text(self, client):
        error = error_of(upload(client, samples.csv(), "data", purpose="tax_document_user_upload"))
        assert error["message"].startswith("We don't currently support that file type.")
        assert error["message"].endswith(
            "application/pdf, text/csv, image/jpeg, image/png, application/vnd.openxmlformats-"
            "officedocument.spreadsheetml.sheet, application/vnd.openxmlformats-officedocument."
            "wordprocessingml.document."
        )

    def test_a_dispute_pdf_of_more_than_50_pages_is_refused(self, client, unchanged):
        for packed in (False, True):
            content = samples.pdf_pages(51, packed=packed)
            error = error_of(upload(client, content, "long.pdf"))
            assert error == {
                "message": "The file you uploaded was too long. Please upload a file with fewer"
                " than 50 pages.",
                "param": "file",
                "type": "invalid_request_error",
            }
        unchanged()

    def test_a_dispute_pdf_of_50_pages_is_accepted(self, client):
        # Stripe took one of exactly 50 pages (docs/stripe-behavior.md §10)
        assert uploaded(client, samples.pdf_pages(50, updated=True))["type"] == "pdf"

    def test_other_purposes_have_no_page_limit(self, client):
        file = uploaded(client, samples.pdf_pages(60), purpose="pci_document")
        assert file["size"] > 0

    @pytest.mark.parametrize(
        "content",
        [
            b"%PDF-1.7\n" + b"1 0 obj << /Type /Page >> " * 3,  # no endobj anywhere
            b"%PDF-1.4\n9999999999 0 obj\n<< /Type /ObjStm /First 99999999 /Filter /FlateDecode"
            b" >>\nstream\n\x78\x9c garbage\nendstream\nendobj\n",
            b"%PDF-1.4\n1 0 obj\n<< /Type /ObjStm /N 2 /First 4 /Filter /FlateDecode >>\nstream\n"
            + __import__("zlib").compress(b"x y 5 /Type /Page")
            + b"\nendstream\nendobj\n",
            b"%PDF-" + bytes(range(256)) * 40,
            b"%PDF-1.4\n"
            + b"%d 0 obj << /Type /Page >> endobj\n" % 1 * 60,  # one object, rewritten
        ],
    )
    def test_odd_pdfs_never_fail_the_upload(self, client, content):
        assert uploaded(client, content, "odd.pdf")["type"] == "pdf"

    @pytest.mark.parametrize(
        ("content", "filename"),
        [
            (samples.png_header(8000, 10), "wide.png"),
            (samples.png_header(10, 9000), "tall.png"),
            (samples.jpeg_sized(8000, 8000, exif=4000), "big.jpg"),
        ],
    )
    def test_an_identity_image_of_8000px_or_more_is_refused(
        self, client, unchanged, content, filename
    ):
        error = error_of(upload(client, content, filename, purpose="identity_document"))
        assert error["param"] == "file"
        assert "smaller than 8,000px by 8,000px" in error["message"]
        unchanged()

    @pytest.mark.parametrize(
        ("content", "filename"),
        [
            (samples.png_header(7999, 7999), "ok.png"),
            (samples.jpeg_sized(4000, 3000, exif=60_000), "photo.jpg"),
            (samples.jpeg(), "no-frame.jpg"),  # no size to read: nothing refused
            (b"\xff\xd8\xff\xe1\xff\xff" + b"\x00" * 10, "cut.jpg"),  # a length past the end
        ],
    )
    def test_an_identity_image_within_the_limit_or_unreadable_is_accepted(
        self, client, content, filename
    ):
        assert uploaded(client, content, filename, purpose="identity_document")["size"] > 0

    def test_other_purposes_have_no_dimension_limit(self, client):
        assert uploaded(client, samples.png_header(9000, 9000), "b.png", purpose="business_logo")

    @pytest.mark.parametrize(
        ("sent", "stored"),
        [
            ("/tmp/x/../pic.png", "pic.png"),
            ("C:\\a\\b.pdf", "b.pdf"),
            ("..\\..\\windows\\evil.png", "evil.png"),
            ("pic\x01ture.png", "picture.png"),
            ("r\u00e9sum\u00e9.png", "r\u00e9sum\u00e9.png"),
        ],
    )
    def test_filename_is_the_sanitized_base_name(self, client, sent, stored):
        body, headers = multipart(
            ("purpose", "dispute_evidence", None), ("file", samples.png(), sent)
        )
        response = client.post("/v1/files", content=body, headers=headers)
        assert response.status_code == 200, response.text
        assert response.json()["filename"] == stored

    def test_filename_without_a_name_falls_back_to_the_file_id(self, client):
        body, headers = multipart(
            ("purpose", "dispute_evidence", None), ("file", samples.png(), "..")
        )
        file = client.post("/v1/files", content=body, headers=headers).json()
        assert file["filename"] == file["id"]

    def test_purpose_may_follow_the_file_part(self, client):
        body, headers = multipart(
            ("file", samples.png(), "a.png"), ("purpose", "business_logo", None)
        )
        response = client.post("/v1/files", content=body, headers=headers)
        assert response.status_code == 200, response.text
        assert response.json()["purpose"] == "business_logo"

    def test_stores_the_row(self, client, session):
        file = uploaded(client, samples.png(), "a.png")
        row = session.execute(select(files).where(files.c.id == file["id"])).one()
        assert (row.purpose, row.size, row.type, row.filename) == (
            "dispute_evidence",
            len(samples.png()),
            "png",
            "a.png",
        )


class TestCreateFileLimits:
    def test_refuses_a_file_over_its_purpose_limit(self, client, unchanged):
        content = samples.png() + b"\x00" * (512_001 - len(samples.png()))
        error = error_of(upload(client, content, "logo.png", purpose="business_logo"))
        assert error["param"] == "file"
        assert "512000" in error["message"]
        unchanged()

    def test_accepts_a_file_exactly_at_its_purpose_limit(self, client):
        content = samples.png() + b"\x00" * (512_000 - len(samples.png()))
        assert uploaded(client, content, "logo.png", purpose="business_logo")["size"] == 512_000

    def test_refuses_a_file_over_the_global_cap(self, make_client, settings, session):
        small = make_client(new_key(), max_upload_bytes=10_000)
        before = disk_state(settings), table_state(session)
        error = error_of(upload(small, samples.pdf(pad=10_000)))
        assert error["param"] == "file"
        assert "10000" in error["message"]
        assert (disk_state(settings), table_state(session)) == before

    def test_global_cap_allows_a_file_at_the_cap(self, make_client):
        content = samples.pdf()
        small = make_client(new_key(), max_upload_bytes=len(content))
        assert uploaded(small, content)["size"] == len(content)

    def test_refuses_an_empty_file(self, client, unchanged):
        error = error_of(upload(client, b"", "empty.pdf"))
        assert error["param"] == "file"
        assert "empty" in error["message"]
        unchanged()

    def test_interrupted_body_leaves_nothing(self, client, unchanged):
        body, headers = multipart(
            ("purpose", "dispute_evidence", None), ("file", samples.pdf(pad=200_000), "a.pdf")
        )
        response = client.post("/v1/files", content=body[: len(body) // 2], headers=headers)
        error = error_of(response)
        assert error["type"] == "invalid_request_error"
        unchanged()


class TestCreateFileValidation:
    def test_missing_purpose(self, client, unchanged):
        error = error_of(upload(client, samples.pdf(), purpose=None))
        assert error == {
            "code": "parameter_missing",
            "doc_url": "https://stripe.com/docs/error-codes/parameter-missing",
            "message": "Missing required param: purpose.",
            "param": "purpose",
            "type": "invalid_request_error",
        }
        unchanged()

    def test_unknown_purpose_lists_the_upload_purposes(self, client, unchanged):
        error = error_of(upload(client, samples.pdf(), purpose="selfie"))
        assert error["param"] == "purpose"
        assert error["message"] == (
            "Invalid purpose: must be one of "
            + ", ".join(sorted(UPLOAD_PURPOSES)[:-1])
            + ", or terminal_wifi_private_key"
        )
        unchanged()

    def test_missing_file(self, client):
        body, headers = multipart(("purpose", "dispute_evidence", None))
        error = error_of(client.post("/v1/files", content=body, headers=headers))
        assert error == {
            "code": "parameter_missing",
            "doc_url": "https://stripe.com/docs/error-codes/parameter-missing",
            "message": "Missing required param: file.",
            "param": "file",
            "type": "invalid_request_error",
        }

    def test_file_as_a_plain_field_is_an_invalid_hash(self, client):
        body, headers = multipart(
            ("purpose", "identity_document", None), ("file", "FILE:success.png", None)
        )
        error = error_of(client.post("/v1/files", content=body, headers=headers))
        assert error == {
            "message": "Invalid hash",
            "param": "file",
            "type": "invalid_request_error",
        }

    def test_file_as_a_urlencoded_string_is_an_invalid_hash(self, client):
        # What stripe-ruby's body `purpose=identity_document&file=FILE%3Asuccess.png` got
        response = client.post(
            "/v1/files", data={"purpose": "dispute_evidence", "file": "@/tmp/a.pdf"}
        )
        assert error_of(response) == {
            "message": "Invalid hash",
            "param": "file",
            "type": "invalid_request_error",
        }
        assert client.get("/v1/files").json()["data"] == []

    def test_file_as_a_urlencoded_hash_is_refused(self, client):
        # stripe-node 22's broken upload sent `file[data]`, `file[name]`, `file[type]`
        body = "purpose=dispute_evidence&file[data][0]=37&file[name]=a.pdf&file[type]=x"
        form = {"Content-Type": "application/x-www-form-urlencoded"}
        response = client.post("/v1/files", content=body, headers=form)
        assert error_of(response) == {"message": INVALID_BODY, "type": "invalid_request_error"}

    def test_json_body_is_refused_with_stripes_hint(self, client):
        response = client.post("/v1/files", json={"purpose": "dispute_evidence"})
        assert error_of(response)["message"].startswith(
            "Invalid request (check that your POST content type is"
            " application/x-www-form-urlencoded)."
        )

    def test_body_without_content_type_is_refused(self, client):
        response = client.post("/v1/files", content=b"purpose=dispute_evidence")
        assert error_of(response) == {"message": INVALID_BODY, "type": "invalid_request_error"}

    def test_unknown_parameter(self, client, unchanged):
        error = error_of(upload(client, samples.pdf(), fields={"title": "mine"}))
        assert error["code"] == "parameter_unknown"
        assert error["param"] == "title"
        assert error["message"] == "Received unknown parameter: title"
        unchanged()

    def test_unknown_nested_parameter(self, client):
        error = error_of(
            upload(
                client,
                samples.pdf(),
                fields={"file_link_data[create]": "true", "file_link_data[url]": "x"},
            )
        )
        assert (error["code"], error["param"]) == ("parameter_unknown", "file_link_data[url]")

    def test_a_second_file_part_is_refused(self, client, unchanged):
        body, headers = multipart(
            ("purpose", "dispute_evidence", None),
            ("file", samples.pdf(), "a.pdf"),
            ("file", samples.pdf(), "b.pdf"),
        )
        assert error_of(client.post("/v1/files", content=body, headers=headers))["param"] == "file"
        unchanged()

    def test_a_file_part_under_another_name_is_an_unknown_parameter(self, client):
        body, headers = multipart(
            ("purpose", "dispute_evidence", None),
            ("file", samples.pdf(), "a.pdf"),
            ("attachment", samples.pdf(), "b.pdf"),
        )
        error = error_of(client.post("/v1/files", content=body, headers=headers))
        assert (error["code"], error["param"]) == ("parameter_unknown", "attachment")

    def test_query_string_parameters_are_merged_under_the_body(self, client):
        response = client.post(
            "/v1/files?purpose=identity_document",
            files={"file": ("a.pdf", samples.pdf(), "application/octet-stream")},
        )
        assert response.status_code == 200, response.text
        assert response.json()["purpose"] == "identity_document"

    def test_expand_links_is_accepted(self, client):
        file = uploaded(client, fields={"expand[]": "links"})
        assert file["links"]["object"] == "list"

    def test_expand_of_an_unexpandable_field_is_refused(self, client, unchanged):
        error = error_of(upload(client, samples.pdf(), fields={"expand[]": "purpose"}))
        assert error["message"] == "This property cannot be expanded (purpose)."
        unchanged()

    def test_without_a_key_is_401(self, client):
        response = upload(client, samples.pdf(), headers={"Authorization": ""})
        assert error_of(response, 401)["message"].startswith("You did not provide an API key.")


class TestCreateFileWithLink:
    def test_creates_a_link_shown_in_links_data(self, client, clock):
        file = uploaded(
            client,
            fields={
                "file_link_data[create]": "true",
                "file_link_data[expires_at]": str(clock.now() + 3600),
                "file_link_data[metadata][order]": "6735",
            },
        )
        assert file["links"]["has_more"] is False
        [link] = file["links"]["data"]
        assert link["id"].startswith("link_")
        assert link["object"] == "file_link"
        assert link["file"] == file["id"]
        assert link["expires_at"] == clock.now() + 3600
        assert link["expired"] is False
        assert link["metadata"] == {"order": "6735"}
        assert link["url"].startswith("http://testserver/links/")
        assert client.get(f"/v1/file_links/{link['id']}").json() == link

    def test_link_url_serves_the_bytes(self, client):
        content = samples.png()
        file = uploaded(client, content, "a.png", fields={"file_link_data[create]": "true"})
        public = client.get(file["links"]["data"][0]["url"], headers={"Authorization": ""})
        assert public.status_code == 200
        assert public.content == content

    def test_link_appears_on_retrieve(self, client):
        file = uploaded(client, fields={"file_link_data[create]": "true"})
        assert client.get(f"/v1/files/{file['id']}").json()["links"] == file["links"]

    def test_create_false_makes_no_link(self, client, session):
        file = uploaded(client, fields={"file_link_data[create]": "false"})
        assert file["links"]["data"] == []
        assert table_state(session)[1] == []

    def test_create_is_required_with_file_link_data(self, client, clock, unchanged):
        response = upload(
            client, samples.pdf(), fields={"file_link_data[expires_at]": str(clock.now() + 60)}
        )
        error = error_of(response)
        assert error["message"] == "Missing required param: file_link_data[create]."
        assert error["param"] == "file_link_data[create]"
        unchanged()

    def test_create_must_be_a_boolean(self, client):
        error = error_of(upload(client, samples.pdf(), fields={"file_link_data[create]": "yes"}))
        assert error["message"] == "Invalid boolean: yes"
        assert error["param"] == "file_link_data[create]"

    def test_refused_for_a_purpose_that_cannot_be_linked(self, client, unchanged):
        response = upload(
            client,
            samples.png(),
            "id.png",
            purpose="identity_document",
            fields={"file_link_data[create]": "true"},
        )
        error = error_of(response)
        assert error["param"] == "file_link_data[create]"
        assert "identity_document" in error["message"]
        unchanged()

    def test_refused_with_a_publishable_key(self, client, unchanged):
        response = upload(
            client,
            samples.pdf(),
            fields={"file_link_data[create]": "true"},
            headers={"Authorization": "Bearer pk_test_" + "a" * 24},
        )
        error = error_of(response, 403)
        assert error["code"] == "secret_key_required"
        assert error["message"].startswith(
            "This API call cannot be made with a publishable API key."
        )
        unchanged()

    def test_publishable_key_may_upload_without_a_link(self, client):
        pk = "pk_test_" + "b" * 24
        file = uploaded(client, headers=bearer(pk))
        assert file["links"]["data"] == []
        # ... but may read nothing back
        response = client.get(f"/v1/files/{file['id']}", headers=bearer(pk))
        assert error_of(response, 403)["code"] == "secret_key_required"

    @pytest.mark.parametrize("offset", [0, -1, -86_400])
    def test_expires_at_must_be_in_the_future(self, client, clock, unchanged, offset):
        response = upload(
            client,
            samples.pdf(),
            fields={
                "file_link_data[create]": "true",
                "file_link_data[expires_at]": str(clock.now() + offset),
            },
        )
        error = error_of(response)
        assert error["param"] == "file_link_data[expires_at]"
        assert error["message"] == (
            "Invalid timestamp: must be an integer Unix timestamp in the future."
        )
        unchanged()

    def test_expires_at_must_be_an_integer(self, client):
        response = upload(
            client,
            samples.pdf(),
            fields={"file_link_data[create]": "true", "file_link_data[expires_at]": "soon"},
        )
        error = error_of(response)
        assert (error["code"], error["param"]) == (
            "parameter_invalid_integer",
            "file_link_data[expires_at]",
        )

    def test_metadata_over_the_limits_is_refused(self, client, unchanged):
        fields = {"file_link_data[create]": "true"}
        fields.update({f"file_link_data[metadata][k{i}]": "v" for i in range(51)})
        error = error_of(upload(client, samples.pdf(), fields=fields))
        assert error["message"].startswith("Metadata can have up to 50 keys, but you've set 51.")
        unchanged()


# --- GET /v1/files/{id} -----------------------------------------------------------------------


class TestRetrieveFile:
    def test_equals_the_create_output(self, client):
        file = uploaded(client)
        response = client.get(f"/v1/files/{file['id']}")
        assert response.status_code == 200
        assert response.json() == file

    def test_expand_links(self, client):
        file = uploaded(client, fields={"file_link_data[create]": "true"})
        response = client.get(f"/v1/files/{file['id']}", params={"expand[]": "links"})
        assert response.json() == file

    def test_links_embed_the_first_ten_newest_first(self, client):
        file = uploaded(client)
        made = [post_link(client, file["id"]).json()["id"] for _ in range(11)]
        links = client.get(f"/v1/files/{file['id']}").json()["links"]
        assert [link["id"] for link in links["data"]] == made[::-1][:10]
        assert links["has_more"] is True
        rest = client.get(links["url"], params={"starting_after": made[1]}).json()
        assert [link["id"] for link in rest["data"]] == [made[0]]

    def test_expand_data_on_a_retrieve_is_refused(self, client):
        file = uploaded(client)
        response = client.get(f"/v1/files/{file['id']}", params={"expand[]": "data.links"})
        assert error_of(response)["message"] == "This property cannot be expanded (data)."

    def test_unknown_id_is_resource_missing(self, client):
        error = error_of(client.get("/v1/files/file_doesnotexist"), 404)
        assert error == {
            "code": "resource_missing",
            "doc_url": "https://stripe.com/docs/error-codes/resource-missing",
            "message": "No such file upload: 'file_doesnotexist'",
            "param": "id",
            "type": "invalid_request_error",
        }

    def test_another_accounts_file_is_resource_missing(self, client, other_client):
        file = uploaded(client)
        error = error_of(other_client.get(f"/v1/files/{file['id']}"), 404)
        assert (error["code"], error["param"]) == ("resource_missing", "id")

    def test_unknown_parameter(self, client):
        file = uploaded(client)
        error = error_of(client.get(f"/v1/files/{file['id']}", params={"purpose": "x"}))
        assert (error["code"], error["param"]) == ("parameter_unknown", "purpose")

    def test_file_outlives_its_expiry_as_an_object(self, client, clock):
        file = uploaded(client)
        clock.advance(271 * DAY)
        assert client.get(f"/v1/files/{file['id']}").json()["expires_at"] == file["expires_at"]


class TestModes:
    """One account with a test and a live key (FILELINKS_API_KEYS): the modes never meet."""

    def test_live_key_cannot_see_a_test_mode_file(self, make_client):
        test_key, live_key = "sk_test_" + "t" * 24, "sk_live_" + "l" * 24
        keys = {test_key: "acct_1Shared", live_key: "acct_1Shared"}
        test_mode = make_client(test_key, api_keys=keys)
        live_mode = make_client(live_key, api_keys=keys)
        file = uploaded(test_mode)
        assert test_mode.get(f"/v1/files/{file['id']}").status_code == 200
        assert error_of(live_mode.get(f"/v1/files/{file['id']}"), 404)["code"] == "resource_missing"
        assert error_of(live_mode.get(f"/v1/files/{file['id']}/contents"), 404)["param"] == "id"
        assert live_mode.get("/v1/files").json()["data"] == []
        assert [f["id"] for f in test_mode.get("/v1/files").json()["data"]] == [file["id"]]

    def test_a_file_of_the_other_mode_is_named_in_the_message(self, make_client):
        test_key, live_key = "sk_test_" + "t" * 24, "sk_live_" + "l" * 24
        keys = {test_key: "acct_1Shared", live_key: "acct_1Shared"}
        test_mode = make_client(test_key, api_keys=keys)
        live_mode = make_client(live_key, api_keys=keys)
        test_file, live_file = uploaded(test_mode)["id"], uploaded(live_mode)["id"]
        # Stripe's suffix (docs/stripe-behavior.md §9): integrations look for it in their logs.
        for path in (f"/v1/files/{test_file}", f"/v1/files/{test_file}/contents"):
            assert error_of(live_mode.get(path), 404) == {
                "code": "resource_missing",
                "doc_url": "https://stripe.com/docs/error-codes/resource-missing",
                "message": f"No such file upload: '{test_file}'; a similar object exists in test"
                " mode, but a live mode key was used to make this request.",
                "param": "id",
                "type": "invalid_request_error",
            }
        assert error_of(test_mode.get(f"/v1/files/{live_file}"), 404)["message"] == (
            f"No such file upload: '{live_file}'; a similar object exists in live mode, but a"
            " test mode key was used to make this request."
        )
        cursor = live_mode.get("/v1/files", params={"starting_after": test_file})
        assert error_of(cursor)["message"].endswith(
            "but a live mode key was used to make this request."
        )
        missing = error_of(test_mode.get("/v1/files/file_nowhere"), 404)["message"]
        assert missing == "No such file upload: 'file_nowhere'"

    def test_another_accounts_file_gets_no_mode_suffix(self, client, other_client):
        file = uploaded(client)
        message = error_of(other_client.get(f"/v1/files/{file['id']}"), 404)["message"]
        assert message == f"No such file upload: '{file['id']}'"

    def test_connected_account_files_are_separate(self, client):
        file = uploaded(client)
        connected = {"Stripe-Account": "acct_1Connected"}
        response = client.get(f"/v1/files/{file['id']}", headers=connected)
        assert error_of(response, 404)["code"] == "resource_missing"
        mine = uploaded(client, headers=connected)
        assert client.get(f"/v1/files/{mine['id']}", headers=connected).status_code == 200
        assert client.get(f"/v1/files/{mine['id']}").status_code == 404


# --- GET /v1/files ----------------------------------------------------------------------------


def ids(response: httpx.Response) -> list[str]:
    assert response.status_code == 200, response.text
    return [item["id"] for item in response.json()["data"]]


class TestListFiles:
    def test_envelope_and_newest_first(self, client, clock):
        first = uploaded(client)
        clock.advance(1)
        second = uploaded(client)
        body = client.get("/v1/files").json()
        assert list(body) == ["object", "url", "has_more", "data"]  # as the docs print it
        assert body["object"] == "list"
        assert body["url"] == "/v1/files"
        assert body["has_more"] is False
        assert body["data"] == [second, first]

    def test_empty_for_a_new_account(self, client):
        assert client.get("/v1/files").json() == {
            "object": "list",
            "data": [],
            "has_more": False,
            "url": "/v1/files",
        }

    def test_pages_forward_through_same_second_files(self, client):
        made = [uploaded(client, samples.png(), "a.png")["id"] for _ in range(23)]
        newest_first = made[::-1]
        seen: list[str] = []
        params: dict[str, Any] = {"limit": 5}
        while True:
            body = client.get("/v1/files", params=params).json()
            page = [item["id"] for item in body["data"]]
            seen += page
            assert body["has_more"] is (len(seen) < len(made))
            if not body["has_more"]:
                break
            params = {"limit": 5, "starting_after": page[-1]}
        assert seen == newest_first

    def test_pages_backward_through_same_second_files(self, client):
        made = [uploaded(client, samples.png(), "a.png")["id"] for _ in range(23)]
        newest_first = made[::-1]
        oldest = newest_first[-1]
        pages: list[list[str]] = []
        params: dict[str, Any] = {"limit": 5, "ending_before": oldest}
        while True:
            body = client.get("/v1/files", params=params).json()
            page = [item["id"] for item in body["data"]]
            pages.append(page)
            remaining = newest_first.index(page[0])
            assert body["has_more"] is (remaining > 0)
            if not body["has_more"]:
                break
            params = {"limit": 5, "ending_before": page[0]}
        seen = [item for page in reversed(pages) for item in page]
        assert seen == newest_first[:-1]
        assert pages[0] == newest_first[-6:-1]

    def test_has_more_is_false_on_an_exactly_full_last_page(self, client):
        made = [uploaded(client)["id"] for _ in range(4)]
        first = client.get("/v1/files", params={"limit": 2}).json()
        assert first["has_more"] is True
        second = client.get(
            "/v1/files", params={"limit": 2, "starting_after": first["data"][-1]["id"]}
        ).json()
        assert second["has_more"] is False
        assert [f["id"] for f in first["data"] + second["data"]] == made[::-1]

    def test_default_limit_is_ten(self, client):
        for _ in range(11):
            uploaded(client)
        body = client.get("/v1/files").json()
        assert (len(body["data"]), body["has_more"]) == (10, True)

    @pytest.mark.parametrize("limit", ["0", "101", "ten"])
    def test_limit_out_of_range_is_refused(self, client, limit):
        assert error_of(client.get("/v1/files", params={"limit": limit}))["param"] == "limit"

    def test_unknown_cursor_is_resource_missing(self, client):
        error = error_of(client.get("/v1/files", params={"starting_after": "file_nope"}))
        assert (error["code"], error["param"]) == ("resource_missing", "starting_after")
        assert error["message"] == "No such file upload: 'file_nope'"

    def test_another_accounts_file_is_not_a_cursor(self, client, other_client):
        theirs = uploaded(other_client)
        error = error_of(client.get("/v1/files", params={"ending_before": theirs["id"]}))
        assert (error["code"], error["param"]) == ("resource_missing", "ending_before")

    def test_both_cursors_are_refused(self, client):
        file = uploaded(client)
        error = error_of(
            client.get(
                "/v1/files", params={"starting_after": file["id"], "ending_before": file["id"]}
            )
        )
        assert error["message"] == (
            "Received both starting_after and ending_before parameters. Please pass in only one."
        )

    def test_created_filters(self, client, clock):
        start = clock.now()
        made = []
        for _ in range(3):
            made.append(uploaded(client)["id"])
            clock.advance(10)
        old, middle, new = made
        cases = {
            "created": ([("created", start + 10)], [middle]),
            "gt": ([("created[gt]", start)], [new, middle]),
            "gte": ([("created[gte]", start + 10)], [new, middle]),
            "lt": ([("created[lt]", start + 10)], [old]),
            "lte": ([("created[lte]", start + 10)], [middle, old]),
            "range": ([("created[gt]", start), ("created[lt]", start + 20)], [middle]),
            "none": ([("created", start + 5)], []),
        }
        for name, (params, want) in cases.items():
            assert ids(client.get("/v1/files", params=params)) == want, name

    def test_created_filter_must_be_integers(self, client):
        error = error_of(client.get("/v1/files", params={"created[gte]": "yesterday"}))
        assert error["param"] == "created[gte]"
        error = error_of(client.get("/v1/files", params={"created[after]": "1"}))
        assert (error["code"], error["param"]) == ("parameter_unknown", "created[after]")

    def test_purpose_filter(self, client):
        evidence = uploaded(client)["id"]
        logo = uploaded(client, samples.png(), "logo.png", purpose="business_logo")["id"]
        assert ids(client.get("/v1/files", params={"purpose": "business_logo"})) == [logo]
        assert ids(client.get("/v1/files", params={"purpose": "dispute_evidence"})) == [evidence]
        assert ids(client.get("/v1/files", params={"purpose": "selfie"})) == []

    def test_purpose_filter_pages_within_the_purpose(self, client):
        logos = [
            uploaded(client, samples.png(), "l.png", purpose="business_logo")["id"]
            for _ in range(3)
        ]
        uploaded(client)
        first = client.get("/v1/files", params={"purpose": "business_logo", "limit": 2}).json()
        rest = client.get(
            "/v1/files",
            params={
                "purpose": "business_logo",
                "limit": 2,
                "starting_after": first["data"][-1]["id"],
            },
        ).json()
        assert [f["id"] for f in first["data"] + rest["data"]] == logos[::-1]
        assert rest["has_more"] is False

    def test_unknown_purpose_filter_is_refused(self, client):
        error = error_of(client.get("/v1/files", params={"purpose": "holiday_photos"}))
        assert error["param"] == "purpose"
        assert error["message"].startswith("Invalid purpose: must be one of account_requirement,")

    def test_expand_data_links(self, client):
        file = uploaded(client, fields={"file_link_data[create]": "true"})
        body = client.get("/v1/files", params={"expand[]": "data.links"}).json()
        assert body["data"] == [file]
        assert len(body["data"][0]["links"]["data"]) == 1

    def test_expand_without_the_data_prefix_is_refused(self, client):
        error = error_of(client.get("/v1/files", params={"expand[]": "links"}))
        assert error["message"] == (
            "This property cannot be expanded (links). You may want to try expanding"
            " 'data.links' instead."
        )

    def test_unknown_parameter(self, client):
        error = error_of(client.get("/v1/files", params={"file": "file_x"}))
        assert (error["code"], error["param"]) == ("parameter_unknown", "file")

    def test_lists_only_the_callers_files(self, client, other_client):
        mine = uploaded(client)
        uploaded(other_client)
        assert ids(client.get("/v1/files")) == [mine["id"]]

    def test_another_account_sees_an_empty_list(self, client, other_client):
        uploaded(client)
        assert ids(other_client.get("/v1/files")) == []


# --- GET /v1/files/{id}/contents ----------------------------------------------------------------


@pytest.fixture
def stored(client: TestClient) -> tuple[dict[str, Any], bytes]:
    content = samples.pdf("contents", pad=100)
    return uploaded(client, content, "/home/me/Statement 2026.pdf"), content


class TestFileContents:
    def test_bytes_are_identical(self, client, stored):
        file, content = stored
        response = client.get(f"/v1/files/{file['id']}/contents")
        assert response.status_code == 200
        assert response.content == content

    def test_headers(self, client, stored):
        file, content = stored
        response = client.get(f"/v1/files/{file['id']}/contents")
        assert response.headers["content-type"] == "application/pdf"
        assert response.headers["content-length"] == str(len(content))
        # an ASCII name needs no `filename*` (RFC 6266); the API's contents always download
        assert (
            response.headers["content-disposition"] == 'attachment; filename="Statement 2026.pdf"'
        )
        assert response.headers["accept-ranges"] == "bytes"
        assert "request-id" in response.headers

    def test_the_url_field_downloads_the_file(self, client, stored):
        file, content = stored
        assert client.get(file["url"]).content == content

    @pytest.mark.parametrize(
        ("content", "filename", "purpose", "mime"),
        [
            (samples.png(), "a.png", "business_logo", "image/png"),
            (samples.jpeg(), "a.jpg", "dispute_evidence", "image/jpeg"),
            (samples.csv(), "a.csv", "tax_document_user_upload", "text/csv"),
            (samples.json_doc(), "a.json", "issuing_regulatory_reporting", "application/json"),
        ],
    )
    def test_content_type_follows_the_type(self, client, content, filename, purpose, mime):
        file = uploaded(client, content, filename, purpose=purpose)
        response = client.get(f"/v1/files/{file['id']}/contents")
        assert response.headers["content-type"].split(";")[0] == mime
        assert response.content == content

    def test_non_ascii_filename_is_encoded_in_content_disposition(self, client):
        body, headers = multipart(
            ("purpose", "dispute_evidence", None), ("file", samples.png(), "r\u00e9sum\u00e9.png")
        )
        file = client.post("/v1/files", content=body, headers=headers).json()
        disposition = client.get(f"/v1/files/{file['id']}/contents").headers["content-disposition"]
        assert "filename*=UTF-8''r%C3%A9sum%C3%A9.png" in disposition
        assert disposition.isascii()

    def test_head_sends_headers_without_a_body(self, client, stored):
        file, content = stored
        response = client.head(f"/v1/files/{file['id']}/contents")
        assert response.status_code == 200
        assert response.headers["content-length"] == str(len(content))
        assert response.headers["content-type"] == "application/pdf"
        assert "Statement 2026.pdf" in response.headers["content-disposition"]
        assert response.content == b""

    @pytest.mark.parametrize(
        ("header", "start", "end"),
        [("bytes=0-9", 0, 10), ("bytes=5-", 5, None), ("bytes=-4", -4, None), ("bytes=3-3", 3, 4)],
    )
    def test_single_byte_range(self, client, stored, header, start, end):
        file, content = stored
        response = client.get(f"/v1/files/{file['id']}/contents", headers={"Range": header})
        want = content[start:end]
        assert response.status_code == 206
        assert response.content == want
        assert response.headers["content-length"] == str(len(want))
        first = start % len(content)
        assert response.headers["content-range"] == (
            f"bytes {first}-{first + len(want) - 1}/{len(content)}"
        )

    def test_range_past_the_end_is_clamped(self, client, stored):
        file, content = stored
        response = client.get(
            f"/v1/files/{file['id']}/contents", headers={"Range": "bytes=10-99999999"}
        )
        assert response.status_code == 206
        assert response.content == content[10:]

    @pytest.mark.parametrize("header", ["bytes=99999999-", "bytes=-0"])
    def test_unsatisfiable_range_is_416(self, client, stored, header):
        file, content = stored
        response = client.get(f"/v1/files/{file['id']}/contents", headers={"Range": header})
        assert response.status_code == 416
        assert response.headers["content-range"] == f"bytes */{len(content)}"
        error = response.json()["error"]  # Stripe's envelope, as every /v1 error
        assert error["type"] == "invalid_request_error"
        assert error["message"] == (
            f"The requested range is not satisfiable: the file is {len(content)} bytes long."
        )

    @pytest.mark.parametrize("header", ["bytes=0-1,4-5", "items=0-1", "bytes=x-y"])
    def test_unsupported_range_sends_the_whole_file(self, client, stored, header):
        file, content = stored
        response = client.get(f"/v1/files/{file['id']}/contents", headers={"Range": header})
        assert response.status_code == 200
        assert response.content == content

    def test_head_with_a_range(self, client, stored):
        file, content = stored
        response = client.head(f"/v1/files/{file['id']}/contents", headers={"Range": "bytes=0-9"})
        assert response.status_code == 206
        assert response.headers["content-length"] == "10"
        assert response.content == b""

    def test_needs_a_secret_key(self, client, stored):
        file, _ = stored
        response = client.get(f"/v1/files/{file['id']}/contents", headers={"Authorization": ""})
        assert error_of(response, 401)["message"].startswith("You did not provide an API key.")

    def test_another_accounts_file_is_resource_missing(self, other_client, stored):
        file, _ = stored
        error = error_of(other_client.get(f"/v1/files/{file['id']}/contents"), 404)
        assert (error["code"], error["param"]) == ("resource_missing", "id")
        assert other_client.head(f"/v1/files/{file['id']}/contents").status_code == 404

    def test_unknown_id_is_resource_missing(self, client):
        error = error_of(client.get("/v1/files/file_nope/contents"), 404)
        assert error["message"] == "No such file upload: 'file_nope'"

    def test_expired_file_is_gone(self, client, clock, stored):
        file, _ = stored
        clock.advance(270 * DAY)
        error = error_of(client.get(f"/v1/files/{file['id']}/contents"), 404)
        assert error["code"] == "resource_missing"

    def test_file_without_a_url_cannot_be_downloaded(self, client):
        file = uploaded(client, samples.png(), "id.png", purpose="identity_document")
        assert file["url"] is None
        error = error_of(client.get(f"/v1/files/{file['id']}/contents"))
        assert error["param"] == "id"
        assert "identity_document" in error["message"]

    def test_an_identity_document_a_platform_uploaded_can_be_downloaded(self, client):
        # "Downloadable: When uploaded by Connect platform" (docs/stripe-behavior.md §11)
        connected = {"Stripe-Account": "acct_1Connected"}
        content = samples.png()
        file = uploaded(client, content, "id.png", purpose="identity_document", headers=connected)
        assert file["url"] == f"http://testserver/v1/files/{file['id']}/contents"
        response = client.get(f"/v1/files/{file['id']}/contents", headers=connected)
        assert response.status_code == 200, response.text
        assert response.content == content
        again = client.get(f"/v1/files/{file['id']}", headers=connected).json()
        assert again["url"] == file["url"]
        # ... still not linkable: the link purposes are Stripe's list, which leaves it out
        refused = client.post("/v1/file_links", data={"file": file["id"]}, headers=connected)
        assert error_of(refused)["param"] == "file"

    def test_unknown_parameter(self, client, stored):
        file, _ = stored
        response = client.get(f"/v1/files/{file['id']}/contents", params={"download": "1"})
        assert error_of(response)["code"] == "parameter_unknown"

    def test_bytes_live_in_the_files_dir(self, settings, stored):
        file, content = stored
        [path] = [p for p in Path(settings.files_dir).rglob(file["id"]) if p.is_file()]
        assert path.read_bytes() == content
        assert not any((settings.files_dir / "tmp").iterdir())


# --- staged uploads ---------------------------------------------------------------------------


class TestStagedUploads:
    def test_start_sweeps_uploads_a_crash_left_behind(self, make_client, settings):
        staging = settings.files_dir / "tmp"
        staging.mkdir(parents=True, exist_ok=True)
        stale, live = staging / "upload-stale", staging / "upload-live"
        stale.write_bytes(b"half an upload")
        live.write_bytes(b"an upload arriving now")
        two_days_ago = time.time() - 2 * DAY
        os.utime(stale, (two_days_ago, two_days_ago))
        make_client(new_key())  # another process starting on the same data dir
        assert not stale.exists()
        assert live.read_bytes() == b"an upload arriving now"
