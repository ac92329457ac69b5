"""PostgreSQL driver choice, measured once: the same retrieve on prototypes that differ only
in how they reach PostgreSQL, next to the real service, on one seeded schema.

    /work/venv/bin/pip install asyncpg      # for this comparison only; not a dependency
    python bench/drivers.py [--workers 2] [--conns 16] [--duration 5]

Prototypes (FastAPI, uvicorn with httptools and uvloop, no access log, like the floor app),
each `GET /v1/file_links/{id}` running the service's own retrieve SQL (a prebuilt SQLAlchemy
Core select on filelinks_api.models.file_links) and returning the row as a dict:

- psycopg-inline: sync psycopg 3 engine called inline in `async def` (the service's style),
  pool 40, no overflow;
- psycopg-threadpool: the same engine from a sync `def` endpoint (FastAPI's threadpool);
- asyncpg: SQLAlchemy's async engine on asyncpg, pool 20, no overflow;
- psycopg-raw: psycopg 3 alone, inline, one connection per worker (inline calls never
  overlap within a worker), psycopg's automatic prepared statements, no SQLAlchemy;
- asyncpg-raw: asyncpg's own pool (20) and a prepared statement, no SQLAlchemy.

Plus `service`: `python -m filelinks_api serve` on the same schema, and the floor app.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from types import SimpleNamespace
from typing import Any

from fastapi import FastAPI
from sqlalchemy import bindparam, select

from filelinks_api.models import file_links

MODES = ["psycopg-inline", "psycopg-threadpool", "psycopg-raw", "asyncpg", "asyncpg-raw"]
RAW_SQL = (
    "SELECT seq, id, account, livemode, created, expires_at, file, metadata, token"
    " FROM file_links WHERE account = {} AND livemode = {} AND id = {}"
)
RETRIEVE = select(file_links).where(
    file_links.c.account == bindparam("account"),
    file_links.c.livemode == bindparam("livemode"),
    file_links.c.id == bindparam("id"),
)


def _render(row: Any) -> dict[str, Any]:
    return {
        "id": row.id,
        "object": "file_link",
        "created": row.created,
        "expired": row.expires_at is not None and row.expires_at <= 1_800_000_000,
        "expires_at": row.expires_at,
        "file": row.file,
        "livemode": row.livemode,
        "metadata": row.metadata,
        "url": f"http://127.0.0.1/links/{row.token}",
    }


def build_app(mode: str, url: str, account: str) -> FastAPI:
    params = {"account": account, "livemode": False}
    if mode == "psycopg-raw":
        import psycopg
        from psycopg.rows import namedtuple_row

        # Inline sync calls run one at a time per worker: one connection is the whole pool.
        connection = psycopg.connect(
            url.replace("postgresql+psycopg", "postgresql"),
            autocommit=True,
            row_factory=namedtuple_row,
        )
        sql = RAW_SQL.format("%s", "%s", "%s")
        app = FastAPI()

        @app.get("/v1/file_links/{link_id}")
        async def psycopg_raw(link_id: str) -> dict[str, Any]:
            row = connection.execute(sql, (account, False, link_id)).fetchone()
            return _render(row)

        return app
    if mode.startswith("psycopg"):
        from sqlalchemy import create_engine

        engine = create_engine(url, pool_size=40, max_overflow=0)
        app = FastAPI()
        if mode == "psycopg-inline":

            @app.get("/v1/file_links/{link_id}")
            async def inline(link_id: str) -> dict[str, Any]:
                with engine.connect() as connection:
                    row = connection.execute(RETRIEVE, {**params, "id": link_id}).first()
                return _render(row)

        else:

            @app.get("/v1/file_links/{link_id}")
            def threadpool(link_id: str) -> dict[str, Any]:
                with engine.connect() as connection:
                    row = connection.execute(RETRIEVE, {**params, "id": link_id}).first()
                return _render(row)

        return app

    async_url = url.replace("postgresql+psycopg", "postgresql+asyncpg")
    if mode == "asyncpg":
        from sqlalchemy.ext.asyncio import create_async_engine

        # asyncpg takes server settings, not libpq's `options`
        schema = url.rsplit("search_path%3D", 1)[1]
        async_engine = create_async_engine(
            async_url.split("?", 1)[0],
            pool_size=20,
            max_overflow=0,
            connect_args={"server_settings": {"search_path": schema}},
        )
        app = FastAPI()

        @app.get("/v1/file_links/{link_id}")
        async def via_sqlalchemy(link_id: str) -> dict[str, Any]:
            async with async_engine.connect() as connection:
                result = await connection.execute(RETRIEVE, {**params, "id": link_id})
                row = result.first()
            return _render(row)

        return app

    import asyncpg
    import orjson

    schema = url.rsplit("search_path%3D", 1)[1]
    dsn = url.split("?", 1)[0].replace("postgresql+psycopg", "postgresql")
    state: dict[str, Any] = {}

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        async def init(connection: Any) -> None:
            await connection.set_type_codec(
                "json", encoder=json.dumps, decoder=orjson.loads, schema="pg_catalog", format="text"
            )

        state["pool"] = await asyncpg.create_pool(
            dsn,
            min_size=20,
            max_size=20,
            server_settings={"search_path": schema},
            init=init,
        )
        yield
        await state["pool"].close()

    app = FastAPI(lifespan=lifespan)
    sql = RAW_SQL.format("$1", "$2", "$3")

    @app.get("/v1/file_links/{link_id}")
    async def raw(link_id: str) -> dict[str, Any]:
        async with state["pool"].acquire() as connection:
            record = await connection.fetchrow(sql, account, False, link_id)
        return _render(SimpleNamespace(**dict(record)))

    return app


def app_factory() -> FastAPI:
    return build_app(
        os.environ["BENCH_DRIVER_MODE"],
        os.environ["BENCH_DRIVER_URL"],
        os.environ["BENCH_DRIVER_ACCOUNT"],
    )


def serve(port: int, workers: int) -> None:
    import uvicorn

    uvicorn.run(
        "drivers:app_factory",
        factory=True,
        host="127.0.0.1",
        port=port,
        workers=workers,
        log_level="warning",
        access_log=False,
        timeout_keep_alive=30,
        http="httptools",
        loop="uvloop",
    )


def main() -> None:
    if len(sys.argv) > 1 and sys.argv[1] == "serve":
        serve(int(sys.argv[2]), int(sys.argv[3]))
        return
    import common
    import seed_bulk

    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--conns", type=int, default=16)
    parser.add_argument("--duration", type=float, default=5)
    parser.add_argument("--warmup", type=float, default=1)
    parser.add_argument("--links", type=int, default=10_000)
    parser.add_argument("--modes", default=",".join(["floor", *MODES, "service"]))
    args = parser.parse_args()
    rows = []
    with common.postgres_schema("bench_drivers") as url, common.temp_dir("bench-drv-") as data_dir:
        seeded = seed_bulk.seed(url, args.links)
        env = {"BENCH_KEY": seed_bulk.SCALE_KEY, "BENCH_IDS": ",".join(seeded.sample_ids[:200])}
        for mode in args.modes.split(","):
            port = common.free_port()
            if mode == "floor":
                server = common.start_floor(args.workers)
            elif mode == "service":
                server = common.start_service(data_dir, url, args.workers)
            else:
                server = common.start_process(
                    mode,
                    [common.PYTHON, __file__, "serve", str(port), str(args.workers)],
                    {
                        "BENCH_DRIVER_MODE": mode,
                        "BENCH_DRIVER_URL": url,
                        "BENCH_DRIVER_ACCOUNT": seed_bulk.ACCOUNT,
                    },
                    args.workers,
                    port,
                    "/v1/file_links/" + seeded.sample_ids[0],
                )
            with common.running(server):
                common.wrk(
                    server.base_url,
                    "retrieve",
                    connections=args.conns,
                    duration=args.warmup,
                    env=env,
                )
                result = common.wrk(
                    server.base_url,
                    "retrieve",
                    connections=args.conns,
                    duration=args.duration,
                    env=env,
                )
            print(
                f"  {mode:18} {result.rps:8.0f} req/s  p50 {result.p50_ms:6.2f}"
                f"  p99 {result.p99_ms:7.2f} ms  non-2xx {result.non_2xx}",
                file=sys.stderr,
                flush=True,
            )
            rows.append((mode, result))
    info = common.machine()
    print(
        f"PostgreSQL drivers, retrieve, --workers {args.workers}, {args.conns} conns,"
        f" {args.duration:g}s; nproc {info['nproc']}, {info['cpu']}, Python {info['python']}\n"
    )
    print("| server | req/s | p50 ms | p99 ms | × psycopg-inline |")
    print("| --- | --- | --- | --- | --- |")
    base = next((r.rps for m, r in rows if m == "psycopg-inline"), None)
    for mode, r in rows:
        ratio = f"{r.rps / base:.2f}" if base else "-"
        print(f"| {mode} | {r.rps:,.0f} | {r.p50_ms:.2f} | {r.p99_ms:.2f} | {ratio} |")


if __name__ == "__main__":
    main()
