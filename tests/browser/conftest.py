"""Real pages in a real browser: Playwright (from PyPI) driving Debian's Chromium, against a
real `filelinks-api serve`. Playwright's own browser download is never used (no network in
CI), so the browser is the system's /usr/bin/chromium.

Each page gets a fresh context in which every request that is not to the server is aborted
and recorded, so a test can assert that the page needs nothing from outside.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, NoReturn
from urllib.parse import urlsplit

import pytest

from tests.browser.flows import sign_in, stripe_sdk
from tests.e2e.conftest import Server, start_server

if TYPE_CHECKING:
    from playwright.sync_api import Browser, ConsoleMessage, Page, Request, Response, Route

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",  # CI runs as root, where Chromium's sandbox cannot start
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
LOCAL_HOSTS = {"127.0.0.1"}


def _missing(reason: str) -> NoReturn:
    # A skip would let CI go green without ever opening a page; .ci/run installs both.
    if os.environ.get("CI"):
        pytest.fail(reason)
    pytest.skip(reason)


# Package scope, not session: Playwright's sync API keeps an event loop running in this
# thread while it is started, and tests after these ones call asyncio.run().
@pytest.fixture(scope="package")
def browser() -> Iterator[Browser]:
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        _missing("playwright is not installed: pip install -e '.[test]'")
    if shutil.which(CHROMIUM) is None:
        _missing(f"no Chromium at {CHROMIUM}: apt-get install -y chromium")
    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(
            executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_ARGS
        )
        try:
            yield launched
        finally:
            launched.close()


@pytest.fixture(scope="package")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    """One server for every page test: the pages read nothing a test writes."""
    running = start_server(tmp_path_factory.mktemp("browser") / "data")
    try:
        yield running
    finally:
        running.stop()


@dataclass
class Visit:
    """A page and what it did besides rendering: the requests blocked for leaving the
    machine, the requests that failed or got an error status, console errors, and
    uncaught exceptions."""

    page: Page
    blocked: list[str] = field(default_factory=list)
    failed: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)


@contextmanager
def new_visit(browser: Browser, base_url: str) -> Iterator[Visit]:
    """A fresh browser context on `base_url` (its own cookies), watched as `Visit` says."""
    context = browser.new_context(base_url=base_url)
    page = context.new_page()
    page.set_default_timeout(10_000)
    seen = Visit(page)

    def only_local(route: Route) -> None:
        if urlsplit(route.request.url).hostname in LOCAL_HOSTS:
            route.continue_()
        else:
            seen.blocked.append(route.request.url)
            route.abort("blockedbyclient")

    def on_failed(request: Request) -> None:
        seen.failed.append(f"{request.url}: {request.failure}")

    def on_response(response: Response) -> None:
        if response.status >= 400:
            seen.failed.append(f"{response.url}: {response.status}")

    def on_console(message: ConsoleMessage) -> None:
        if message.type == "error":
            seen.errors.append(message.text)

    context.route("**/*", only_local)
    page.on("requestfailed", on_failed)
    page.on("response", on_response)
    page.on("console", on_console)
    page.on("pageerror", lambda error: seen.errors.append(str(error)))
    try:
        yield seen
    finally:
        context.close()


@pytest.fixture
def visit(browser: Browser, server: Server) -> Iterator[Visit]:
    with new_visit(browser, server.url) as seen:
        yield seen


@pytest.fixture
def sdk(server: Server, api_key: str) -> Iterator[None]:
    with stripe_sdk(server.url, api_key):
        yield


@pytest.fixture
def page(visit: Visit, api_key: str) -> Page:
    """Signed in with the test's key."""
    sign_in(visit.page, api_key)
    return visit.page


def expect(target):  # noqa: ANN001, ANN201 - Playwright's own, imported when it is there
    """Playwright's `expect`, imported only when a test runs (the browser may be missing)."""
    from playwright.sync_api import expect as playwright_expect

    return playwright_expect(target)
