"""PostgreSQL on psycopg's own AsyncConnection, outside SQLAlchemy's pool and greenlet, for
work that is one statement: the hot path's reads (`Database.lookup`, `Database.rows`: a
retrieve, a public link, a plain first page) and the request log's batches
(log_database.PostgresInserts).

A unit of work through `Database.read` on PostgreSQL pays for a task, a greenlet, a pool
checkout and return, and SQLAlchemy's adapted cursor around its statement. Measured
in-process, 8 reads in flight, the lookup of a file_link by id: about 230 µs of CPU a read
that way and 100 this way (psycopg's own async execute, most of what is left).
"""

from __future__ import annotations

import asyncio
import contextlib
import weakref
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

import orjson
import psycopg
from psycopg.conninfo import make_conninfo
from psycopg.types.json import set_json_loads
from sqlalchemy.engine import make_url

from filelinks_api.failures import DatabaseTimeout

T = TypeVar("T")
Connection = psycopg.AsyncConnection[Any]
Cursor = psycopg.AsyncCursor[Any]


# Every execution planned for the tables as they are. psycopg prepares a statement a
# connection has run 5 times, and PostgreSQL may then cache a generic plan for it, kept for
# the connection's life: one made while a table had a page or two is a sequential scan, and a
# retrieve by id went from 0.1 to 64 ms as an account grew to 26,000 links. Planning anew
# costs ~20 µs of the server's time a statement (a lookup's round trip 43 -> 63 µs).
PLAN_EACH_TIME = "SET plan_cache_mode = force_custom_plan"


def conninfo(url: str) -> str:
    """libpq's connection string for the SQLAlchemy URL `url`, made of what SQLAlchemy's
    psycopg dialect gives psycopg (its query, such as a schema's `options`, and several hosts
    included). Not `render_as_string()`: that writes a space in a query value as `+`, which
    libpq keeps as a `+` (`options=-ca=1 -cb=2` became the one setting `a` = `1+-cb=2`)."""
    parsed = make_url(url).set(drivername="postgresql+psycopg")
    _, params = parsed.get_dialect()().create_connect_args(parsed)
    return make_conninfo(**params)


async def connect(url: str, connect_args: dict[str, Any]) -> Connection:
    """An autocommit connection to the SQLAlchemy URL `url` (conninfo), JSON read with
    orjson as the service's engines read it, every statement planned anew (PLAN_EACH_TIME)."""
    connection = await psycopg.AsyncConnection.connect(
        conninfo(url), autocommit=True, **connect_args
    )
    set_json_loads(orjson.loads, connection)
    await connection.execute(PLAN_EACH_TIME)
    return connection


def drop(connection: Connection) -> None:
    """Close `connection` in the background: closing may wait for a silent server, never
    longer than a moment, and never holding up the request that found it broken."""
    if connection.closed:
        return
    task = asyncio.get_running_loop().create_task(_close_quietly(connection))
    _closing.add(task)
    task.add_done_callback(_closing.discard)


_closing: set[asyncio.Task[None]] = set()  # held: a running task needs a reference


async def _close_quietly(connection: Connection) -> None:
    with contextlib.suppress(Exception):
        async with asyncio.timeout(1.0):
            await connection.close()


class _LoopPool:
    """One event loop's connections, each with its cursor: the idle ones, and a bound on how
    many are out."""

    def __init__(self, size: int) -> None:
        self.idle: list[Cursor] = []
        self.slots = asyncio.Semaphore(size)


def _finish(pool: _LoopPool) -> None:
    """Close a pool's idle connections without their loop: libpq's own close, at once."""
    idle, pool.idle = pool.idle, []
    for cursor in idle:
        cursor.connection.pgconn.finish()


class DirectReads:
    """Reads of one statement each, on a pool of autocommit connections per event loop (a
    connection belongs to the loop that made it): at most `size` out at once, kept open
    between reads. A read is given the connection's cursor, made once with it: a cursor made
    and closed for each statement cost 10-25 µs of CPU more per statement (psycopg 3.3).

    Bounded like any unit of work (`Database.read`): a read without an answer within
    `timeout`, waiting for a connection included, raises `DatabaseTimeout`, and the
    connection it was on is dropped. A connection found dead (the database restarted, a link
    was cut) is dropped and the read runs once more on a new one: a read changes nothing, so
    running it twice is safe. Any other failure drops the connection too (it may be in the
    middle of a statement) and is raised as it is.
    """

    def __init__(self, url: str, *, timeout: float, connect_args: dict[str, Any], size: int = 8):
        self.url = url
        self.timeout = timeout
        self.connect_args = connect_args
        self.size = size
        self._pools: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, _LoopPool] = (
            weakref.WeakKeyDictionary()
        )
        # the last loop's pool (a worker has one loop): no weak dictionary lookup per read
        self._last: tuple[weakref.ref[asyncio.AbstractEventLoop], _LoopPool] | None = None

    async def run(self, statement: Callable[[Cursor], Awaitable[T]]) -> T:
        """`statement(cursor)`, on the cursor of one of the loop's connections."""
        pool = self._pool()
        try:
            async with asyncio.timeout(self.timeout), pool.slots:
                cursor = pool.idle.pop() if pool.idle else await self._connect()
                try:
                    try:
                        result = await statement(cursor)
                    except psycopg.OperationalError:
                        drop(cursor.connection)
                        cursor = await self._connect()
                        result = await statement(cursor)
                except BaseException:
                    drop(cursor.connection)
                    raise
                pool.idle.append(cursor)
                return result
        except TimeoutError:
            raise DatabaseTimeout(
                f"no answer from the database within {self.timeout:g} s"
            ) from None

    async def close(self) -> None:
        """Close the idle connections: the running loop's as psycopg closes them, another
        loop's (which this loop cannot await) at the socket."""
        pools, self._pools = self._pools, weakref.WeakKeyDictionary()
        self._last = None
        loop = asyncio.get_running_loop()
        for owner, pool in pools.items():
            if owner is loop:
                idle, pool.idle = pool.idle, []
                for cursor in idle:
                    await _close_quietly(cursor.connection)
            else:
                _finish(pool)

    def _pool(self) -> _LoopPool:
        loop = asyncio.get_running_loop()
        last = self._last
        if last is not None and last[0]() is loop:
            return last[1]
        pool = self._pools.get(loop)
        if pool is None:
            pool = self._pools[loop] = _LoopPool(self.size)
            # a loop that ends (a test's, a TestClient's) takes its connections with it
            weakref.finalize(loop, _finish, pool)
        self._last = (weakref.ref(loop), pool)
        return pool

    async def _connect(self) -> Cursor:
        connection = await connect(self.url, self.connect_args)
        return connection.cursor()
