"""The repository: typed rows that match their tables; the compiled lookups
(repository._Lookup) give the same values as SQLAlchemy's own execution and SQLAlchemy's
exceptions on failure; the public download and embedded links take one query each."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from sqlalchemy import event, select
from sqlalchemy.exc import DBAPIError, NoResultFound, OperationalError
from sqlalchemy.orm import Session

from filelinks_api import ids, repository
from filelinks_api.db import Database
from filelinks_api.models import (
    ROW_TYPES,
    FileLinkRow,
    FileRow,
    file_links,
    files,
    idempotency_keys,
    metadata,
)
from filelinks_api.repository import Scope
from filelinks_api.repository.fast import _CURSOR
from filelinks_api.repository.file_links import _GET_FILE_LINK
from tests.conftest import file_row

LIVE = Scope("acct_lookuptest", True)


def insert_file_and_link(
    session: Session, file: dict[str, object], link: dict[str, object]
) -> tuple[FileRow, FileLinkRow]:
    """A file of LIVE's, and a link to it: the rows the inserts returned."""
    file_row_ = repository.insert_file(session, file_row(LIVE.account, livemode=True, **file))
    link_row = repository.insert_file_link(
        session,
        {
            "id": ids.file_link_id(),
            "account": LIVE.account,
            "livemode": True,
            "created": 1_800_000_001,
            "expires_at": 1_900_000_000,
            "file": file_row_.id,
            "metadata": {"order": "6735", "note": "ünïcode"},
            "token": ids.link_token(),
            **link,
        },
    )
    return file_row_, link_row


def add_file_and_link(session: Session) -> tuple[str, str, str]:
    file, link = insert_file_and_link(
        session, {"filename": "été.pdf", "size": 12, "sha256": "a" * 64}, {}
    )
    return file.id, link.id, link.token


class TestLookups:
    def test_a_link_reads_as_sqlalchemy_reads_it(self, session: Session) -> None:
        _, link_id, token = add_file_and_link(session)

        got = repository.get_file_link(session, LIVE, link_id)
        want = session.execute(select(file_links).where(file_links.c.id == link_id)).one()

        assert got._asdict() == dict(want._mapping)
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
        assert repository.change_idempotency_claim(
            session, seq, "req_1", {"status": 200, "body": b"{}"}
        )
        assert not repository.change_idempotency_claim(session, seq, "req_1", {"status": 500})

        got = repository.get_idempotency_key(session, LIVE, "key-1")
        want = session.execute(select(idempotency_keys).where(idempotency_keys.c.seq == seq)).one()

        assert got._asdict() == dict(want._mapping)
        assert (got.started_at, got.body) == (1_800_000_000.25, b"{}")

    def test_other_scopes_and_unknown_ids_find_nothing(self, session: Session) -> None:
        file_id, link_id, _ = add_file_and_link(session)

        assert repository.get_file_link(session, Scope(LIVE.account, False), link_id) is None
        assert repository.get_file_link(session, Scope("acct_other", True), link_id) is None
        assert repository.get_file(session, LIVE, "file_missing") is None
        assert repository.get_public_file(session, "no-such-token") is None

    def test_statements_on_one_connection_each_read_only_their_own_rows(
        self, session: Session
    ) -> None:
        """On PostgreSQL a connection keeps one cursor for its statements (fast._driver_cursor):
        a lookup finding nothing after one that found a row finds nothing, and a statement
        that fails drops the cursor, the next one working on a new one. On SQLite each
        statement's cursor is closed after it."""
        _, link_id, _ = add_file_and_link(session)
        connection = session.connection()
        info = connection.connection.info

        assert repository.get_file_link(connection, LIVE, link_id).id == link_id
        kept = info.get(_CURSOR)
        assert repository.get_file_link(connection, LIVE, "link_NoSuchLink000000000") is None
        assert repository.get_file(connection, LIVE, "file_missing") is None
        if connection.dialect.name != "postgresql":
            assert kept is None
            return
        assert kept is not None
        assert info[_CURSOR] is kept  # the same cursor, kept
        savepoint = connection.begin_nested()
        with pytest.raises(DBAPIError):  # psycopg refuses a NUL in a text
            _GET_FILE_LINK.first(connection, {"account": "a\x00", "livemode": True, "value": "x"})
        savepoint.rollback()
        assert _CURSOR not in info
        assert repository.get_file_link(connection, LIVE, link_id).id == link_id
        assert info[_CURSOR][1] is not kept[1]

    def test_reads_through_a_connection(self, database: Database, session: Session) -> None:
        # The read path hands the lookups a Connection, not a Session.
        _, link_id, _ = add_file_and_link(session)

        through_connection = repository.get_file_link(session.connection(), LIVE, link_id)

        assert through_connection == repository.get_file_link(session, LIVE, link_id)
        assert through_connection.metadata == {"order": "6735", "note": "ünïcode"}

        # The read engine's own connections see committed rows only: none of the test's.
        assert asyncio.run(database.read(repository.get_file_link, LIVE, link_id)) is None


class TestReturning:
    """repository._Returning: the rows an insert or an update returns are the rows stored, as
    SQLAlchemy's own execution reads them."""

    def test_inserts_return_the_stored_rows(self, session: Session) -> None:
        file, link = insert_file_and_link(
            session, {"title": None, "expires_at": 1_900_000_000}, {"expires_at": None}
        )
        stored_file = session.execute(select(files).where(files.c.id == file.id)).one()
        stored_link = session.execute(select(file_links).where(file_links.c.id == link.id)).one()
        assert file._asdict() == dict(stored_file._mapping)
        assert link._asdict() == dict(stored_link._mapping)
        assert (file.livemode, link.livemode) == (True, True)  # booleans, not SQLite's 1
        assert link.metadata == {"order": "6735", "note": "ünïcode"}  # decoded JSON
        assert (file.title, file.expires_at, link.expires_at) == (None, 1_900_000_000, None)
        assert isinstance(link.seq, int)

    def test_updates_write_only_the_columns_given_and_return_the_row(
        self, session: Session
    ) -> None:
        _, link_id, token = add_file_and_link(session)
        link = repository.get_file_link(session, LIVE, link_id)
        assert link is not None

        got = repository.update_file_link(session, link.seq, {"metadata": {"ünï": "1"}})
        stored = session.execute(select(file_links).where(file_links.c.id == link_id)).one()
        assert got._asdict() == dict(stored._mapping)
        assert (got.metadata, got.expires_at, got.token) == ({"ünï": "1"}, 1_900_000_000, token)

        # another set of columns: a statement of its own
        got = repository.update_file_link(session, link.seq, {"expires_at": None, "metadata": {}})
        stored = session.execute(select(file_links).where(file_links.c.id == link_id)).one()
        assert got._asdict() == dict(stored._mapping)
        assert (got.metadata, got.expires_at) == ({}, None)

    def test_an_update_of_no_row_raises(self, session: Session) -> None:
        with pytest.raises(NoResultFound):
            repository.update_file_link(session, -1, {"metadata": {}})


class TestFirstPage:
    """A scope's first page with no filter (paging._first_page, compiled) is the page the
    general pager gives."""

    def test_is_the_general_pagers_page(self, session: Session) -> None:
        for _ in range(5):
            add_file_and_link(session)
        for table, row in ((file_links, FileLinkRow), (files, FileRow)):
            for limit in (1, 4, 5, 6, 100):
                fast = repository.page(
                    session,
                    table,
                    row,
                    LIVE,
                    [],
                    limit=limit,
                    starting_after=None,
                    ending_before=None,
                )
                general = repository.page(
                    session,
                    table,
                    row,
                    LIVE,
                    [table.c.seq > 0],
                    limit=limit,
                    starting_after=None,
                    ending_before=None,
                )
                assert [r._asdict() for r in fast.rows] == [r._asdict() for r in general.rows]
                assert fast.has_more == general.has_more == (limit < 5)
                assert all(type(r) is row for r in fast.rows)
        other = Scope(LIVE.account, False)
        assert (
            repository.page(
                session,
                file_links,
                FileLinkRow,
                other,
                [],
                limit=3,
                starting_after=None,
                ending_before=None,
            ).rows
            == []
        )


def test_a_driver_error_is_raised_as_sqlalchemys(tmp_path: Path) -> None:
    empty = Database.connect(f"sqlite:///{tmp_path / 'empty.db'}")  # no tables

    try:
        with pytest.raises(OperationalError, match="no such table"):
            asyncio.run(empty.read(repository.get_file_link, LIVE, "link_x"))
    finally:
        asyncio.run(empty.dispose())


def test_each_row_type_names_its_table_columns_in_order() -> None:
    for name, row in ROW_TYPES.items():
        assert row._fields == tuple(column.name for column in metadata.tables[name].c), name


class TestPublicFile:
    def test_finds_the_file_and_the_link_expiry_by_token(self, session: Session) -> None:
        file_id, _, token = add_file_and_link(session)

        found = repository.get_public_file(session, token)

        assert found is not None
        assert found.link_expires_at == 1_900_000_000
        assert found.file() == repository.get_file(session, LIVE, file_id)


class TestEmbeddedLinks:
    def test_many_files_take_one_query_and_keep_each_first_page(self, session: Session) -> None:
        file_ids = []
        for n in range(5):
            file = repository.insert_file(session, file_row(LIVE.account, livemode=True))
            file_ids.append(file.id)
            for created in range(n + 1):  # file n has n + 1 links
                repository.insert_file_link(
                    session,
                    {
                        "id": ids.file_link_id(),
                        "account": LIVE.account,
                        "livemode": True,
                        "created": 1_800_000_000 + created % 2,  # shared seconds
                        "expires_at": None,
                        "file": file.id,
                        "metadata": {},
                        "token": ids.link_token(),
                    },
                )
        statements: list[str] = []
        connection = session.connection()

        def count(_conn: object, _cursor: object, statement: str, *_: object) -> None:
            statements.append(statement)

        event.listen(connection, "before_cursor_execute", count)
        try:
            pages = repository.links_for_files(session, LIVE, file_ids, limit=3)
        finally:
            event.remove(connection, "before_cursor_execute", count)

        assert len(statements) == 1
        for n, file_id in enumerate(file_ids):
            one_by_one = repository.links_for_files(session, LIVE, [file_id], limit=3)[file_id]
            assert pages[file_id].rows == one_by_one.rows  # same links, same order
            assert pages[file_id].has_more is (n + 1 > 3)
            assert [link.file for link in pages[file_id].rows] == [file_id] * min(n + 1, 3)


@pytest.mark.parametrize("message", ["No such file upload", "No such file upload: 'file_\x00x'"])
def test_the_compiled_insert_stores_what_sqlalchemys_insert_stores(
    session: Session, message: str
) -> None:
    """repository.insert_request_logs (SQLite: _InsertMany's executemany; PostgreSQL: one JSON
    array, or the executemany when a JSON value holds a NUL) against the plain way."""
    from sqlalchemy import insert

    from filelinks_api.models import request_log

    def entry(request_id: str) -> dict[str, object]:
        return {
            "id": request_id,
            "account": LIVE.account,
            "livemode": True,
            "created": 1_800_000_000,
            "method": "POST",
            "path": "/v1/file_links",
            "query": "a=1",
            "status": 400,
            "duration_ms": 1.25,
            "idempotency_key": None,
            "idempotent_replayed": True,
            "stripe_version": "2026-06-24.dahlia",
            "stripe_account": None,
            "client": "stripe-python/16.1.0",
            "request": {"metadata": {"note": "ünïcode"}, "expand": ["file"]},
            "response": '{"error": {}}',
            "error": {"type": "invalid_request_error", "code": None, "message": message},
            "fault": {"id": "fault_1", "action": "error"},
        }

    repository.insert_request_logs(session, [entry("req_fast1"), entry("req_fast2")])
    session.execute(insert(request_log), [entry("req_plain")])

    rows = {
        row.id: row._asdict()
        for row in session.execute(select(request_log).where(request_log.c.account == LIVE.account))
    }
    plain = rows.pop("req_plain")
    assert set(rows) == {"req_fast1", "req_fast2"}
    for row in (*rows.values(), plain):
        del row["seq"], row["id"]
    for fast in rows.values():
        assert fast == plain
    assert plain["request"] == {"metadata": {"note": "ünïcode"}, "expand": ["file"]}
    assert plain["idempotent_replayed"] is True


def test_the_compiled_insert_stores_a_json_none_as_null(session: Session) -> None:
    """_InsertMany passes None as SQL NULL, a JSON column's included (SQLAlchemy's insert
    would serialize it as the JSON text `null`): read back, both are None."""
    from sqlalchemy import insert

    from filelinks_api.models import request_log

    entry: dict[str, object] = {
        "account": LIVE.account,
        "livemode": False,
        "created": 1_800_000_000,
        "method": "GET",
        "path": "/v1/files",
        "query": "",
        "status": 200,
        "duration_ms": 0.5,
        "idempotency_key": None,
        "idempotent_replayed": False,
        "stripe_version": None,
        "stripe_account": None,
        "client": None,
        "request": None,
        "response": None,
        "error": None,
        "fault": None,
    }
    repository.insert_request_logs(session, [{**entry, "id": "req_none_fast"}])
    session.execute(insert(request_log), [{**entry, "id": "req_none_plain"}])

    nulls = {
        row.id: (row.request_null, row.error_null, row.fault_null)
        for row in session.execute(
            select(
                request_log.c.id,
                request_log.c.request.is_(None).label("request_null"),
                request_log.c.error.is_(None).label("error_null"),
                request_log.c.fault.is_(None).label("fault_null"),
            ).where(request_log.c.id.in_(["req_none_fast", "req_none_plain"]))
        )
    }
    assert nulls["req_none_fast"] == (True, True, True)  # stored as SQL NULL
    rows = {
        row.id: (row.request, row.error, row.fault)
        for row in session.execute(
            select(request_log).where(request_log.c.id.in_(["req_none_fast", "req_none_plain"]))
        )
    }
    assert rows == {"req_none_fast": (None, None, None), "req_none_plain": (None, None, None)}
