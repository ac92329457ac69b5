"""GET /docs: the Swagger UI page, rendered from the assets shipped in the package, with
every request off the machine blocked (it has to work in CI, which has no network)."""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

import httpx
import pytest

from tests.e2e.conftest import Server

if TYPE_CHECKING:
    from playwright.sync_api import Locator, Page

    from tests.browser.conftest import Visit


def open_docs(visit: Visit) -> Page:
    from playwright.sync_api import expect

    page = visit.page
    page.goto("/docs")
    expect(page.locator(".opblock").first).to_be_visible()
    return page


def operation(page: Page, method: str, path: str) -> Locator:
    return page.locator(f".opblock-{method.lower()}").filter(has=page.get_by_text(path, exact=True))


class TestDocsPage:
    def test_shows_the_api_title_and_its_operations(self, visit: Visit) -> None:
        from playwright.sync_api import expect

        page = open_docs(visit)
        expect(page).to_have_title("filelinks-api - Swagger UI")
        expect(page.get_by_role("heading", name=re.compile(r"^filelinks-api"))).to_be_visible()
        for path in ("/v1/files", "/v1/file_links", "/v1/file_links/{link_id}", "/links/{token}"):
            expect(page.get_by_text(path, exact=True).first).to_be_visible()
        expect(page.get_by_text("List File Links")).to_be_visible()
        expect(page.get_by_role("button", name="Authorize")).to_be_visible()

    def test_an_operation_opens_on_a_click_and_lists_its_parameters(self, visit: Visit) -> None:
        from playwright.sync_api import expect

        page = open_docs(visit)
        listing = operation(page, "GET", "/v1/file_links")
        expect(listing.get_by_text("Parameters", exact=True)).to_be_hidden()
        page.get_by_text("List File Links").click()
        expect(listing.get_by_text("Parameters", exact=True)).to_be_visible()
        names = listing.locator(".parameter__name")
        for name in ("limit", "starting_after", "ending_before", "created", "expired", "file"):
            expect(names.filter(has_text=re.compile(rf"^{name}\b"))).to_be_visible()
        expect(listing.get_by_role("button", name="Try it out")).to_be_visible()

    def test_needs_nothing_from_outside_the_machine(self, visit: Visit) -> None:
        visit.page.goto("/docs", wait_until="networkidle")
        assert visit.blocked == []
        assert visit.failed == []

    def test_loads_swagger_ui_without_console_errors(self, visit: Visit) -> None:
        visit.page.goto("/docs", wait_until="networkidle")
        assert visit.errors == []
        assert visit.page.evaluate("typeof SwaggerUIBundle") == "function"


class TestDocsAssets:
    """Plain HTTP: the assets are public, and a wrong asset path fails like any other route."""

    def test_are_served_without_a_key(self, server: Server) -> None:
        response = httpx.get(f"{server.url}/docs/assets/swagger-ui-bundle.js")
        assert response.status_code == 200
        assert response.headers["content-type"].startswith("text/javascript")

    @pytest.mark.parametrize(
        ("method", "path"),
        [
            ("GET", "/docs/assets/missing.js"),
            ("GET", "/docs/assets/"),
            ("GET", "/docs/assets/%2e%2e/%2e%2e/api/docs.py"),  # a real file, outside the assets
            ("POST", "/docs/assets/swagger-ui.css"),
        ],
    )
    def test_a_miss_is_stripes_404_envelope(self, server: Server, method: str, path: str) -> None:
        response = httpx.request(method, f"{server.url}{path}")
        assert response.status_code == 404
        assert response.headers["request-id"].startswith("req_")
        error = response.json()["error"]
        assert error["type"] == "invalid_request_error"
        assert "Unrecognized request URL" in error["message"]

    def test_redoc_is_not_served(self, server: Server) -> None:
        assert httpx.get(f"{server.url}/redoc").status_code == 404
