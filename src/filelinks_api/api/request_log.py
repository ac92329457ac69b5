"""Recording the request log: a pure ASGI middleware around the routes, and a per-process
writer that commits entries in batches.

Read-your-requests (once a client has its response, any log query that starts afterwards, on
any worker or replica, finds its entry) is kept one of two ways:

- in a serving process, a response goes out as soon as its entry is handed to the writer, and
  a log query first waits for every entry handed to any process before it to settle
  (`LogWriter.settle`): on one host through counters in files (a SQLite log file of its own,
  log_marks.py), across replicas by asking each one over the database's channel
  (PostgreSQL, log_barrier.py);
- in an app given its database (a test's), the last body message of a logged response (and,
  when the body is one message, the response's start with it) is held back until its entry
  has committed.

Either way entries commit in batches: every entry that arrives while a batch commits goes
into the next batch, one transaction for all of them.

What is logged: authenticated `/v1/...` requests (any status), in the caller's scope, and
public link hits, in the link owner's scope. What tells the middleware the scope is a
`LogContext` the route's dependency (or the public link route) leaves in the request's state;
a request without one (no valid key, an unknown token) is not logged.
"""

from __future__ import annotations

import asyncio
import functools
import logging
import time
from collections import Counter
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol

import orjson
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from filelinks_api import failures, log_marks, metrics
from filelinks_api.failures import Kind
from filelinks_api.repository import Scope as AccountScope
from filelinks_api.services import request_log

if TYPE_CHECKING:
    from filelinks_api.db import Database
    from filelinks_api.log_barrier import ChannelBarrier
    from filelinks_api.log_database import DirectInserts
    from filelinks_api.log_marks import LogMarks

log = logging.getLogger("filelinks_api.error")

RESPONSE_LIMIT = 64 * 1024  # bytes of a response body kept; beyond, it is cut
# Entries a deferring writer may hold unwritten before requests wait for theirs again (a log
# file locked for long by another program): at most a few MB of responses in memory.
BACKLOG_LIMIT = 256
# How long a deferring writer lets each batch gather before it writes it: no answer waits
# for it. On PostgreSQL a log query cuts it short (`written`, through the barrier); on SQLite
# (marks) a log query waits for it. A batch of one entry per transaction made SQLite creates
# and updates 6-10% slower than with answers waiting (2 workers, 16 connections). On
# PostgreSQL a statement costs the server ~100 µs whatever it holds (per entry, a retrieve's:
# 150 µs in batches of 1, 82 of 2, 30 of 8, 18 of 32), on the cores the service shares with
# it. Measured with bench/run.py --compare, req/s: PostgreSQL 5 ms against 1 ms, retrieve
# 1.28x (1.12-1.63); 20 ms against 5 ms, retrieve 1.12x (1.08-1.28), update 1.13x, create
# 1.07x. SQLite 5 ms against 1 ms: retrieve 1.05x (1.04-1.09), create 1.06x, update 1.01x.
GATHER_SECONDS = 0.005
POSTGRES_GATHER_SECONDS = 0.02
LOGGED_PREFIXES = ("/v1/", "/links/")


@dataclass
class LogContext:
    """Left in `scope["state"]["log"]` by whoever knows the request's scope."""

    scope: AccountScope
    now: int
    params: dict[str, Any] | None = None


class HasDatabase(Protocol):
    log_db: Database


@dataclass
class _Pending:
    entries: list[dict[str, Any]] = field(default_factory=list)
    scopes: list[AccountScope] = field(default_factory=list)
    # one per entry, aligned with `entries`: None for an entry no request waits for
    waiters: list[asyncio.Future[None] | None] = field(default_factory=list)


class LogWriter:
    """Commits entries in batches; `add` returns once the entry has committed.

    Group commit: while one batch commits, the entries that arrive meanwhile gather into the
    next, so requests that run together share one transaction. Without marks a lone request
    is written at once: its answer waits for it (waiting up to 2 ms for every request in
    flight to hand in its entry measured no better: 0.51 of log-off against 0.59 without,
    SQLite, 2 workers, 16 connections). A deferring writer (with marks or a barrier: a
    serving process) makes no answer wait, and lets each batch gather for `gather` seconds,
    or until a log query waits for its entries (`written`).
    """

    def __init__(
        self,
        runtime: HasDatabase,
        keep: int,
        direct: DirectInserts | None = None,
        marks: LogMarks | None = None,
        settle_timeout: float = 10.0,
        gather: float = GATHER_SECONDS,
    ) -> None:
        self.runtime = runtime  # its log_db is looked up at each flush (tests swap it)
        self.keep = keep
        # the inserts on a connection of the writer's own (log_database.DirectInserts)
        self.direct = direct
        # With marks (a log file on one host, log_marks.py) or a barrier (replicas sharing
        # PostgreSQL, log_barrier.py), a request does not wait for its entry: log queries
        # wait instead (`settle`), at most `settle_timeout` seconds.
        self.marks = marks
        self.barrier: ChannelBarrier | None = None
        self._handed = 0  # entries handed in, and settled (written or given up), in order
        self._settled = 0
        self._written_waiters: list[tuple[int, asyncio.Future[None]]] = []
        self.settle_timeout = settle_timeout
        self.gather = gather  # seconds a batch gathers, deferring
        self._every = request_log.prune_every(keep)
        self._since_prune: Counter[AccountScope] = Counter()
        self._pending = _Pending()
        self._flushing: asyncio.Task[None] | None = None  # held: a running task needs a reference
        self._gathering: asyncio.Future[None] | None = None  # done: the batch is gathered
        self._closing = False
        self._due: set[AccountScope] = set()  # scopes to prune
        self._pruning: asyncio.Task[None] | None = None

    async def add(self, entry: dict[str, Any], scope: AccountScope) -> None:
        """Returns once the entry has committed; raises if it could not be written."""
        loop = asyncio.get_running_loop()
        # one future per request: a request cancelled while it waits cancels only its own
        committed: asyncio.Future[None] = loop.create_future()
        self._enqueue(entry, scope, committed)
        await committed

    def add_later(self, entry: dict[str, Any], scope: AccountScope) -> None:
        """Write the entry with the next batch, without waiting for it."""
        self._enqueue(entry, scope, None)

    @property
    def deferring(self) -> bool:
        """Whether answers go out before their entries are written (log queries settle)."""
        return self.marks is not None or self.barrier is not None

    async def record(self, entry: dict[str, Any], scope: AccountScope) -> None:
        """A logged request's entry, before its answer goes out: deferring, handed in (a log
        query waits for it), unless the backlog is full; else committed."""
        if self.deferring and len(self._pending.entries) < BACKLOG_LIMIT:
            self.add_later(entry, scope)
        else:
            await self.add(entry, scope)

    async def written(self) -> None:
        """Returns once every entry this writer was handed before the call is settled."""
        target = self._handed
        if self._settled >= target:
            return
        waiter: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._written_waiters.append((target, waiter))
        _finish(self._gathering)  # the batch gathering goes now; the next ones do not gather
        await waiter

    async def settle(self) -> None:
        """Before a log query: every entry handed to any process's writer before the call is
        written or given up (deferring; else a request's entry committed before its answer
        went out). A wait longer than `settle_timeout` (a writer stuck beyond its own write
        timeout, a replica that does not answer) is logged, and the query goes on."""
        if self.marks is not None:
            settled = await log_marks.settle(self.marks.path.parent, self.settle_timeout)
        elif self.barrier is not None:
            settled = await self.barrier.settle(self.settle_timeout)
        else:
            return
        if not settled:
            log.warning(
                "the request log's writers did not settle within %g s: a log query may miss"
                " the newest entries",
                self.settle_timeout,
            )

    def _enqueue(
        self, entry: dict[str, Any], scope: AccountScope, committed: asyncio.Future[None] | None
    ) -> None:
        pending = self._pending
        pending.entries.append(entry)
        pending.scopes.append(scope)
        pending.waiters.append(committed)
        self._handed += 1
        if self.marks is not None:
            self.marks.handed()
        if self._flushing is None:
            self._flushing = asyncio.get_running_loop().create_task(self._flush())

    async def _flush(self) -> None:
        try:
            while self._pending.entries:
                if self.deferring:
                    # every batch gathers, not only a busy spell's first: the next would hold
                    # only what came during one write (1-2 entries at 16 connections)
                    await self._gather()
                batch, self._pending = self._pending, _Pending()
                try:
                    outcomes = await self._write(batch.entries)
                except BaseException as exc:  # a bug, or cancelled: no request waits for ever
                    self._fail(batch, exc)
                    if not isinstance(exc, Exception):
                        raise
                    return  # logged; the next entry starts a new flush
                self._count_settled(len(batch.entries))
                for waiter, failure in zip(batch.waiters, outcomes, strict=True):
                    if waiter is None or waiter.done():
                        continue
                    if failure is None:
                        waiter.set_result(None)
                    else:
                        waiter.set_exception(failure)
                self._count_for_pruning(batch.scopes)
        finally:
            self._flushing = None

    async def _gather(self) -> None:
        """Wait `gather` seconds for more entries, or less: until a log query waits for what
        this writer was handed (`written`) or the writer closes; not at all while one does."""
        if self._written_waiters or self._closing:
            return
        loop = asyncio.get_running_loop()
        self._gathering = gathering = loop.create_future()
        timer = loop.call_later(self.gather, _finish, gathering)
        try:
            await gathering
        finally:
            timer.cancel()
            self._gathering = None

    def _fail(self, batch: _Pending, exc: BaseException) -> None:
        """The batch, and every entry handed in while it was written, is lost: counted,
        logged, and each waiting request told (its answer still goes out)."""
        lost, self._pending = [batch, self._pending], _Pending()
        count = sum(len(each.entries) for each in lost)
        metrics.REQUEST_LOG_ENTRIES.labels("dropped").inc(count)
        self._count_settled(count)
        if not isinstance(exc, asyncio.CancelledError):
            log.error("%d request log entries could not be written", count, exc_info=exc)
        for each in lost:
            for waiter in each.waiters:
                if waiter is not None and not waiter.done():
                    waiter.set_exception(RuntimeError("the request log writer failed"))

    def _count_settled(self, count: int) -> None:
        self._settled += count
        if self.marks is not None:
            self.marks.settled(count)
        if self._written_waiters:
            waiting, self._written_waiters = self._written_waiters, []
            for target, waiter in waiting:
                if target > self._settled:
                    self._written_waiters.append((target, waiter))
                elif not waiter.done():
                    waiter.set_result(None)

    async def close(self) -> None:
        """The service is stopping: write the entries handed in (at most `settle_timeout`
        seconds), and stop a prune in progress (the next start prunes)."""
        self._closing = True
        _finish(self._gathering)
        flushing = self._flushing
        if flushing is not None:
            await asyncio.wait([flushing], timeout=self.settle_timeout)
            if not flushing.done():  # its entries are given up (counted, logged)
                flushing.cancel()
                await asyncio.gather(flushing, return_exceptions=True)
        pruning = self._pruning
        if pruning is not None:
            pruning.cancel()
            await asyncio.gather(pruning, return_exceptions=True)
        if self.barrier is not None:
            await self.barrier.close()
        if self.marks is not None:
            self.marks.close()

    def _count_for_pruning(self, scopes: list[AccountScope]) -> None:
        """A scope that has had `prune_every` more entries is pruned by a task of its own,
        once the batch's requests have their answers: no response waits for a prune's commit
        (a prune of a thousand list responses held every logged request for 100+ ms, the p99
        of list and create with the log on). On SQLite the DELETEs still run on the worker's
        loop, as every SQLite write does, in slices (services/slices.py)."""
        for scope in set(scopes):
            self._since_prune[scope] += scopes.count(scope)
            if self._since_prune[scope] >= self._every:
                self._since_prune[scope] = 0
                self._due.add(scope)
        if self._due and self._pruning is None:
            self._pruning = asyncio.get_running_loop().create_task(self._prune())

    async def _prune(self) -> None:
        try:
            while self._due:
                scope = self._due.pop()
                try:
                    pruned = await request_log.prune_scope(
                        self.runtime.log_db, scope, keep=self.keep
                    )
                except Exception as exc:  # tried again after the scope's next entries
                    failure = failures.classify(exc, "")
                    log.log(
                        logging.ERROR if failure.unexpected else logging.WARNING,
                        "the request log could not be pruned: %s",
                        exc,
                        exc_info=exc if failure.unexpected else None,
                    )
                    continue
                if pruned:
                    metrics.REQUEST_LOG_ENTRIES.labels("pruned").inc(pruned)
        finally:
            self._pruning = None

    async def _write(self, entries: list[dict[str, Any]]) -> list[Exception | None]:
        """Commit a batch; for each entry, None or why it could not be written. A batch
        refused for its content (not an outage) is written entry by entry, so one bad entry
        never costs the others theirs. Every entry lost is counted; a bug is logged with its
        traceback, an outage as one warning per batch."""
        db = self.runtime.log_db
        try:
            if self.direct is None or not await self.direct.insert(
                [request_log.storable(entry) for entry in entries]
            ):
                await db.append(request_log.record, entries)
        except Exception as exc:
            failure = failures.classify(exc, "")
            if len(entries) > 1 and failure.kind is Kind.INTERNAL:
                outcomes: list[Exception | None] = []
                for entry in entries:
                    outcomes += await self._write([entry])
                return outcomes
            metrics.REQUEST_LOG_ENTRIES.labels("dropped").inc(len(entries))
            if failure.unexpected:
                log.error("%d request log entries could not be written", len(entries), exc_info=exc)
            else:
                log.warning("%d request log entries could not be written: %s", len(entries), exc)
            return [exc] * len(entries)
        metrics.REQUEST_LOG_ENTRIES.labels("written").inc(len(entries))
        return [None] * len(entries)


class RequestLogMiddleware:
    def __init__(self, app: ASGIApp, *, writer: LogWriter) -> None:
        self.app = app
        self.writer = writer

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or not scope["path"].startswith(LOGGED_PREFIXES):
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        captured = _Captured()
        held: list[Message] = []  # sent once the entry has committed

        async def capture(message: Message) -> None:
            if message["type"] == "http.response.start":
                captured.start(message)
                held.append(message)  # with the body, if that comes in one message
                return
            if message["type"] == "http.response.body":
                captured.body(message.get("body", b""))
                if not message.get("more_body", False):
                    held.append(message)
                    return
            # a streamed body: the start and every chunk but the last go out now
            for early in held:
                await send(early)
            held.clear()
            await send(message)

        try:
            await self.app(scope, receive, capture)
        except Exception:
            captured.status = captured.status or 500  # the outer middleware answers it
            await self._record(scope, captured, started, wait=False)
            raise
        # A retryable answer (an outage, a lock, a key in flight) goes out at once: its entry
        # is written when the database lets it, never holding the answer the client retries on.
        await self._record(scope, captured, started, wait=not captured.retryable)
        # Status line, headers and body together: one wake-up for the client, not two.
        for message in held:
            await send(message)

    async def _record(
        self, scope: Scope, captured: _Captured, started: float, *, wait: bool
    ) -> None:
        state = scope.get("state", {})
        context: LogContext | None = state.get("log")
        if context is None:
            return
        try:
            entry = self._entry(scope, context, captured, started)
        except Exception:
            metrics.REQUEST_LOG_ENTRIES.labels("dropped").inc()
            log.exception("could not record request %s in the request log", state.get("request_id"))
            return
        if not wait:
            self.writer.add_later(entry, context.scope)
            return
        try:
            await self.writer.record(entry, context.scope)
        except Exception:  # counted and logged by the writer; the answer still goes out
            pass

    @staticmethod
    def _entry(
        scope: Scope, context: LogContext, captured: _Captured, started: float
    ) -> dict[str, Any]:
        state = scope["state"]
        wanted: dict[bytes, bytes] = {}
        for name, value in scope["headers"]:
            if name in _LOGGED_HEADERS:
                wanted[name] = value
        return {
            "id": state.get("request_id", ""),
            "account": context.scope.account,
            "livemode": context.scope.livemode,
            "created": context.now,
            "method": scope["method"],
            "path": scope["path"][:2048],
            "query": scope.get("query_string", b"").decode("latin-1"),
            "status": captured.status,
            "duration_ms": round((time.perf_counter() - started) * 1000, 3),
            "idempotency_key": _header(wanted, b"idempotency-key", 255),
            "idempotent_replayed": captured.replayed,
            "stripe_version": _header(wanted, b"stripe-version", 64),
            "stripe_account": _header(wanted, b"stripe-account", 80),
            "client": client_of(wanted),
            "request": context.params,
            "response": captured.text(),
            "error": captured.error(),
            "fault": state.get("fault_log"),  # a fault rule's {"id", "action"} (api/injection.py)
        }


# the request headers an entry keeps (of a repeated one, the last, as before)
_LOGGED_HEADERS = frozenset(
    (
        b"idempotency-key",
        b"stripe-version",
        b"stripe-account",
        b"x-stripe-client-user-agent",
        b"user-agent",
    )
)


class _Captured:
    """The response as it went out: status, whether it was a replay, a JSON body (cut)."""

    def __init__(self) -> None:
        self.status = 0
        self.replayed = False
        self.retryable = False  # Stripe-Should-Retry: true (a lock, an outage, a key in flight)
        self.json = False
        self.size = 0
        self.chunks: list[bytes] = []

    def start(self, message: Message) -> None:
        self.status = message["status"]
        for name, value in message.get("headers", ()):
            if name == b"content-type":
                self.json = value.startswith(b"application/json")
            elif name == b"idempotent-replayed":
                self.replayed = value == b"true"
            elif name == b"stripe-should-retry":
                self.retryable = value == b"true"

    def body(self, chunk: bytes) -> None:
        if self.json and self.size < RESPONSE_LIMIT:
            self.chunks.append(chunk[: RESPONSE_LIMIT - self.size])
        self.size += len(chunk)

    def text(self) -> str | None:
        if not self.json:
            return None  # bytes (a download) are not kept
        return b"".join(self.chunks).decode("utf-8", "replace")

    def error(self) -> dict[str, Any] | None:
        if self.status < 400:
            return None
        if not self.json or self.size > RESPONSE_LIMIT:
            return {"type": "api_error", "code": None, "param": None, "message": None}
        try:
            error = orjson.loads(b"".join(self.chunks)).get("error", {})
        except (orjson.JSONDecodeError, AttributeError):
            error = {}
        if not isinstance(error, dict):
            error = {}
        if not error and self.status == 500:
            error = {"type": "api_error"}
        return {key: error.get(key) for key in ("type", "code", "param", "message")}


def _finish(future: asyncio.Future[None] | None) -> None:
    if future is not None and not future.done():
        future.set_result(None)


def _header(headers: dict[bytes, bytes], name: bytes, limit: int) -> str | None:
    value = headers.get(name)
    return value.decode("latin-1")[:limit] if value is not None else None


def client_of(headers: dict[bytes, bytes]) -> str | None:
    """The SDK and its version ("stripe-python/16.1.0") from X-Stripe-Client-User-Agent, else
    the User-Agent."""
    described, agent = headers.get(b"x-stripe-client-user-agent"), headers.get(b"user-agent")
    if len(described or b"") + len(agent or b"") > 1024:
        return _client.__wrapped__(described, agent)  # not kept: the cache stays small
    return _client(described, agent)


# a client sends the same headers with every request: each pair is parsed once
@functools.lru_cache(maxsize=256)
def _client(described: bytes | None, agent: bytes | None) -> str | None:
    if described:
        try:
            about = orjson.loads(described)
            lang, version = about.get("lang"), about.get("bindings_version")
            if lang and version:
                return f"stripe-{lang}/{version}"[:255]
        except (orjson.JSONDecodeError, AttributeError):
            pass
    return agent.decode("latin-1")[:255] if agent else None
