"""logs.py: a text line is one line, whatever a request put in it."""

from __future__ import annotations

import logging
import logging.config

import pytest

from filelinks_api.logs import ACCESS, logging_config


def text_formatter() -> logging.Formatter:
    """The formatter `serve` gives its handler with --log-format text."""
    config = logging_config("info", "text")
    configurator = logging.config.DictConfigurator(config)
    formatter: logging.Formatter = configurator.configure_formatter(
        dict(config["formatters"]["default"])
    )
    return formatter


def line(message: str, *args: object) -> str:
    record = logging.LogRecord(ACCESS, logging.INFO, __file__, 1, message, args, None)
    return text_formatter().format(record)


@pytest.mark.parametrize(
    ("path", "shown"),
    [
        ("/v1/files/a\r\n2026-01-01 INFO forged", "/v1/files/a\\r\\n2026-01-01 INFO forged"),
        ("/v1/files/\x1b[31mred", "/v1/files/\\x1b[31mred"),
        ("/v1/files/\x00\x7f\x85\u2028", "/v1/files/\\x00\\x7f\\x85\\u2028"),
        ("/v1/files/back\\slash", "/v1/files/back\\\\slash"),
        ("/v1/files/ünïcode ok", "/v1/files/ünïcode ok"),
    ],
    ids=["crlf", "esc", "others", "backslash", "unicode"],
)
def test_control_characters_in_a_line_are_escaped(path: str, shown: str) -> None:
    written = line("%s %s %d", "GET", path, 404)

    assert written.endswith(f"GET {shown} 404")
    assert not set(written) & {"\n", "\r", "\x1b"}


def test_a_traceback_keeps_its_lines() -> None:
    try:
        raise RuntimeError("boom")
    except RuntimeError:
        import sys

        record = logging.LogRecord(
            ACCESS, logging.ERROR, __file__, 1, "failed %s", ("a\nb",), sys.exc_info()
        )
    written = text_formatter().format(record)

    assert "failed a\\nb" in written
    assert "\nTraceback (most recent call last):\n" in written
