"""The dashboard's Faults page in a real browser: add a rule with the form, watch the SDK's
requests meet it, see it spent and the log rows marked, remove it."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import pytest
import stripe

from tests import samples
from tests.browser.conftest import Visit, expect
from tests.browser.flows import upload

if TYPE_CHECKING:
    from playwright.sync_api import Page


def test_a_rule_added_on_the_page_fails_the_sdks_request_then_is_removed(
    page: Page, visit: Visit, sdk: None, tmp_path: Path
) -> None:
    pdf = upload(tmp_path / "evidence.pdf", samples.pdf())
    page.get_by_role("link", name="Faults").click()
    expect(page.get_by_text("No fault rules")).to_be_visible()

    form = page.get_by_test_id("add-fault")
    form.get_by_label("Method").select_option("POST")
    form.get_by_label("Path starts with").fill("/v1/file_links")
    form.get_by_label("Status").fill("503")
    form.get_by_role("button", name="Add rule").click()
    expect(page.get_by_role("status")).to_contain_text("added")
    row = page.locator("tr[data-fault]")
    expect(row).to_have_count(1)
    expect(row).to_contain_text("503")
    expect(row).to_contain_text("Test mode requests are temporarily disabled")
    expect(row.locator(".num")).to_have_text("1 of 1")

    with pytest.raises(stripe.APIError) as raised:
        stripe.FileLink.create(file=pdf.id)  # no retries here: the 503 reaches the caller
    assert raised.value.http_status == 503
    assert raised.value.headers["Stripe-Should-Retry"] == "true"

    page.reload()
    expect(row.locator(".num")).to_contain_text("0 of 1")
    expect(row.locator(".num")).to_contain_text("spent")

    page.get_by_role("link", name="Logs").click()
    failed = page.locator("table.requests tbody tr").first
    expect(failed.locator(".badge.fault")).to_have_text("fault: error")
    failed.get_by_role("link").click()
    expect(page.get_by_test_id("fault")).to_contain_text("The error below was injected.")

    page.get_by_role("link", name="Faults").click()
    page.get_by_role("button", name="Remove", exact=True).click()
    expect(page.get_by_role("status")).to_contain_text("removed")
    expect(page.get_by_text("No fault rules")).to_be_visible()
    assert stripe.FileLink.create(file=pdf.id).file == pdf.id
    assert visit.blocked == []
    assert visit.errors == []


def test_a_reset_rule_is_added_with_its_when(page: Page) -> None:
    page.goto("/dashboard/faults")
    form = page.get_by_test_id("add-fault")
    form.get_by_label("Action").select_option("reset")
    form.get_by_label("When").select_option("after")
    form.get_by_label("Times").fill("2")
    form.get_by_role("button", name="Add rule").click()
    row = page.locator("tr[data-fault]")
    expect(row).to_contain_text("reset")
    expect(row).to_contain_text("after")
    expect(row.locator(".num")).to_have_text("2 of 2")
    page.get_by_role("button", name="Remove every rule").click()
    expect(page.get_by_role("status")).to_have_text("Every fault rule removed.")


def test_a_bad_rule_shows_the_apis_message(page: Page) -> None:
    page.goto("/dashboard/faults")
    form = page.get_by_test_id("add-fault")
    form.get_by_label("Status").fill("399")
    form.get_by_role("button", name="Add rule").click()
    expect(page.get_by_role("alert")).to_contain_text("Invalid status: 399")
    expect(page.get_by_role("alert")).to_contain_text("param status")
    expect(page.get_by_text("No fault rules")).to_be_visible()
