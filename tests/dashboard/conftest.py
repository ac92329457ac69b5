"""Dashboard pages through the ASGI app (TestClient): what the server answers to each page and
form, signed in with a key. What a person sees and clicks is tested in tests/browser."""

from __future__ import annotations

import re
from collections.abc import Iterator

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

pytest.register_assert_rewrite("tests.dashboard.pages")

CSRF = re.compile(r'name="csrf_token" value="([0-9a-f]{64})"')


def form_token(html: str) -> str:
    match = CSRF.search(html)
    assert match is not None, html[:2000]
    return match.group(1)


def sign_in(browser: TestClient, api_key: str) -> None:
    page = browser.get("/dashboard/signin")
    assert page.status_code == 200, page.text
    done = browser.post(
        "/dashboard/signin",
        data={"csrf_token": form_token(page.text), "api_key": api_key},
        follow_redirects=False,
    )
    assert done.status_code == 303, done.text


@pytest.fixture
def browser(app: FastAPI, api_key: str) -> Iterator[TestClient]:
    """A signed-in dashboard session (cookies kept), redirects not followed."""
    with TestClient(app, follow_redirects=False) as session:
        sign_in(session, api_key)
        yield session
