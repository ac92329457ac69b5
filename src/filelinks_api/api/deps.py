"""What a route gets: one `Call` (caller, scope, time, parameters), from one dependency.

FastAPI solves every dependency node on every request: about 10 µs for a plain `async def`
node and 35 µs for a generator one (`bench/asgi_cost.py`). So each route declares a single
plain dependency, and opens its session itself (`with call.reading() as session:`) instead of
through a generator dependency. All dependencies are `async def`: a sync one would cost a
threadpool hop per request.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import AbstractContextManager, asynccontextmanager
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from fastapi import Request
from sqlalchemy.orm import Session

from filelinks_api.config import Settings
from filelinks_api.db import Database
from filelinks_api.repository import Executor, Scope
from filelinks_api.services.controls import ClockBook
from filelinks_api.storage import LocalStorage
from filelinks_api.wire.params import StripeParams, parse
from filelinks_api.wire.request import Caller, authenticate, base_url, read_params

SessionFactory = Callable[[bool], AbstractContextManager[Any]]


@dataclass
class Runtime:
    """What the application holds for every request (`app.state.runtime`)."""

    settings: Settings
    db: Database
    storage: LocalStorage
    clocks: ClockBook
    # write -> a Session for writes (Context.writing begins it, on SQLite with the write
    # lock), else a Connection for autocommit reads; each closes on exit. Tests swap in their
    # rolled-back session.
    sessions: SessionFactory

    @classmethod
    def of(cls, request: Request) -> Runtime:
        runtime: Runtime = request.app.state.runtime
        return runtime


class Context:
    """An authenticated request: who calls, in which scope, at what time."""

    __slots__ = ("_base_url", "caller", "now", "request", "runtime", "scope")

    def __init__(self, request: Request, caller: Caller) -> None:
        self.request = request
        self.runtime = Runtime.of(request)
        self.caller = caller
        self.scope = Scope(caller.account, caller.livemode)
        # The caller's time: real time, or its account's test clock.
        self.now = self.runtime.clocks.now(self.scope)
        self._base_url: str | None = None
        request.scope["state"]["account"] = caller.account  # for the log line

    @property
    def base_url(self) -> str:
        if self._base_url is None:
            public = self.runtime.settings.public_url
            self._base_url = public or base_url(self.request)
        return self._base_url

    def reading(self) -> AbstractContextManager[Executor]:
        return self.runtime.sessions(False)

    @asynccontextmanager
    async def writing(self) -> AsyncIterator[Session]:
        """A write session whose transaction has begun (on SQLite: holding the lock)."""
        with self.runtime.sessions(True) as session:
            await self.runtime.db.begin_write(session)
            yield session


_P = TypeVar("_P", bound=StripeParams)


class Call(Context, Generic[_P]):
    """A Context with the request's parameters, decoded and validated."""

    __slots__ = ("data", "params")

    def __init__(self, request: Request, caller: Caller, params: _P, data: dict[str, Any]):
        super().__init__(request, caller)
        self.params = params
        # As decoded, kept for the idempotency layer's "same parameters" check.
        self.data = data


def _caller(request: Request, *, allow_publishable: bool) -> Caller:
    headers = request.headers
    return authenticate(
        headers.get("authorization"),
        headers.get("stripe-account"),
        Runtime.of(request).settings.api_keys,
        allow_publishable=allow_publishable,
    )


async def uploader(request: Request) -> Context:
    """The caller of an upload: publishable keys too (browsers upload directly). The body is
    the route's to stream."""
    return Context(request, _caller(request, allow_publishable=True))


def call_of(model: type[_P]) -> Callable[[Request], Awaitable[Call[_P]]]:
    """The dependency of a route taking `model`: authenticate (a secret key), then decode the
    query and body into `model`; a 401 comes before any 400."""

    async def dependency(request: Request) -> Call[_P]:
        caller = _caller(request, allow_publishable=False)
        data: dict[str, Any] = await read_params(
            request, Runtime.of(request).settings.max_body_bytes
        )
        return Call(request, caller, parse(model, data), data)

    return dependency
