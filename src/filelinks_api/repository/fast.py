"""The hot path's statements, run on the driver's cursor with SQL compiled once per dialect:
one-row lookups, pages, inserts and updates RETURNING the row, and the batch insert.

This module uses SQLAlchemy's dialect-level API (statement compilation, result processors):
pyproject pins sqlalchemy to the minor version tests/test_repository.py covers, which checks
every lookup and the insert against SQLAlchemy's own execution."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterator, Sequence
from contextlib import contextmanager
from operator import itemgetter
from typing import Any, Generic, NamedTuple, TypeVar

from sqlalchemy import (
    Connection,
    Table,
    bindparam,
    insert,
    select,
    update,
)
from sqlalchemy.exc import DBAPIError, NoResultFound
from sqlalchemy.orm import Session

from filelinks_api.repository.base import Executor, Scope, _Row


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
        self._compiled: dict[str, tuple[str, tuple[str, ...] | None, dict[str, Any]]] = {}
        self._converters: dict[str, _Converters] = {}

    def _compile(self, dialect: Any) -> tuple[str, tuple[str, ...] | None, dict[str, Any]]:
        """The SQL, its parameters' order (None: by name), and the statement's own parameters
        that have a value (SQLite's OFFSET beside a bound LIMIT), sent with the caller's."""
        compiled = self.statement.compile(dialect=dialect)
        order = tuple(compiled.positiontup) if compiled.positional else None
        fixed = {name: value for name, value in compiled.params.items() if value is not None}
        return compiled.string, order, fixed

    def _run(
        self, executor: Executor, params: dict[str, Any], fetch: Callable[[Any], _Fetched]
    ) -> tuple[_Fetched, _Converters]:
        """What `fetch` took of the cursor, and the columns' result processors."""
        connection = executor.connection() if isinstance(executor, Session) else executor
        dialect = connection.dialect
        sql, bound = self._sql(dialect, params)
        with _driver_cursor(connection, sql, bound) as cursor:
            cursor.execute(sql, bound)
            fetched = fetch(cursor)
            converters = self._converters_of(dialect, cursor)
        return fetched, converters

    def _sql(self, dialect: Any, params: dict[str, Any]) -> tuple[str, Any]:
        """The statement's SQL for `dialect`, and `params` as its driver takes them."""
        compiled = self._compiled.get(dialect.name)
        if compiled is None:
            compiled = self._compiled[dialect.name] = self._compile(dialect)
        sql, order, fixed = compiled
        if fixed:
            params = {**fixed, **params}
        return sql, tuple(params[name] for name in order) if order is not None else params

    def _converters_of(self, dialect: Any, cursor: Any) -> _Converters:
        converters = self._converters.get(dialect.name)
        if converters is None:
            converters = _converters(self.statement.selected_columns, dialect, cursor)
            self._converters[dialect.name] = converters
        return converters

    def first(self, executor: Executor, params: dict[str, Any]) -> _Row | None:
        row, converters = self._run(executor, params, _fetch_one)
        if row is None:
            return None
        return _made(self.row, converters, row)

    async def first_direct(self, cursor: Any, dialect: Any, params: dict[str, Any]) -> _Row | None:
        """`first` on a cursor of psycopg's own AsyncConnection (pg_direct), `dialect` being
        the PostgreSQL dialect of the service's engine: the same SQL, parameters and result
        processors."""
        row, converters = await self._run_direct(cursor, dialect, params, _fetch_one_async)
        if row is None:
            return None
        return _made(self.row, converters, row)

    async def _run_direct(
        self,
        cursor: Any,
        dialect: Any,
        params: dict[str, Any],
        fetch: Callable[[Any], Awaitable[_Fetched]],
    ) -> tuple[_Fetched, _Converters]:
        """`_run` on a cursor of psycopg's own AsyncConnection, which stays open for the next
        statement. A driver error other than a lost connection (which pg_direct handles) is
        raised as SQLAlchemy's, as `_run` raises it."""
        sql, bound = self._sql(dialect, params)
        try:
            await cursor.execute(sql, bound)
            fetched = await fetch(cursor)
            converters = self._converters_of(dialect, cursor)
        except dialect.loaded_dbapi.OperationalError:
            raise
        except dialect.loaded_dbapi.Error as exc:
            raise DBAPIError.instance(
                sql, bound, exc, dialect.loaded_dbapi.Error, dialect=dialect
            ) from exc
        return fetched, converters


class _Rows(_Lookup[_Row]):
    """A SELECT of any number of rows (a page), compiled and run as `_Lookup` runs a one-row
    one."""

    def all(self, executor: Executor, params: dict[str, Any]) -> list[_Row]:
        rows, converters = self._run(executor, params, _fetch_all)
        return self._made_all(rows, converters)

    async def all_direct(self, cursor: Any, dialect: Any, params: dict[str, Any]) -> list[_Row]:
        """`all` on a cursor of psycopg's own AsyncConnection, as `first_direct`."""
        rows, converters = await self._run_direct(cursor, dialect, params, _fetch_all_async)
        return self._made_all(rows, converters)

    def _made_all(self, rows: list[Any], converters: _Converters) -> list[_Row]:
        # _made's loop, inlined: a call per row was 52 against 45 µs for 100 links
        made = tuple.__new__
        kind = self.row
        if not converters:
            return [made(kind, row) for row in rows]
        result = []
        for row in rows:
            values = list(row)
            for index, process in converters:
                values[index] = process(values[index])
            result.append(made(kind, values))
        return result


_Fetched = TypeVar("_Fetched")
# The result processors of a statement's columns that have one, with each column's index: a
# page of 100 links built each row's values through a generator over all nine columns, a
# fifth of a list's time in-process (bench/asgi_cost.py --profile list).
_Converters = list[tuple[int, Any]]


def _converters(columns: Any, dialect: Any, cursor: Any) -> _Converters:
    # Some processors depend on the type the driver reports (PostgreSQL numerics).
    processors = [
        column.type.dialect_impl(dialect).result_processor(dialect, described[1])
        for column, described in zip(columns, cursor.description, strict=True)
    ]
    return [(index, process) for index, process in enumerate(processors) if process is not None]


def _made(kind: type[_Row], converters: _Converters, row: Any) -> _Row:
    """The row's named tuple, its values through their columns' result processors."""
    if converters:
        row = list(row)
        for index, process in converters:
            row[index] = process(row[index])
    return tuple.__new__(kind, row)


def _fetch_one(cursor: Any) -> Any:
    return cursor.fetchone()


def _fetch_all(cursor: Any) -> list[Any]:
    return list(cursor.fetchall())


async def _fetch_one_async(cursor: Any) -> Any:
    return await cursor.fetchone()


async def _fetch_all_async(cursor: Any) -> list[Any]:
    return list(await cursor.fetchall())


@contextmanager
def _driver_cursor(connection: Connection, sql: str, params: Any) -> Iterator[Any]:
    """The driver's cursor; its errors raised as SQLAlchemy's, a dropped connection
    invalidated, as `Connection.execute` does.

    On PostgreSQL the cursor is kept with its connection for the next statement: making and
    closing psycopg's cursor cost 10-25 µs of CPU a statement, and SQLAlchemy's adapter has
    read every row before `execute` returns, so a kept cursor holds nothing at the server. A
    statement that fails drops it. On SQLite a cursor is closed after its statement: one left
    mid-result would keep its connection's read snapshot open, and so stale."""
    dialect = connection.dialect
    proxied = connection.connection
    kept = dialect.name == "postgresql"
    cursor = _kept_cursor(proxied) if kept else proxied.cursor()
    try:
        yield cursor
    except BaseException as exc:
        if kept:
            proxied.info.pop(_CURSOR, None)
            cursor.close()
        if not isinstance(exc, dialect.loaded_dbapi.Error):
            raise
        invalidated = dialect.is_disconnect(exc, proxied, cursor)
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
        if not kept:
            cursor.close()


_CURSOR = "filelinks_cursor"  # the key of a connection's kept cursor in the pool's `info`


def _kept_cursor(proxied: Any) -> Any:
    """The cursor kept with the pool's DBAPI connection `proxied` wraps (made at first use)."""
    dbapi_connection = proxied.dbapi_connection
    kept = proxied.info.get(_CURSOR)
    if kept is not None and kept[0] is dbapi_connection:
        return kept[1]
    cursor = proxied.cursor()
    proxied.info[_CURSOR] = (dbapi_connection, cursor)
    return cursor


class _InsertMany:
    """An INSERT of many rows into `table`, compiled once per dialect and run with the
    driver's executemany, values through the column types' own bind processors (JSON,
    SQLite's booleans). For the request log, written on every request: a logged retrieve,
    one entry per batch, took 716 µs in-process with the insert through `Connection.execute`
    and 377 µs this way (bench/asgi_cost.py, SQLite). Same pin as _Lookup.

    A None is stored as SQL NULL in every column, a JSON one included (which SQLAlchemy's
    JSON type would store as the JSON text `null`, serialized on every row: read back, both
    are None); the other values are taken from a row in one C call (`itemgetter`), and only
    the columns with a bind processor are passed through it."""

    def __init__(self, table: Table) -> None:
        self.columns = [column for column in table.c if not column.primary_key]
        self.statement = insert(table).values(
            {column.name: bindparam(column.name) for column in self.columns}
        )
        self._compiled: dict[str, _InsertPlan] = {}

    def _compile(self, dialect: Any) -> _InsertPlan:
        compiled = self.statement.compile(dialect=dialect)
        names = (
            tuple(compiled.positiontup or ())
            if compiled.positional
            else tuple(column.name for column in self.columns)
        )
        binders = {
            column.name: column.type.dialect_impl(dialect).bind_processor(dialect)
            for column in self.columns
        }
        bound = tuple(
            (index, bind) for index, name in enumerate(names) if (bind := binders[name]) is not None
        )
        return _InsertPlan(compiled.string, compiled.positional, names, itemgetter(*names), bound)

    def run(self, executor: Executor, rows: Sequence[dict[str, Any]]) -> None:
        connection = executor.connection() if isinstance(executor, Session) else executor
        sql, bound = self.for_driver(connection.dialect, rows)
        with _driver_cursor(connection, sql, bound) as cursor:
            cursor.executemany(sql, bound)

    def for_driver(self, dialect: Any, rows: Sequence[dict[str, Any]]) -> tuple[str, list[Any]]:
        """The SQL and the rows' parameters, as the driver's executemany takes them."""
        plan = self._compiled.get(dialect.name)
        if plan is None:
            plan = self._compiled[dialect.name] = self._compile(dialect)
        params: list[Any] = []
        for row in rows:
            values = list(plan.values(row))
            for index, bind in plan.bound:
                value = values[index]
                if value is not None:
                    values[index] = bind(value)
            params.append(values if plan.positional else dict(zip(plan.names, values, strict=True)))
        return plan.sql, params


class _InsertPlan(NamedTuple):
    """_InsertMany compiled for a dialect: its SQL, whether its parameters are positional,
    their names in order, a getter of their values from a row (a tuple, in that order), and
    the index and bind processor of each that has one."""

    sql: str
    positional: bool
    names: tuple[str, ...]
    values: Callable[[dict[str, Any]], tuple[Any, ...]]
    bound: tuple[tuple[int, Callable[[Any], Any]], ...]


class _Returning(Generic[_Row]):
    """An INSERT, or an UPDATE of the row whose `seq` is given, of `table` RETURNING the whole
    row: compiled once per dialect and set of columns written, run on the driver's cursor,
    values through the column types' bind processors and the row through their result
    processors. Through `Connection.execute` an UPDATE spent most of its time in SQLAlchemy's
    parameter and result machinery (an update of a link's metadata: bench/asgi_cost.py
    --profile update). Same pin as _Lookup."""

    def __init__(self, table: Table, row: type[_Row], *, update_by_seq: bool = False) -> None:
        names = tuple(column.name for column in table.c)
        assert names == row._fields, (names, row._fields)  # type: ignore[attr-defined]
        self.table = table
        self.row = row
        self.update_by_seq = update_by_seq
        self._compiled: dict[tuple[str, tuple[str, ...]], _Plan] = {}

    def one(self, executor: Executor, values: dict[str, Any], seq: int | None = None) -> _Row:
        connection = executor.connection() if isinstance(executor, Session) else executor
        dialect = connection.dialect
        key = (dialect.name, tuple(values))
        plan = self._compiled.get(key)
        if plan is None:
            plan = self._compiled[key] = self._plan(dialect, key[1])
        given = {_VALUE + name: value for name, value in values.items()}
        given[_SEQ] = seq
        if plan.positional:
            bound: Any = tuple(
                given[name] if bind is None else bind(given[name]) for name, bind in plan.binds
            )
        else:
            bound = {
                name: given[name] if bind is None else bind(given[name])
                for name, bind in plan.binds
            }
        with _driver_cursor(connection, plan.sql, bound) as cursor:
            cursor.execute(plan.sql, bound)
            row = cursor.fetchone()
            if plan.results is None:
                plan.results = _converters(self.table.c, dialect, cursor)
            results = plan.results
        if row is None:
            raise NoResultFound("No row was found when one was required")
        return _made(self.row, results, row)

    def _plan(self, dialect: Any, names: tuple[str, ...]) -> _Plan:
        table = self.table
        written: dict[str, Any] = {name: bindparam(_VALUE + name) for name in names}
        statement: Any = (
            update(table).where(table.c.seq == bindparam(_SEQ)).values(written)
            if self.update_by_seq
            else insert(table).values(written)
        )
        compiled = statement.returning(*table.c).compile(dialect=dialect)
        binders = {
            _VALUE + name: table.c[name].type.dialect_impl(dialect).bind_processor(dialect)
            for name in names
        }
        binders[_SEQ] = None
        order = compiled.positiontup if compiled.positional else list(compiled.binds)
        return _Plan(
            compiled.string,
            compiled.positional,
            tuple((name, binders[name]) for name in order or ()),
        )


_VALUE = "value_"  # a written column's parameter (a column's own name is SQLAlchemy's)
_SEQ = "row_seq"


class _Plan:
    """A compiled _Returning: its SQL, its parameters in order with their bind processors,
    and (once a row has been read) the result processors."""

    def __init__(self, sql: str, positional: bool, binds: tuple[tuple[str, Any], ...]) -> None:
        self.sql = sql
        self.positional = positional
        self.binds = binds
        self.results: _Converters | None = None


def _by_scope_and(table: Table, column: str, row: type[_Row]) -> _Lookup[_Row]:
    return _Lookup(
        select(table).where(
            table.c.account == bindparam("account"),
            table.c.livemode == bindparam("livemode"),
            table.c[column] == bindparam("value"),
        ),
        row,
    )


def _lookup(session: Executor, lookup: _Lookup[_Row], scope: Scope, value: str) -> _Row | None:
    return lookup.first(session, _by_scope_params(scope, value))


def _by_scope_params(scope: Scope, value: str) -> dict[str, Any]:
    """The parameters of a `_by_scope_and` lookup."""
    return {"account": scope.account, "livemode": scope.livemode, "value": value}
