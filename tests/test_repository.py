"""The compiled lookups (repository._Lookup): same values as SQLAlchemy's own execution,
SQLAlchemy's exceptions on failure."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import select
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import Session

from filelinks_api import ids, repository
from filelinks_api.db import Database
from filelinks_api.models import file_links, files, idempotency_keys
from filelinks_api.repository import Scope
from tests.conftest import file_row

LIVE = Scope("acct_lookuptest", True)


def add_file_and_link(session: Session) -> tuple[str, str, str]:
    file = repository.insert_file(
        session,
        file_row(LIVE.account, livemode=True, filename="été.pdf", size=12, sha256="a" * 64),
    )
    link = repository.insert_file_link(
        session,
        {
            "id": ids.file_link_id(),
            "account": LIVE.account,
            "livemode": True,
            "created": 1_800_000_001,
            "expires_at": 1_900_000_000,
            "file": file.id,
            "metadata": {"order": "6735", "note": "ünïcode"},
            "token": ids.link_token(),
        },
    )
    return file.id, link.id, link.token


class TestLookups:
    def test_a_link_reads_as_sqlalchemy_reads_it(self, session: Session) -> None:
        _, link_id, token = add_file_and_link(session)

        got = repository.get_file_link(session, LIVE, link_id)
        by_token = repository.get_file_link_by_token(session, token)
        want = session.execute(select(file_links).where(file_links.c.id == link_id)).one()

        assert got._asdict() == dict(want._mapping) == by_token._asdict()
        assert got.livemode is True  # a boolean, not SQLite's 1
        assert got.metadata == {"order": "6735", "note": "ünïcode"}  # decoded JSON

    def test_a_file_reads_as_sqlalchemy_reads_it(self, session: Session) -> None:
        file_id, _, _ = add_file_and_link(session)

        got = repository.get_file(session, LIVE, file_id)
        want = session.execute(select(files).where(files.c.id == file_id)).one()

        assert got._asdict() == dict(want._mapping)
        assert (got.filename, got.size) == ("été.pdf", 12)

    def test_an_idempotency_key_reads_as_sqlalchemy_reads_it(self, session: Session) -> None:
        values = {
            "account": LIVE.account,
            "livemode": True,
            "key": "key-1",
            "endpoint": "/v1/file_links",
            "digest": None,
            "created": 1_800_000_000,
            "started_at": 1_800_000_000.25,
            "request_id": "req_1",
        }
        seq = repository.insert_idempotency_key(session, values)
        repository.update_idempotency_key(session, seq, {"status": 200, "body": b"{}"})

        got = repository.get_idempotency_key(session, LIVE, "key-1")
        want = session.execute(select(idempotency_keys).where(idempotency_keys.c.seq == seq)).one()

        assert got._asdict() == dict(want._mapping)
        assert (got.started_at, got.body) == (1_800_000_000.25, b"{}")

    def test_other_scopes_and_unknown_ids_find_nothing(self, session: Session) -> None:
        file_id, link_id, _ = add_file_and_link(session)

        assert repository.get_file_link(session, Scope(LIVE.account, False), link_id) is None
        assert repository.get_file_link(session, Scope("acct_other", True), link_id) is None
        assert repository.get_file(session, LIVE, "file_missing") is None
        assert repository.get_file_link_by_token(session, "no-such-token") is None

    def test_reads_through_a_connection(self, database: Database, session: Session) -> None:
        # The read path hands the lookups a Connection, not a Session.
        _, link_id, _ = add_file_and_link(session)

        through_connection = repository.get_file_link(session.connection(), LIVE, link_id)

        assert through_connection == repository.get_file_link(session, LIVE, link_id)
        assert through_connection.metadata == {"order": "6735", "note": "ünïcode"}
        # The read engine's own connections see committed rows only: none of the test's.
        with database.reader() as connection:
            assert repository.get_file_link(connection, LIVE, link_id) is None


def test_a_driver_error_is_raised_as_sqlalchemys(tmp_path: Path) -> None:
    empty = Database.connect(f"sqlite:///{tmp_path / 'empty.db'}")  # no tables
    try:
        with empty.reader() as connection, pytest.raises(OperationalError, match="no such table"):
            repository.get_file_link(connection, LIVE, "link_x")
    finally:
        empty.dispose()
