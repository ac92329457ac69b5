"""Do list and retrieve stay flat as an account grows from 1,000 to 1,000,000 links?

    python bench/scale.py                       # SQLite and PostgreSQL, 1k and 1M links
    python bench/scale.py --db sqlite --sizes 1000,100000 --repeat 50

For each database and size: a fresh database, migrated, bulk-loaded by seed_bulk.py (not
through the API). Each query is timed in-process through the service functions the endpoints
call (`filelinks_api.services.file_links.list_links` / `.retrieve`, which build their SQL with
`filelinks_api.repository`), on the service's own `Database` (engine, pool, session
factories), each call in its own session as a request would be: the median of --repeat calls
after a few warm-up calls, so HTTP and JSON rendering (constant per page) are left out. The
statements each query actually executed are captured from the engine and shown with EXPLAIN
QUERY PLAN (SQLite) or EXPLAIN (PostgreSQL).
"""

from __future__ import annotations

import argparse
import random
import statistics
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path
from typing import Any

import common
import seed_bulk
from sqlalchemy import Engine, event, select, text

from filelinks_api import repository
from filelinks_api.config import normalize_database_url
from filelinks_api.db import create_db_engine
from filelinks_api.models import file_links
from filelinks_api.repository import Scope
from filelinks_api.schemas import ListFileLinksParams
from filelinks_api.services import file_links as links_service

SCOPE = Scope(seed_bulk.ACCOUNT, False)
QUERIES = ["first page", "deep page", "file=", "expired=true", "retrieve"]
MAX_RATIO = 1.3


def log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


@contextmanager
def fresh_database(db: str) -> Iterator[str]:
    if db == "sqlite":
        with common.temp_dir("bench-scale-") as tmp:
            yield f"sqlite:///{tmp / 'scale.db'}"
    else:
        with common.postgres_schema("bench_scale") as url:
            yield url


def queries(database: Engine, seeded: seed_bulk.Seeded, limit: int) -> dict[str, Callable[[], Any]]:
    now = seed_bulk.NOW
    with database.connect() as session:
        # the cursor for the deep page: the link halfway down the account's list
        middle = session.execute(
            select(file_links.c.id)
            .where(file_links.c.account == SCOPE.account, file_links.c.livemode.is_(False))
            .order_by(file_links.c.created.desc(), file_links.c.seq.desc())
            .offset(seeded.links // 2)
            .limit(1)
        ).scalar_one()
    retrieve_ids = iter(random.Random(1).choices(seeded.sample_ids, k=1_000_000))

    def listing(**params: Any) -> Callable[[], Any]:
        parsed = ListFileLinksParams(limit=limit, **params)

        def call() -> Any:
            with database.connect() as session:
                view = links_service.list_links(session, SCOPE, parsed, now=now)
                assert len(view.page.rows) == limit, (params, len(view.page.rows))
                return view

        return call

    def retrieve() -> Any:
        with database.connect() as session:
            return links_service.retrieve(session, SCOPE, next(retrieve_ids), [])

    return {
        "first page": listing(),
        "deep page": listing(starting_after=middle),
        "file=": listing(file=seeded.hot_file),
        "expired=true": listing(expired="true"),
        "retrieve": retrieve,
    }


def timed(
    calls: dict[int, dict[str, Callable[[], Any]]], repeat: int
) -> dict[int, dict[str, float]]:
    """Median seconds per (size, query). The sizes are interleaved call by call (which goes
    first alternates), so a burst of load from elsewhere on the machine hits both sides of a
    ratio alike; each timed call follows an untimed one of the same query and size, so the
    after-effects of a slow call on the other database are not counted."""
    for by_query in calls.values():
        for call in by_query.values():
            for _ in range(3):
                call()
    times: dict[int, dict[str, list[float]]] = {
        size: {name: [] for name in by_query} for size, by_query in calls.items()
    }
    sizes = list(calls)
    for name in QUERIES:
        for round_number in range(repeat):
            for size in sizes if round_number % 2 == 0 else sizes[::-1]:
                calls[size][name]()  # untimed: settles whatever the previous call left behind
                started = time.perf_counter()
                calls[size][name]()
                times[size][name].append(time.perf_counter() - started)
    return {
        size: {name: statistics.median(values) for name, values in by_query.items()}
        for size, by_query in times.items()
    }


def explain(database: Engine, call: Callable[[], Any]) -> list[str]:
    """The plans of the statements `call` executes, as the engine sent them."""
    captured: list[tuple[str, Any]] = []

    def capture(conn: Any, cursor: Any, statement: str, parameters: Any, *_: Any) -> None:
        if statement.lstrip().upper().startswith("SELECT"):
            captured.append((statement, parameters))

    # One-row lookups run on the driver's cursor, past SQLAlchemy's events: record them too.
    run_lookup = repository._Lookup.first
    dialect_name = database.dialect.name

    def recording(lookup: Any, executor: Any, params: dict[str, Any]) -> Any:
        row = run_lookup(lookup, executor, params)
        sql, order = lookup._compiled[dialect_name]
        captured.append((sql, tuple(params[n] for n in order) if order else params))
        return row

    event.listen(database, "before_cursor_execute", capture)
    repository._Lookup.first = recording  # type: ignore[method-assign]
    try:
        call()
    finally:
        repository._Lookup.first = run_lookup  # type: ignore[method-assign]
        event.remove(database, "before_cursor_execute", capture)
    sqlite = database.engine.dialect.name == "sqlite"
    out = []
    with database.connect() as connection:
        for statement, parameters in captured:
            prefix = "EXPLAIN QUERY PLAN " if sqlite else "EXPLAIN "
            rows = connection.exec_driver_sql(prefix + statement, parameters).all()
            one_line = " ".join(statement.split())
            out.append(f"    SQL: {one_line[:400]}")
            if sqlite:
                out += [f"      {row[-1]}" for row in rows]
            else:
                out += [f"      {row[0]}" for row in rows]
    return out


def run_db(db: str, sizes: list[int], repeat: int, limit: int, plans: str) -> dict[int, Any]:
    """Seed one database per size, then time all of them together."""
    with ExitStack() as stack:
        results: dict[int, Any] = {}
        for size in sizes:
            url = stack.enter_context(fresh_database(db))
            log(f"{db}: seeding {size:,} links")
            seeded = seed_bulk.seed(url, size)
            log(f"{db}: seeded {size:,} (+{seeded.other_links:,}) in {seeded.seconds:.1f} s")
            database = create_db_engine(normalize_database_url(url), reads=True)
            stack.callback(database.dispose)
            if db == "postgres":
                with database.connect() as connection:
                    size_text = connection.execute(
                        text("SELECT pg_size_pretty(pg_total_relation_size('file_links'))")
                    ).scalar_one()
            else:
                size_text = f"{Path(url.removeprefix('sqlite:///')).stat().st_size / 1e6:.0f} MB"
            results[size] = {
                "seeded": seeded,
                "size": size_text,
                "database": database,
                "calls": queries(database, seeded, limit),
            }
        log(f"{db}: timing")
        timings = timed({size: r["calls"] for size, r in results.items()}, repeat)
        for size, result in results.items():
            result["timings"] = timings[size]
            show = plans == "all" or (plans == "large" and size == max(sizes))
            result["plans"] = (
                {name: explain(result["database"], call) for name, call in result["calls"].items()}
                if show
                else {}
            )
        return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--db", default="sqlite,postgres")
    parser.add_argument("--sizes", default="1000,1000000", help="small,large")
    parser.add_argument("--repeat", type=int, default=50)
    parser.add_argument("--limit", type=int, default=10, help="page size of the list queries")
    parser.add_argument("--plans", choices=["large", "all", "none"], default="large")
    args = parser.parse_args()
    small, large = (int(s) for s in args.sizes.split(","))
    info = common.machine()
    lines = [
        f"filelinks-api scale bench: sizes {small:,} vs {large:,} links in one account,"
        f" median of {args.repeat} calls (sizes interleaved) through services.file_links (in-process), limit"
        f" {args.limit}; nproc {info['nproc']}, {info['cpu']}, Python {info['python']}",
        "",
        f"| db | query | ms at {small:,} | ms at {large:,} | ratio | ≤ {MAX_RATIO}× |",
        "| --- | --- | --- | --- | --- | --- |",
    ]
    plan_lines: list[str] = []
    seed_lines: list[str] = []
    for db in args.db.split(","):
        results = run_db(db, [small, large], args.repeat, args.limit, args.plans)
        for size in (small, large):
            seeded = results[size]["seeded"]
            seed_lines.append(
                f"- {db}, {size:,} links (+{seeded.other_links:,} in 4 other accounts,"
                f" {seeded.files:,} files): generated and loaded in {seeded.seconds:.1f} s;"
                f" file_links {results[size]['size']}"
            )
            for name, plan in results[size]["plans"].items():
                plan_lines.append(f"  {db}, {size:,} links, {name}:")
                plan_lines += plan
        for name in QUERIES:
            a = results[small]["timings"][name] * 1000
            b = results[large]["timings"][name] * 1000
            ratio = b / a if a else float("inf")
            verdict = "met" if ratio <= MAX_RATIO else "MISSED"
            lines.append(f"| {db} | {name} | {a:.3f} | {b:.3f} | {ratio:.2f} | {verdict} |")
    print("\n".join(lines))
    print("\nSeeding:\n" + "\n".join(seed_lines))
    if plan_lines:
        print("\nPlans:\n" + "\n".join(plan_lines))


if __name__ == "__main__":
    main()
