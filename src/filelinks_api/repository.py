"""Account-scoped SQL for files and file links, and the one list pager.

Lists are newest first, ordered by (created, seq): `seq` is monotonic, so objects sharing a
`created` second page through with neither a skip nor a repeat. Every query is scoped to
(account, livemode), which leads each index.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, Generic, NamedTuple, TypeAlias, TypeVar

from sqlalchemy import (
    ColumnElement,
    Connection,
    Table,
    and_,
    bindparam,
    case,
    delete,
    func,
    insert,
    or_,
    select,
    tuple_,
    update,
)
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.exc import DBAPIError, IntegrityError
from sqlalchemy.orm import Session

from filelinks_api.models import (
    AccountClockRow,
    FaultRuleRow,
    FileLinkRow,
    FileRow,
    IdempotencyKeyRow,
    RequestLogRow,
    account_clocks,
    clock_epoch,
    clock_listeners,
    fault_rules,
    file_links,
    files,
    idempotency_keys,
    request_log,
)

# What the functions here run their SQL on: a write session, or a connection for reads.
Executor: TypeAlias = Session | Connection


@dataclass(frozen=True)
class Scope:
    account: str
    livemode: bool


R = TypeVar("R", FileRow, FileLinkRow, RequestLogRow)
_Row = TypeVar("_Row", bound=tuple[Any, ...])


@dataclass
class Page(Generic[R]):
    rows: Sequence[R]
    has_more: bool


class CursorNotFound(LookupError):
    def __init__(self, param: str, object_id: str) -> None:
        super().__init__(object_id)
        self.param = param
        self.object_id = object_id


def _storable(text: str) -> bool:
    """Whether `text` could be a stored id or token. An id from a URL path may hold a NUL,
    which no row holds and PostgreSQL refuses in a query (a 500 instead of a 404)."""
    return "\x00" not in text


def _dialect_name(executor: Executor) -> str:
    return (executor.get_bind() if isinstance(executor, Session) else executor).dialect.name


def _scoped(table: Table, scope: Scope) -> ColumnElement[bool]:
    return and_(table.c.account == scope.account, table.c.livemode == scope.livemode)


class _Lookup(Generic[_Row]):
    """A one-row SELECT built and compiled once per dialect, run on the driver's own cursor.

    For a lookup by a unique key, SQLAlchemy's execution path (execution context, cursor
    result, Row) costs more than the query: inside a request, a retrieve's read took about
    110 µs through `Connection.execute` and 63 µs this way (SQLite; the query alone is 7).
    Values still pass through the column types' own result processors (SQLite's booleans,
    JSON), into the row's named tuple. DBAPI errors are wrapped as SQLAlchemy's, and a dropped
    connection is invalidated, as `execute` would. It works on the DBAPI connection SQLAlchemy
    hands out, psycopg's async one included (SQLAlchemy's adapter awaits it in the greenlet).

    Uses SQLAlchemy's dialect-level API (compile, result processors, is_disconnect): pinned
    to the SQLAlchemy minor version tests/test_repository.py covers (pyproject).
    """

    def __init__(self, statement: Any, row: type[_Row]) -> None:
        self.statement = statement
        names = tuple(column.name for column in statement.selected_columns)
        assert names == row._fields, (names, row._fields)  # type: ignore[attr-defined]
        self.row = row
        self._compiled: dict[str, tuple[str, tuple[str, ...] | None]] = {}
        self._converters: dict[str, list[Any]] = {}

    def _compile(self, dialect: Any) -> tuple[str, tuple[str, ...] | None]:
        compiled = self.statement.compile(dialect=dialect)
        order = tuple(compiled.positiontup) if compiled.positional else None
        return compiled.string, order

    def _processors(self, dialect: Any, description: Any) -> list[Any]:
        # Some processors depend on the type the driver reports (PostgreSQL numerics).
        return [
            column.type.dialect_impl(dialect).result_processor(dialect, described[1])
            for column, described in zip(self.statement.selected_columns, description, strict=True)
        ]

    def first(self, executor: Executor, params: dict[str, Any]) -> _Row | None:
        connection = executor.connection() if isinstance(executor, Session) else executor
        dialect = connection.dialect
        compiled = self._compiled.get(dialect.name)
        if compiled is None:
            compiled = self._compiled[dialect.name] = self._compile(dialect)
        sql, order = compiled
        bound = tuple(params[name] for name in order) if order is not None else params
        with _driver_cursor(connection, sql, bound) as cursor:
            cursor.execute(sql, bound)
            row = cursor.fetchone()
            processors = self._converters.get(dialect.name)
            if processors is None:
                processors = self._processors(dialect, cursor.description)
                self._converters[dialect.name] = processors
        if row is None:
            return None
        return self.row._make(  # type: ignore[attr-defined]
            value if process is None else process(value)
            for process, value in zip(processors, row, strict=True)
        )


@contextmanager
def _driver_cursor(connection: Connection, sql: str, params: Any) -> Iterator[Any]:
    """The driver's cursor; its errors raised as SQLAlchemy's, a dropped connection
    invalidated, as `Connection.execute` does."""
    dialect = connection.dialect
    cursor = connection.connection.cursor()
    try:
        yield cursor
    except dialect.loaded_dbapi.Error as exc:
        invalidated = dialect.is_disconnect(exc, connection.connection, cursor)
        if invalidated:
            connection.invalidate(exc)
        raise DBAPIError.instance(
            sql,
            params,
            exc,
            dialect.loaded_dbapi.Error,
            connection_invalidated=invalidated,
            dialect=dialect,
        ) from exc
    finally:
        cursor.close()


class _InsertMany:
    """An INSERT of many rows into `table`, compiled once per dialect and run with the
    driver's executemany, values through the column types' own bind processors (JSON,
    SQLite's booleans). For the request log, written on every request: a logged retrieve,
    one entry per batch, took 716 µs in-process with the insert through `Connection.execute`
    and 377 µs this way (bench/asgi_cost.py, SQLite). Same pin as _Lookup."""

    def __init__(self, table: Table) -> None:
        self.columns = [column for column in table.c if not column.primary_key]
        self.statement = insert(table).values(
            {column.name: bindparam(column.name) for column in self.columns}
        )
        self._compiled: dict[str, tuple[str, tuple[str, ...] | None, dict[str, Any]]] = {}

    def _compile(self, dialect: Any) -> tuple[str, tuple[str, ...] | None, dict[str, Any]]:
        compiled = self.statement.compile(dialect=dialect)
        order = tuple(compiled.positiontup or ()) if compiled.positional else None
        binders = {
            column.name: column.type.dialect_impl(dialect).bind_processor(dialect)
            for column in self.columns
        }
        return compiled.string, order, {k: v for k, v in binders.items() if v is not None}

    def run(self, executor: Executor, rows: Sequence[dict[str, Any]]) -> None:
        connection = executor.connection() if isinstance(executor, Session) else executor
        dialect = connection.dialect
        compiled = self._compiled.get(dialect.name)
        if compiled is None:
            compiled = self._compiled[dialect.name] = self._compile(dialect)
        sql, order, binders = compiled
        processed = [
            {k: (binders[k](v) if k in binders else v) for k, v in row.items()} for row in rows
        ]
        bound: list[Any] = (
            [tuple(row[name] for name in order) for row in processed]
            if order is not None
            else processed
        )
        with _driver_cursor(connection, sql, bound) as cursor:
            cursor.executemany(sql, bound)


def _by_scope_and(table: Table, column: str, row: type[_Row]) -> _Lookup[_Row]:
    return _Lookup(
        select(table).where(
            table.c.account == bindparam("account"),
            table.c.livemode == bindparam("livemode"),
            table.c[column] == bindparam("value"),
        ),
        row,
    )


class PublicFileRow(NamedTuple):
    """A link's expiry and its file's columns, found by the link's token in one query."""

    link_expires_at: int | None
    seq: int
    id: str
    account: str
    livemode: bool
    created: int
    expires_at: int | None
    filename: str | None
    purpose: str
    size: int
    title: str | None
    type: str | None
    sha256: str

    def file(self) -> FileRow:
        return FileRow._make(self[1:])


_GET_FILE = _by_scope_and(files, "id", FileRow)
_GET_FILE_LINK = _by_scope_and(file_links, "id", FileLinkRow)
_GET_FILE_LINK_FOR_UPDATE = _Lookup(_GET_FILE_LINK.statement.with_for_update(), FileLinkRow)
_GET_PUBLIC_FILE = _Lookup(
    select(file_links.c.expires_at.label("link_expires_at"), *files.c)
    .select_from(file_links.join(files, files.c.id == file_links.c.file))
    .where(file_links.c.token == bindparam("token")),
    PublicFileRow,
)
_GET_IDEMPOTENCY_KEY = _by_scope_and(idempotency_keys, "key", IdempotencyKeyRow)
_GET_REQUEST_LOG = _by_scope_and(request_log, "id", RequestLogRow)
_INSERT_REQUEST_LOGS = _InsertMany(request_log)
# Inserts and updates take their columns from the parameters they are executed with.
_INSERT_FILE = insert(files).returning(*files.c)
_INSERT_FILE_LINK = insert(file_links).returning(*file_links.c)
_INSERT_IDEMPOTENCY_KEY = insert(idempotency_keys).returning(idempotency_keys.c.seq)
_UPDATE_FILE_LINK = (
    update(file_links).where(file_links.c.seq == bindparam("row_seq")).returning(*file_links.c)
)


def _lookup(session: Executor, lookup: _Lookup[_Row], scope: Scope, value: str) -> _Row | None:
    return lookup.first(
        session, {"account": scope.account, "livemode": scope.livemode, "value": value}
    )


def created_filter(table: Table, created: int | Mapping[str, int] | None) -> list[Any]:
    if created is None:
        return []
    column = table.c.created
    if isinstance(created, int):
        return [column == created]
    ops = {"gt": column.__gt__, "gte": column.__ge__, "lt": column.__lt__, "lte": column.__le__}
    return [ops[key](value) for key, value in created.items()]


def page(
    session: Executor,
    table: Table,
    row: type[R],
    scope: Scope,
    conditions: list[Any],
    *,
    limit: int,
    starting_after: str | None,
    ending_before: str | None,
) -> Page:
    where = [_scoped(table, scope), *conditions]
    key = tuple_(table.c.created, table.c.seq)
    backwards = False
    cursor_id = starting_after or ending_before
    if cursor_id is not None:
        param = "starting_after" if starting_after else "ending_before"
        cursor = (
            session.execute(
                select(table.c.created, table.c.seq).where(
                    _scoped(table, scope), table.c.id == cursor_id
                )
            ).first()
            if _storable(cursor_id)
            else None
        )
        if cursor is None:
            raise CursorNotFound(param, cursor_id)
        position = tuple_(cursor.created, cursor.seq)
        if starting_after:
            where.append(key < position)
        else:
            where.append(key > position)
            backwards = True
    query = select(table).where(*where).limit(limit + 1)
    if backwards:
        query = query.order_by(table.c.created.asc(), table.c.seq.asc())
    else:
        query = query.order_by(table.c.created.desc(), table.c.seq.desc())
    rows = [row._make(values) for values in session.execute(query)]
    has_more = len(rows) > limit
    rows = rows[:limit]
    if backwards:
        rows.reverse()
    return Page(rows=rows, has_more=has_more)


# --- files ----------------------------------------------------------------------------------


def insert_file(session: Executor, values: dict[str, Any]) -> FileRow:
    """The new row, as stored (RETURNING: no second query)."""
    return FileRow._make(session.execute(_INSERT_FILE, values).one())


def get_file(session: Executor, scope: Scope, file_id: str) -> FileRow | None:
    if not _storable(file_id):
        return None
    return _lookup(session, _GET_FILE, scope, file_id)


def get_files(session: Executor, scope: Scope, file_ids: set[str]) -> dict[str, FileRow]:
    if not file_ids:
        return {}
    rows = session.execute(select(files).where(_scoped(files, scope), files.c.id.in_(file_ids)))
    return {row.id: FileRow._make(row) for row in rows}


# --- file links -----------------------------------------------------------------------------


def insert_file_link(session: Executor, values: dict[str, Any]) -> FileLinkRow:
    """The new row, as stored (RETURNING: no second query)."""
    return FileLinkRow._make(session.execute(_INSERT_FILE_LINK, values).one())


def get_file_link(
    session: Executor, scope: Scope, link_id: str, *, for_update: bool = False
) -> FileLinkRow | None:
    if not _storable(link_id):
        return None
    statement = _GET_FILE_LINK_FOR_UPDATE if for_update else _GET_FILE_LINK
    return _lookup(session, statement, scope, link_id)


def get_public_file(session: Executor, token: str) -> PublicFileRow | None:
    """The file behind a link token and the link's expiry: one query, no account needed."""
    if not _storable(token):
        return None
    return _GET_PUBLIC_FILE.first(session, {"token": token})


def update_file_link(session: Executor, seq: int, values: dict[str, Any]) -> FileLinkRow:
    """The updated row (RETURNING: no second query)."""
    return FileLinkRow._make(session.execute(_UPDATE_FILE_LINK, {"row_seq": seq, **values}).one())


def expired_filter(expired: bool | None, now: int) -> list[Any]:
    if expired is None:
        return []
    column = file_links.c.expires_at
    if expired:
        return [column.is_not(None), column <= now]
    return [or_(column.is_(None), column > now)]


def links_for_files(
    session: Executor, scope: Scope, file_ids: Sequence[str], limit: int
) -> dict[str, Page[FileLinkRow]]:
    """The first page of links of each file (newest first), as embedded in `file.links`: one
    query for any number of files (a window numbering each file's links, newest first)."""
    if not file_ids:
        return {}
    if len(file_ids) == 1:  # the common case (a retrieve): the plain indexed page
        return {
            file_ids[0]: page(
                session,
                file_links,
                FileLinkRow,
                scope,
                [file_links.c.file == file_ids[0]],
                limit=limit,
                starting_after=None,
                ending_before=None,
            )
        }
    position = (
        func.row_number()
        .over(
            partition_by=file_links.c.file,
            order_by=(file_links.c.created.desc(), file_links.c.seq.desc()),
        )
        .label("position")
    )
    numbered = (
        select(file_links, position)
        .where(_scoped(file_links, scope), file_links.c.file.in_(set(file_ids)))
        .subquery()
    )
    query = (
        select(*(numbered.c[column.name] for column in file_links.c))
        .where(numbered.c.position <= limit + 1)
        .order_by(numbered.c.file, numbered.c.position)
    )
    found: dict[str, list[FileLinkRow]] = {file_id: [] for file_id in file_ids}
    for values in session.execute(query):
        link = FileLinkRow._make(values)
        found[link.file].append(link)
    return {
        file_id: Page(rows=rows[:limit], has_more=len(rows) > limit)
        for file_id, rows in found.items()
    }


# --- idempotency keys -----------------------------------------------------------------------


def get_idempotency_key(session: Executor, scope: Scope, key: str) -> IdempotencyKeyRow | None:
    return _lookup(session, _GET_IDEMPOTENCY_KEY, scope, key)


def insert_idempotency_key(session: Executor, values: dict[str, Any]) -> int | None:
    """The new claim's seq, or None when the key is already claimed (the insert ran in a
    savepoint, so the caller's transaction goes on)."""
    try:
        with session.begin_nested():
            return int(session.execute(_INSERT_IDEMPOTENCY_KEY, values).scalar_one())
    except IntegrityError:
        return None


def take_over_idempotency_key(
    session: Executor,
    seq: int,
    started_at: float,
    now: float,
    request_id: str,
    digest: str | None,
) -> bool:
    """Claim an abandoned key, unless another request took it over first."""
    result = session.execute(
        update(idempotency_keys)
        .where(
            idempotency_keys.c.seq == seq,
            idempotency_keys.c.status.is_(None),
            idempotency_keys.c.started_at == started_at,
        )
        .values(started_at=now, request_id=request_id, digest=digest)
    )
    return result.rowcount == 1  # type: ignore[attr-defined]


def change_idempotency_claim(
    session: Executor, seq: int, owner: str, values: dict[str, Any] | None
) -> bool:
    """Update the owner's claim with `values` (its response, a renewed lease) or, with None,
    delete it; False when the claim is no longer `owner`'s (its lease lapsed and another
    request took it over)."""
    owned = (
        idempotency_keys.c.seq == seq,
        idempotency_keys.c.request_id == owner,
        idempotency_keys.c.status.is_(None),
    )
    if values is None:
        result = session.execute(delete(idempotency_keys).where(*owned))
    else:
        result = session.execute(update(idempotency_keys).where(*owned).values(**values))
    return result.rowcount == 1  # type: ignore[attr-defined]


def delete_idempotency_key(session: Executor, seq: int) -> None:
    session.execute(delete(idempotency_keys).where(idempotency_keys.c.seq == seq))


def prune_idempotency_keys(session: Executor, real_now: int, ttl: int) -> int:
    """Delete the keys created `ttl` seconds or more before their account's time: real time
    (`real_now`), unless the scope's test clock is frozen or moved."""
    clock = account_clocks.c
    clock_now = case(
        (clock.frozen_at.is_not(None), clock.frozen_at), else_=real_now + clock.offset_seconds
    )
    latest = session.execute(select(func.max(clock_now))).scalar()
    key = idempotency_keys.c
    their_now = (
        select(clock_now)
        .where(clock.account == key.account, clock.livemode == key.livemode)
        .scalar_subquery()
    )
    result = session.execute(
        delete(idempotency_keys).where(
            # no key is older than this, whatever its clock (the index on `created`)
            key.created <= max(real_now, latest or real_now) - ttl,
            key.created <= func.coalesce(their_now, real_now) - ttl,
        )
    )
    return int(result.rowcount)  # type: ignore[attr-defined]


# --- emulator controls ------------------------------------------------------------------------


def all_account_clocks(session: Executor) -> list[AccountClockRow]:
    return [AccountClockRow._make(row) for row in session.execute(select(account_clocks))]


def _upsert_account_clock(
    session: Executor, scope: Scope, frozen_at: int | None, offset: int, changes: dict[str, Any]
) -> AccountClockRow:
    """Insert the scope's clock row, or apply `changes` to the one there, in one statement
    (two processes changing one clock at once both count, and neither hits the key)."""
    upsert = pg_insert if _dialect_name(session) == "postgresql" else sqlite_insert
    statement = upsert(account_clocks).values(
        account=scope.account,
        livemode=scope.livemode,
        frozen_at=frozen_at,
        offset_seconds=offset,
    )
    upserted = statement.on_conflict_do_update(
        index_elements=[account_clocks.c.account, account_clocks.c.livemode], set_=changes
    ).returning(*account_clocks.c)
    return AccountClockRow._make(session.execute(upserted).one())


def save_account_clock(
    session: Executor, scope: Scope, frozen_at: int | None, offset: int
) -> AccountClockRow:
    return _upsert_account_clock(
        session, scope, frozen_at, offset, {"frozen_at": frozen_at, "offset_seconds": offset}
    )


def advance_account_clock(session: Executor, scope: Scope, seconds: int) -> AccountClockRow:
    """Move the scope's clock `seconds` forward, as stored now: a frozen one's `frozen_at`
    and a running one's offset (a scope without a row runs on real time: offset 0)."""
    column = account_clocks.c
    return _upsert_account_clock(
        session,
        scope,
        None,
        seconds,
        {
            "frozen_at": column.frozen_at + seconds,
            "offset_seconds": column.offset_seconds + seconds,
        },
    )


def delete_account_clock(session: Executor, scope: Scope) -> bool:
    """Back to real time; whether the scope had a clock of its own."""
    result = session.execute(delete(account_clocks).where(_scoped(account_clocks, scope)))
    return bool(result.rowcount)  # type: ignore[attr-defined]


# --- the clocks' change channel (PostgreSQL; services/clock_sync.py) ---------------------------


def bump_clock_epoch(session: Executor, channel: str) -> int:
    """Count one more clock change and NOTIFY `channel` of it (delivered when this commits)."""
    epoch = int(
        session.execute(
            update(clock_epoch)
            .where(clock_epoch.c.id == 1)
            .values(epoch=clock_epoch.c.epoch + 1)
            .returning(clock_epoch.c.epoch)
        ).scalar_one()
    )
    session.execute(select(func.pg_notify(channel, str(epoch))))
    return epoch


def current_clock_epoch(session: Executor) -> int:
    return int(
        session.execute(select(clock_epoch.c.epoch).where(clock_epoch.c.id == 1)).scalar_one()
    )


def save_clock_listener(session: Executor, listener: str, seen_epoch: int) -> None:
    """Record (or refresh) a listener: the last change it applied, and a heartbeat now."""
    row = {"id": listener, "seen_epoch": seen_epoch, "heartbeat_at": func.now()}
    statement = pg_insert(clock_listeners).values(row)
    session.execute(
        statement.on_conflict_do_update(
            index_elements=[clock_listeners.c.id],
            set_={"seen_epoch": statement.excluded.seen_epoch, "heartbeat_at": func.now()},
        )
    )


def clock_listeners_behind(session: Executor, epoch: int, alive_seconds: float) -> int:
    """Listeners with a heartbeat in the last `alive_seconds` that have not applied `epoch`."""
    alive = clock_listeners.c.heartbeat_at > func.now() - func.make_interval(
        0, 0, 0, 0, 0, 0, alive_seconds
    )
    return int(
        session.execute(
            select(func.count())
            .select_from(clock_listeners)
            .where(clock_listeners.c.seen_epoch < epoch, alive)
        ).scalar_one()
    )


def delete_clock_listener(session: Executor, listener: str) -> None:
    session.execute(delete(clock_listeners).where(clock_listeners.c.id == listener))


def delete_scope_data(session: Executor, scope: Scope) -> list[str]:
    """Delete a scope's links, files, idempotency keys and request log; returns the deleted
    file ids."""
    file_ids = list(session.execute(select(files.c.id).where(_scoped(files, scope))).scalars())
    session.execute(delete(file_links).where(_scoped(file_links, scope)))
    session.execute(delete(files).where(_scoped(files, scope)))
    session.execute(delete(idempotency_keys).where(_scoped(idempotency_keys, scope)))
    delete_request_log(session, scope)
    delete_fault_rules(session, scope)
    return file_ids


# --- fault rules (emulator) ------------------------------------------------------------------


def insert_fault_rule(session: Executor, values: dict[str, Any]) -> FaultRuleRow:
    return FaultRuleRow._make(
        session.execute(insert(fault_rules).returning(*fault_rules.c), values).one()
    )


def fault_rules_of(session: Executor, scope: Scope, *, live: bool = False) -> list[FaultRuleRow]:
    """The scope's rules, oldest first (the order they apply in); with `live`, only those
    that still act (the scope's index, then a few rows)."""
    query = select(fault_rules).where(_scoped(fault_rules, scope)).order_by(fault_rules.c.seq)
    if live:
        query = query.where(fault_rules.c.remaining > 0)
    return [FaultRuleRow._make(row) for row in session.execute(query)]


def get_fault_rule(session: Executor, scope: Scope, rule_id: str) -> FaultRuleRow | None:
    if not _storable(rule_id):
        return None
    row = session.execute(
        select(fault_rules).where(_scoped(fault_rules, scope), fault_rules.c.id == rule_id)
    ).first()
    return FaultRuleRow._make(row) if row is not None else None


def spend_fault_rule(session: Executor, seq: int) -> int | None:
    """Count one use of a rule: its `remaining` after, or None if it had none left. Atomic
    on both engines: the guard is re-checked on the row as it is when the update takes it
    (PostgreSQL re-reads a row another transaction changed; SQLite writers are serialized)."""
    remaining = session.execute(
        update(fault_rules)
        .where(fault_rules.c.seq == seq, fault_rules.c.remaining > 0)
        .values(remaining=fault_rules.c.remaining - 1)
        .returning(fault_rules.c.remaining)
    ).scalar_one_or_none()
    return None if remaining is None else int(remaining)


def scopes_with_live_fault_rules(session: Executor) -> list[Scope]:
    rows = session.execute(
        select(fault_rules.c.account, fault_rules.c.livemode)
        .where(fault_rules.c.remaining > 0)
        .distinct()
    )
    return [Scope(account, livemode) for account, livemode in rows]


def delete_fault_rule(session: Executor, scope: Scope, rule_id: str) -> bool:
    if not _storable(rule_id):
        return False
    result = session.execute(
        delete(fault_rules).where(_scoped(fault_rules, scope), fault_rules.c.id == rule_id)
    )
    return result.rowcount == 1  # type: ignore[attr-defined]


def delete_fault_rules(session: Executor, scope: Scope) -> int:
    result = session.execute(delete(fault_rules).where(_scoped(fault_rules, scope)))
    return int(result.rowcount)  # type: ignore[attr-defined]


# --- the request log ----------------------------------------------------------------------------


def insert_request_logs(session: Executor, rows: Sequence[dict[str, Any]]) -> None:
    """Insert log entries. On PostgreSQL the table is UNLOGGED (migration 0006): its commits
    do not wait for a WAL flush, and a database crash may lose the diagnostic log, never an
    object."""
    _INSERT_REQUEST_LOGS.run(session, rows)


def get_request_log(session: Executor, scope: Scope, request_id: str) -> RequestLogRow | None:
    if not _storable(request_id):
        return None
    return _lookup(session, _GET_REQUEST_LOG, scope, request_id)


def prune_request_log(session: Executor, scope: Scope, keep: int) -> int:
    """Keep the scope's newest `keep` entries, newest as the list orders them (created, seq):
    the walk to the cut-off runs backwards along the scope's index."""
    cut = (
        select(request_log.c.created, request_log.c.seq)
        .where(_scoped(request_log, scope))
        .order_by(request_log.c.created.desc(), request_log.c.seq.desc())
        .offset(keep)
        .limit(1)
    )
    oldest_dropped = session.execute(cut).first()
    if oldest_dropped is None:
        return 0
    position = tuple_(oldest_dropped.created, oldest_dropped.seq)
    result = session.execute(
        delete(request_log).where(
            _scoped(request_log, scope),
            tuple_(request_log.c.created, request_log.c.seq) <= position,
        )
    )
    return int(result.rowcount)  # type: ignore[attr-defined]


def prune_request_log_total(session: Executor, keep: int) -> int:
    """Keep at most `keep` entries in all: those among the newest `keep` recorded (`seq`
    counts every entry recorded, so the cut is found in the primary key, not by a walk)."""
    newest = session.execute(select(func.max(request_log.c.seq))).scalar()
    if newest is None or newest <= keep:
        return 0
    result = session.execute(delete(request_log).where(request_log.c.seq <= newest - keep))
    return int(result.rowcount)  # type: ignore[attr-defined]


def delete_request_log(session: Executor, scope: Scope) -> int:
    result = session.execute(delete(request_log).where(_scoped(request_log, scope)))
    return int(result.rowcount)  # type: ignore[attr-defined]


# --- maintenance at start (orphan sweep) --------------------------------------------------------
# Not scoped to an account: `serve` asks which stored contents still have their row.


def existing_file_ids(session: Executor, file_ids: Sequence[str]) -> set[str]:
    if not file_ids:
        return set()
    return set(session.execute(select(files.c.id).where(files.c.id.in_(file_ids))).scalars())
