"""The dashboard's session: signing in never costs a signed-in session its cookie, and a form
is taken only from the dashboard's own pages."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient

from tests.api.helpers import create_link, uploaded
from tests.dashboard.conftest import form_token

SESSION = "filelinks_dashboard"
CROSS_SITE_LINK = {"Sec-Fetch-Site": "cross-site", "Sec-Fetch-Mode": "navigate"}


def cookies_set(response) -> list[str]:
    return [value.split("=", 1)[0] for value in response.headers.get_list("set-cookie")]


class TestSignInPage:
    @pytest.mark.parametrize(
        "headers", [{}, CROSS_SITE_LINK, {"Sec-Fetch-Site": "none"}], ids=["plain", "link", "typed"]
    )
    def test_a_get_never_sets_the_session_cookie(self, app, headers):
        # the browser held the SameSite=Strict session cookie back (or has none): whatever
        # it has must survive this page
        with TestClient(app, follow_redirects=False) as fresh:
            page = fresh.get("/dashboard/signin", headers=headers)
        assert page.status_code == 200
        assert SESSION not in cookies_set(page)

    def test_a_link_from_another_site_loads_the_page_again_from_this_one(self, app):
        with TestClient(app, follow_redirects=False) as fresh:
            page = fresh.get("/dashboard/signin?next=/dashboard/files", headers=CROSS_SITE_LINK)
        assert 'http-equiv="refresh"' in page.text
        assert "/dashboard/signin?next=%2Fdashboard%2Ffiles" in page.text
        assert cookies_set(page) == []

    def test_a_signed_in_session_survives_a_visit_to_the_page(self, browser, app):
        before = browser.cookies.get(SESSION)
        browser.get("/dashboard/signin", headers=CROSS_SITE_LINK)
        browser.get("/dashboard/signin?signed_out=1")
        assert browser.cookies.get(SESSION) == before
        assert browser.get("/dashboard").status_code == 200

    def test_signing_out_then_in_again_works(self, browser, api_key):
        home = browser.get("/dashboard")
        out = browser.post("/dashboard/signout", data={"csrf_token": form_token(home.text)})
        assert out.status_code == 303
        assert browser.get("/dashboard").status_code == 303
        page = browser.get("/dashboard/signin")
        again = browser.post(
            "/dashboard/signin", data={"csrf_token": form_token(page.text), "api_key": api_key}
        )
        assert again.status_code == 303
        assert browser.get("/dashboard").status_code == 200


class TestFormOrigin:
    @pytest.fixture
    def link(self, client):
        return create_link(client, uploaded(client)["id"])

    def expire(self, browser, link, headers):
        page = browser.get("/dashboard/file_links")
        return browser.post(
            f"/dashboard/file_links/{link['id']}/expire",
            data={"csrf_token": form_token(page.text)},
            headers=headers,
        )

    @pytest.mark.parametrize(
        "headers",
        [
            {"Sec-Fetch-Site": "cross-site"},
            {"Sec-Fetch-Site": "same-site"},
            {"Origin": "https://evil.example"},
            {"Origin": "null"},
            {"Origin": "http://testserver:8080"},
        ],
    )
    def test_a_post_from_elsewhere_is_refused_even_with_the_token(
        self, browser, client, link, headers
    ):
        refused = self.expire(browser, link, headers)
        assert refused.status_code == 403, refused.text
        assert client.get(f"/v1/file_links/{link['id']}").json()["expired"] is False

    @pytest.mark.parametrize(
        "headers",
        [
            {},
            {"Sec-Fetch-Site": "same-origin", "Origin": "http://testserver"},
            {"Origin": "http://testserver"},
            # a proxy that rewrote Host: the browser's own word stands
            {"Sec-Fetch-Site": "same-origin", "Origin": "https://dashboard.example"},
        ],
        ids=["neither", "both", "origin", "rewritten_host"],
    )
    def test_a_post_from_the_dashboard_is_taken(self, browser, client, link, headers):
        done = self.expire(browser, link, headers)
        assert done.status_code == 303, done.text
        assert client.get(f"/v1/file_links/{link['id']}").json()["expired"] is True

    def test_the_sign_in_form_is_checked_too(self, app, api_key):
        with TestClient(app, follow_redirects=False) as fresh:
            page = fresh.get("/dashboard/signin")
            refused = fresh.post(
                "/dashboard/signin",
                data={"csrf_token": form_token(page.text), "api_key": api_key},
                headers={"Origin": "https://evil.example"},
            )
        assert refused.status_code == 403
        assert SESSION not in cookies_set(refused)
