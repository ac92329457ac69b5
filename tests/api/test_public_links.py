"""GET/HEAD /links/{token}: the public URL in `file_link.url`, served without authentication
until the link (or its file) expires; then, like any unknown token, one 404 that says nothing."""

from __future__ import annotations

import re
from urllib.parse import urlsplit

import pytest

from filelinks_api.purposes import DAY
from tests import samples
from tests.api.helpers import bearer, create_link, upload, uploaded
from tests.conftest import new_key

PDF = samples.pdf("public link")
TOKEN = re.compile(r"^[A-Za-z0-9_-]{22,}$")


@pytest.fixture
def file_id(client) -> str:
    return uploaded(client, PDF, "invoice 42.pdf")["id"]


def path_of(link: dict) -> str:
    return urlsplit(link["url"]).path


def token_of(link: dict) -> str:
    return path_of(link).removeprefix("/links/")


class TestPublicLinkUrl:
    def test_url_is_the_request_base_and_links_token(self, client, file_id):
        link = create_link(client, file_id)

        assert link["url"] == f"http://testserver/links/{token_of(link)}"

    def test_url_uses_the_configured_public_base(self, client, app, settings, file_id):
        app.state.runtime.settings = settings.model_copy(
            update={"public_url": "https://files.example.test"}
        )

        link = create_link(client, file_id)

        assert link["url"] == f"https://files.example.test/links/{token_of(link)}"

    def test_token_is_random_url_safe_and_unrelated_to_the_ids(self, client, file_id):
        link = create_link(client, file_id)
        token = token_of(link)

        assert TOKEN.match(token), token
        assert link["id"] not in token
        assert link["id"].removeprefix("link_") not in token
        assert file_id.removeprefix("file_") not in token

    def test_two_links_to_one_file_have_different_tokens(self, client, file_id):
        tokens = {token_of(create_link(client, file_id)) for _ in range(5)}

        assert len(tokens) == 5

    def test_url_stays_the_same_across_reads_and_updates(self, client, file_id):
        link = create_link(client, file_id)

        updated = client.post(f"/v1/file_links/{link['id']}", data={"metadata[a]": "1"}).json()
        listed = client.get("/v1/file_links").json()["data"][0]

        assert updated["url"] == link["url"]
        assert listed["url"] == link["url"]


class TestGetPublicLink:
    def test_streams_the_file_without_authentication(self, client, anonymous, file_id):
        link = create_link(client, file_id)

        response = anonymous.get(path_of(link))

        assert response.status_code == 200
        assert response.content == PDF
        assert response.headers["content-type"] == "application/pdf"
        assert response.headers["content-length"] == str(len(PDF))
        # a PDF opens in the browser, under its own name
        assert response.headers["content-disposition"] == 'inline; filename="invoice 42.pdf"'

    def test_ignores_any_api_key_sent_along(self, client, file_id):
        link = create_link(client, file_id)

        response = client.get(path_of(link), headers=bearer(new_key()))

        assert response.status_code == 200
        assert response.content == PDF

    def test_head_gives_the_headers_without_the_body(self, client, anonymous, file_id):
        link = create_link(client, file_id)

        response = anonymous.head(path_of(link))

        assert response.status_code == 200
        assert response.content == b""
        assert response.headers["content-type"] == "application/pdf"
        assert response.headers["content-length"] == str(len(PDF))
        assert response.headers["content-disposition"] == 'inline; filename="invoice 42.pdf"'

    def test_serves_a_byte_range(self, client, anonymous, file_id):
        link = create_link(client, file_id)

        response = anonymous.get(path_of(link), headers={"Range": "bytes=0-7"})

        assert response.status_code == 206
        assert response.content == PDF[:8]

    @pytest.mark.parametrize(
        ("header", "status", "want"),
        [
            ("bytes=-" + "9" * 5000, 206, slice(None)),  # a suffix longer than the file: all of it
            ("bytes=" + "9" * 5000 + "-", 416, None),
            ("bytes=0-" + "9" * 5000, 206, slice(None)),
            ("bytes=" + "9" * 5000 + "-" + "9" * 5000, 416, None),
            ("bytes=" + "0" * 5000 + "7-8", 206, slice(7, 9)),
        ],
        ids=["suffix", "start", "end", "both", "zeros"],
    )
    def test_a_range_with_huge_numbers_is_answered(
        self, client, anonymous, file_id, header, status, want
    ):
        link = create_link(client, file_id)

        response = anonymous.get(path_of(link), headers={"Range": header})

        assert response.status_code == status
        if want is not None:
            assert response.content == PDF[want]
        else:
            assert response.headers["content-range"] == f"bytes */{len(PDF)}"
            assert response.json()["error"]["type"] == "invalid_request_error"

    def test_each_link_serves_its_own_file(self, client, anonymous, file_id):
        image = upload(client, samples.png(), "logo.png", purpose="business_logo").json()["id"]
        pdf_link = create_link(client, file_id)
        png_link = create_link(client, image)

        png = anonymous.get(path_of(png_link))

        assert png.content == samples.png()
        assert png.headers["content-type"] == "image/png"
        assert anonymous.get(path_of(pdf_link)).content == PDF

    def test_works_until_the_second_before_expires_at(self, client, anonymous, clock, file_id):
        link = create_link(client, file_id, expires_at=clock.now() + 60)

        clock.advance(59)

        assert anonymous.get(path_of(link)).content == PDF

    def test_refuses_once_expires_at_has_passed(self, client, anonymous, clock, file_id):
        link = create_link(client, file_id, expires_at=clock.now() + 60)
        assert anonymous.get(path_of(link)).status_code == 200

        clock.advance(60)

        assert anonymous.get(path_of(link)).status_code == 404
        assert anonymous.head(path_of(link)).status_code == 404

    def test_refuses_after_expires_at_now(self, client, anonymous, file_id):
        link = create_link(client, file_id)
        assert anonymous.get(path_of(link)).status_code == 200

        client.post(f"/v1/file_links/{link['id']}", data={"expires_at": "now"})

        response = anonymous.get(path_of(link))
        assert response.status_code == 404
        assert PDF not in response.content

    def test_expires_at_empty_brings_back_a_link_that_would_have_expired(
        self, client, anonymous, clock, file_id
    ):
        link = create_link(client, file_id, expires_at=clock.now() + 60)

        client.post(f"/v1/file_links/{link['id']}", data={"expires_at": ""})
        clock.advance(3600)

        assert anonymous.get(path_of(link)).content == PDF

    def test_a_moved_expiry_is_honoured(self, client, anonymous, clock, file_id):
        link = create_link(client, file_id, expires_at=clock.now() + 60)

        client.post(f"/v1/file_links/{link['id']}", data={"expires_at": clock.now() + 3600})
        clock.advance(600)

        assert anonymous.get(path_of(link)).content == PDF

    def test_refuses_once_the_file_itself_has_expired(self, client, anonymous, clock, file_id):
        link = create_link(client, file_id)  # dispute evidence expires after 270 days

        clock.advance(270 * DAY)

        assert anonymous.get(path_of(link)).status_code == 404

    def test_expired_and_unknown_tokens_get_the_same_404(self, client, anonymous, clock, file_id):
        link = create_link(client, file_id, expires_at=clock.now() + 60)
        clock.advance(60)

        expired = anonymous.get(path_of(link))
        unknown = anonymous.get("/links/" + "A" * len(token_of(link)))

        assert expired.status_code == unknown.status_code == 404
        assert expired.content == unknown.content
        assert expired.headers["content-type"] == unknown.headers["content-type"]
        body = expired.text
        for secret in (link["id"], file_id, token_of(link)):
            assert secret not in body

    @pytest.mark.parametrize(
        "token",
        ["", "x", "link_doesnotexist", "A" * 129, "%2e%2e%2fv1%2ffiles", "a.b-c_d", "%00abc"],
    )
    def test_any_other_token_is_404(self, anonymous, token):
        response = anonymous.get(f"/links/{token}")

        assert response.status_code == 404
        assert "error" in response.json()

    def test_the_link_id_is_not_a_token(self, client, anonymous, file_id):
        link = create_link(client, file_id)

        assert anonymous.get(f"/links/{link['id']}").status_code == 404

    def test_a_prefix_of_the_token_is_not_enough(self, client, anonymous, file_id):
        link = create_link(client, file_id)

        assert anonymous.get(path_of(link)[:-1]).status_code == 404


class TestMissingContents:
    """A row whose bytes are gone (a data dir moved or cleaned by hand): a clean 404, never a
    500 in the middle of a response."""

    def test_the_contents_route_names_the_file(self, client, app, file_id):
        app.state.runtime.storage.path_for(file_id).unlink()

        got = client.get(f"/v1/files/{file_id}/contents")

        assert got.status_code == 404
        error = got.json()["error"]
        assert (error["type"], error["code"], error["param"]) == (
            "invalid_request_error",
            "resource_missing",
            "id",
        )
        assert file_id in error["message"]

    def test_the_public_link_says_nothing_more(self, client, anonymous, app, file_id):
        link = create_link(client, file_id)
        app.state.runtime.storage.path_for(file_id).unlink()

        got = anonymous.get(path_of(link))

        assert got.status_code == 404
        assert file_id not in got.text
        assert got.json() == anonymous.get("/links/no-such-token").json()


class TestDisposition:
    """Stripe's headers for a link URL are unknown: a PDF or an image opens in the browser,
    anything else downloads, each under its own name (RFC 6266)."""

    @pytest.mark.parametrize(
        ("content", "filename", "purpose", "mime"),
        [
            (samples.pdf(), "a.pdf", "dispute_evidence", "application/pdf"),
            (samples.png(), "a.png", "business_logo", "image/png"),
            (samples.jpeg(), "a.jpg", "dispute_evidence", "image/jpeg"),
            (samples.gif(), "a.gif", "business_icon", "image/gif"),
            (samples.svg(), "a.svg", "customer_signature", "image/svg+xml"),
        ],
    )
    def test_a_type_a_browser_shows_is_inline(
        self, client, anonymous, content, filename, purpose, mime
    ):
        link = create_link(client, uploaded(client, content, filename, purpose=purpose)["id"])

        response = anonymous.get(path_of(link))

        assert response.status_code == 200
        assert response.headers["content-type"] == mime
        assert response.headers["content-disposition"] == f'inline; filename="{filename}"'
        assert response.headers["x-content-type-options"] == "nosniff"

    @pytest.mark.parametrize(
        ("content", "filename", "purpose"),
        [
            (samples.csv(), "a.csv", "tax_document_user_upload"),
            (samples.docx(), "a.docx", "tax_document_user_upload"),
            (samples.xlsx(), "a.xlsx", "tax_document_user_upload"),
            (samples.json_doc(), "a.json", "issuing_regulatory_reporting"),
            (samples.apk(), "a.apk", "terminal_android_apk"),
        ],
    )
    def test_anything_else_is_an_attachment(self, client, anonymous, content, filename, purpose):
        link = create_link(client, uploaded(client, content, filename, purpose=purpose)["id"])

        response = anonymous.head(path_of(link))

        assert response.status_code == 200
        assert response.headers["content-disposition"] == f'attachment; filename="{filename}"'
        assert "content-security-policy" not in response.headers

    def test_an_inline_image_cannot_run_a_script(self, client, anonymous):
        link = create_link(
            client, uploaded(client, samples.svg(), "a.svg", purpose="customer_signature")["id"]
        )
        policy = anonymous.get(path_of(link)).headers["content-security-policy"]
        assert policy.startswith("sandbox;")
        assert "default-src 'none'" in policy

    def test_a_pdf_is_not_sandboxed(self, client, anonymous, file_id):
        # Chromium's PDF viewer does not run in a sandboxed document
        response = anonymous.get(path_of(create_link(client, file_id)))
        assert "content-security-policy" not in response.headers

    def test_a_non_ascii_name_has_an_ascii_fallback_and_filename_star(self, client, anonymous):
        name = "r\u00e9sum\u00e9 \u65e5\u672c.png"
        file = uploaded(client, samples.png(), name, purpose="business_logo")
        response = anonymous.get(path_of(create_link(client, file["id"])))
        disposition = response.headers["content-disposition"]
        assert disposition == (
            "inline; filename=\"r_sum_ __.png\"; filename*=UTF-8''r%C3%A9sum%C3%A9%20%E6%97%A5%E6%9C%AC.png"
        )
        assert disposition.isascii()

    def test_a_percent_sign_stays_out_of_the_quoted_name(self, client, anonymous):
        file = uploaded(client, PDF, "100%.pdf")
        response = anonymous.get(path_of(create_link(client, file["id"])))
        assert response.headers["content-disposition"] == (
            "inline; filename=\"100_.pdf\"; filename*=UTF-8''100%25.pdf"
        )

    def test_the_apis_contents_url_still_downloads(self, client, file_id):
        # file.url needs the API key: a program fetches it, and gets an attachment
        response = client.get(f"/v1/files/{file_id}/contents")
        assert response.headers["content-disposition"] == 'attachment; filename="invoice 42.pdf"'
