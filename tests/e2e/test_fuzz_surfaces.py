"""A short form of tests/fuzz/surfaces.py in the suite: every surface (the Stripe API, the
/_emulator controls and request log, the dashboard's pages and forms, public link URLs with
odd Range headers, /metrics) from 8 concurrent clients against `serve --workers 2`, for a
few seconds. The full run (100,000 requests per database) is the module's command line."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator

import pytest

from tests.conftest import (
    BACKENDS,
)
from tests.e2e.conftest import Server, server_on
from tests.fuzz.surfaces import fuzz, logged_errors


@pytest.fixture(params=BACKENDS)
def fuzzed(request: pytest.FixtureRequest, tmp_path) -> Iterator[Server]:
    """A server of its own: the fuzz fills its log with hostile lines no other test reads."""
    with server_on(request.param, tmp_path / "data", workers=2) as server:
        yield server


def test_every_surface_holds_under_a_short_fuzz(fuzzed: Server):
    report = asyncio.run(fuzz(fuzzed.url, requests=1000, clients=8, seed=21))

    logged = [f"logged: {line}" for line in logged_errors(fuzzed.log_text())]
    assert report.failures + logged == []
    assert report.requests >= 1000
    assert report.checked_creates > 0
    assert len(report.statuses) > 5  # successes, refusals, 404s, 206s, 303s, 403s, ...
