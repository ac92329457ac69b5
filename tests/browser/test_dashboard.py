"""The dashboard in a real browser, used as a person uses it: sign in with a key, make requests
with the real `stripe` SDK, then read, click and type on the pages and see what changed.

Every test has a key of its own, so an account of its own, on the one server of the package.
"""

from __future__ import annotations

import re
import time
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import httpx
import pytest
import stripe

from tests import samples
from tests.browser.conftest import Visit, expect, new_visit
from tests.browser.flows import sdk_session, sign_in, sign_out, stripe_sdk, upload
from tests.conftest import new_key
from tests.e2e.conftest import Server, start_server

if TYPE_CHECKING:
    from playwright.sync_api import Browser, Locator, Page

FROZEN_AT = 1_893_499_200  # 2030-01-01 12:00:00 UTC
PDF_VIEWER = "chrome-extension://mhjfbmdgcfjbbpaeojofohoefgiehjai/"  # Chromium's own


def link_row(page: Page, link_id: str) -> Locator:
    return page.locator(f'tr[data-link="{link_id}"]')


def wait_for_frame(page: Page, prefix: str, timeout: float = 10.0) -> None:
    """Until a frame of the page shows a URL starting with `prefix`."""
    deadline = time.monotonic() + timeout
    while True:
        urls = [frame.url for frame in page.frames]
        if any(url.startswith(prefix) for url in urls):
            return
        if time.monotonic() > deadline:
            raise AssertionError(f"no frame at {prefix}: {urls}")
        page.wait_for_timeout(100)


def freeze_clock(page: Page, moment: str) -> None:
    page.goto("/dashboard/clock")
    page.get_by_label("or at (UTC)").fill(moment)
    page.get_by_role("button", name="Freeze at this time").click()


class TestSignIn:
    def test_a_page_asks_for_a_key_then_opens(self, visit: Visit, api_key: str) -> None:
        page = visit.page
        page.goto("/dashboard/clock")
        expect(page).to_have_url(re.compile(r"/dashboard/signin\?next=%2Fdashboard%2Fclock$"))
        expect(page.get_by_role("heading", name="Sign in")).to_be_visible()
        page.get_by_label("API key").fill(api_key)
        page.get_by_role("button", name="Sign in").click()
        expect(page).to_have_url(re.compile(r"/dashboard/clock$"))
        expect(page.get_by_role("heading", name="Clock")).to_be_visible()

    def test_a_wrong_key_gets_stripes_message_and_is_not_kept(self, visit: Visit) -> None:
        page = visit.page
        page.goto("/dashboard/signin")
        page.get_by_label("API key").fill("sk_test_has a space")
        page.get_by_role("button", name="Sign in").click()
        expect(page.get_by_role("alert")).to_contain_text("This key contains at least one space")
        expect(page.get_by_label("API key")).to_have_value("")
        page.get_by_label("API key").fill("pk_test_publishable123")
        page.get_by_role("button", name="Sign in").click()
        expect(page.get_by_role("alert")).to_contain_text("Please use a secret API key")
        page.goto("/dashboard")
        expect(page).to_have_url(re.compile(r"/dashboard/signin$"))

    def test_the_key_is_masked_and_kept_in_a_strict_httponly_cookie(
        self, page: Page, api_key: str
    ) -> None:
        expect(page.locator(".key")).to_have_text(re.compile(r"\*{4,}" + api_key[-4:] + "$"))
        expect(page.locator(".mode")).to_have_text("test mode")
        assert api_key not in page.content()
        (cookie,) = page.context.cookies()
        assert cookie["httpOnly"] is True
        assert cookie["sameSite"] == "Strict"
        assert cookie["path"] == "/dashboard"
        assert cookie["expires"] == -1  # gone with the browser session
        assert page.evaluate("document.cookie") == ""

    def test_signing_out_ends_the_session(self, page: Page, api_key: str) -> None:
        sign_out(page)
        expect(page.get_by_role("status")).to_have_text("You are signed out.")
        assert all(api_key not in cookie["value"] for cookie in page.context.cookies())
        page.goto("/dashboard/files")
        expect(page).to_have_url(re.compile(r"/dashboard/signin\?next="))

    def test_a_stripe_account_shows_that_connected_account_only(
        self, visit: Visit, server: Server, api_key: str, tmp_path: Path
    ) -> None:
        with stripe_sdk(server.url, api_key):
            mine = upload(tmp_path / "mine.png", samples.png())
            with (tmp_path / "mine.png").open("rb") as handle:
                theirs = stripe.File.create(
                    purpose="dispute_evidence", file=handle, stripe_account="acct_Connected1"
                )
        page = visit.page
        sign_in(page, api_key, stripe_account="acct_Connected1")
        expect(page.locator(".key")).to_contain_text("acct_Connected1")
        page.goto("/dashboard/files")
        expect(page.get_by_text(theirs.id)).to_be_visible()
        expect(page.get_by_text(mine.id)).to_have_count(0)


@pytest.fixture(scope="module")
def strict(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    """A server that accepts only the keys in FILELINKS_API_KEYS."""
    keys = "sk_test_configuredkey0001=acct_Configured1"
    running = start_server(
        tmp_path_factory.mktemp("strict") / "data", extra_env={"FILELINKS_API_KEYS": keys}
    )
    try:
        yield running
    finally:
        running.stop()


class TestStrictMode:
    def test_only_a_configured_key_signs_in(self, browser: Browser, strict: Server) -> None:
        with new_visit(browser, strict.url) as seen:
            page = seen.page
            page.goto("/dashboard/signin")
            expect(page.get_by_text("only the keys set in FILELINKS_API_KEYS")).to_be_visible()
            page.get_by_label("API key").fill("sk_test_anything")
            page.get_by_role("button", name="Sign in").click()
            expect(page.get_by_role("alert")).to_contain_text("Invalid API Key provided")
            sign_in(page, "sk_test_configuredkey0001")
            expect(page.get_by_role("heading", name="Home")).to_be_visible()

    def test_a_session_whose_key_is_no_longer_configured_signs_in_again(
        self, browser: Browser, strict: Server
    ) -> None:
        # As after a restart with another FILELINKS_API_KEYS: the cookie's key is refused.
        cookie = f"v1.{'s' * 43}.sk_test_removedkey0001"
        with new_visit(browser, strict.url) as seen:
            seen.page.context.add_cookies(
                [{"name": "filelinks_dashboard", "value": cookie, "url": strict.url + "/dashboard"}]
            )
            seen.page.goto("/dashboard/files")
            expect(seen.page).to_have_url(
                re.compile(r"/dashboard/signin\?next=%2Fdashboard%2Ffiles$")
            )
            expect(seen.page.get_by_label("API key")).to_be_visible()


class TestHome:
    def test_shows_recent_requests_failures_files_and_links(
        self, page: Page, sdk: None, tmp_path: Path
    ) -> None:
        session = sdk_session(tmp_path)
        page.reload()
        health = page.get_by_test_id("health")
        expect(health).to_contain_text("Failing")
        expect(health).to_contain_text("1 of the last 5 requests failed")
        expect(health).to_contain_text("No such file upload: 'file_doesnotexist'")
        recent = page.locator("table.requests tbody tr")
        expect(recent).to_have_count(5)
        expect(recent.first).to_contain_text("400")
        expect(recent.first).to_contain_text("POST /v1/file_links")
        expect(recent.last).to_contain_text("POST /v1/files")
        cards = page.locator(".cards")
        expect(cards.locator(".summary", has_text="Files")).to_contain_text("2")
        expect(cards.locator(".summary", has_text="File links")).to_contain_text("1 active")
        expect(cards.locator(".summary", has_text="File links")).to_contain_text("0 expired")
        expect(page.get_by_role("link", name="receipt.png")).to_be_visible()
        expect(page.get_by_role("link", name="evidence.pdf")).to_be_visible()
        page.get_by_role("link", name=re.compile(r"1 client error")).click()
        expect(page.locator("table.requests tbody tr")).to_have_count(1)
        assert session.link.id

    def test_says_all_is_well_without_errors(self, page: Page, sdk: None, tmp_path: Path) -> None:
        upload(tmp_path / "a.png", samples.png())
        page.reload()
        expect(page.get_by_test_id("health")).to_contain_text("No errors in the last 1 requests")

    def test_a_screenshot_of_it_can_be_taken(self, page: Page, sdk: None, tmp_path: Path) -> None:
        sdk_session(tmp_path)
        page.set_viewport_size({"width": 1280, "height": 800})
        page.reload()
        shot = tmp_path / "dashboard.png"
        page.screenshot(path=str(shot), full_page=True)
        assert shot.read_bytes().startswith(b"\x89PNG")


class TestLogs:
    def test_lists_the_sdks_requests_and_filters_them(
        self, page: Page, sdk: None, tmp_path: Path
    ) -> None:
        sdk_session(tmp_path)
        page.goto("/dashboard/logs")
        rows = page.locator("table.requests tbody tr")
        expect(rows).to_have_count(5)
        expect(rows.first).to_contain_text("POST /v1/file_links")
        expect(rows.first).to_contain_text("No such file upload")
        expect(rows.first).to_have_class(re.compile(r"\bfailed\b"))
        expect(page.locator("td.client").first).to_contain_text("stripe-python/")

        page.get_by_label("Method").select_option("GET")
        page.get_by_role("button", name="Filter").click()
        expect(rows).to_have_count(1)
        expect(rows.first).to_contain_text("GET /v1/file_links")
        expect(rows.first).to_contain_text("limit=3")

        page.get_by_label("Method").select_option("")
        page.get_by_label("Status").select_option("4xx")
        page.get_by_role("button", name="Filter").click()
        expect(rows).to_have_count(1)

        page.get_by_label("Status").select_option("2xx")
        page.get_by_label("Path starts with").fill("/v1/files")
        page.get_by_role("button", name="Filter").click()
        expect(rows).to_have_count(2)
        expect(page).to_have_url(re.compile(r"path=%2Fv1%2Ffiles"))

    def test_an_errors_request_log_url_opens_its_page(
        self, page: Page, sdk: None, tmp_path: Path
    ) -> None:
        error = sdk_session(tmp_path).error
        url = error.error.request_log_url
        assert url == f"{page.url.rsplit('/dashboard', 1)[0]}/dashboard/logs/{error.request_id}"
        page.goto(url)
        expect(page.get_by_role("heading", name="POST /v1/file_links")).to_be_visible()
        alert = page.get_by_test_id("request-error")
        expect(alert).to_contain_text("No such file upload: 'file_doesnotexist'")
        expect(alert).to_contain_text("resource_missing")
        expect(page.get_by_test_id("request-json")).to_contain_text('"file": "file_doesnotexist"')
        response = page.get_by_test_id("response-json")
        expect(response).to_contain_text('"type": "invalid_request_error"')
        expect(response).to_contain_text(url)

    def test_a_request_log_url_from_another_site_opens_once_signed_in(
        self, page: Page, sdk: None, tmp_path: Path
    ) -> None:
        url = sdk_session(tmp_path).error.error.request_log_url
        # A link on another site's page (a CI log): the SameSite=Strict cookie is not sent on
        # that navigation, so the dashboard has the browser load the page again from itself.
        page.goto("about:blank")
        page.set_content(f'<a href="{url}">the failed request</a>')
        page.get_by_role("link", name="the failed request").click()
        expect(page).to_have_url(url)
        expect(page.get_by_test_id("request-error")).to_contain_text("No such file upload")

    def test_an_upload_shows_its_file_summary_and_links_to_the_file(
        self, page: Page, sdk: None, tmp_path: Path
    ) -> None:
        uploaded = upload(tmp_path / "receipt.png", samples.png())
        page.goto("/dashboard/logs")
        page.get_by_role("link", name="POST /v1/files").click()
        params = page.get_by_test_id("request-json")
        expect(params).to_contain_text(re.compile(r'"filename": ".*receipt\.png"'))
        expect(params).to_contain_text('"sha256"')
        expect(page.get_by_test_id("response-json")).to_contain_text(uploaded.id)
        page.get_by_role("link", name=uploaded.id).click()
        expect(page.get_by_role("heading", name="receipt.png")).to_be_visible()

    def test_an_idempotent_replay_stands_out(self, page: Page, sdk: None, tmp_path: Path) -> None:
        pdf = upload(tmp_path / "e.pdf", samples.pdf())
        for _ in range(2):
            stripe.FileLink.create(file=pdf.id, idempotency_key="order-6735-link")
        page.goto("/dashboard/logs")
        replayed = page.locator("table.requests tbody tr.replayed")
        expect(replayed).to_have_count(1)
        expect(replayed).to_contain_text("replayed")
        page.get_by_label("Idempotency key").fill("order-6735-link")
        page.get_by_role("button", name="Filter").click()
        expect(page.locator("table.requests tbody tr")).to_have_count(2)
        replayed.get_by_role("link").click()
        expect(page.get_by_test_id("replayed")).to_contain_text("Idempotent replay")

    def test_a_bad_filter_shows_the_apis_message(self, page: Page) -> None:
        page.goto("/dashboard/logs?status=abc")
        expect(page.get_by_role("alert")).to_contain_text("Invalid status")


class TestFiles:
    def test_lists_uploads_and_filters_by_purpose(
        self, page: Page, sdk: None, tmp_path: Path
    ) -> None:
        evidence = upload(tmp_path / "evidence.pdf", samples.pdf())
        logo = upload(tmp_path / "logo.png", samples.png(), purpose="business_logo")
        page.goto("/dashboard/files")
        rows = page.locator("table.files tbody tr")
        expect(rows).to_have_count(2)
        page.get_by_label("Purpose").select_option("business_logo")
        page.get_by_role("button", name="Filter").click()
        expect(rows).to_have_count(1)
        expect(rows.first).to_contain_text(logo.id)
        expect(page.get_by_text(evidence.id)).to_have_count(0)

    def test_shows_an_images_facts_and_preview(self, page: Page, sdk: None, tmp_path: Path) -> None:
        image = upload(tmp_path / "receipt.png", samples.png(40, 30))
        page.goto("/dashboard/files")
        page.get_by_role("link", name="receipt.png").click()
        facts = page.locator("dl.facts")
        expect(facts).to_contain_text("dispute_evidence")
        expect(facts).to_contain_text("png")
        expect(facts).to_contain_text(f"{image.size} bytes")
        expect(facts).to_contain_text(
            re.compile(r"Expires\s*\d{4}-\d\d-\d\d .*\(in (269 d 23 h|270 d)\)")
        )
        preview = page.get_by_role("img", name="Preview of receipt.png")
        expect(preview).to_be_visible()
        page.wait_for_function("document.querySelector('.preview img').complete")
        assert preview.evaluate("img => [img.naturalWidth, img.naturalHeight]") == [40, 30]

    def test_previews_a_pdf_in_the_browsers_viewer(
        self, page: Page, sdk: None, tmp_path: Path
    ) -> None:
        pdf = upload(tmp_path / "evidence.pdf", samples.pdf("Dispute evidence"))
        with page.expect_response(re.compile(r"/contents$")) as contents:
            page.goto(f"/dashboard/files/{pdf.id}")
        response = contents.value
        assert response.status == 200
        assert response.headers["content-type"] == "application/pdf"
        assert response.headers["content-disposition"].startswith("inline;")
        expect(page.locator(".preview iframe")).to_have_attribute(
            "title", "Preview of evidence.pdf"
        )
        wait_for_frame(page, PDF_VIEWER)  # shown by Chromium's PDF viewer, not downloaded

    def test_another_keys_file_is_not_found(
        self, page: Page, server: Server, tmp_path: Path
    ) -> None:
        with stripe_sdk(server.url, new_key()):
            foreign = upload(tmp_path / "theirs.png", samples.png())
        page.goto("/dashboard/files")
        expect(page.get_by_text("No files.")).to_be_visible()
        page.goto(f"/dashboard/files/{foreign.id}")
        expect(page.get_by_role("alert")).to_contain_text(f"No such file upload: '{foreign.id}'")
        response = page.request.get(f"/dashboard/files/{foreign.id}/contents")
        assert response.status == 404
        assert b"PNG" not in response.body()


class TestFileLinks:
    def test_an_active_link_shows_its_time_left_and_copies_its_url(
        self, page: Page, sdk: None, tmp_path: Path, server: Server
    ) -> None:
        freeze_clock(page, "2030-01-01T12:00")
        pdf = upload(tmp_path / "evidence.pdf", samples.pdf())
        link = stripe.FileLink.create(file=pdf.id, expires_at=FROZEN_AT + 5400)
        page.context.grant_permissions(["clipboard-read", "clipboard-write"], origin=server.url)
        page.goto("/dashboard/file_links")
        row = link_row(page, link.id)
        expect(row.locator(".badge")).to_have_text("Active")
        expect(row.locator(".expiry")).to_have_text("expires in 1 h 30 min")
        expect(row).to_contain_text("evidence.pdf")
        row.get_by_role("button", name="Copy").click()
        expect(row.get_by_role("button", name="Copied")).to_be_visible()
        assert page.evaluate("navigator.clipboard.readText()") == link.url

    def test_expire_now_flips_a_link_to_expired(
        self, page: Page, sdk: None, tmp_path: Path
    ) -> None:
        pdf = upload(tmp_path / "evidence.pdf", samples.pdf())
        link = stripe.FileLink.create(file=pdf.id)
        assert httpx.get(link.url).status_code == 200
        page.goto("/dashboard/file_links")
        row = link_row(page, link.id)
        expect(row.locator(".expiry")).to_have_text("never expires")
        row.get_by_role("button", name="Expire now").click()
        expect(page.get_by_role("status")).to_have_text(f"File link {link.id} expired.")
        expect(row.locator(".badge")).to_have_text("Expired")
        expect(row.locator(".expiry")).to_have_text(re.compile(r"^expired (now|\d+ s ago)$"))
        expect(row.get_by_role("button", name="Expire now")).to_have_count(0)
        assert stripe.FileLink.retrieve(link.id).expired is True
        assert httpx.get(link.url).status_code == 404
        page.get_by_label("Show").select_option("active")
        page.get_by_role("button", name="Filter").click()
        expect(page.get_by_text("No file links match these filters.")).to_be_visible()

    def test_creates_a_link_from_the_links_page(
        self, page: Page, sdk: None, tmp_path: Path
    ) -> None:
        freeze_clock(page, "2030-01-01T12:00")
        pdf = upload(tmp_path / "evidence.pdf", samples.pdf())
        page.goto("/dashboard/file_links")
        page.get_by_text("Create a file link").click()
        page.get_by_label("File", exact=True).fill(pdf.id)
        page.get_by_label("Expires in").fill("2")
        page.get_by_label("Unit").select_option("days")
        page.get_by_label("Metadata (key=value, one per line)").fill("order_id=6735\nshop=berlin")
        page.get_by_role("button", name="Create link").click()
        expect(page.get_by_role("status")).to_contain_text("created")
        (created,) = stripe.FileLink.list(file=pdf.id).data
        assert created.expires_at == FROZEN_AT + 2 * 86400
        assert created.metadata.to_dict() == {"order_id": "6735", "shop": "berlin"}
        row = link_row(page, created.id)
        expect(row).to_have_class(re.compile(r"\bhighlight\b"))
        expect(row.locator(".expiry")).to_have_text("expires in 2 d")
        expect(row.locator(".metadata li")).to_have_text(["order_id = 6735", "shop = berlin"])

    def test_creates_a_link_from_the_files_page(
        self, page: Page, sdk: None, tmp_path: Path
    ) -> None:
        image = upload(tmp_path / "receipt.png", samples.png())
        page.goto(f"/dashboard/files/{image.id}")
        expect(page.get_by_text("No links to this file yet.")).to_be_visible()
        page.get_by_text("Create a link to this file").click()
        page.get_by_role("button", name="Create link").click()
        expect(page.get_by_role("status")).to_have_text("File link created.")
        rows = page.locator("table.links tbody tr")
        expect(rows).to_have_count(1)
        expect(rows.first).to_contain_text("never expires")
        assert [link.file for link in stripe.FileLink.list().data] == [image.id]

    def test_edits_metadata(self, page: Page, sdk: None, tmp_path: Path) -> None:
        pdf = upload(tmp_path / "evidence.pdf", samples.pdf())
        link = stripe.FileLink.create(file=pdf.id, metadata={"order_id": "6735", "old": "x"})
        page.goto("/dashboard/file_links")
        row = link_row(page, link.id)
        row.get_by_text("Edit metadata").click()
        editor = row.get_by_label(f"Metadata of {link.id}")
        expect(editor).to_have_value("order_id=6735\nold=x\n")
        editor.fill("order_id=6736\nnote=refund sent")
        row.get_by_role("button", name="Save metadata").click()
        expect(page.get_by_role("status")).to_have_text(f"Metadata of {link.id} saved.")
        expect(row.locator(".metadata li")).to_have_text(["order_id = 6736", "note = refund sent"])
        retrieved = stripe.FileLink.retrieve(link.id).metadata.to_dict()
        assert retrieved == {"order_id": "6736", "note": "refund sent"}

    def test_bad_input_shows_the_stripe_error_on_the_page(
        self, page: Page, sdk: None, tmp_path: Path
    ) -> None:
        pdf = upload(tmp_path / "evidence.pdf", samples.pdf())
        link = stripe.FileLink.create(file=pdf.id)
        page.goto("/dashboard/file_links")
        page.get_by_text("Create a file link").click()
        page.get_by_label("File", exact=True).fill("file_doesnotexist")
        page.get_by_role("button", name="Create link").click()
        expect(page.get_by_role("alert")).to_contain_text(
            "No such file upload: 'file_doesnotexist'"
        )
        expect(page.get_by_label("File", exact=True)).to_have_value("file_doesnotexist")

        row = link_row(page, link.id)
        row.get_by_text("Edit metadata").click()
        row.get_by_label(f"Metadata of {link.id}").fill("k" * 41 + "=v")
        row.get_by_role("button", name="Save metadata").click()
        expect(page.get_by_role("alert")).to_contain_text("Metadata keys can have up to 40")
        expect(row.get_by_label(f"Metadata of {link.id}")).to_have_value("k" * 41 + "=v")
        assert stripe.FileLink.retrieve(link.id).metadata.to_dict() == {}


class TestClock:
    def test_freezing_and_advancing_moves_link_expiry(
        self, page: Page, sdk: None, tmp_path: Path
    ) -> None:
        freeze_clock(page, "2030-01-01T12:00")
        expect(page.get_by_role("status")).to_have_text("The clock is frozen.")
        expect(page.get_by_test_id("account-time")).to_have_text("2030-01-01 12:00:00 UTC")
        expect(page.get_by_test_id("clock-mode")).to_contain_text("Frozen")
        expect(page.locator(".account-time")).to_contain_text("frozen")

        pdf = upload(tmp_path / "evidence.pdf", samples.pdf())
        link = stripe.FileLink.create(file=pdf.id, expires_at=FROZEN_AT + 3600)
        page.goto("/dashboard/file_links")
        expect(link_row(page, link.id).locator(".expiry")).to_have_text("expires in 1 h")

        page.get_by_role("link", name="Clock").click()
        page.get_by_label("Advance by").fill("2")
        page.get_by_role("button", name="Advance", exact=True).click()
        expect(page.get_by_test_id("account-time")).to_have_text("2030-01-01 14:00:00 UTC")

        page.get_by_role("link", name="File links").click()
        row = link_row(page, link.id)
        expect(row.locator(".badge")).to_have_text("Expired")
        expect(row.locator(".expiry")).to_have_text("expired 1 h ago")
        assert stripe.FileLink.retrieve(link.id).expired is True

    def test_reset_goes_back_to_real_time(self, page: Page) -> None:
        page.goto("/dashboard/clock")
        expect(page.get_by_test_id("clock-mode")).to_contain_text("Real time")
        page.get_by_role("button", name="Freeze now").click()
        expect(page.get_by_test_id("clock-mode")).to_contain_text("Frozen")
        page.get_by_role("button", name="Reset to real time").click()
        expect(page.get_by_role("status")).to_have_text("The clock is back to real time.")
        expect(page.get_by_test_id("clock-mode")).to_contain_text("Real time")

    def test_a_bad_date_shows_the_error(self, page: Page) -> None:
        page.goto("/dashboard/clock")
        page.get_by_label("or at (UTC)").fill("")
        page.get_by_role("button", name="Freeze at this time").click()
        expect(page.get_by_role("alert")).to_contain_text("Missing required param: frozen_at.")


class TestCsrf:
    def test_a_post_without_the_forms_token_is_refused(
        self, page: Page, sdk: None, tmp_path: Path
    ) -> None:
        link = stripe.FileLink.create(file=upload(tmp_path / "e.pdf", samples.pdf()).id)
        url = f"/dashboard/file_links/{link.id}/expire"
        # The session cookie goes along (same browser context); only the token is missing.
        for form in ({}, {"csrf_token": "0" * 64}):
            response = page.request.post(url, form=form, max_redirects=0)
            assert response.status == 403
            assert "did not come from this dashboard" in response.text()
        assert stripe.FileLink.retrieve(link.id).expired is False

    def test_another_sites_form_cannot_act(
        self, page: Page, sdk: None, tmp_path: Path, server: Server
    ) -> None:
        link = stripe.FileLink.create(file=upload(tmp_path / "e.pdf", samples.pdf()).id)
        page.goto("about:blank")  # another site's page: an origin of its own
        page.set_content(
            f'<form method="post" action="{server.url}/dashboard/file_links/{link.id}/expire">'
            '<input type="hidden" name="csrf_token" value="guess"><button>Win a prize</button>'
            "</form>"
        )
        page.get_by_role("button", name="Win a prize").click()
        # No cookie came along: off to the sign-in page, which loads itself again from this
        # site, where the cookie does come along: still signed in, on the dashboard.
        expect(page).to_have_url(re.compile(r"/dashboard$"))
        assert stripe.FileLink.retrieve(link.id).expired is False

    def test_a_token_from_before_sign_in_is_worthless_after(self, page: Page) -> None:
        page.goto("/dashboard/clock")
        token = page.locator('input[name="csrf_token"]').first.input_value()
        sign_out(page)
        page.goto("/dashboard/signin")
        before = page.locator('input[name="csrf_token"]').input_value()
        assert before != token
        response = page.request.post("/dashboard/signout", form={"csrf_token": token})
        assert response.status == 403


class TestIsolation:
    def test_another_keys_objects_and_requests_are_never_shown(
        self, page: Page, server: Server, tmp_path: Path
    ) -> None:
        other = new_key()
        with stripe_sdk(server.url, other):
            foreign = sdk_session(tmp_path)
        for path in ("/dashboard", "/dashboard/logs", "/dashboard/files", "/dashboard/file_links"):
            page.goto(path)
            content = page.content()
            for object_id in (foreign.image.id, foreign.pdf.id, foreign.link.id):
                assert object_id not in content, (path, object_id)
            assert foreign.error.request_id not in content
        page.goto(f"/dashboard/logs/{foreign.error.request_id}")
        expect(page.get_by_role("alert")).to_contain_text("No such request log entry")
        page.goto(f"/dashboard/file_links?file={foreign.pdf.id}")
        expect(page.get_by_text("No file links match these filters.")).to_be_visible()


class TestServing:
    def test_every_page_needs_nothing_from_outside(
        self, visit: Visit, api_key: str, sdk: None, tmp_path: Path
    ) -> None:
        session = sdk_session(tmp_path)
        sign_in(visit.page, api_key)
        for path in (
            "/dashboard",
            "/dashboard/logs",
            f"/dashboard/logs/{session.error.request_id}",
            "/dashboard/files",
            f"/dashboard/files/{session.image.id}",
            "/dashboard/file_links",
            "/dashboard/clock",
        ):
            visit.page.goto(path, wait_until="networkidle")
        assert visit.blocked == []
        # The browser fetches the icon late, and drops that fetch when the next page opens.
        dropped = re.compile(r"/dashboard/assets/favicon\.svg\?v=\w+: net::ERR_ABORTED$")
        assert [failure for failure in visit.failed if not dropped.search(failure)] == []
        assert visit.errors == []

    def test_an_unknown_page_says_so_in_a_page(self, page: Page) -> None:
        response = page.goto("/dashboard/nothing/here")
        assert response is not None
        assert response.status == 404
        expect(page.get_by_role("alert")).to_contain_text("no dashboard page at /dashboard/nothing")
        page.goto("/dashboard/")
        expect(page).to_have_url(re.compile(r"/dashboard$"))

    def test_is_not_served_without_the_emulator_controls(self, tmp_path: Path) -> None:
        off = start_server(tmp_path / "data", extra_env={"FILELINKS_EMULATOR_CONTROLS": "false"})
        try:
            for path in ("/dashboard", "/dashboard/signin", "/dashboard/assets/dashboard.css"):
                response = httpx.get(off.url + path, follow_redirects=False)
                assert response.status_code == 404
                assert "Unrecognized request URL" in response.json()["error"]["message"]
        finally:
            off.stop()


class TestPageWidth:
    """No page is wider than the window, at a laptop's width or a phone's: long text wraps,
    JSON boxes scroll inside themselves, tables fit."""

    WIDTHS = (1280, 390)

    def long_session(self, tmp_path: Path) -> str:
        """A session with long values everywhere; returns the request id of the long error."""
        session = sdk_session(tmp_path)
        stripe.FileLink.create(
            file=session.image.id,
            metadata={"note": "n" * 400, "order_id_of_a_rather_long_key_name": "6735"},
        )
        with pytest.raises(stripe.InvalidRequestError) as long_error:
            stripe.FileLink.create(file="file_" + "y" * 3000, metadata={"k": "v" * 480})
        with pytest.raises(stripe.InvalidRequestError):  # the home page's latest error
            stripe.FileLink.retrieve("link_" + "x" * 600)
        assert long_error.value.request_id is not None
        return long_error.value.request_id

    def overflow(self, page: Page) -> int:
        """How many pixels the page is wider than the window (0: it fits)."""
        return int(
            page.evaluate(
                "document.documentElement.scrollWidth - document.documentElement.clientWidth"
            )
        )

    def test_no_page_scrolls_sideways(self, page: Page, sdk: None, tmp_path: Path) -> None:
        request_id = self.long_session(tmp_path)
        file_id = stripe.File.list(limit=1).data[0].id
        pages = [
            "/dashboard",
            "/dashboard/logs",
            f"/dashboard/logs/{request_id}",
            "/dashboard/files",
            f"/dashboard/files/{file_id}",
            "/dashboard/file_links",
            "/dashboard/clock",
        ]
        wide = {}
        for width in self.WIDTHS:
            page.set_viewport_size({"width": width, "height": 800})
            for path in pages:
                page.goto(path)
                if excess := self.overflow(page):
                    wide[f"{path} at {width} px"] = excess
                for index, table in enumerate(page.locator("table").all()):
                    if excess := table.evaluate("t => t.scrollWidth - t.clientWidth"):
                        wide[f"table {index} of {path} at {width} px"] = excess
        assert wide == {}

    def test_a_long_json_box_scrolls_inside_itself(
        self, page: Page, sdk: None, tmp_path: Path
    ) -> None:
        request_id = self.long_session(tmp_path)
        page.set_viewport_size({"width": 1280, "height": 800})
        page.goto(f"/dashboard/logs/{request_id}")
        box = page.get_by_test_id("request-json")
        inner = box.evaluate("box => [box.scrollWidth, box.clientWidth]")
        assert inner[0] > inner[1]  # the long line stays whole; the box scrolls
        assert box.bounding_box()["width"] < 1280 / 2
        expect(page.get_by_test_id("request-error")).to_contain_text("y" * 100)
