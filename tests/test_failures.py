"""failures.classify: real driver, pool and disk exceptions, and what a client is told."""

from __future__ import annotations

import errno
import os
import sqlite3
from pathlib import Path

import psycopg
import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.exc import DBAPIError, OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeout

from filelinks_api.errors import ApiError, LockTimeout, ServiceUnavailable
from filelinks_api.failures import DatabaseTimeout, Kind, WriteLockTimeout, classify, keeps_result
from filelinks_api.storage import StoreUnavailable


def sqlite_locked(tmp_path: Path) -> OperationalError:
    path = tmp_path / "locked.db"
    holder = sqlite3.connect(path, isolation_level=None)
    holder.execute("BEGIN IMMEDIATE")
    engine = create_engine(f"sqlite:///{path}", connect_args={"timeout": 0})
    try:
        with engine.begin() as connection:
            connection.execute(text("CREATE TABLE t (x)"))
    except OperationalError as exc:
        return exc
    finally:
        holder.close()
        engine.dispose()
    raise AssertionError("the lock was not held")


def postgres_refused() -> OperationalError:
    engine = create_engine("postgresql+psycopg://postgres@127.0.0.1:1/x")
    try:
        engine.connect()
    except OperationalError as exc:
        return exc
    finally:
        engine.dispose()
    raise AssertionError("something listens on port 1")


class TestClassify:
    def test_a_held_sqlite_lock_is_the_retryable_429(self, tmp_path: Path) -> None:
        failure = classify(sqlite_locked(tmp_path), "req_1")
        assert failure.kind is Kind.LOCK_TIMEOUT
        assert isinstance(failure.error, LockTimeout)
        assert failure.error.should_retry is True

    @pytest.mark.parametrize(
        "exc",
        [
            postgres_refused(),
            PoolTimeout("QueuePool limit of size 8 overflow 0 reached"),
            DatabaseTimeout("no answer within 2 s"),
        ],
        ids=["refused", "pool", "silent"],
    )
    def test_an_unreachable_database_is_the_retryable_503(self, exc: Exception) -> None:
        failure = classify(exc, "req_1")
        assert (failure.kind, failure.source, failure.unexpected) == (
            Kind.UNAVAILABLE,
            "database",
            False,
        )
        assert failure.error.status == 503
        assert failure.error.should_retry is True

    def test_a_full_disk_is_a_retryable_503(self) -> None:
        failure = classify(OSError(errno.ENOSPC, "No space left on device"), "req_1")
        assert failure.kind is Kind.UNAVAILABLE
        assert "disk is full" in failure.error.message

    def test_anything_else_is_an_internal_500(self) -> None:
        failure = classify(KeyError("x"), "req_abc")
        assert failure.kind is Kind.INTERNAL
        assert failure.unexpected
        assert isinstance(failure.error, ApiError)
        assert "req_abc" in failure.error.message
        assert failure.error.should_retry is False

    def test_a_store_outage_is_told_as_it_is(self) -> None:
        outage = StoreUnavailable("connection refused")
        failure = classify(outage, "req_1")
        assert failure.error is outage
        assert failure.kind is Kind.UNAVAILABLE


class TestKeepsResult:
    def test_retryable_answers_are_never_kept(self) -> None:
        assert not keeps_result(LockTimeout())
        assert not keeps_result(ServiceUnavailable("down"))

    def test_a_500_is_kept_as_on_stripe(self) -> None:
        assert keeps_result(ApiError("req_1"))


class TestClassifyMore:
    @pytest.mark.parametrize(
        "orig", [psycopg.errors.DeadlockDetected(), psycopg.errors.SerializationFailure()]
    )
    def test_postgres_contention_is_the_retryable_429(self, orig: Exception) -> None:
        failure = classify(DBAPIError("UPDATE ...", {}, orig), "req_1")
        assert failure.kind is Kind.LOCK_TIMEOUT
        assert not failure.unexpected

    def test_a_server_shutting_down_is_unavailable(self) -> None:
        failure = classify(DBAPIError("SELECT 1", {}, psycopg.errors.AdminShutdown()), "req_1")
        assert failure.kind is Kind.UNAVAILABLE

    @pytest.mark.parametrize("code", [errno.EMFILE, errno.ENOMEM, errno.EROFS])
    def test_a_machine_out_of_resources_is_a_retryable_503(self, code: int) -> None:
        failure = classify(OSError(code, os.strerror(code)), "req_1")
        assert failure.kind is Kind.UNAVAILABLE
        assert failure.error.should_retry is True


def test_a_writer_that_waited_too_long_in_the_queue_is_the_429() -> None:
    failure = classify(WriteLockTimeout("queue"), "req_1")
    assert failure.kind is Kind.LOCK_TIMEOUT
    assert isinstance(failure.error, LockTimeout)
