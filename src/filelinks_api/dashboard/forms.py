"""From what a person types in a form to the API's parameters.

People type durations ("in 2 hours"), dates and `key=value` lines; the API takes Unix
timestamps and metadata hashes. Each conversion here only changes the shape and refuses what
it cannot read, with a Stripe-style error naming the field; the result then goes through the
API's own params model (`parse`) and service, so every rule and message is the API's.
"""

from __future__ import annotations

import re
import string
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Annotated, Any

import orjson

from filelinks_api.dashboard.web import filled, text
from filelinks_api.errors import InvalidRequestError
from filelinks_api.schemas import CreateFileLinkParams, UpdateFileLinkParams
from filelinks_api.wire.params import Int, StripeParams, one_of, parse

UNITS = {"seconds": 1, "minutes": 60, "hours": 3600, "days": 86400}
Unit = Annotated[str, one_of(*UNITS)]


class _ExpiresIn(StripeParams):
    expires_in: Int
    expires_unit: Unit = "hours"


class _AdvanceBy(StripeParams):
    advance_by: Int
    advance_unit: Unit = "hours"


def expires_at(data: Mapping[str, Any], now: int) -> int | None:
    """`expires_in` `expires_unit` from now, or None (never) when left blank."""
    fields = filled(data, "expires_in", "expires_unit")
    if "expires_in" not in fields:
        return None
    form = parse(_ExpiresIn, fields)
    return now + form.expires_in * UNITS[form.expires_unit]


def advance_seconds(data: Mapping[str, Any]) -> int:
    form = parse(_AdvanceBy, filled(data, "advance_by", "advance_unit"))
    return form.advance_by * UNITS[form.advance_unit]


def utc_timestamp(data: Mapping[str, Any], name: str) -> int:
    """A `datetime-local` field, read as UTC."""
    value = text(data, name)
    if not value:
        raise InvalidRequestError(f"Missing required param: {name}.", param=name)
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        raise InvalidRequestError(
            f"Invalid date and time: '{value[:40]}'. Give one as YYYY-MM-DD HH:MM, in UTC.",
            param=name,
        ) from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return int(moment.timestamp())


# Metadata as text: `key=value`, one pair per line. A backslash starts an escape, so that any
# metadata the API holds reads back exactly from the text a page shows (`metadata_text`):
# `\n` `\r` `\t` a line break, carriage return, tab; `\\` a backslash; `\=` an `=` in a
# key; `\xHH` and `\uHHHH` any other character, written for control characters and for
# spaces at either end of a key or value (unescaped ones are trimmed, as people type
# `key = value`). Anything else after a backslash stays as typed (`C:\data`), and so does an
# escape of NUL or of half a surrogate pair, which no metadata may hold.
_ESCAPES = {"n": "\n", "r": "\r", "t": "\t", "\\": "\\", "=": "="}
_HEX = {"x": 2, "u": 4}
_WRITTEN = {"\\": "\\\\", "\n": "\\n", "\r": "\\r", "\t": "\\t"}
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f\u2028\u2029]")
_EDGE_SPACE = re.compile(r"^\s+|\s+$")
_LINE_BREAK = re.compile(r"\r\n|\r|\n")


def _escape_char(char: str) -> str:
    written = _WRITTEN.get(char)
    if written is not None:
        return written
    code = ord(char)
    return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}"


def _written(text: str, *, key: bool) -> str:
    escaped = text.replace("\\", "\\\\")
    escaped = _CONTROL.sub(lambda found: _escape_char(found.group()), escaped)
    if key:
        escaped = escaped.replace("=", "\\=")
    return _EDGE_SPACE.sub(lambda found: "".join(map(_escape_char, found.group())), escaped)


def metadata_text(metadata: Mapping[str, str]) -> str:
    """The metadata as a page shows it for editing; `metadata_lines` reads it back exactly."""
    return "".join(
        f"{_written(key, key=True)}={_written(value, key=False)}\n"
        for key, value in metadata.items()
    )


def _split(line: str) -> tuple[str, str] | None:
    """At the first `=` that is not escaped."""
    index = 0
    while index < len(line):
        char = line[index]
        if char == "\\":
            index += 2
            continue
        if char == "=":
            return line[:index], line[index + 1 :]
        index += 1
    return None


def _read(text: str) -> str:
    out: list[str] = []
    index = 0
    while index < len(text):
        char = text[index]
        following = text[index + 1 : index + 2]
        if char != "\\" or not following:
            out.append(char)
            index += 1
        elif following in _ESCAPES:
            out.append(_ESCAPES[following])
            index += 2
        elif (code := _code_point(text, index + 2, _HEX.get(following, 0))) is not None:
            out.append(chr(code))
            index += 2 + _HEX[following]
        else:  # not an escape: as typed
            out.append(char)
            index += 1
    return "".join(out)


def _code_point(text: str, start: int, count: int) -> int | None:
    digits = text[start : start + count]
    if not count or len(digits) != count or not all(c in string.hexdigits for c in digits):
        return None
    code = int(digits, 16)
    return None if code == 0 or 0xD800 <= code <= 0xDFFF else code


def metadata_lines(value: str) -> dict[str, str]:
    """`key=value`, one per line; blank lines are skipped, the first unescaped `=` splits."""
    metadata: dict[str, str] = {}
    for number, line in enumerate(_LINE_BREAK.split(value), start=1):
        if not line.strip():
            continue
        pair = _split(line)
        if pair is None:
            raise InvalidRequestError(
                f"Write metadata as key=value, one pair per line (line {number} has no '=').",
                param="metadata",
            )
        key, item = pair
        metadata[_read(key.strip())] = _read(item.strip())
    return metadata


def create_link_params(data: Mapping[str, Any], file_id: str, now: int) -> CreateFileLinkParams:
    values: dict[str, Any] = {"file": file_id}
    expiry = expires_at(data, now)
    if expiry is not None:
        values["expires_at"] = str(expiry)
    metadata = metadata_lines(text(data, "metadata"))
    if metadata:
        values["metadata"] = metadata
    return parse(CreateFileLinkParams, values)


def metadata_update_params(data: Mapping[str, Any]) -> UpdateFileLinkParams:
    """The edited text as an update: keys the person deleted from the text are unset ('' as
    in the API), the others set. Only keys the page showed are unset, never one added since."""
    wanted = metadata_lines(text(data, "metadata"))
    try:
        shown = orjson.loads(text(data, "shown_keys") or "[]")
    except orjson.JSONDecodeError:
        shown = []
    if not isinstance(shown, list):  # a crafted form: nothing was shown
        shown = []
    removed = {key: "" for key in shown if isinstance(key, str) and key not in wanted}
    return parse(UpdateFileLinkParams, {"metadata": {**removed, **wanted}})


EXPIRE_NOW = parse(UpdateFileLinkParams, {"expires_at": "now"})
