"""The `Stripe-Version` request header: which values are accepted, and the version in effect.

Stripe refuses a version it does not know with a 400 `Invalid Stripe API version: <value as
sent>` (several headers arrive joined with ", "), and a release is a date, since 2024-09-30
followed by the major release's codename (`2024-09-30.acacia`). The emulator cannot know every
release Stripe will make, so it accepts what could be one: a real calendar date from the first
version (2011-06-21) to today plus a small margin, and an optional lowercase codename. A date
that is well-formed but was never released (Stripe refuses `2022-08-02`) is accepted here.
Every accepted version is answered with the same objects (File Links never changed shape).
"""

from __future__ import annotations

import re
from datetime import date, timedelta
from functools import lru_cache

from filelinks_api.errors import InvalidRequestError

DEFAULT_STRIPE_VERSION = "2026-06-24.dahlia"

OLDEST_VERSION = date(2011, 6, 21)
# A release is dated in Stripe's time zone and may reach a client a day "early" in its own.
FUTURE_MARGIN = timedelta(days=2)

_VERSION = re.compile(r"([0-9]{4})-([0-9]{2})-([0-9]{2})(?:\.[a-z]+)?")


@lru_cache(maxsize=256)
def is_valid_version(value: str, today: date) -> bool:
    """`YYYY-MM-DD` or `YYYY-MM-DD.codename`, a real date in [2011-06-21, today + margin]."""
    match = _VERSION.fullmatch(value)
    if match is None:
        return False
    try:
        released = date(*(int(part) for part in match.groups()))
    except ValueError:  # 2024-02-30
        return False
    return OLDEST_VERSION <= released <= today + FUTURE_MARGIN


def sent_version(values: list[str]) -> str | None:
    """The header as Stripe reads it: None when absent or empty; repeated headers joined."""
    present = [value for value in values if value]
    if not present:
        return None
    return ", ".join(present)


def check_version(values: list[str], today: date) -> str | None:
    """The version the request asks for (None: the default), or Stripe's 400."""
    sent = sent_version(values)
    if sent is None or is_valid_version(sent, today):
        return sent
    raise InvalidRequestError(f"Invalid Stripe API version: {sent}")


def version_in_effect(values: list[str], today: date) -> str:
    """What a response's `Stripe-Version` says: the version asked for, if accepted, else the
    default (also on the refusal of an invalid one, which is not echoed back)."""
    sent = sent_version(values)
    if sent is not None and is_valid_version(sent, today):
        return sent
    return DEFAULT_STRIPE_VERSION
