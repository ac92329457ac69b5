"""Engines, and the ways a request reaches the database: `Database.read()`,
`Database.write()`, and `Database.append()` for the request log's rows.

Concurrency style (measured; the figures are in `git log -p -- bench/README.md`): endpoints are `async def`; repository and
service code is synchronous SQLAlchemy, run through `Database.read`, `.write` or `.append`.
On SQLite it runs inline (a local file; a thread hop would cost more than the query). On PostgreSQL it runs on
SQLAlchemy's async engine over psycopg's AsyncConnection, in `run_sync`'s greenlet: every
round trip, commits included, is awaited, so one worker overlaps many requests' database work.

SQLite: WAL, foreign keys, and transactions begun by us (the pysqlite fix from SQLAlchemy's
dialect docs) so that writes take the lock up front with BEGIN IMMEDIATE instead of failing to
upgrade a read lock later. A process's writers queue on an asyncio lock (holding no pooled
connection), and the head of the queue waits for other processes with `asyncio.sleep`, never
inside sqlite3's busy handler; reads have an autocommit engine of their own and never wait.

Bounded in time: on PostgreSQL every unit of work answers within the database timeout
(`FILELINKS_DATABASE_TIMEOUT_SECONDS`) or raises `failures.DatabaseTimeout` (a 503); pool
waits, connecting and TCP keepalives follow the same timeout. What a failure means to the
client is decided in failures.py, not here.
"""

from __future__ import annotations

import asyncio
import contextlib
import weakref
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any, Concatenate, ParamSpec, Protocol, TypeVar

import orjson
import psycopg
from alembic import command
from alembic.config import Config
from psycopg import sql
from sqlalchemy import Connection, Engine, create_engine, event, text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import DBAPIError, OperationalError
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine
from sqlalchemy.util import greenlet_spawn

from filelinks_api import pg_direct
from filelinks_api.checkpoints import BACKSTOP_FRAMES, Checkpointer
from filelinks_api.failures import DatabaseTimeout, WriteLockTimeout, is_lock_timeout
from filelinks_api.pg_direct import DirectReads

SQLITE_BUSY_TIMEOUT_MS = 5000
POSTGRES_LOCK_TIMEOUT = "3s"
# How long connecting to PostgreSQL may take (FILELINKS_DATABASE_TIMEOUT_SECONDS): a host that
# accepts TCP and never answers must not hang `serve`, `migrate` or a request.
DEFAULT_CONNECT_TIMEOUT = 10.0


_POOL: dict[str, Any] = {"pool_size": 8, "max_overflow": 8, "pool_timeout": 10}
# Async PostgreSQL pools: a worker overlaps requests, so it may hold several connections at
# once; 8 per engine (reads, writes) and per worker. No overflow: an overflow connection is
# opened and closed per use, and that churn cost more than a short wait for a pooled one
# (measured: 2,049 req/s with 4 + 6 against 4,096 with 16 + 0, retrieve, 2 workers).
_ASYNC_POOL: dict[str, Any] = {"pool_size": 8, "max_overflow": 0, "pool_timeout": 10}
# A worker's 8 read connections are split: 4 for one-statement reads on psycopg's own
# connections (Database.lookup and .rows: a retrieve, a public link, a plain first page), 4
# for the other reads through SQLAlchemy. 8 + 8 on top of the writes' 8 ran a PostgreSQL with
# the default 100 connections out of them under the test suite's servers.
DIRECT_READS = 4
_ASYNC_READ_POOL: dict[str, Any] = {**_ASYNC_POOL, "pool_size": 8 - DIRECT_READS}
# metadata columns: orjson instead of the stdlib (json.loads was 11% of a 100-link page)
_JSON: dict[str, Any] = {
    "json_serializer": lambda value: orjson.dumps(value).decode(),
    "json_deserializer": orjson.loads,
}


def create_db_engine(
    url: str,
    *,
    reads: bool = False,
    writes: bool = False,
    connect_timeout: float = DEFAULT_CONNECT_TIMEOUT,
    durable: bool = True,
) -> Engine:
    """A synchronous engine: on SQLite, with `reads` the engine of autocommit reads, with
    `writes` the one of Database.write (BEGIN IMMEDIATE that fails at once when another
    process holds the lock: Database.write retries it, awaiting), else the maintenance
    engine (tests, tools); on PostgreSQL, the maintenance engine.

    Each role has an engine (and pool) of its own rather than execution options on one: no
    per-connection option lookup, no PRAGMA toggling per transaction (measured: 42 µs per
    one-row read instead of 64 on SQLite).

    Not `durable` (SQLite): no fsync at all, for a file whose last commits may be lost with the
    machine (the request log's, log_database.py).
    """
    if url.startswith("sqlite"):
        engine = create_engine(
            url,
            connect_args={"check_same_thread": False, "timeout": SQLITE_BUSY_TIMEOUT_MS / 1000},
            **_POOL,
            **_JSON,
        )
        _configure_sqlite(engine, reads=reads, writes=writes, durable=durable)
        return engine
    engine = create_engine(url, connect_args=_pg_connect_args(connect_timeout), **_POOL, **_JSON)
    _set_lock_timeout(engine)
    return engine


def create_async_db_engine(
    url: str, *, reads: bool = False, connect_timeout: float = DEFAULT_CONNECT_TIMEOUT
) -> AsyncEngine:
    """PostgreSQL through psycopg's AsyncConnection; reads in autocommit (no BEGIN and
    ROLLBACK round trips)."""
    isolation = {"isolation_level": "AUTOCOMMIT"} if reads else {}
    pool = {**(_ASYNC_READ_POOL if reads else _ASYNC_POOL), "pool_timeout": connect_timeout}
    engine = create_async_engine(
        url, connect_args=_pg_connect_args(connect_timeout), **pool, **_JSON, **isolation
    )
    _set_lock_timeout(
        engine.sync_engine, idle_in_transaction=_pg_connect_args(connect_timeout)["connect_timeout"]
    )
    return engine


def _pg_connect_args(connect_timeout: float) -> dict[str, Any]:
    # libpq's connect_timeout covers the whole startup, a server that never answers included;
    # it counts whole seconds (at least 2). Keepalives and tcp_user_timeout make the kernel
    # give up on a pooled connection whose peer vanished (a cut link, a dead host) instead of
    # waiting for TCP's own 15 minutes; a peer that acknowledges and never answers is bounded
    # by Database's timeout around each unit of work.
    seconds = max(2, int(connect_timeout + 0.999))
    return {
        "connect_timeout": seconds,
        "keepalives": 1,
        "keepalives_idle": seconds,
        "keepalives_interval": 1,
        "keepalives_count": 3,
        "tcp_user_timeout": seconds * 1000,
    }


def _set_lock_timeout(engine: Engine, idle_in_transaction: int | None = None) -> None:
    @event.listens_for(engine, "connect")
    def on_connect(dbapi_connection: Any, _record: Any) -> None:
        # A row lock that cannot be had quickly becomes Stripe's 429 lock_timeout.
        cursor = dbapi_connection.cursor()
        cursor.execute(f"SET lock_timeout = '{POSTGRES_LOCK_TIMEOUT}'")
        cursor.execute(pg_direct.PLAN_EACH_TIME)  # no generic plan cached for a small table
        if idle_in_transaction is not None:
            # A transaction whose client went silent (a unit abandoned behind a partition)
            # ends on the server too, instead of holding its row locks until TCP gives up.
            cursor.execute(f"SET idle_in_transaction_session_timeout = '{idle_in_transaction}s'")
        cursor.close()
        dbapi_connection.commit()


def _configure_sqlite(engine: Engine, *, reads: bool, writes: bool, durable: bool = True) -> None:
    # Writers never wait inside sqlite3's busy handler (it sleeps with the event loop
    # stopped): their BEGIN IMMEDIATE fails at once and Database.write retries it, awaiting.
    busy_timeout = 0 if writes else SQLITE_BUSY_TIMEOUT_MS

    @event.listens_for(engine, "connect")
    def on_connect(dbapi_connection: Any, _record: Any) -> None:
        # pysqlite begins nothing by itself; reads run each statement in its own implicit
        # transaction, writes begin explicitly (below).
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        # NORMAL: with WAL, a commit is not fsynced (a checkpoint is); OFF: not even that
        cursor.execute(f"PRAGMA synchronous={'NORMAL' if durable else 'OFF'}")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute(f"PRAGMA busy_timeout={busy_timeout}")
        # Deleted content is not overwritten page by page (some builds of SQLite, Python's
        # here, default to ON): a prune of a thousand request-log entries of list responses
        # held the log's lock, and the worker, for 170 ms with it; 70 against 9 ms measured
        # for 1,000 rows of 30 KB. FAST still clears what costs no extra write.
        cursor.execute("PRAGMA secure_delete=FAST")
        if writes and durable:
            # the Database's Checkpointer checkpoints, on a thread; a commit only as a backstop
            cursor.execute(f"PRAGMA wal_autocheckpoint={BACKSTOP_FRAMES}")
        cursor.close()

    if reads:
        return
    # Writes take the lock up front (BEGIN IMMEDIATE), never halfway through a transaction;
    # the maintenance engine's transactions are deferred, as SQLAlchemy's own. The dialect's
    # do_begin (a no-op for pysqlite) issues it on the driver's connection, its errors wrapped
    # as any other's: 16 µs less per write than SQLAlchemy's "begin" event running it through
    # exec_driver_sql (25 against 41 µs for a connect, begin, commit and close).
    begin = "BEGIN IMMEDIATE" if writes else "BEGIN"

    def do_begin(dbapi_connection: Any) -> None:
        dbapi_connection.execute(begin)

    engine.dialect.do_begin = do_begin  # type: ignore[method-assign]


P = ParamSpec("P")
T = TypeVar("T")
Work = Callable[Concatenate[Any, P], T]
R = TypeVar("R", covariant=True)


class Lookup(Protocol[R]):
    """One row by a unique key (repository/fast.py's `_Lookup`), on a SQLAlchemy connection
    or on psycopg's own."""

    def first(self, executor: Any, params: dict[str, Any]) -> R | None: ...

    async def first_direct(self, cursor: Any, dialect: Any, params: dict[str, Any]) -> R | None: ...


class Rows(Protocol[T]):
    """Any number of rows (repository/fast.py's `_Rows`), either way as `Lookup`."""

    def all(self, executor: Any, params: dict[str, Any]) -> list[T]: ...

    async def all_direct(self, cursor: Any, dialect: Any, params: dict[str, Any]) -> list[T]: ...


class Database:
    """The only way to reach the database from a request: `await db.read(work, *args)` and
    `await db.write(work, *args)`, each one unit of work `work(connection, *args)`.

    Repository and service code is plain synchronous SQLAlchemy. On SQLite it runs inline: a
    local file answers in microseconds, and reads never wait for the write lock. On PostgreSQL
    it runs on SQLAlchemy's async engine (psycopg's AsyncConnection), the whole unit in one
    greenlet (checkout, BEGIN, work, COMMIT, return): every round trip is awaited, so one
    worker overlaps many requests' database work.

    `write()` is the one entry point to a write transaction: it begins it without blocking the
    event loop (SQLite: `_begin_sqlite_write`; PostgreSQL: awaited), commits it when `work`
    returns, and rolls it back when `work` raises. `append()` is for rows that need no
    transaction (the request log). `engine` is synchronous, for maintenance outside requests
    (tests).
    """

    def __init__(
        self, url: str, *, connect_timeout: float = DEFAULT_CONNECT_TIMEOUT, durable: bool = True
    ) -> None:
        self.url = url
        self.connect_timeout = _pg_connect_args(connect_timeout)["connect_timeout"]
        # How long one unit of work may take on PostgreSQL before the request gets its 503.
        self.timeout = float(self.connect_timeout)
        self.engine = create_db_engine(url, connect_timeout=connect_timeout)
        # How long a write waits for SQLite's lock before the lock timeout (Stripe's 429).
        self.write_timeout = SQLITE_BUSY_TIMEOUT_MS / 1000
        self._async: tuple[AsyncEngine, AsyncEngine] | None = None
        self._direct: DirectReads | None = None  # PostgreSQL's lookups (lookup())
        self._writer_locks: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, asyncio.Lock] = (
            weakref.WeakKeyDictionary()
        )
        self._readers: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, Connection] = (
            weakref.WeakKeyDictionary()
        )
        self._writers: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, Connection] = (
            weakref.WeakKeyDictionary()
        )
        self._read: Engine
        self._write: Engine
        # SQLite's WAL checkpoints, off the event loop (checkpoints.py); those of a file
        # written without fsync (the request log's) stay SQLite's own
        self.checkpointer: Checkpointer | None = None
        path = sqlite_path(url)
        if durable and path is not None and str(path) != ":memory:":
            self.checkpointer = Checkpointer(path)
        if url.startswith("sqlite"):
            self._read = create_db_engine(url, reads=True, durable=durable)
            self._write = create_db_engine(url, writes=True, durable=durable)
        else:
            reads = create_async_db_engine(url, connect_timeout=connect_timeout, reads=True)
            writes = create_async_db_engine(url, connect_timeout=connect_timeout)
            self._async = (reads, writes)
            self._direct = DirectReads(
                url, timeout=self.timeout, connect_args=self.connect_args, size=DIRECT_READS
            )
            # The greenlet runs the synchronous API; its driver calls are awaited underneath.
            self._read, self._write = reads.sync_engine, writes.sync_engine

    @classmethod
    def connect(
        cls, url: str, *, connect_timeout: float = DEFAULT_CONNECT_TIMEOUT, durable: bool = True
    ) -> Database:
        """`durable=False`: on SQLite, nothing is fsynced (create_db_engine)."""
        return cls(url, connect_timeout=connect_timeout, durable=durable)

    async def read(self, work: Work[P, T], *args: P.args, **kwargs: P.kwargs) -> T:
        """`work(connection, *args)` on an autocommit connection."""
        if self._async is not None:
            return await self._bounded(_read_unit, self._read, work, args, kwargs)
        loop = asyncio.get_running_loop()
        try:
            return work(self._reader(loop), *args, **kwargs)
        except DBAPIError as exc:
            if not exc.connection_invalidated:
                raise
        # a dead connection (the file was replaced, say): read again on a new one
        self._readers.pop(loop, None)
        return work(self._reader(loop), *args, **kwargs)

    async def lookup(self, lookup: Lookup[T], params: dict[str, Any]) -> T | None:
        """One row by a unique key: on SQLite a read like any other; on PostgreSQL its one
        statement on a connection of pg_direct's own, without SQLAlchemy's pool, greenlet
        and adapted cursor (less than half the CPU of a read, pg_direct.py), bounded by the
        same timeout."""
        if self._direct is None:
            return await self.read(lookup.first, params)
        dialect = self._read.dialect
        return await self._direct.run(lambda cursor: lookup.first_direct(cursor, dialect, params))

    async def rows(self, rows: Rows[T], params: dict[str, Any]) -> list[T]:
        """A page's rows, as `lookup` runs a one-row lookup."""
        if self._direct is None:
            return await self.read(rows.all, params)
        dialect = self._read.dialect
        return await self._direct.run(lambda cursor: rows.all_direct(cursor, dialect, params))

    def _reader(self, loop: asyncio.AbstractEventLoop) -> Connection:
        """The loop's own read connection on SQLite (_kept): a read runs inline, start to end,
        so a loop never shares it between two, and each statement sees the newest commit
        (autocommit: pysqlite begins nothing). Checking one out of the pool and back for each
        read cost about 25 of a retrieve's 160 µs (bench/asgi_cost.py)."""
        return _kept(self._readers, self._read, loop)

    def _writer(self, loop: asyncio.AbstractEventLoop) -> Connection:
        """The loop's own write connection on SQLite (_kept): the loop's writers take turns
        (`_writer_turn`), so one is never shared by two units. Checking one out and back for
        each write cost about 30 µs of profiled time per write (bench/asgi_cost.py --profile
        update)."""
        return _kept(self._writers, self._write, loop)

    async def write(self, work: Work[P, T], *args: P.args, **kwargs: P.kwargs) -> T:
        """`work(connection, *args)` in a transaction, committed if it returns."""
        if self._async is not None:
            return await self._bounded(_write_unit, self._write, work, args, kwargs)
        # SQLite has one writer at a time: this process's writers queue here, holding no
        # pooled connection while they wait, and only the head of the queue polls for the
        # lock other processes may hold.
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.write_timeout
        try:
            async with asyncio.timeout_at(deadline):
                await self._writer_turn(loop).acquire()
        except TimeoutError:
            raise WriteLockTimeout("waited for this process's other writers") from None
        try:
            connection = self._writer(loop)
            try:
                await _begin_sqlite_write(connection, deadline)
                result = work(connection, *args, **kwargs)
                connection.commit()
                if self.checkpointer is not None:
                    self.checkpointer.wrote()
                return result
            finally:
                if connection.in_transaction():
                    connection.rollback()  # what was not committed
        finally:
            self._writer_turn(loop).release()

    async def append(self, work: Work[P, T], *args: P.args, **kwargs: P.kwargs) -> T:
        """`work(connection, *args)` for rows that need no transaction around them, each
        statement committing by itself: the request log's batches. On PostgreSQL, autocommit
        saves the BEGIN and COMMIT round trips (measured: a log-on retrieve went from 0.69 to
        0.75-0.80 of log-off, 2 workers, 16 connections). On SQLite, the same as write():
        the lock is taken with BEGIN IMMEDIATE either way, and one commit for the batch is
        cheaper than one per statement."""
        if self._async is not None:
            return await self._bounded(_autocommit_unit, self._write, work, args, kwargs)
        return await self.write(work, *args, **kwargs)

    def _writer_turn(self, loop: asyncio.AbstractEventLoop) -> asyncio.Lock:
        lock = self._writer_locks.get(loop)
        if lock is None:
            lock = self._writer_locks[loop] = asyncio.Lock()
        return lock

    async def _bounded(
        self, unit: _Unit[T], engine: Engine, work: Work[..., T], args: Any, kwargs: Any
    ) -> T:
        """One unit of work on PostgreSQL, answered within `timeout`: a database that stops
        answering (a silent link: the kernel acknowledges, nothing comes back) gets the
        request its 503 in time. The unit goes on in its task until the link answers or
        fails; marked abandoned, it rolls back instead of committing, so the client's retry
        is the only one to apply the request."""
        abandoned = _Abandoned()
        task = asyncio.ensure_future(greenlet_spawn(unit, engine, work, args, kwargs, abandoned))
        try:
            async with asyncio.timeout(self.timeout):
                return await asyncio.shield(task)
        except BaseException as exc:  # the timeout, or the request cancelled while it waited
            if task.done():
                raise
            abandoned.flag = True
            task.add_done_callback(_reap_abandoned)
            if isinstance(exc, TimeoutError):
                raise DatabaseTimeout(
                    f"no answer from the database within {self.timeout:g} s"
                ) from None
            raise

    @property
    def connect_args(self) -> dict[str, Any]:
        """libpq's settings (timeouts, keepalives) for a PostgreSQL connection of one's own."""
        return _pg_connect_args(self.timeout)

    @property
    def is_postgres(self) -> bool:
        return self._async is not None

    async def listen(self, channel: str, *, idle: float) -> AsyncIterator[str | None]:
        """PostgreSQL's LISTEN on a connection of its own: yields None once listening, then
        each notification's payload as it arrives, and None after every `idle` seconds
        without one. Ends (raises) if the connection is lost."""
        async with await psycopg.AsyncConnection.connect(
            pg_direct.conninfo(self.url),
            autocommit=True,
            connect_timeout=self.connect_timeout,
        ) as connection:
            await connection.execute(sql.SQL("LISTEN {}").format(sql.Identifier(channel)))
            yield None
            while True:
                quiet = True
                # stop_after=1 still yields every notification of the read that brought it
                notifies = connection.notifies(timeout=idle, stop_after=1)
                async with contextlib.aclosing(notifies):
                    async for notification in notifies:
                        quiet = False
                        yield notification.payload
                if quiet:
                    yield None

    async def ping(self) -> bool:
        try:
            await self.read(_select_one)
            return True
        except Exception:
            return False

    async def dispose(self) -> None:
        if self.checkpointer is not None:
            self.checkpointer.stop()
        self.engine.dispose()
        if self._direct is not None:
            await self._direct.close()
        if self._async is not None:
            for engine in self._async:
                await engine.dispose()
        else:
            kept = [*self._readers.values(), *self._writers.values()]
            self._readers.clear()
            self._writers.clear()
            for connection in kept:
                connection.close()
            self._read.dispose()
            self._write.dispose()


def _kept(
    connections: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, Connection],
    engine: Engine,
    loop: asyncio.AbstractEventLoop,
) -> Connection:
    """`loop`'s connection of `engine`, kept open between units of work; a new one once it
    is closed or invalidated (a dead file, say). It goes back to the pool when the loop is
    gone, or at dispose()."""
    connection = connections.get(loop)
    if connection is None or connection.closed or connection.invalidated:
        connection = connections[loop] = engine.connect()
        weakref.finalize(loop, connection.close)
    return connection


class _Abandoned:
    """Set when the request stopped waiting for its unit of work."""

    flag = False


_Unit = Callable[[Engine, "Work[..., T]", Any, Any, _Abandoned], T]


def _read_unit(engine: Engine, work: Work[..., T], args: Any, kwargs: Any, _: _Abandoned) -> T:
    try:
        with engine.connect() as connection:
            return work(connection, *args, **kwargs)
    except DBAPIError as exc:
        if not exc.connection_invalidated:
            raise
    # A pooled connection found dead (the database restarted, a link was cut): the pool has
    # dropped its other connections of that age too; a read is simply run again on a new one.
    with engine.connect() as connection:
        return work(connection, *args, **kwargs)


def _write_unit(
    engine: Engine, work: Work[..., T], args: Any, kwargs: Any, abandoned: _Abandoned
) -> T:
    try:
        return _write_once(engine, work, args, kwargs, abandoned)
    except _DeadBeforeCommit:
        # Nothing was committed (the connection was dead before the COMMIT was sent): run the
        # unit again on a new connection, once. A failure during the COMMIT is not retried.
        pass
    try:
        return _write_once(engine, work, args, kwargs, abandoned)
    except _DeadBeforeCommit as dead:
        raise dead.__cause__ from None  # type: ignore[misc]


class _DeadBeforeCommit(Exception):
    pass


def _write_once(
    engine: Engine, work: Work[..., T], args: Any, kwargs: Any, abandoned: _Abandoned
) -> T:
    with engine.connect() as connection:
        transaction = connection.begin()
        try:
            result = work(connection, *args, **kwargs)
        except DBAPIError as exc:
            if exc.connection_invalidated:
                raise _DeadBeforeCommit from exc
            raise
        if abandoned.flag:  # the client was told 503: its retry applies the request
            raise DatabaseTimeout("abandoned before its commit")
        transaction.commit()
        return result


def _autocommit_unit(
    engine: Engine, work: Work[..., T], args: Any, kwargs: Any, _: _Abandoned
) -> T:
    # the isolation level goes back to the engine's when the connection returns to the pool
    with engine.connect() as connection:
        connection.execution_options(isolation_level="AUTOCOMMIT")
        return work(connection, *args, **kwargs)


def _reap_abandoned(task: asyncio.Future[Any]) -> None:
    # imported here: `serve` imports this module before it sets prometheus_client's
    # multiprocess directory, which must come first (metrics.py)
    from filelinks_api import metrics

    if not task.cancelled() and task.exception() is not None:
        metrics.DATABASE_ERRORS.labels("abandoned").inc()


def _select_one(connection: Connection) -> None:
    connection.execute(text("SELECT 1"))


async def _begin_sqlite_write(connection: Connection, deadline: float) -> None:
    """BEGIN IMMEDIATE on `connection` without blocking the event loop (begin_when_free)."""

    def begin() -> None:
        try:
            connection.begin()
        except OperationalError:
            if connection.in_transaction():
                connection.rollback()
            raise

    await begin_when_free(begin, is_lock_timeout, deadline)


async def begin_when_free(
    begin: Callable[[], object], busy: Callable[[Exception], bool], deadline: float
) -> None:
    """Call `begin` (a BEGIN IMMEDIATE) until it gets SQLite's write lock.

    sqlite3 waits for a lock inside its busy handler, sleeping with the whole worker stopped:
    with two workers, one writer froze every request of the other worker for milliseconds (42%
    of samples in a write profile). Here BEGIN IMMEDIATE fails at once instead (busy_timeout
    0), and `begin` is called again after an `asyncio.sleep` while the worker serves other
    requests, until `deadline` (the loop's time); then its last failure is raised (for a
    busy lock, the lock timeout: 429).
    """
    loop = asyncio.get_running_loop()
    delay = 0.0001
    while True:
        try:
            begin()
            return
        except Exception as exc:
            if not busy(exc) or loop.time() + delay > deadline:
                raise
        await asyncio.sleep(delay)
        delay = min(delay * 2, 0.001)


def sqlite_path(url: str) -> Path | None:
    """The database file of a SQLite URL (None for another database)."""
    if not url.startswith("sqlite"):
        return None
    database = make_url(url).database
    return Path(database) if database else None


def migrations_dir() -> Path:
    """Inside the installed package (wheel) or at the repository root (editable install)."""
    packaged = Path(__file__).parent / "migrations"
    if packaged.is_dir():
        return packaged
    return Path(__file__).resolve().parents[2] / "migrations"


def alembic_config(url: str, *, connect_timeout: float = DEFAULT_CONNECT_TIMEOUT) -> Config:
    config = Config()
    config.set_main_option("script_location", str(migrations_dir()))
    config.attributes["url"] = url
    config.attributes["connect_args"] = _pg_connect_args(connect_timeout)
    return config


def migrate(url: str, *, connect_timeout: float = DEFAULT_CONNECT_TIMEOUT) -> None:
    """Upgrade the schema to the newest revision."""
    command.upgrade(alembic_config(url, connect_timeout=connect_timeout), "head")
