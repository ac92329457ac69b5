"""`filelinks-api serve` and `filelinks-api migrate`."""

from __future__ import annotations

import argparse
import asyncio
import errno
import importlib.util
import logging
import logging.config
import os
import shutil
import signal
import socket
import sys
import tempfile
from pathlib import Path
from types import FrameType

from sqlalchemy.engine import make_url

from filelinks_api import __version__
from filelinks_api.clock import SystemClock
from filelinks_api.config import Settings, SettingsError, load_settings
from filelinks_api.db import Database, alembic_config, create_db_engine, migrate, sqlite_path
from filelinks_api.logs import LIFECYCLE, logging_config
from filelinks_api.services import files, idempotency
from filelinks_api.storage import StoreUnavailable, open_storage

DEFAULT_PORT = 12111


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="filelinks-api",
        description="A stateful emulator of Stripe's Files and File Links API.",
    )
    parser.add_argument("--version", action="version", version=f"filelinks-api {__version__}")
    commands = parser.add_subparsers(dest="command", required=True)
    serve = commands.add_parser(
        "serve", help="migrate the database to the newest schema, then serve"
    )
    serve.add_argument("--host", help="default: FILELINKS_HOST, else 127.0.0.1")
    serve.add_argument("--port", type=int, help=f"default: FILELINKS_PORT, else {DEFAULT_PORT}")
    serve.add_argument("--workers", type=int, help="default: FILELINKS_WORKERS, else 1")
    serve.add_argument(
        "--log-level",
        default="info",
        choices=["critical", "error", "warning", "info", "debug"],
        help="'warning' silences the one-line-per-request log",
    )
    serve.add_argument(
        "--log-format",
        choices=["text", "json"],
        default=None,
        help="text lines on stderr, or one JSON object per line on stdout"
        " (default: FILELINKS_LOG_FORMAT, else text)",
    )
    commands.add_parser("migrate", help="upgrade the database schema only")
    return parser


def _listen_settings(args: argparse.Namespace, settings: Settings) -> None:
    """--host, --port, --workers, else FILELINKS_HOST/PORT/WORKERS (environment or .env),
    else the defaults; a value out of range is named alone, as the user wrote it."""
    for name, default in (("host", "127.0.0.1"), ("port", DEFAULT_PORT), ("workers", 1)):
        if getattr(args, name) is not None:
            setattr(args, f"{name}_source", f"--{name}")
        else:
            value = getattr(settings, name)
            setattr(args, f"{name}_source", f"FILELINKS_{name.upper()}")
            setattr(args, name, default if value is None else value)
    if not 0 < args.port < 65536:
        raise SettingsError(f"{args.port_source} must be 1-65535, got {args.port}")
    if args.workers < 1:
        raise SettingsError(f"{args.workers_source} must be at least 1, got {args.workers}")


def _prepare(settings: Settings, *, sweep: bool = False) -> str:
    try:
        settings.data_dir.mkdir(parents=True, exist_ok=True)
        settings.files_dir.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise SettingsError(
            f"FILELINKS_DATA_DIR: cannot create {settings.data_dir}: {exc.strerror}"
        ) from None
    url = settings.resolved_database_url
    path = sqlite_path(url)
    if path is not None and not path.parent.is_dir():
        raise SettingsError(
            f"FILELINKS_DATABASE_URL: the directory of the SQLite file {path} does not exist"
        )
    try:
        before = _schema_revision(url, settings.database_timeout_seconds)
        migrate(url, connect_timeout=settings.database_timeout_seconds)
        done = _migrated(url, before)
    except Exception as exc:
        message = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise SettingsError(f"cannot migrate the database: {message}") from None
    if sweep:
        if settings.storage_url is not None:
            _check_store(settings)
        asyncio.run(_sweep_orphans(settings))
    return done


def _schema_revision(url: str, connect_timeout: float) -> str | None:
    """The database's Alembic revision; None for an empty database."""
    from alembic.runtime.migration import MigrationContext

    engine = create_db_engine(url, connect_timeout=connect_timeout)
    try:
        with engine.connect() as connection:
            return MigrationContext.configure(connection).get_current_revision()
    finally:
        engine.dispose()


def _migrated(url: str, before: str | None) -> str:
    """What `migrate` did, in one line."""
    from alembic.script import ScriptDirectory

    script = ScriptDirectory.from_config(alembic_config(url))
    head = script.get_current_head()
    database = f"the database schema in {make_url(url).render_as_string(hide_password=True)}"
    if before == head:
        return f"{database} is up to date (revision {head}); nothing to do"
    applied = len(list(script.iterate_revisions(head, before or "base")))
    count = f"{applied} migration{'s' if applied != 1 else ''}"
    if before is None:
        return f"created {database} (revision {head}, {count})"
    return f"upgraded {database} from revision {before} to {head} ({count})"


def _check_store(settings: Settings) -> None:
    """Reach the S3-compatible store, check the credentials, create the bucket if missing."""
    from filelinks_api.storage.s3 import check_store, s3_location

    location = s3_location(settings)
    if check_store(location):
        logging.getLogger(LIFECYCLE).info(
            "filelinks-api: created bucket %s",
            location.bucket,
            extra={"fields": {"event": "bucket_created", "bucket": location.bucket}},
        )


async def _sweep_orphans(settings: Settings) -> None:
    """Once per `serve`, before any worker starts: bytes a crash left without a row, and
    idempotency keys past their 24 hours."""
    storage = open_storage(settings)
    database = Database.connect(
        settings.resolved_database_url, connect_timeout=settings.database_timeout_seconds
    )
    try:
        swept = await files.sweep_orphans(
            database, storage, grace_seconds=settings.orphan_grace_seconds
        )
        await idempotency.prune_expired(database, SystemClock().now())
    except OSError as exc:
        raise SettingsError(f"cannot sweep {storage.description}: {exc.strerror}") from None
    except StoreUnavailable as exc:
        raise SettingsError(f"cannot sweep {storage.description}: {exc.message}") from None
    finally:
        await database.dispose()
    if swept.stored or swept.staged:
        logging.getLogger(LIFECYCLE).info(
            "filelinks-api: removed %d stored file(s) without a row and %d interrupted upload(s)",
            swept.stored,
            swept.staged,
            extra={"fields": {"event": "swept", "stored": swept.stored, "staged": swept.staged}},
        )


def _check_port(host: str, port: int) -> None:
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except socket.gaierror as exc:
        raise SettingsError(f"--host {host}: {exc.strerror}") from None
    family, _, _, _, address = infos[0]
    with socket.socket(family, socket.SOCK_STREAM) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind(address)
        except OSError as exc:
            if exc.errno == errno.EADDRINUSE:
                raise SettingsError(f"port {port} on {host} is already in use") from None
            raise SettingsError(f"cannot listen on {host}:{port}: {exc.strerror}") from None


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    try:
        settings = load_settings()
        if args.command == "serve":
            log_format = args.log_format or settings.log_format
            logging.config.dictConfig(logging_config(args.log_level, log_format))
            _listen_settings(args, settings)
            _check_port(args.host, args.port)
        done = _prepare(settings, sweep=args.command == "serve")
    except SettingsError as exc:
        print(f"filelinks-api: error: {exc}", file=sys.stderr)
        return 2
    if args.command == "migrate":
        print(f"filelinks-api: {done}", file=sys.stderr)
        return 0
    if not done.endswith("nothing to do"):
        logging.getLogger(LIFECYCLE).info(
            "filelinks-api: %s", done, extra={"fields": {"event": "migrated"}}
        )
    return _serve(args, settings)


# Answers requests uvicorn cannot parse with Stripe's envelope (needs httptools, which
# uvicorn[standard] brings; without it uvicorn's own h11 protocol and plain-text 400s remain).
STRIPE_HTTP = "filelinks_api.wire.protocol:StripeHttpToolsProtocol"


def _serve(args: argparse.Namespace, settings: Settings) -> int:
    config = logging_config(args.log_level, args.log_format or settings.log_format)
    metrics_dir = _metrics_dir(settings.data_dir) if settings.metrics else None
    try:
        import uvicorn

        _announce(args, settings)
        # uvicorn handles SIGTERM and SIGINT itself (it stops accepting, lets the requests in
        # flight finish for up to FILELINKS_SHUTDOWN_TIMEOUT_SECONDS), then raises the signal
        # again with the handlers it found: these, which end the process with status 0.
        for stop in (signal.SIGTERM, signal.SIGINT):
            signal.signal(stop, _exit_cleanly)
        uvicorn.run(
            "filelinks_api.app:app_from_environment",
            factory=True,
            host=args.host,
            port=args.port,
            workers=args.workers,
            log_level=args.log_level,
            log_config=config,
            access_log=False,
            timeout_keep_alive=30,
            timeout_graceful_shutdown=settings.shutdown_timeout_seconds,
            http=STRIPE_HTTP if importlib.util.find_spec("httptools") else "auto",
        )
    finally:
        if metrics_dir is not None:
            shutil.rmtree(metrics_dir, ignore_errors=True)
    return 0


def _exit_cleanly(signum: int, frame: FrameType | None) -> None:
    raise SystemExit(0)


def _metrics_dir(data_dir: Path) -> str:
    """A fresh directory for prometheus-client's multiprocess mode, set in the environment
    before any worker (or this process) imports it: every worker counts into its own files
    there, and /metrics adds them up. In the data dir, not TMPDIR: the files are memory-mapped
    and sparse, and a write into a page that a full file system cannot back kills the worker
    (SIGBUS); a small or shared TMPDIR (a container's tmpfs) fills up far sooner."""
    data_dir.mkdir(parents=True, exist_ok=True)
    path = tempfile.mkdtemp(prefix="metrics-", dir=data_dir)
    os.environ["PROMETHEUS_MULTIPROC_DIR"] = path
    return path


def _announce(args: argparse.Namespace, settings: Settings) -> None:
    """Where the service listens and what it uses, whatever the log level; no password."""
    database = make_url(settings.resolved_database_url).render_as_string(hide_password=True)
    workers = f"{args.workers} worker{'s' if args.workers > 1 else ''}"
    storage = open_storage(settings).description
    host = f"[{args.host}]" if ":" in args.host else args.host
    # The default loopback address, named as SDK examples and the README name it: the
    # dashboard's sign-in cookie belongs to one host name, and an error's request_log_url
    # uses the SDK's (http://localhost:12111/dashboard/logs/...).
    if args.host == "127.0.0.1":
        host = "localhost"
    logging.getLogger(LIFECYCLE).info(
        "filelinks-api %s listening on http://%s:%d (%s); database %s; files in %s",
        __version__,
        host,
        args.port,
        workers,
        database,
        storage,
        extra={
            "fields": {
                "event": "listening",
                "version": __version__,
                "url": f"http://{host}:{args.port}",
                "workers": args.workers,
                "database": database,
                "storage": storage,
            }
        },
    )


if __name__ == "__main__":
    raise SystemExit(main())
