"""Draw docs/dashboard.png: the dashboard's home after the SDK session the browser tests run
(`flows.sdk_session`), on a fresh server, in Debian's Chromium.

    python -m tests.browser.screenshot [path]

`TestHome` takes the same screenshot in every run (into a temporary directory); this script
is how the README's copy is refreshed.
"""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path

from playwright.sync_api import sync_playwright

from tests.browser.conftest import CHROMIUM, CHROMIUM_ARGS
from tests.browser.flows import sdk_session, sign_in, stripe_sdk
from tests.conftest import new_key
from tests.e2e.conftest import start_server

DEFAULT = Path(__file__).resolve().parents[2] / "docs" / "dashboard.png"


def main(target: Path = DEFAULT) -> None:
    with tempfile.TemporaryDirectory() as directory:
        work = Path(directory)
        server = start_server(work / "data")
        try:
            key = new_key()
            with stripe_sdk(server.url, key):
                sdk_session(work)
            with sync_playwright() as playwright:
                browser = playwright.chromium.launch(
                    executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_ARGS
                )
                page = browser.new_page(
                    base_url=server.url, viewport={"width": 1280, "height": 800}
                )
                sign_in(page, key)
                target.parent.mkdir(parents=True, exist_ok=True)
                page.screenshot(path=str(target), full_page=True)
                browser.close()
        finally:
            server.stop()
    print(f"wrote {target}")


if __name__ == "__main__":
    main(Path(sys.argv[1]) if len(sys.argv) > 1 else DEFAULT)
