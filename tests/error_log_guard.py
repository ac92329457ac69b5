"""A pytest plugin of the suite's own: a test fails when the service, in the test's process,
logged an unexpected exception (`filelinks_api.error` at ERROR with a traceback) while it
ran, unless it is marked `expect_error_log`. Outages are logged without a traceback and
do not count; a bug swallowed by a handler that "logs and goes on" does."""

from __future__ import annotations

import logging
from collections.abc import Iterator

import pytest


class _UnexpectedErrors(logging.Handler):
    """Collects what the service logs as an unexpected exception (`filelinks_api.error` at
    ERROR with a traceback)."""

    def __init__(self) -> None:
        super().__init__(logging.ERROR)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        if record.exc_info:
            self.records.append(record)


@pytest.fixture(autouse=True)
def _no_unexpected_errors(request: pytest.FixtureRequest) -> Iterator[None]:
    """Fails a test during which the service (in this process) logged an unexpected
    exception, unless the test is marked `expect_error_log`."""
    handler = _UnexpectedErrors()
    logger = logging.getLogger("filelinks_api.error")
    logger.addHandler(handler)
    try:
        yield
    finally:
        logger.removeHandler(handler)
    if handler.records and request.node.get_closest_marker("expect_error_log") is None:
        first = handler.records[0]
        pytest.fail(
            f"the service logged {len(handler.records)} unexpected exception(s); the first:"
            f" {first.getMessage()}\n{logging.Formatter().formatException(first.exc_info)}"  # type: ignore[arg-type]
        )
