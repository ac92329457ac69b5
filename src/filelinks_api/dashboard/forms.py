"""From what a person types in a form to the API's parameters.

People type durations ("in 2 hours"), dates and `key=value` lines; the API takes Unix
timestamps and metadata hashes. Each conversion here only changes the shape and refuses what
it cannot read, with a Stripe-style error naming the field; the result then goes through the
API's own params model (`parse`) and service, so every rule and message is the API's.
"""

from __future__ import annotations

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


def metadata_lines(value: str) -> dict[str, str]:
    """`key=value`, one per line; blank lines are skipped, the first `=` splits."""
    metadata: dict[str, str] = {}
    for number, line in enumerate(value.splitlines(), start=1):
        if not line.strip():
            continue
        key, sep, item = line.partition("=")
        if not sep:
            raise InvalidRequestError(
                f"Write metadata as key=value, one pair per line (line {number} has no '=').",
                param="metadata",
            )
        metadata[key.strip()] = item.strip()
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
