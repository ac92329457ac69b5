"""create_app(settings): the FastAPI application, its state, handlers and routers."""

from __future__ import annotations

import gc
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

from fastapi import FastAPI, Request
from starlette.responses import Response

from filelinks_api import __version__, dashboard, failures, metrics
from filelinks_api.api import controls as emulator
from filelinks_api.api import docs, faults, file_links, files, health, injection, links, monitoring
from filelinks_api.api.deps import Runtime
from filelinks_api.api.idempotency import Replay
from filelinks_api.api.request_log import (
    GATHER_SECONDS,
    POSTGRES_GATHER_SECONDS,
    LogWriter,
    RequestLogMiddleware,
)
from filelinks_api.api.route import add_routes
from filelinks_api.clock import Clock, SystemClock
from filelinks_api.config import Settings, load_settings
from filelinks_api.db import Database
from filelinks_api.log_barrier import ChannelBarrier
from filelinks_api.log_database import direct_inserts, log_file, open_log_database, writers_dir
from filelinks_api.log_marks import LogMarks
from filelinks_api.repository import Scope
from filelinks_api.schemas import ERROR_RESPONSES
from filelinks_api.services import controls
from filelinks_api.services.clock_sync import ClockChannel, ClockSync, EpochFile
from filelinks_api.services.controls import AccountClock, ClockBook
from filelinks_api.services.faults import FaultBook
from filelinks_api.services.housekeeping import Housekeeping
from filelinks_api.storage import open_storage
from filelinks_api.wire.envelope import (
    error_log,
    error_response,
    install_handlers,
    request_id_of,
    request_log_url_of,
)
from filelinks_api.wire.openapi import SECURITY_SCHEMES

DESCRIPTION = """\
A self-hosted, stateful emulator of Stripe's Files and File Links API.

Point the Stripe SDKs at this server (both `api_base` and `upload_api_base`). Requests are
form-encoded with Stripe's bracket notation (`metadata[key]=value`, `expand[]=file`);
uploads are `multipart/form-data`. Authenticate with `Authorization: Bearer sk_test_...`.
"""


def create_app(
    settings: Settings,
    *,
    clock: Clock | None = None,
    database: Database | None = None,
    housekeeping: bool | None = None,
) -> FastAPI:
    """`housekeeping` (pruning while serving, services/housekeeping.py): by default, when
    the app has its own database; a test's app shares the test's."""
    db = database or Database.connect(
        settings.resolved_database_url, connect_timeout=settings.database_timeout_seconds
    )
    storage = open_storage(settings)
    # the request log's own database on SQLite (log_database.py); without the controls there
    # is no log to keep
    log_db = (
        open_log_database(db, connect_timeout=settings.database_timeout_seconds)
        if settings.emulator_controls
        else db
    )

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        await storage.prepare()
        await clocks.start()
        if marks_dir is not None and runtime.request_log is not None:
            # a log file of its own, on this host: answers do not wait for their entries
            runtime.request_log.marks = LogMarks(marks_dir)
        if housekeeping:
            pruner.start()
        yield
        await pruner.stop()
        if runtime.request_log is not None:
            await runtime.request_log.close()
        await clocks.stop()
        if database is None:
            await db.dispose()
        if log_db is not db:
            await log_db.dispose()
        if direct is not None:
            await direct.close()

    app = FastAPI(
        title="filelinks-api",
        version=__version__,
        description=DESCRIPTION,
        lifespan=lifespan,
        redirect_slashes=False,
        docs_url=None,  # served from local assets by api/docs.py
        redoc_url=None,
        responses=ERROR_RESPONSES,
        # FastAPI's own OpenTelemetry: looked up on every request (~3 µs) for providers an
        # emulator's user does not set up; the service has its metrics (/metrics)
        telemetry={"tracing": False, "metrics": False, "logs": False},
    )

    async def load_clocks() -> dict[Scope, AccountClock]:
        runtime: Runtime = app.state.runtime
        if runtime.faults is not None:
            # the clocks' channel carries the fault rules' changes too (services/faults.py)
            await runtime.faults.reload(runtime.db)
        return await runtime.db.read(controls.load_clocks)

    # An app given its database (a test's) is one process: the file does
    sync: ClockSync = (
        ClockChannel(db)
        if database is None and db.is_postgres
        else EpochFile(settings.data_dir / "clocks.epoch")
    )
    clocks = ClockBook(clock or SystemClock(), sync, load_clocks)
    runtime = app.state.runtime = Runtime(settings, db, storage, clocks, log_db)
    direct = None
    marks_dir: Path | None = None
    if settings.emulator_controls and settings.request_log:
        # the log writer's inserts on a connection of its own; an app given its database (a
        # test's, whose requests may share the test's session) writes them the plain way
        direct = direct_inserts(log_db) if database is None else None
        # a serving process whose log has a file of its own (SQLite): log queries settle
        log_path = log_file(db.url) if database is None and log_db is not db else None
        marks_dir = writers_dir(log_path) if log_path is not None else None
        runtime.request_log = LogWriter(
            runtime,
            keep=settings.request_log_limit,
            direct=direct,
            # the batch being written and the next, each waiting at most for the file's lock
            settle_timeout=2 * log_db.write_timeout,
            gather=POSTGRES_GATHER_SECONDS if log_db.is_postgres else GATHER_SECONDS,
        )
        if isinstance(sync, ClockChannel):
            # replicas sharing PostgreSQL: answers do not wait for their entries, log queries
            # ask every replica instead (log_barrier.py)
            runtime.request_log.barrier = ChannelBarrier(sync, runtime.request_log.written)
        # inside StripeMiddleware (added next): it sees the request id and the final answer
        app.add_middleware(RequestLogMiddleware, writer=runtime.request_log)
    if settings.emulator_controls:
        runtime.faults = FaultBook()
    logged = settings.emulator_controls and settings.request_log
    if housekeeping is None:
        housekeeping = database is None
    pruner = Housekeeping(
        runtime, clocks.base, log_total=settings.request_log_total_limit if logged else None
    )
    install_handlers(
        app,
        body_timeout=settings.body_timeout_seconds,
        observe=monitoring.Observer(count=settings.metrics),
        classify=failures.answer,
    )
    if settings.emulator_controls:
        # outside every other middleware: the request log's entry and the envelope's headers
        # are done when it holds back or drops a response
        app.add_middleware(injection.FaultMiddleware)
        app.add_exception_handler(injection.ResetBefore, injection.reset_placeholder)
    app.add_exception_handler(Replay, _replay)
    for failure in failures.CLASSIFIED:
        app.add_exception_handler(failure, _failed)
    # Routes are matched in order: the busiest first (each miss costs a regex match), the
    # app's own rather than a nested router's (api/route.py).
    for module in (file_links, links, files, health):
        add_routes(app, module.router)
    if settings.metrics:
        app.include_router(monitoring.router)
    if settings.emulator_controls:
        app.include_router(emulator.router)
        app.include_router(faults.router)
        app.include_router(dashboard.router)  # the web dashboard, under the same switch
    app.include_router(docs.router)
    app.mount(docs.ASSETS_PATH, docs.assets(), name="docs-assets")
    _document_security(app)
    return app


def _document_security(app: FastAPI) -> None:
    """Every route takes the API key, but the public link, /healthz and /metrics
    (security: [])."""
    generate = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            schema = generate()
            schema.setdefault("components", {})["securitySchemes"] = SECURITY_SCHEMES
            schema["security"] = [{"bearerAuth": []}, {"basicAuth": []}]
            app.openapi_schema = schema
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]


async def _replay(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, Replay)
    return exc.response()


async def _failed(request: Request, exc: Exception) -> Response:
    # A driver, pool, store or disk failure: classified once (failures.py), answered here,
    # inside the request log, which records what the client was told.
    failure = failures.classify(exc, request_id_of(request))
    if failure.source == "database":
        metrics.DATABASE_ERRORS.labels(failure.kind.value).inc()
    if failure.unexpected:
        error_log.error(
            "request %s failed: %s %s",
            request_id_of(request),
            request.method,
            request.url.path,
            exc_info=exc,
        )
    return error_response(failure.error, request_log_url_of(request))


def app_from_environment() -> FastAPI:
    """The factory `uvicorn --factory` calls in each worker process."""
    app = create_app(load_settings())
    # What the process has built so far (modules, the app, its routes and models) lives as
    # long as it does: frozen, out of the cyclic collector's sight, a full collection walks
    # only what requests made since. Unfrozen, each one walked it all, 45-81 ms with the
    # worker stopped, several times a minute under load: the p99 of every scenario.
    gc.freeze()
    return app
