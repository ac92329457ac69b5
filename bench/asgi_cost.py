"""CPU microseconds per request through the whole ASGI app, in-process, next to the floor.

    python bench/asgi_cost.py [--db sqlite|postgres] [--requests 3000] [--profile SCENARIO]
        [--concurrency N]

No sockets and no load generator: each request is handed to the app as uvicorn would hand it
(scope, receive, send), one after another on one event loop, so the figure is the app's own
cost per request, free of the machine's scheduling noise. The floor app (floor_app.py) is
timed the same way, and each scenario is printed as a ratio to it. Useful while working on
the hot path; `run.py` stays the benchmark of record.

`--profile retrieve` (or list, create, update) prints cProfile's top functions for that
scenario instead.
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import os
import pstats
import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import common
import floor_app

from filelinks_api.app import create_app
from filelinks_api.config import Settings
from filelinks_api.db import migrate

Request = tuple[str, str, str, bytes]  # method, path, query, body


def asgi_call(app: Any, request: Request) -> Callable[[], Any]:
    method, path, query, body = request
    headers = [
        (b"host", b"127.0.0.1:8000"),
        (b"authorization", f"Bearer {common.KEY}".encode()),
    ]
    if body:
        headers.append((b"content-type", b"application/x-www-form-urlencoded"))
        headers.append((b"content-length", str(len(body)).encode()))
    scope = {
        "type": "http",
        "asgi": {"version": "3.0", "spec_version": "2.3"},
        "http_version": "1.1",
        "method": method,
        "scheme": "http",
        "path": path,
        "raw_path": path.encode(),
        "query_string": query.encode(),
        "root_path": "",
        "headers": headers,
        "client": ("127.0.0.1", 50000),
        "server": ("127.0.0.1", 8000),
    }

    async def call() -> int:
        status = 0

        async def receive() -> dict[str, Any]:
            return {"type": "http.request", "body": body, "more_body": False}

        async def send(message: dict[str, Any]) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]

        await app({**scope, "headers": list(headers)}, receive, send)
        if status != 200:
            raise RuntimeError(f"{method} {path}: {status}")
        return status

    return call


async def per_request_us(calls: list[Callable[[], Any]], n: int, concurrency: int = 1) -> float:
    """Wall µs per request with `concurrency` callers taking turns on the loop, as a worker
    serving that many connections does (what batching, such as the request log's, needs)."""

    async def caller(count: int, offset: int) -> None:
        for i in range(count):
            await calls[(offset + i) % len(calls)]()

    await asyncio.gather(*(caller(200 // concurrency, k) for k in range(concurrency)))
    rounds = []
    per_caller = max(1, n // 5 // concurrency)
    for _ in range(5):
        started = time.perf_counter()
        await asyncio.gather(*(caller(per_caller, k * 7) for k in range(concurrency)))
        rounds.append((time.perf_counter() - started) / (per_caller * concurrency) * 1e6)
    return statistics.median(rounds)


def seed(app: Any) -> tuple[list[str], str]:
    """A few links through the API itself (TestClient runs the lifespan)."""
    from fastapi.testclient import TestClient

    auth = {"Authorization": f"Bearer {common.KEY}"}
    with TestClient(app) as client:
        uploaded = client.post(
            "/v1/files",
            headers=auth,
            data={"purpose": "dispute_evidence"},
            files={"file": ("bench.pdf", common.pdf(2000), "application/pdf")},
        )
        uploaded.raise_for_status()
        uploaded = uploaded.json()
        link_ids = []
        for i in range(50):
            link = client.post(
                "/v1/file_links",
                headers=auth,
                data={"file": uploaded["id"], "metadata[order]": str(i)},
            ).json()
            link_ids.append(link["id"])
    return link_ids, uploaded["id"]


def scenarios(link_ids: list[str], file_id: str) -> dict[str, list[Request]]:
    counter = iter(range(10**9))
    return {
        "retrieve": [("GET", f"/v1/file_links/{i}", "", b"") for i in link_ids],
        "list": [("GET", "/v1/file_links", "limit=100", b"")],
        "create": [("POST", "/v1/file_links", "", f"file={file_id}".encode())],
        "update": [
            ("POST", f"/v1/file_links/{i}", "", f"metadata[k{n % 8}]=v{next(counter)}".encode())
            for n, i in enumerate(link_ids * 20)
        ],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--db", choices=["sqlite", "postgres"], default="sqlite")
    parser.add_argument("--requests", type=int, default=3000)
    parser.add_argument("--profile", choices=["retrieve", "list", "create", "update"])
    parser.add_argument(
        "--concurrency", type=int, default=1, help="requests in flight at once (default 1)"
    )
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp, common.database(args.db, Path(tmp)) as url:
        settings = Settings(data_dir=Path(tmp), database_url=url, _env_file=None)  # type: ignore[call-arg]
        migrate(settings.resolved_database_url)
        app = create_app(settings)
        link_ids, file_id = seed(app)
        plan = scenarios(link_ids, file_id)
        asyncio.run(measure(app, plan, args))


async def measure(app: Any, plan: dict[str, list[Request]], args: argparse.Namespace) -> None:
    # Inside the app's lifespan, as it serves: its clock listener (PostgreSQL) or epoch file
    # keeps the accounts' clocks, instead of every request reloading them.
    async with app.router.lifespan_context(app):
        if args.profile:
            calls = [asgi_call(app, r) for r in plan[args.profile]]
            profiler = cProfile.Profile()
            profiler.enable()
            await per_request_us(calls, args.requests, args.concurrency)
            profiler.disable()
            pstats.Stats(profiler).sort_stats(os.environ.get("SORT", "cumulative")).print_stats(45)
            return
        floor_calls = [asgi_call(floor_app.app, r) for r in plan["retrieve"]]
        floor = await per_request_us(floor_calls, args.requests)
        print(f"in-process cost per request, {args.db}; floor (FastAPI dict route) {floor:.1f} µs")
        print()
        print("| scenario | µs per request | × floor cost | floor share (floor µs / µs) |")
        print("| --- | --- | --- | --- |")
        for name, requests in plan.items():
            calls = [asgi_call(app, r) for r in requests]
            cost = await per_request_us(calls, args.requests, args.concurrency)
            print(f"| {name} | {cost:.1f} | {cost / floor:.2f} | {floor / cost:.3f} |")


if __name__ == "__main__":
    main()
