"""/dashboard/file_links: the list, its filters and its forms, whatever the input."""

from __future__ import annotations

import html
import re

import pytest

from filelinks_api.wire.params import INT64_MAX
from tests.api.helpers import create_link, uploaded
from tests.dashboard.conftest import form_token


@pytest.fixture
def file_id(client) -> str:
    return uploaded(client)["id"]


@pytest.mark.parametrize("expires_at", [253402300800, 10**15, INT64_MAX])
def test_a_far_future_expiry_renders(browser, client, file_id, expires_at):
    link = create_link(client, file_id, expires_at=expires_at)

    page = browser.get("/dashboard/file_links")

    assert page.status_code == 200, page.text
    assert link["id"] in page.text
    home = browser.get("/dashboard")
    assert home.status_code == 200, home.text


def test_the_year_10000_is_written_out(browser, client, file_id):
    create_link(client, file_id, expires_at=253402300800)

    page = browser.get("/dashboard/file_links")

    assert "10000-01-01 00:00:00 UTC" in page.text


@pytest.mark.parametrize("shown", ['{"a": 1}', "1", '"a"', "null", "[1, null]", "[[]]"])
def test_shown_keys_that_are_not_a_list_of_keys_are_ignored(browser, client, file_id, shown):
    link = create_link(client, file_id, **{"metadata[a]": "1"})
    page = browser.get("/dashboard/file_links")

    saved = browser.post(
        f"/dashboard/file_links/{link['id']}/metadata",
        data={"csrf_token": form_token(page.text), "metadata": "b=2", "shown_keys": shown},
    )

    assert saved.status_code == 303, saved.text
    got = client.get(f"/v1/file_links/{link['id']}").json()
    assert got["metadata"] == {"a": "1", "b": "2"}


@pytest.mark.parametrize(
    "path",
    [
        "/dashboard/file_links?file=%00",
        "/dashboard/file_links?expired=%00",
        "/dashboard/file_links?starting_after=link_%00",
        "/dashboard/logs?path=%00",
        "/dashboard/logs?idempotency_key=%00",
        "/dashboard/logs?method=%00",
        "/dashboard/logs?status=%00",
        "/dashboard/logs?starting_after=req_%00",
        "/dashboard/files?purpose=%00",
        "/dashboard/files?starting_after=file_%00",
        "/dashboard/files/file_%00",
        "/dashboard/logs/req_%00",
        "/dashboard/clock?done=%00",
        "/dashboard?x%00=1",
    ],
)
def test_a_nul_in_the_query_is_refused_before_the_database(browser, path):
    page = browser.get(path)

    assert page.status_code in (400, 404), page.text
    assert page.headers["content-type"].startswith("text/html")


TEXTAREA = re.compile(
    r'<textarea name="metadata" rows="3" aria-label="Metadata of ([^"]+)">(.*?)</textarea>', re.S
)
SHOWN = re.compile(r'name="shown_keys" value="([^"]*)"')

AWKWARD = {
    "note": "two\nlines",
    "windows": "a\r\nb",
    "a=b": "c=d",
    " padded ": "  spaces  ",
    "ünï": "cödé ☃ 𝄞",
    "path": "C:\\new\\table",
    "tab": "\tx\t",
    "empty-looking": " ",
}


def edit_form(page: str, link_id: str) -> tuple[str, str]:
    """What the page's metadata form for `link_id` would send back unchanged."""
    texts = {found.group(1): html.unescape(found.group(2)) for found in TEXTAREA.finditer(page)}
    shown = html.unescape(SHOWN.findall(page[page.index(f'id="{link_id}"') :])[0])
    # a browser sends a textarea's line breaks as CRLF
    return texts[link_id].replace("\r\n", "\n").replace("\n", "\r\n"), shown


@pytest.mark.parametrize("extra", ["", "\r\nadded=1"], ids=["unchanged", "one_line_added"])
def test_metadata_round_trips_exactly(browser, client, file_id, extra):
    link = create_link(client, file_id, **{f"metadata[{k}]": v for k, v in AWKWARD.items()})
    assert link["metadata"] == AWKWARD
    page = browser.get("/dashboard/file_links")
    text, shown = edit_form(page.text, link["id"])

    saved = browser.post(
        f"/dashboard/file_links/{link['id']}/metadata",
        data={
            "csrf_token": form_token(page.text),
            "metadata": text + extra,
            "shown_keys": shown,
        },
    )

    assert saved.status_code == 303, saved.text
    got = client.get(f"/v1/file_links/{link['id']}").json()["metadata"]
    assert got == {**AWKWARD, **({"added": "1"} if extra else {})}


@pytest.mark.parametrize("back", ["file=%00", "starting_after=link_%00", "expired=%00"])
def test_a_nul_in_a_forms_back_filters_never_reaches_the_database(browser, back):
    page = browser.get("/dashboard/file_links")

    got = browser.post(
        "/dashboard/file_links/link_unknown/metadata",
        data={"csrf_token": form_token(page.text), "metadata": "a=1", "back": back},
    )

    assert got.status_code == 404, got.text  # the page of the unfiltered list, with the error
