"""Stripe time: every `created`, expiry and time a client sees comes from a `Clock` (an
account's test clock on top of it). Wall-clock reads that are operational, not Stripe's (an
idempotency claim's lease, the age of files for the sweeps), use `time.time()` where they are."""

from __future__ import annotations

import time
from datetime import UTC, date, datetime
from typing import Protocol


class Clock(Protocol):
    def now(self) -> int: ...


class SystemClock:
    def now(self) -> int:
        return int(time.time())


def today() -> date:
    """Today's date in UTC, in real time: API versions are dated by the calendar, and an
    account's test clock (which may sit years away) does not change which ones exist."""
    return datetime.now(UTC).date()


def expired(expires_at: int | None, now: int) -> bool:
    """The one expiry rule, for links and files alike: expired once `now` reaches
    `expires_at`; never without one. (`repository.expired_filter` is its SQL twin.)"""
    return expires_at is not None and expires_at <= now
