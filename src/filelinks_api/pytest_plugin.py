"""The pytest plugin (registered through the `pytest11` entry point): two fixtures.

- `filelinks_emulator` (session): the emulator for the run, `.url`. With `--filelinks-url URL`
  or `$FILELINKS_URL`, that server; otherwise `filelinks-api serve` started on a free port with
  SQLite in a temporary data dir, stopped at the end of the session (under pytest-xdist, one
  per worker).
- `stripe_account` (function): a fresh, empty account (`filelinks_api.testing.Account`), with
  stripe-python's globals pointed at it during the test and restored after.

Inert until a test asks for a fixture: loading it adds one command-line option and imports
nothing beyond this module; no server starts.
"""

from __future__ import annotations

from collections.abc import Generator, Iterator
from typing import TYPE_CHECKING, Any

import pytest

if TYPE_CHECKING:
    from filelinks_api.testing import Account, Emulator


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("filelinks", "filelinks-api (Stripe Files emulator)")
    group.addoption(
        "--filelinks-url",
        default=None,
        metavar="URL",
        help="use the filelinks-api server at URL for the filelinks_emulator fixture"
        " (default: $FILELINKS_URL, else start one for the run)",
    )


@pytest.fixture(scope="session")
def filelinks_emulator(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Emulator]:
    """The filelinks-api server of the run (`.url`): the one at `--filelinks-url` or
    `$FILELINKS_URL`, else one started for the session and stopped at its end."""
    from filelinks_api.testing import Emulator

    url = request.config.getoption("filelinks_url")
    if url:
        emulator = Emulator(url)
    else:
        # Under pytest's basetemp (the last three runs are kept): the server's log outlives it.
        emulator = Emulator(data_dir=tmp_path_factory.mktemp("filelinks"))
    with emulator:
        yield emulator


@pytest.fixture
def stripe_account(filelinks_emulator: Emulator) -> Iterator[Account]:
    """A fresh, empty account for this test: `.key`, `.client`, `.clock`, `.requests()`,
    `.faults`, `.reset()`. stripe-python's `api_key`, `api_base` and `upload_api_base` point at
    it until the test ends, then get their old values back."""
    filelinks_emulator.check()
    account = filelinks_emulator.account()
    with account, account.stripe_globals():
        yield account
    filelinks_emulator.check()  # a server that died during the test fails it, with its log


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(
    item: pytest.Item, call: pytest.CallInfo[None]
) -> Generator[None, Any, None]:
    """A failed test that used `stripe_account` reports the key and the dashboard, where the
    account's request log shows what the code sent."""
    outcome = yield
    if call.when != "call":
        return
    account = getattr(item, "funcargs", {}).get("stripe_account")
    report = outcome.get_result()
    if report.failed and account is not None and hasattr(account, "dashboard_url"):
        report.sections.append(
            (
                "filelinks-api account",
                f"key {account.key}: its request log is at {account.dashboard_url}"
                " (sign in with the key)",
            )
        )
