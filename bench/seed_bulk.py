"""Load many file links straight into a migrated database (not through the API).

    python bench/seed_bulk.py --db sqlite --links 1000000 [--path /tmp/scale.db]
    python bench/seed_bulk.py --db postgres --links 1000000 --keep   # prints the schema URL

One account (the key `SCALE_KEY`, test mode) gets N links over N/100 files, plus one "hot"
file with exactly HOT_LINKS links; four other accounts get N/20 links between them. Links are
created in bursts (about ten per active second, Poisson-like) spread over 180 days, inserted in
`created` order as the service would have (so `seq` rises with `created`). About 45% never
expire; the others expire 1 hour to 90 days after creation, so at `NOW` some are expired and
some are not, old and new alike.

SQLite: SQLAlchemy Core executemany in batches, one transaction. PostgreSQL: COPY through
psycopg, then ANALYZE (what autovacuum would soon do after such a load).
"""

from __future__ import annotations

import argparse
import json
import os
import random
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, create_engine, insert

from filelinks_api.config import normalize_database_url
from filelinks_api.db import migrate
from filelinks_api.ids import account_for_key
from filelinks_api.models import file_links, files

SCALE_KEY = "sk_test_bench_scale_" + "b" * 12
ACCOUNT = account_for_key(SCALE_KEY)
OTHER_ACCOUNTS = [account_for_key(f"sk_test_bench_other_{i}_" + "c" * 10) for i in range(4)]
END = 1_800_000_000  # the newest `created`
NOW = END + 3_600  # the clock the queries use
SPAN = 180 * 86_400
PER_SECOND = 10  # mean links per active second
HOT_LINKS = 150
NEVER_EXPIRES = 0.45
BATCH = 20_000


@dataclass
class Seeded:
    links: int  # in ACCOUNT
    other_links: int
    files: int
    hot_file: str
    seconds: float  # generating the rows and loading them
    sample_ids: list[str] = field(default_factory=list)  # links of ACCOUNT, for retrieves


def _hex_ids(prefix: str, count: int, nbytes: int = 12) -> Iterator[str]:
    raw = os.urandom(count * nbytes).hex()
    step = nbytes * 2
    for i in range(count):
        yield prefix + raw[i * step : (i + 1) * step]


def _file_row(file_id: str, account: str, created: int) -> dict[str, Any]:
    return {
        "id": file_id,
        "account": account,
        "livemode": False,
        "created": created,
        "expires_at": None,
        "filename": f"{file_id}.pdf",
        "purpose": "tax_document_user_upload",
        "size": 2048,
        "title": None,
        "type": "pdf",
        "sha256": "0" * 64,
    }


def generate(
    n_links: int, rng: random.Random
) -> tuple[list[dict[str, Any]], list[dict[str, Any]], str]:
    """(file rows, link rows in created order, the hot file's id)."""
    n_other = max(20, n_links // 20)
    start = END - SPAN
    n_files = max(10, n_links // 100)
    file_ids = list(_hex_ids("file_", n_files))
    hot_file = "file_hot" + os.urandom(8).hex()
    file_rows = [_file_row(f, ACCOUNT, start) for f in file_ids]
    file_rows.append(_file_row(hot_file, ACCOUNT, start))
    other_files: dict[str, list[str]] = {}
    for account in OTHER_ACCOUNTS:
        ids = list(_hex_ids("file_", max(2, n_other // 400)))
        other_files[account] = ids
        file_rows += [_file_row(f, account, start) for f in ids]

    total = n_links + n_other
    seconds = sorted(rng.sample(range(start, END), max(1, total // PER_SECOND)))
    seconds[-1] = END
    created = sorted(rng.choice(seconds) for _ in range(total))
    # which rows belong to ACCOUNT (and which of those to the hot file), at random positions
    owners = [ACCOUNT] * n_links + [OTHER_ACCOUNTS[i % 4] for i in range(n_other)]
    rng.shuffle(owners)
    main_positions = [i for i, owner in enumerate(owners) if owner == ACCOUNT]
    hot = set(rng.sample(main_positions, min(HOT_LINKS, len(main_positions))))
    link_ids = _hex_ids("link_", total)
    tokens = _hex_ids("", total, 32)
    rows = []
    for i, (when, owner, link_id, token) in enumerate(
        zip(created, owners, link_ids, tokens, strict=True)
    ):
        if i in hot:
            file_id = hot_file
        elif owner == ACCOUNT:
            file_id = file_ids[rng.randrange(n_files)]
        else:
            file_id = rng.choice(other_files[owner])
        expires_at = None
        if rng.random() >= NEVER_EXPIRES:
            expires_at = when + rng.randint(3_600, 90 * 86_400)
        rows.append(
            {
                "id": link_id,
                "account": owner,
                "livemode": False,
                "created": when,
                "expires_at": expires_at,
                "file": file_id,
                "metadata": {"order_id": str(i)} if i % 3 else {},
                "token": token,
            }
        )
    return file_rows, rows, hot_file


def _load_sqlite(
    engine: Engine, file_rows: list[dict[str, Any]], rows: list[dict[str, Any]]
) -> None:
    with engine.connect() as connection:
        connection.exec_driver_sql("PRAGMA synchronous=OFF")
        connection.exec_driver_sql("PRAGMA cache_size=-262144")  # 256 MiB for the load
        connection.commit()
        with connection.begin():
            connection.execute(insert(files), file_rows)
            for i in range(0, len(rows), BATCH):
                connection.execute(insert(file_links), rows[i : i + BATCH])


def _load_postgres(
    engine: Engine, file_rows: list[dict[str, Any]], rows: list[dict[str, Any]]
) -> None:
    file_columns = list(file_rows[0])
    link_columns = list(rows[0])
    raw = engine.raw_connection()
    try:
        connection = raw.driver_connection
        assert connection is not None
        with connection.cursor() as cursor:
            with cursor.copy(f"COPY files ({', '.join(file_columns)}) FROM STDIN") as copy:
                for row in file_rows:
                    copy.write_row([row[c] for c in file_columns])
            quoted = ", ".join(f'"{c}"' for c in link_columns)
            with cursor.copy(f"COPY file_links ({quoted}) FROM STDIN") as copy:
                for row in rows:
                    values = [row[c] for c in link_columns]
                    values[link_columns.index("metadata")] = json.dumps(row["metadata"])
                    copy.write_row(values)
        connection.commit()
        connection.autocommit = True
        with connection.cursor() as cursor:
            cursor.execute("ANALYZE files")
            cursor.execute("ANALYZE file_links")
    finally:
        raw.close()


def seed(url: str, n_links: int, *, seed_value: int = 8) -> Seeded:
    """Migrate `url` (empty), then load; returns what was loaded and how long loading took."""
    url = normalize_database_url(url)
    migrate(url)
    started = time.perf_counter()
    rng = random.Random(seed_value)
    file_rows, rows, hot_file = generate(n_links, rng)
    engine = create_engine(url)
    if url.startswith("sqlite"):
        _load_sqlite(engine, file_rows, rows)
    else:
        _load_postgres(engine, file_rows, rows)
    seconds = time.perf_counter() - started
    engine.dispose()
    main_ids = [r["id"] for r in rows if r["account"] == ACCOUNT]
    return Seeded(
        links=len(main_ids),
        other_links=len(rows) - len(main_ids),
        files=len(file_rows),
        hot_file=hot_file,
        seconds=seconds,
        sample_ids=rng.sample(main_ids, min(500, len(main_ids))),
    )


def main() -> None:
    import common

    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--db", choices=["sqlite", "postgres"], default="sqlite")
    parser.add_argument("--links", type=int, default=1_000_000)
    parser.add_argument("--path", type=Path, help="SQLite file (default: a temporary one)")
    parser.add_argument("--keep", action="store_true", help="keep the database, print its URL")
    args = parser.parse_args()

    def report(url: str) -> None:
        result = seed(url, args.links)
        print(
            f"{args.db}: {result.links:,} links in {ACCOUNT} (+{result.other_links:,} in other"
            f" accounts, {result.files:,} files) loaded in {result.seconds:.1f} s"
            f" ({(result.links + result.other_links) / result.seconds:,.0f} rows/s)"
        )
        if args.keep:
            print(f"URL: {url}\nkey: {SCALE_KEY}")

    if args.db == "sqlite":
        if args.path or args.keep:
            path = (args.path or Path("bench-scale.db")).absolute()
            path.unlink(missing_ok=True)
            report(f"sqlite:///{path}")
            if not args.keep:
                path.unlink(missing_ok=True)
        else:
            with common.temp_dir("bench-seed-") as tmp:
                report(f"sqlite:///{tmp / 'scale.db'}")
    elif args.keep:
        schema, url = common.new_postgres_schema("bench_scale")
        report(url)
        print(
            f"drop it with: psql -h 127.0.0.1 -U postgres test -c 'DROP SCHEMA \"{schema}\" CASCADE'"
        )
    else:
        with common.postgres_schema("bench_scale") as url:
            report(url)


if __name__ == "__main__":
    main()
