"""What a route gets: one `Call` (caller, scope, time, parameters), from one dependency.

FastAPI solves every dependency node on every request: about 10 µs for a plain `async def`
node and 35 µs for a generator one (`bench/asgi_cost.py`). So each route declares a single
plain dependency, and reaches the database itself (`await call.db.read(work, ...)`) instead
of through a generator dependency. All dependencies are `async def`: a sync one would cost a
threadpool hop per request.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, Generic, TypeVar, cast

from fastapi import Request

from filelinks_api.api import injection
from filelinks_api.api.request_log import LogContext, LogWriter
from filelinks_api.clock import today
from filelinks_api.config import Settings
from filelinks_api.db import Database, P, T, Work
from filelinks_api.repository import Scope
from filelinks_api.services import files, idempotency
from filelinks_api.services.controls import ClockBook
from filelinks_api.services.faults import FaultBook
from filelinks_api.storage import StagedFile, Storage
from filelinks_api.wire.params import StripeParams, parse
from filelinks_api.wire.request import Caller, Upload, authenticate, base_url, read_params
from filelinks_api.wire.version import check_version


@dataclass
class Runtime:
    """What the application holds for every request (`app.state.runtime`)."""

    settings: Settings
    db: Database
    storage: Storage
    clocks: ClockBook
    # where the request log is kept (log_database.py): on SQLite a file of its own
    log_db: Database
    request_log: LogWriter | None = None  # None: not recorded (switched off, or no controls)
    faults: FaultBook | None = None  # None: no fault rules (no controls)

    @classmethod
    def of(cls, request: Request) -> Runtime:
        runtime: Runtime = request.app.state.runtime
        return runtime

    async def read_log(self, work: Work[P, T], *args: P.args, **kwargs: P.kwargs) -> T:
        """A read of the request log that finds every request answered before it
        (LogWriter.settle), as any read of the log must."""
        if self.request_log is not None:
            await self.request_log.settle()
        return await self.log_db.read(work, *args, **kwargs)

    async def write_log(self, work: Work[P, T], *args: P.args, **kwargs: P.kwargs) -> T:
        """A change to the request log (clearing it) that reaches every request answered
        before it, as `read_log`."""
        if self.request_log is not None:
            await self.request_log.settle()
        return await self.log_db.write(work, *args, **kwargs)


_P = TypeVar("_P", bound=StripeParams)


class Call(Generic[_P]):
    """An authenticated request with its parameters, decoded and validated: who calls, in
    which scope, at what time, with what."""

    __slots__ = (
        "_base_url",
        "caller",
        "data",
        "db",
        "filename",
        "now",
        "params",
        "request",
        "runtime",
        "scope",
        "staged",
    )

    def __init__(
        self,
        request: Request,
        runtime: Runtime,
        caller: Caller,
        params: _P,
        data: dict[str, Any],
        staged: StagedFile | None = None,
        filename: str | None = None,
        base: str | None = None,
    ) -> None:
        self.request = request
        self.runtime = runtime
        self.db = runtime.db
        self.caller = caller
        self.scope = Scope(caller.account, caller.livemode)
        # The caller's time: real time, or its account's test clock.
        self.now = runtime.clocks.now(self.scope)
        self.params = params
        self.data = data  # as decoded, for the idempotency digest
        self.staged = staged  # an upload's bytes, staged
        self.filename = filename
        self._base_url = base  # when the dependency already knew it
        request.scope["state"]["account"] = caller.account  # for the log line

    @property
    def base_url(self) -> str:
        if self._base_url is None:
            public = self.runtime.settings.public_url
            self._base_url = public or base_url(self.request)
        return self._base_url

    def digest(self) -> str:
        """The "same parameters" digest of this request (an upload's bytes included)."""
        sha256 = self.staged.sha256() if self.staged is not None else None
        return idempotency.digest(self.data, sha256)


def call_of(model: type[_P], *, upload: bool = False) -> Callable[[Request], Awaitable[Call[_P]]]:
    """The dependency of a route taking `model`: authenticate, check `Stripe-Version`, then
    decode the query and body into `model`; a 401 comes before any 400. With `upload`, a
    publishable key may call (as browsers upload directly) and the multipart body's `file` part
    is staged in storage as it streams, stopped at its purpose's size limit when `purpose`
    comes first."""

    async def dependency(request: Request) -> Call[_P]:
        runtime = Runtime.of(request)
        settings = runtime.settings
        headers = request.headers
        caller = authenticate(
            headers.get("authorization"),
            headers.get("stripe-account"),
            settings.api_keys,
            allow_publishable=upload,
        )
        await runtime.clocks.refresh()
        context = None
        base: str | None = None
        if runtime.request_log is not None and request.scope["path"].startswith("/v1/"):
            # From here on the request is logged in the caller's scope, whatever its outcome.
            scope = Scope(caller.account, caller.livemode)
            context = LogContext(scope, runtime.clocks.now(scope))
            state = request.scope["state"]
            state["log"] = context
            base = settings.public_url or base_url(request)
            state["request_log_url"] = f"{base}/dashboard/logs/{state['request_id']}"
        check_version(headers.getlist("stripe-version"), today())
        spec = None
        if upload:
            spec = Upload(
                open_sink=runtime.storage.stage,
                limit=lambda fields: files.upload_limit(fields, settings.max_upload_bytes),
            )
        read = await read_params(request, settings.max_body_bytes, spec)
        part = read.file
        # storage.stage made the sink, so it is a StagedFile
        staged = cast(StagedFile, part.sink) if part is not None else None
        if context is not None:
            context.params = read.data
            if part is not None and staged is not None:
                upload_summary = {
                    "filename": part.filename,
                    "size": part.size,
                    "sha256": staged.sha256(),
                }
                context.params = {**read.data, "file": upload_summary}
        try:
            params = parse(model, read.data)
        except BaseException:
            if staged is not None:
                staged.discard()
            raise
        filename = part.filename if part is not None else None
        # the base URL, if the log URL needed it, is the objects' urls' too: computed once
        call = Call(request, runtime, caller, params, read.data, staged, filename, base)
        if runtime.faults is not None and request.scope["path"].startswith("/v1/"):
            try:
                await injection.arrive(call)  # a fault rule (api/injection.py)
            except BaseException:
                if staged is not None:
                    staged.discard()
                raise
        return call

    return dependency
