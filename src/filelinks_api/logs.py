"""The service's logs: text lines on stderr (the default) or one JSON object per line on
stdout (`--log-format json`, FILELINKS_LOG_FORMAT), the same in every worker.

`logging_config()` is handed to uvicorn, which applies it in each worker process. Three loggers
of ours: `filelinks_api.access` (one record per request, with its fields in `extra={"fields":
...}`), `filelinks_api.error` (warnings and failures), and `filelinks_api.lifecycle` (where the
service listens; shown at every --log-level). No record carries an API key.
"""

from __future__ import annotations

import datetime
import logging
import re
from typing import Any, Literal

import orjson

LogFormat = Literal["text", "json"]

ACCESS = "filelinks_api.access"
LIFECYCLE = "filelinks_api.lifecycle"
TEXT_FORMAT = "%(asctime)s %(levelname)s %(name)s %(message)s"


# C0 and C1 controls, DEL, and the Unicode line and paragraph separators: what could end a
# line or move the cursor in a terminal. A backslash is doubled, so an escape is unambiguous.
_UNPRINTABLE = re.compile(r"[\\\x00-\x1f\x7f-\x9f\u2028\u2029]")
_NAMED = {"\\": "\\\\", "\n": "\\n", "\r": "\\r", "\t": "\\t"}


def _escape(match: re.Match[str]) -> str:
    char = match.group()
    named = _NAMED.get(char)
    if named is not None:
        return named
    code = ord(char)
    return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}"


class TextFormatter(logging.Formatter):
    """A record is one line: control characters in its message (a request's decoded path may
    hold `\r\n` or ESC, `%0d%0a` in the URL) are written as escapes. A traceback after it
    keeps its lines."""

    def formatMessage(self, record: logging.LogRecord) -> str:  # noqa: N802 - logging's name
        message = record.message
        record.message = _UNPRINTABLE.sub(_escape, message)
        try:
            return super().formatMessage(record)
        finally:
            record.message = message


class JsonFormatter(logging.Formatter):
    """{"time", "level", "logger", "pid" (which worker), "message", ...the record's fields,
    "error" (a traceback)}."""

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "time": datetime.datetime.fromtimestamp(record.created, datetime.UTC).isoformat(
                timespec="milliseconds"
            ),
            "level": record.levelname.lower(),
            "logger": record.name,
            "pid": record.process,
            "message": record.getMessage(),
        }
        fields = getattr(record, "fields", None)
        if isinstance(fields, dict):
            entry.update(fields)
        if record.exc_info:
            entry["error"] = self.formatException(record.exc_info)
        return orjson.dumps(entry, default=str).decode()


def logging_config(level: str, log_format: LogFormat) -> dict[str, Any]:
    """A logging.config.dictConfig for uvicorn's `log_config`: uvicorn's loggers and ours, one
    handler, `level` for all but the lifecycle logger."""
    level = level.upper()
    formatter: dict[str, Any] = (
        {"()": f"{__name__}.JsonFormatter"}
        if log_format == "json"
        else {"()": f"{__name__}.TextFormatter", "fmt": TEXT_FORMAT}
    )
    stream = "ext://sys.stdout" if log_format == "json" else "ext://sys.stderr"
    handler = {"handlers": ["default"], "propagate": False}
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "formatters": {"default": formatter},
        "handlers": {
            "default": {
                "class": "logging.StreamHandler",
                "formatter": "default",
                "stream": stream,
            }
        },
        "loggers": {
            "uvicorn": {**handler, "level": level},
            "uvicorn.error": {"level": level},
            "uvicorn.access": {"handlers": [], "propagate": False},  # ours is filelinks_api.access
            "filelinks_api": {**handler, "level": level},
            LIFECYCLE: {**handler, "level": "INFO"},
        },
    }
