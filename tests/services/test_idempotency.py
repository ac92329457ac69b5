"""services/idempotency: a claim's statements; prune: a key lives 24 hours by its own
account's clock."""

from __future__ import annotations

import sqlite3
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager

import pytest
from psycopg.pq import Trace
from sqlalchemy import insert, select
from sqlalchemy.orm import Session

from filelinks_api import repository
from filelinks_api.errors import IdempotencyError
from filelinks_api.models import idempotency_keys
from filelinks_api.repository import Scope
from filelinks_api.services import idempotency
from filelinks_api.services.idempotency import Claim, Stored

REAL_NOW = 1_800_000_000
HOUR = 3600
ON_REAL_TIME = Scope("acct_prune_real", False)
FROZEN_IN_THE_PAST = Scope("acct_prune_frozen", False)
MOVED_AHEAD = Scope("acct_prune_ahead", True)


def add_key(session: Session, scope: Scope, key: str, created: int) -> None:
    session.execute(
        insert(idempotency_keys).values(
            account=scope.account,
            livemode=scope.livemode,
            key=key,
            endpoint="/v1/file_links",
            digest=None,
            created=created,
            started_at=0.0,
            status=200,
            body=b"{}",
            request_id="req_x",
        )
    )


def kept(session: Session) -> set[str]:
    accounts = {scope.account for scope in (ON_REAL_TIME, FROZEN_IN_THE_PAST, MOVED_AHEAD)}
    rows = session.execute(
        select(idempotency_keys.c.key).where(idempotency_keys.c.account.in_(accounts))
    )
    return set(rows.scalars())


def test_each_key_is_pruned_by_its_accounts_clock(session: Session) -> None:
    past = REAL_NOW - 10 * 24 * HOUR
    repository.save_account_clock(session, FROZEN_IN_THE_PAST, past, past - REAL_NOW)
    repository.save_account_clock(session, MOVED_AHEAD, None, 2 * 24 * HOUR)
    add_key(session, ON_REAL_TIME, "real-25h", REAL_NOW - 25 * HOUR)
    add_key(session, ON_REAL_TIME, "real-23h", REAL_NOW - 23 * HOUR)
    add_key(session, FROZEN_IN_THE_PAST, "frozen-25h", past - 25 * HOUR)
    add_key(session, FROZEN_IN_THE_PAST, "frozen-1h", past - HOUR)
    add_key(session, MOVED_AHEAD, "ahead-25h", REAL_NOW + 23 * HOUR)
    add_key(session, MOVED_AHEAD, "ahead-1h", REAL_NOW + 47 * HOUR)

    idempotency.prune(session, REAL_NOW)

    assert kept(session) == {"real-23h", "frozen-1h", "ahead-1h"}


@contextmanager
def statements_sent(session: Session) -> Iterator[list[str]]:
    """Every statement the session's connection sends its database, whichever way it goes
    (SQLAlchemy's, or the repository's fast path on the driver's own cursor): filled in when
    the block ends. On PostgreSQL, libpq's trace of the protocol: a simple query (BEGIN,
    SAVEPOINT) or a Bind (every execution of a statement, prepared or not)."""
    raw = session.connection().connection.dbapi_connection
    sent: list[str] = []
    if isinstance(raw, sqlite3.Connection):
        raw.set_trace_callback(sent.append)
        try:
            yield sent
        finally:
            raw.set_trace_callback(None)
        return
    pgconn = raw.pgconn  # type: ignore[union-attr]
    with tempfile.TemporaryFile("w+") as trace:
        pgconn.trace(trace.fileno())
        pgconn.set_trace_flags(Trace.SUPPRESS_TIMESTAMPS | Trace.REGRESS_MODE)
        try:
            yield sent
        finally:
            pgconn.untrace()
            trace.seek(0)
            for line in trace:
                fields = line.split("\t")
                if fields[0] == "F" and fields[2].startswith(("Query", "Bind")):
                    sent.append(fields[2])


def test_a_new_key_is_claimed_by_one_statement_and_a_retry_finds_its_answer(
    session: Session,
) -> None:
    """The common case (an SDK sends a new key with every POST it may retry): one INSERT
    that does nothing where the key has a row, no read before it and no savepoint around it
    (which made a PostgreSQL claim six round trips with its BEGIN and COMMIT)."""
    scope = Scope("acct_claims", False)

    def claim(request_id: str, digest: str = "0" * 64) -> Claim | Stored:
        return idempotency.claim(
            session,
            scope,
            "k-1",
            endpoint="/v1/file_links",
            params_digest=digest,
            now=REAL_NOW,
            request_id=request_id,
        )

    with statements_sent(session) as sent:
        first = claim("req_1")
    assert isinstance(first, Claim)
    assert len(sent) == 1, sent
    idempotency.store(session, first, 200, b'{"id": "link_1"}')
    assert claim("req_2") == Stored(status=200, body=b'{"id": "link_1"}', request_id="req_1")
    with pytest.raises(IdempotencyError, match="same parameters"):
        claim("req_3", digest="1" * 64)
