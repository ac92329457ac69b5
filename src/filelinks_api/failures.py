"""Failures classified once: what a driver, pool, store or disk failure means to a client.

Every exception that is not already a Stripe error is one of three kinds:

- **lock timeout**: a row or SQLite's write lock could not be had in time; Stripe's 429
  `lock_timeout`, retryable;
- **unavailable**: the database or the object store cannot be reached, did not answer in
  time, or the disk is full; a 503, retryable;
- **internal**: anything else; Stripe's 500 `api_error`, not retryable (its answer is final,
  as on Stripe).

What a client may retry is never stored as the final answer of an `Idempotency-Key`
(`keeps_result`): Stripe saves "the status code and body of the first request ... after
endpoint execution begins ... including 500 errors", and tells the SDKs to retry a 409, a
429 `lock_timeout` and a 503 (docs/stripe-behavior.md, "Idempotency after failures").
"""

from __future__ import annotations

import errno
from dataclasses import dataclass
from enum import StrEnum

import psycopg
from sqlalchemy.exc import DBAPIError, OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeout

from filelinks_api.errors import ApiError, LockTimeout, ServiceUnavailable, StripeError


class Kind(StrEnum):
    LOCK_TIMEOUT = "lock_timeout"
    UNAVAILABLE = "unavailable"
    INTERNAL = "internal"


@dataclass(frozen=True)
class Failure:
    kind: Kind
    error: StripeError
    source: str  # database, disk, or service
    unexpected: bool = False  # worth a traceback in the error log: not an outage, a bug


# The exception classes `classify` knows besides StripeError: the app installs one handler
# for them, inside the request log (so the log records the answer the client got).
CLASSIFIED: tuple[type[Exception], ...] = (DBAPIError, PoolTimeout, OSError)


class DatabaseTimeout(TimeoutError):
    """A unit of work on PostgreSQL got no answer within the database timeout."""


class WriteLockTimeout(TimeoutError):
    """A SQLite writer did not get the write lock in time (this process's queue included)."""


def database_unavailable() -> ServiceUnavailable:
    return ServiceUnavailable(
        "The service cannot reach its database right now; retry the request.",
        should_retry=True,
    )


def disk_full() -> ServiceUnavailable:
    return ServiceUnavailable(
        "The emulator's disk is full, so the upload could not be stored; free some space in"
        " its data directory and retry the request.",
        should_retry=True,
    )


# A machine out of something a retry may find again: file descriptors, memory, a file system
# remounted read-only (a disk error), a timeout of an OS-level operation.
_EXHAUSTED = {errno.EMFILE, errno.ENFILE, errno.ENOMEM, errno.EROFS, errno.ETIMEDOUT}


def out_of_resources(exc: OSError) -> ServiceUnavailable:
    return ServiceUnavailable(
        f"The emulator is out of resources right now ({exc.strerror or exc}); retry the request.",
        should_retry=True,
    )


def classify(exc: BaseException, request_id: str) -> Failure:
    """The one mapping from an exception to what the client is told (a StripeError, the
    store's 503 included, is told as it is)."""
    if isinstance(exc, StripeError):
        kind = Kind.INTERNAL
        if exc.status == 429:
            kind = Kind.LOCK_TIMEOUT
        elif exc.should_retry:
            kind = Kind.UNAVAILABLE
        return Failure(kind, exc, "service")
    if is_lock_timeout(exc):
        return Failure(Kind.LOCK_TIMEOUT, LockTimeout(), "database")
    if is_unreachable(exc) or isinstance(
        exc, (PoolTimeout, DatabaseTimeout, psycopg.OperationalError)
    ):
        return Failure(Kind.UNAVAILABLE, database_unavailable(), "database")
    if isinstance(exc, OSError) and exc.errno in (errno.ENOSPC, errno.EDQUOT):
        return Failure(Kind.UNAVAILABLE, disk_full(), "disk")
    if isinstance(exc, OSError) and exc.errno in _EXHAUSTED:
        return Failure(Kind.UNAVAILABLE, out_of_resources(exc), "service")
    source = "database" if isinstance(exc, DBAPIError) else "service"
    return Failure(Kind.INTERNAL, ApiError(request_id), source, unexpected=True)


def answer(exc: BaseException, request_id: str) -> tuple[StripeError, bool]:
    """`classify` as the wire's last resort takes it: the error, and whether it is a bug."""
    failure = classify(exc, request_id)
    return failure.error, failure.unexpected


def keeps_result(error: StripeError) -> bool:
    """Whether `error`, raised once an endpoint began executing, is the final answer of the
    request's Idempotency-Key. A retryable error never is: the retry runs the request."""
    return error.should_retry is not True


_LOCK_ERRORS = ("database is locked", "locknotavailable", "lock timeout", "could not obtain lock")


# PostgreSQL's SQLSTATEs for contention a retry resolves: lock_not_available (lock_timeout),
# deadlock_detected, serialization_failure.
_CONTENTION = {"55P03", "40P01", "40001"}
# ... and for a server that went away: connection exceptions (08*), operator intervention
# (57P01-57P03: shutdown, crash, cannot connect now), query_canceled by a statement timeout.
_GONE_PREFIXES = ("08", "57P0", "57014")


def _sqlstate(exc: BaseException) -> str | None:
    orig = getattr(exc, "orig", exc)
    state = getattr(orig, "sqlstate", None)
    return state if isinstance(state, str) else None


def is_lock_timeout(exc: BaseException) -> bool:
    """SQLite's busy timeout, PostgreSQL's lock_timeout, a deadlock or a serialization
    failure: contention that a retry resolves."""
    if isinstance(exc, WriteLockTimeout) or _sqlstate(exc) in _CONTENTION:
        return True
    if not isinstance(exc, OperationalError):
        return False
    text = f"{type(exc.orig).__name__} {exc.orig}".lower()
    return any(marker in text for marker in _LOCK_ERRORS)


_UNREACHABLE = (
    "connection timeout",
    "connection failed",
    "could not connect",
    "connection refused",
    "server closed the connection",
    "the connection is closed",
    "consuming input failed",
    "sending query failed",
    "canceling statement due to statement timeout",
    "querycanceled",
    "connection is lost",
    "terminating connection",
    "disk i/o error",
    "database or disk is full",
)


def is_unreachable(exc: BaseException) -> bool:
    """The database cannot be reached (down, silent past its timeouts, or dropped)."""
    state = _sqlstate(exc)
    if state is not None and state.startswith(_GONE_PREFIXES):
        return True
    if not isinstance(exc, DBAPIError):
        return False
    if exc.connection_invalidated:
        return True
    text = f"{type(exc.orig).__name__} {exc.orig}".lower()
    return any(marker in text for marker in _UNREACHABLE)
