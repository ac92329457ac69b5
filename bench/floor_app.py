"""The floors: minimal FastAPI apps answering GET /v1/file_links/{id}, served like
`filelinks-api serve` serves (uvicorn, httptools, uvloop, no access log, the same keep-alive
and worker count).

    python bench/floor_app.py --port 8000 --workers 2 [--kind dict|bytes]
    python bench/floor_app.py --port 8000 --workers 2 --kind postgres --pool 8 \
        --url 'postgresql+psycopg://postgres@127.0.0.1:5432/test?options=-csearch_path%3Dbench_x'

- `dict` (the framework floor): a constant file_link dict that FastAPI serializes.
- `bytes`: the same, pre-serialized, in a Response (a cheaper floor).
- `postgres` (the PostgreSQL floor): the framework floor plus one indexed row read per request
  through psycopg 3's async API and nothing else: an AsyncConnection from a small per-worker
  pool (an asyncio.Queue of `--pool` connections opened at startup, autocommit), one prepared
  `SELECT ... FROM file_links WHERE id = %s` (the unique index on id), the row returned as a
  file_link dict (404 if none). `--url` is the service's, so its `search_path` too.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import re
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import psycopg
import uvicorn
from fastapi import FastAPI, HTTPException, Request
from starlette.responses import Response

LINK = {
    "id": "link_1QbenchFloorConstant0000",
    "object": "file_link",
    "created": 1_800_000_000,
    "expired": False,
    "expires_at": None,
    "file": "file_1QbenchFloorConstant0000",
    "livemode": False,
    "metadata": {"order_id": "6735"},
    "url": "http://127.0.0.1:12111/links/bench-floor-token-0000000000000000000000000",
}
LINK_BYTES = json.dumps(LINK, indent=2).encode()
SQL = (
    "SELECT id, created, expires_at, file, livemode, metadata, token FROM file_links WHERE id = %s"
)
BASE_URL = "http://127.0.0.1:12111"
KIND = os.environ.get("BENCH_FLOOR_KIND", "dict")  # set by main(), read by each worker


def conninfo(url: str) -> str:
    """libpq takes the SQLAlchemy URL without the driver name; it decodes `options`."""
    return re.sub(r"^postgresql\+\w+://", "postgresql://", url)


@asynccontextmanager
async def pool_of_connections(app: FastAPI) -> AsyncIterator[None]:
    url = conninfo(os.environ["BENCH_FLOOR_URL"])
    size = int(os.environ.get("BENCH_FLOOR_POOL", "8"))
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


app = FastAPI(lifespan=pool_of_connections if KIND == "postgres" else None)

if KIND == "bytes":

    @app.get("/v1/file_links/{link_id}")
    async def retrieve_bytes(link_id: str) -> Response:
        return Response(LINK_BYTES, media_type="application/json")

elif KIND == "postgres":

    @app.get("/v1/file_links/{link_id}")
    async def retrieve_row(link_id: str, request: Request) -> dict[str, object]:
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

else:

    @app.get("/v1/file_links/{link_id}")
    async def retrieve(link_id: str) -> dict[str, object]:
        return LINK


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--workers", type=int, default=1)
    parser.add_argument("--kind", choices=["dict", "bytes", "postgres"], default="dict")
    parser.add_argument("--url", help="--kind postgres: the service's PostgreSQL URL")
    parser.add_argument(
        "--pool", type=int, default=8, help="--kind postgres: connections per worker"
    )
    args = parser.parse_args()
    if args.kind == "postgres" and not args.url:
        parser.error("--kind postgres needs --url")
    # read again by each spawned worker
    os.environ["BENCH_FLOOR_KIND"] = args.kind
    os.environ["BENCH_FLOOR_URL"] = args.url or ""
    os.environ["BENCH_FLOOR_POOL"] = str(args.pool)
    uvicorn.run(
        "floor_app:app",
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
