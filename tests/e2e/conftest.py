"""A real `filelinks-api serve` on a free port with a temporary data dir, driven by the real
`stripe` SDK. On SQLite the server runs on its embedded default (no database URL set); on
PostgreSQL it gets a schema of its own."""

from __future__ import annotations

import os
import secrets
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
import stripe

from tests import samples
from tests.conftest import (
    BACKENDS,
    create_postgres_schema,
    drop_postgres_schema,
    postgres_schema_url,
)
from tests.s3 import free_port, new_bucket, stop_process


@dataclass
class Server:
    url: str
    data_dir: Path
    process: subprocess.Popen[bytes]
    log: Path
    database_url: str

    def stop(self) -> None:
        stop_process(self.process)

    def log_text(self) -> str:
        return self.log.read_text(errors="replace")


def auth(key: str, **headers: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}", **headers}


def make_file(server: Server, key: str) -> str:
    """A dispute_evidence PDF uploaded with plain HTTP; its id."""
    response = httpx.post(
        f"{server.url}/v1/files",
        data={"purpose": "dispute_evidence"},
        files={"file": ("a.pdf", samples.pdf(), "application/octet-stream")},
        headers=auth(key),
    )
    assert response.status_code == 200, response.text
    return str(response.json()["id"])


# Every server started in this process, for the guard below.
STARTED: list[Server] = []


@pytest.fixture(scope="session", autouse=True)
def _stop_servers_left_running() -> Iterator[None]:
    """A server that a failing test left running is stopped with the session: one that
    outlived its pytest kept its PostgreSQL connections, and the next run's servers ran the
    database out of them ("too many clients")."""
    yield
    for server in STARTED:
        if server.process.poll() is None:
            server.stop()


@pytest.fixture(autouse=True)
def _no_tracebacks_in_server_logs(request: pytest.FixtureRequest) -> Iterator[None]:
    """The e2e side of tests/error_log_guard.py: a test fails when a server logged a
    traceback while it ran, unless it is marked `expect_error_log`."""
    sizes = {id(server): _size(server.log) for server in STARTED}
    yield
    if request.node.get_closest_marker("expect_error_log") is not None:
        return
    for server in STARTED:
        try:
            with open(server.log, "rb") as log:
                log.seek(sizes.get(id(server), 0))
                new = log.read().decode(errors="replace")
        except FileNotFoundError:  # its temporary directory is gone with its test
            continue
        if "Traceback (most recent call last)" in new:
            pytest.fail(f"server {server.url} logged a traceback during the test:\n{new[-4000:]}")


def _size(path: Path) -> int:
    try:
        return path.stat().st_size
    except FileNotFoundError:
        return 0


def start_server(
    data_dir: Path,
    *,
    database_url: str | None = None,
    workers: int = 1,
    extra_env: dict[str, str] | None = None,
    args: tuple[str, ...] = (),
) -> Server:
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("FILELINKS_")}
    env["FILELINKS_DATA_DIR"] = str(data_dir)
    if database_url:
        env["FILELINKS_DATABASE_URL"] = database_url
    env.update(extra_env or {})
    data_dir.mkdir(parents=True, exist_ok=True)
    log = data_dir.parent / f"server-{port}.log"
    command = [
        sys.executable,
        "-m",
        "filelinks_api",
        "serve",
        "--port",
        str(port),
        "--workers",
        str(workers),
        *args,
    ]
    with open(log, "wb") as out:
        process = subprocess.Popen(command, env=env, stdout=out, stderr=subprocess.STDOUT)
    server = Server(
        url=f"http://127.0.0.1:{port}",
        data_dir=data_dir,
        process=process,
        log=log,
        database_url=database_url or f"sqlite:///{data_dir / 'filelinks.db'}",
    )
    STARTED.append(server)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"server exited with {process.returncode}:\n{server.log_text()}")
        try:
            if httpx.get(f"{server.url}/healthz", timeout=1).status_code == 200:
                return server
        except httpx.HTTPError:
            pass
        time.sleep(0.1)
    server.stop()
    raise RuntimeError(f"server did not become healthy:\n{server.log_text()}")


@pytest.fixture(scope="session", params=BACKENDS)
def server(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Server]:
    yield from serve(request, tmp_path_factory, request.param)


# Every database backend with contents on local disk and in S3 (moto): a module that
# overrides `server` with `server_on_each_storage` runs its tests on each.
STORAGE_PARAMS = [f"{backend}-{where}" for where in ("local", "s3") for backend in BACKENDS]


def serve(
    request: pytest.FixtureRequest,
    tmp_path_factory: pytest.TempPathFactory,
    backend: str,
    storage: str = "local",
) -> Iterator[Server]:
    base = tmp_path_factory.mktemp(f"e2e-{backend}-{storage}")
    env: dict[str, str] = {}
    if storage == "s3":
        env = request.getfixturevalue("moto").env(new_bucket())
    with server_on(backend, base / "data", extra_env=env) as running:
        yield running


@contextmanager
def server_on(backend: str, data_dir: Path, **start: Any) -> Iterator[Server]:
    """`start_server` on `backend`: SQLite in the data dir, or a PostgreSQL schema of its own,
    dropped with the server."""
    schema = None
    if backend == "postgresql":
        schema = f"filelinks_e2e_{secrets.token_hex(4)}"
        create_postgres_schema(schema)
        start["database_url"] = postgres_schema_url(schema)
    running = start_server(data_dir, **start)
    try:
        yield running
    finally:
        running.stop()
        if schema:
            drop_postgres_schema(schema)


def server_on_each_storage(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Server]:
    backend, storage = request.param.split("-")
    yield from serve(request, tmp_path_factory, backend, storage)


@pytest.fixture
def sdk(server: Server, api_key: str) -> Iterator[object]:
    """The module-level stripe API pointed at the server, as users configure it."""
    saved = (stripe.api_key, stripe.api_base, stripe.upload_api_base, stripe.max_network_retries)
    stripe.api_key = api_key
    stripe.api_base = stripe.upload_api_base = server.url
    yield stripe
    stripe.api_key, stripe.api_base, stripe.upload_api_base, stripe.max_network_retries = saved


@pytest.fixture
def client(server: Server, api_key: str) -> stripe.StripeClient:
    return stripe.StripeClient(api_key, base_addresses={"api": server.url, "files": server.url})


@pytest.fixture
def http(server: Server, api_key: str) -> Iterator[httpx.Client]:
    """Plain HTTP against the server, authenticated with the test's key."""
    with httpx.Client(
        base_url=server.url, headers={"Authorization": f"Bearer {api_key}"}, timeout=30
    ) as plain:
        yield plain


@pytest.fixture(scope="module", params=BACKENDS)
def two_workers(request, tmp_path_factory) -> Iterator[Server]:
    """Two worker processes on one port; JSON logs, whose `pid` tells which one answered.
    A module's own: on PostgreSQL the pair holds up to 36 connections, which, kept for the
    whole session beside the servers of later modules, ran this machine's PostgreSQL (100
    connections) out of them (`too many clients`: the fuzz test's 503s)."""
    base = tmp_path_factory.mktemp(f"workers-{request.param}")
    with server_on(
        request.param, base / "data", workers=2, args=("--log-format", "json")
    ) as server:
        yield server


POSTGRES = [b for b in BACKENDS if b == "postgresql"]


@pytest.fixture
def two_hosts(tmp_path) -> Iterator[tuple[Server, Server]]:
    """Two `serve` processes sharing one PostgreSQL database and nothing else: data dirs of
    their own (no clocks.epoch file in common), as on two hosts."""
    schema = f"filelinks_hosts_{secrets.token_hex(4)}"
    create_postgres_schema(schema)
    url = postgres_schema_url(schema)
    first = start_server(tmp_path / "host-a", database_url=url)
    second = start_server(tmp_path / "host-b", database_url=url)
    try:
        yield first, second
    finally:
        first.stop()
        second.stop()
        drop_postgres_schema(schema)
