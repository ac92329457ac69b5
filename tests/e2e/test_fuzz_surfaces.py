"""A short form of tests/fuzz/surfaces.py in the suite: every surface (the Stripe API, the
/_emulator controls and request log, the dashboard's pages and forms, public link URLs with
odd Range headers, /metrics) from 8 concurrent clients against `serve --workers 2`, for a
few seconds. The full run (100,000 requests per database) is the module's command line."""

from __future__ import annotations

import asyncio

from tests.e2e.conftest import Server
from tests.fuzz.surfaces import fuzz, logged_errors


def test_every_surface_holds_under_a_short_fuzz(two_workers: Server):
    report = asyncio.run(fuzz(two_workers.url, requests=1000, clients=8, seed=21))

    failures = report.failures + [
        f"logged: {line}" for line in logged_errors(two_workers.log_text())
    ]
    assert failures == []
    assert report.requests >= 1000
    assert report.checked_creates > 0
    assert len(report.statuses) > 5  # successes, refusals, 404s, 206s, 303s, 403s, ...
