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
from typing import Any, Literal

import orjson

LogFormat = Literal["text", "json"]

ACCESS = "filelinks_api.access"
LIFECYCLE = "filelinks_api.lifecycle"
TEXT_FORMAT = "%(asctime)s %(levelname)s %(name)s %(message)s"


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
        {"()": f"{__name__}.JsonFormatter"} if log_format == "json" else {"format": TEXT_FORMAT}
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
