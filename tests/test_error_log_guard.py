"""The suite's guard against swallowed bugs (tests/error_log_guard.py), run on small suites
by pytester."""

from __future__ import annotations

from pathlib import Path

import pytest

SUITE = """
import logging

import pytest

log = logging.getLogger("filelinks_api.error")


def fail_and_log():
    try:
        raise RuntimeError("swallowed")
    except RuntimeError:
        log.exception("could not do the thing")


def test_logs_a_traceback():
    fail_and_log()


@pytest.mark.expect_error_log
def test_says_it_expects_one():
    fail_and_log()


def test_an_outage_without_traceback():
    log.warning("the database is unreachable")
    log.error("request failed: database unavailable")
"""


def test_a_test_that_logged_an_unexpected_exception_fails(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PYTHONPATH", str(Path(__file__).resolve().parents[1]))
    pytester.makeini("[pytest]\nmarkers =\n    expect_error_log: expected\n")
    pytester.makepyfile(SUITE)

    result = pytester.runpytest_subprocess("-p", "tests.error_log_guard", "-p", "no:cacheprovider")

    # a teardown failure: the test itself ran to its end, then errors
    result.assert_outcomes(passed=3, errors=1)
    result.stdout.fnmatch_lines(["*test_logs_a_traceback*", "*could not do the thing*"])
    result.stdout.fnmatch_lines(["*RuntimeError: swallowed*"])
