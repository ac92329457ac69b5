"""Microseconds per call of the pieces of a retrieve, and of cheaper ways to do them.

    python bench/hotpath.py [--db sqlite|postgres] [--calls 5000]

In-process, one thread, on a bulk-seeded database (10,000 links): what the service does now
for the database part of GET /v1/file_links/{id} (a connection from `Database.reader`,
`services.file_links.retrieve`), then the same row fetched with less machinery each step, so
the report can say what each layer costs. Also the per-request helpers that showed up in the
profile (request ids, the key's account).
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import secrets
import sqlite3
import statistics
import time
from collections.abc import Awaitable, Callable
from typing import Any

import common
import seed_bulk
from sqlalchemy import bindparam, create_engine, select
from sqlalchemy.orm import Session

from filelinks_api import ids
from filelinks_api.config import normalize_database_url
from filelinks_api.db import Database, create_db_engine
from filelinks_api.models import file_links
from filelinks_api.repository import Scope
from filelinks_api.services import file_links as links_service

PREBUILT = select(file_links).where(
    file_links.c.account == bindparam("account"),
    file_links.c.livemode == bindparam("livemode"),
    file_links.c.id == bindparam("id"),
)


def per_call_us(call: Callable[[], Any], calls: int) -> float:
    for _ in range(200):
        call()
    rounds = []
    for _ in range(5):
        started = time.perf_counter()
        for _ in range(calls // 5):
            call()
        rounds.append((time.perf_counter() - started) / (calls // 5) * 1e6)
    return statistics.median(rounds)


def per_await_us(call: Callable[[], Awaitable[Any]], calls: int) -> float:
    """per_call_us for a coroutine function, awaited in turn on one event loop."""

    async def rounds() -> list[float]:
        for _ in range(200):
            await call()
        measured = []
        for _ in range(5):
            started = time.perf_counter()
            for _ in range(calls // 5):
                await call()
            measured.append((time.perf_counter() - started) / (calls // 5) * 1e6)
        return measured

    return statistics.median(asyncio.run(rounds()))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--db", choices=["sqlite", "postgres"], default="sqlite")
    parser.add_argument("--calls", type=int, default=5000)
    args = parser.parse_args()
    scope = Scope(seed_bulk.ACCOUNT, False)
    results: list[tuple[str, float]] = []

    with common.temp_dir("bench-hot-") as tmp, common.database(args.db, tmp) as pg_url:
        url = normalize_database_url(pg_url or f"sqlite:///{tmp / 'hot.db'}")
        seeded = seed_bulk.seed(url, 10_000)
        link_ids = seeded.sample_ids
        counter = iter(range(10**9))

        def next_id() -> str:
            return link_ids[next(counter) % len(link_ids)]

        database = Database.connect(url)
        read_engine = create_db_engine(url, reads=True)  # sync; autocommit on SQLite only
        params = {"account": scope.account, "livemode": False}

        async def service() -> Any:
            async with database.read() as reader:
                return await reader.run(links_service.retrieve, scope, next_id(), [])

        def service_sync() -> Any:
            with read_engine.connect() as connection:
                return links_service.retrieve(connection, scope, next_id(), [])

        def session_prebuilt() -> Any:
            with Session(read_engine) as session:
                return session.execute(PREBUILT, {**params, "id": next_id()}).first()

        def core_prebuilt() -> Any:
            with database.engine.connect() as connection:
                return connection.execute(PREBUILT, {**params, "id": next_id()}).first()

        plain = create_engine(url, pool_size=1, max_overflow=0)  # no BEGIN hook, no events

        def core_no_begin_hook() -> Any:
            with plain.connect() as connection:
                return connection.execute(PREBUILT, {**params, "id": next_id()}).first()

        results += [
            (
                "service: Database.read() + services.file_links.retrieve (awaited)",
                per_await_us(service, args.calls),
            ),
            (
                "services.file_links.retrieve on a sync connection",
                per_call_us(service_sync, args.calls),
            ),
            (
                "ORM Session + prebuilt select (bindparams)",
                per_call_us(session_prebuilt, args.calls),
            ),
            (
                "Core, the write engine (BEGIN hook) + prebuilt select",
                per_call_us(core_prebuilt, args.calls),
            ),
            (
                "Core, engine without the BEGIN/connect hooks",
                per_call_us(core_no_begin_hook, args.calls),
            ),
        ]
        sql = (
            "SELECT seq, id, account, livemode, created, expires_at, file, metadata, token"
            " FROM file_links WHERE account = {0} AND livemode = {0} AND id = {0}"
        )
        if args.db == "sqlite":
            raw = sqlite3.connect(url.removeprefix("sqlite:///"), isolation_level=None)
            raw_sql = sql.format("?")

            def driver() -> Any:
                return raw.execute(raw_sql, (scope.account, False, next_id())).fetchone()

            results.append(
                ("sqlite3 driver alone (cached statement)", per_call_us(driver, args.calls))
            )
        else:
            import psycopg

            raw_pg = psycopg.connect(
                url.replace("postgresql+psycopg", "postgresql"), autocommit=True
            )
            pg_sql = sql.format("%s")

            def driver_pg() -> Any:
                return raw_pg.execute(pg_sql, (scope.account, False, next_id())).fetchone()

            results.append(("psycopg 3 alone (auto-prepared)", per_call_us(driver_pg, args.calls)))
            raw_pg.close()
        plain.dispose()
        read_engine.dispose()
        asyncio.run(database.dispose())

    key = common.KEY
    results += [
        (
            "ids.request_id() (secrets.choice per character)",
            per_call_us(ids.request_id, args.calls),
        ),
        (
            "'req_' + secrets.token_urlsafe(11)",
            per_call_us(lambda: "req_" + secrets.token_urlsafe(11), args.calls),
        ),
        (
            "ids.account_for_key(key) (sha256 + base62)",
            per_call_us(lambda: ids.account_for_key(key), args.calls),
        ),
        (
            "hashlib.sha256(key) alone",
            per_call_us(lambda: hashlib.sha256(key.encode()).digest(), args.calls),
        ),
    ]
    info = common.machine()
    print(
        f"hot path pieces, {args.db}; nproc {info['nproc']}, {info['cpu']}, Python {info['python']}\n"
    )
    print("| what | µs per call |")
    print("| --- | --- |")
    for name, value in results:
        print(f"| {name} | {value:.1f} |")


if __name__ == "__main__":
    main()
