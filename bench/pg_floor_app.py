"""The PostgreSQL floor: the framework floor (floor_app.py) plus one indexed row read per request,
through psycopg 3's async API and nothing else. GET /v1/file_links/{id} takes an
AsyncConnection from a small per-worker pool (an asyncio.Queue of connections opened at
startup, autocommit), runs one prepared `SELECT ... FROM file_links WHERE id = %s` (the unique
index on id) and returns the row as a file_link dict that FastAPI serializes (404 if no row).
Served like `filelinks-api serve` serves (uvicorn, httptools, uvloop, no access log, the same
keep-alive and worker count).

    python bench/pg_floor_app.py --port 8000 --workers 2 --pool 8 \
        --url 'postgresql+psycopg://postgres@127.0.0.1:5432/test?options=-csearch_path%3Dbench_x'

The URL is the service's (its `options=-csearch_path=...` confines both to one schema).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import re
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import psycopg
import uvicorn
from fastapi import FastAPI, HTTPException, Request

SQL = (
    "SELECT id, created, expires_at, file, livemode, metadata, token FROM file_links WHERE id = %s"
)
BASE_URL = "http://127.0.0.1:12111"


def conninfo(url: str) -> str:
    """libpq takes the SQLAlchemy URL without the driver name; it decodes `options`."""
    return re.sub(r"^postgresql\+\w+://", "postgresql://", url)


@asynccontextmanager
async def lifespan(app: FastAPI) -> AsyncIterator[None]:
    url = conninfo(os.environ["BENCH_PG_FLOOR_URL"])
    size = int(os.environ.get("BENCH_PG_FLOOR_POOL", "8"))
    connections = [await psycopg.AsyncConnection.connect(url, autocommit=True) for _ in range(size)]
    pool: asyncio.Queue[psycopg.AsyncConnection[tuple[object, ...]]] = asyncio.Queue()
    for connection in connections:
        pool.put_nowait(connection)
    app.state.pool = pool
    try:
        yield
    finally:
        for connection in connections:
            await connection.close()


app = FastAPI(lifespan=lifespan)


@app.get("/v1/file_links/{link_id}")
async def retrieve(link_id: str, request: Request) -> dict[str, object]:
    pool = request.app.state.pool
    connection = await pool.get()
    try:
        cursor = await connection.execute(SQL, (link_id,), prepare=True)
        row = await cursor.fetchone()
    finally:
        pool.put_nowait(connection)
    if row is None:
        raise HTTPException(404, "no such file link")
    id_, created, expires_at, file, livemode, metadata, token = row
    return {
        "id": id_,
        "object": "file_link",
        "created": created,
        "expired": expires_at is not None and expires_at <= int(time.time()),
        "expires_at": expires_at,
        "file": file,
        "livemode": livemode,
        "metadata": metadata,
        "url": f"{BASE_URL}/links/{token}",
    }


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--workers", type=int, default=1)
    parser.add_argument("--url", required=True, help="the service's PostgreSQL URL")
    parser.add_argument("--pool", type=int, default=8, help="connections per worker")
    args = parser.parse_args()
    # read again by each spawned worker
    os.environ["BENCH_PG_FLOOR_URL"] = args.url
    os.environ["BENCH_PG_FLOOR_POOL"] = str(args.pool)
    uvicorn.run(
        "pg_floor_app:app",
        host="127.0.0.1",
        port=args.port,
        workers=args.workers,
        log_level="warning",
        access_log=False,
        timeout_keep_alive=30,
        http="httptools",
        loop="uvloop",
    )


if __name__ == "__main__":
    main()
