"""Throughput and latency of the service against the framework floor, in one run.

    python bench/run.py                 # quick: SQLite + PostgreSQL, --workers 2, 16 conns
    python bench/run.py --preset full   # SQLite + PostgreSQL x workers 1,2 x conns 1,16,64
    python bench/run.py --db sqlite --workers 2 --conns 16,64 --scenarios retrieve,list

Per (database, workers): a fresh service (`python -m filelinks_api serve`) on a fresh data
dir (and, for PostgreSQL, a fresh schema, dropped afterwards) is seeded through the HTTP API,
then every scenario runs under wrk (warm-up, then the measured run). The floor app
(bench/floor_app.py, same workers) runs alongside and is measured before the first scenario
and again after every scenario at the same connection count, so each scenario's ratio is to
the mean of the two floor runs that bracket it: on a machine shared with other work, load
that comes and goes then hits both sides of a ratio alike (`--floor-once`: one floor run per
group, faster, noisier). Peak RSS is the sum over the uvicorn worker processes of VmHWM,
reset (clear_refs) before each measured run.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from contextlib import ExitStack
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import common

SCENARIOS = ["retrieve", "list", "create", "update", "upload", "download"]
PRESETS: dict[str, dict[str, list[Any]]] = {
    "quick": {"db": ["sqlite", "postgres"], "workers": [2], "conns": [16]},
    "full": {"db": ["sqlite", "postgres"], "workers": [1, 2], "conns": [1, 16, 64]},
}
SEED_LINKS = 200
UPLOAD_SIZE = 1 * common.MB
UPLOAD_PURPOSE = "tax_document_user_upload"

# Issue 8's targets: (scenario, minimum req/s as a fraction of the floor), at --workers 2,
# SQLite, 16 connections.
TARGETS = {"retrieve": 0.40, "list": 0.08, "create": 0.15, "update": 0.12}
RETRIEVE_P99_MAX = 4.0
POSTGRES_MIN = 0.7


@dataclass
class Row:
    db: str
    workers: int
    conns: int
    scenario: str
    rps: float
    p50_ms: float
    p99_ms: float
    peak_rss_mb: float
    errors: int
    non_2xx: int
    requests: int
    floor_rps: float = 0.0  # the bracketing floor runs' mean (0: none)
    floor_p99_ms: float = 0.0


def log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def measure(
    server: common.Server,
    scenario: str,
    conns: int,
    env: dict[str, str],
    args: argparse.Namespace,
    db: str,
    workers: int,
    warmup: float | None = None,
) -> Row:
    wrk_scenario = "retrieve" if scenario == "floor" else scenario
    warmup = args.warmup if warmup is None else warmup
    if warmup > 0:
        common.wrk(
            server.base_url,
            wrk_scenario,
            connections=conns,
            duration=warmup,
            env=env,
            threads=args.threads,
        )
    server.reset_peak()
    result = common.wrk(
        server.base_url,
        wrk_scenario,
        connections=conns,
        duration=args.duration,
        env=env,
        threads=args.threads,
    )
    row = Row(
        db=db,
        workers=workers,
        conns=conns,
        scenario=scenario,
        rps=result.rps,
        p50_ms=result.p50_ms,
        p99_ms=result.p99_ms,
        peak_rss_mb=server.peak_kb() / 1024,
        errors=result.errors,
        non_2xx=result.non_2xx,
        requests=result.requests,
    )
    log(
        f"  {db:8} w{workers} c{conns:<3} {scenario:9} {row.rps:9.0f} req/s"
        f"  p50 {row.p50_ms:7.2f}  p99 {row.p99_ms:8.2f} ms  rss {row.peak_rss_mb:6.1f} MB"
        + (f"  errors {row.errors} non-2xx {row.non_2xx}" if row.errors or row.non_2xx else "")
    )
    return row


def seed(base_url: str, work_dir: Path) -> dict[str, str]:
    """Through the HTTP API: linkable files, SEED_LINKS links, a 1 MB file behind a link, and
    the multipart body the upload scenario sends."""
    with common.client(base_url) as http:
        files = [
            common.upload(http, UPLOAD_PURPOSE, f"seed-{i}.pdf", common.pdf(2000 + i))["id"]
            for i in range(4)
        ]
        ids = [
            common.create_link(http, files[i % len(files)], **{"metadata[order_id]": str(i)})["id"]
            for i in range(SEED_LINKS)
        ]
        big = common.upload(http, UPLOAD_PURPOSE, "big.pdf", common.pdf(UPLOAD_SIZE))
        token = common.create_link(http, big["id"])["url"].rsplit("/", 1)[1]
        check = http.get(f"/links/{token}")
        check.raise_for_status()
        assert len(check.content) == UPLOAD_SIZE, len(check.content)
    body, boundary = common.multipart(
        {"purpose": UPLOAD_PURPOSE}, "upload.pdf", common.pdf(UPLOAD_SIZE), "application/pdf"
    )
    body_path = work_dir / "upload-body.bin"
    body_path.write_bytes(body)
    return {
        "BENCH_KEY": common.KEY,
        "BENCH_IDS": ",".join(ids),
        "BENCH_FILE": files[0],
        "BENCH_TOKEN": token,
        "BENCH_BODY_FILE": str(body_path),
        "BENCH_BOUNDARY": boundary,
    }


FLOOR_ENV = {"BENCH_KEY": common.KEY, "BENCH_IDS": "link_a,link_b,link_c"}


def floor_run(
    floor: common.Server | None,
    conns: int,
    workers: int,
    args: argparse.Namespace,
    rows: list[Row],
    warmup: float,
) -> Row | None:
    if floor is None:
        return None
    row = measure(floor, "floor", conns, FLOOR_ENV, args, "-", workers, warmup)
    rows.append(row)
    return row


def run(args: argparse.Namespace) -> list[Row]:
    rows: list[Row] = []
    for workers in args.workers:
        with ExitStack() as stack:
            floor = None
            if not args.no_floor:
                floor = stack.enter_context(
                    common.running(common.start_floor(workers, args.floor_kind))
                )
            for db in args.db:
                log(f"service on {db}, --workers {workers}")
                with ExitStack() as inner:
                    data_dir = inner.enter_context(common.temp_dir("bench-data-"))
                    url = inner.enter_context(common.database(db, data_dir))
                    server = inner.enter_context(
                        common.running(common.start_service(data_dir, url, workers))
                    )
                    env = seed(server.base_url, data_dir)
                    for conns in args.conns:
                        before = floor_run(floor, conns, workers, args, rows, args.warmup)
                        for scenario in args.scenarios:
                            row = measure(server, scenario, conns, env, args, db, workers)
                            after = (
                                before
                                if args.floor_once
                                else floor_run(floor, conns, workers, args, rows, 0)
                            )
                            bracket = [f for f in (before, after) if f is not None]
                            if bracket:
                                row.floor_rps = statistics.mean(f.rps for f in bracket)
                                row.floor_p99_ms = statistics.mean(f.p99_ms for f in bracket)
                            rows.append(row)
                            before = after
    return rows


def floor_summary(rows: list[Row]) -> list[str]:
    out = []
    groups = sorted({(r.workers, r.conns) for r in rows if r.scenario == "floor"})
    for workers, conns in groups:
        runs = [
            r for r in rows if r.scenario == "floor" and (r.workers, r.conns) == (workers, conns)
        ]
        rps = [r.rps for r in runs]
        p99 = [r.p99_ms for r in runs]
        out.append(
            f"| floor | {workers} | {conns} | {len(runs)} runs | {statistics.median(rps):,.0f}"
            f" ({min(rps):,.0f}–{max(rps):,.0f}) | {statistics.median(p99):.2f}"
            f" ({min(p99):.2f}–{max(p99):.2f}) |"
        )
    return out


def table(rows: list[Row]) -> str:
    header = (
        "| db | workers | conns | scenario | req/s | p50 ms | p99 ms | peak RSS MB |"
        " × floor req/s | × floor p99 | errors |"
    )
    lines = [header, "|" + " --- |" * 11]
    for r in rows:
        if r.scenario == "floor":
            continue
        ratio = f"{r.rps / r.floor_rps:.3f}" if r.floor_rps else "-"
        p99 = f"{r.p99_ms / r.floor_p99_ms:.2f}" if r.floor_p99_ms else "-"
        errors = f"{r.errors}/{r.non_2xx}" if r.errors or r.non_2xx else "0"
        lines.append(
            f"| {r.db} | {r.workers} | {r.conns} | {r.scenario} | {r.rps:,.0f} | {r.p50_ms:.2f}"
            f" | {r.p99_ms:.2f} | {r.peak_rss_mb:.1f} | {ratio} | {p99} | {errors} |"
        )
    floors = floor_summary(rows)
    if floors:
        lines += [
            "",
            "| floor | workers | conns | runs | req/s median (min–max) | p99 ms median (min–max) |",
            "| --- | --- | --- | --- | --- | --- |",
            *floors,
        ]
    peak = [r for r in rows if r.scenario == "floor"]
    if peak:
        lines.append(f"\nfloor peak RSS: {max(r.peak_rss_mb for r in peak):.1f} MB")
    return "\n".join(lines)


def targets(rows: list[Row]) -> str:
    """Issue 8's targets at --workers 2, 16 connections, where the run measured them."""
    out = []

    def find(db: str, scenario: str) -> Row | None:
        return next(
            (r for r in rows if (r.db, r.workers, r.conns, r.scenario) == (db, 2, 16, scenario)),
            None,
        )

    for scenario, minimum in TARGETS.items():
        row = find("sqlite", scenario)
        if row is None or not row.floor_rps:
            continue
        ratio = row.rps / row.floor_rps
        verdict = "met" if ratio >= minimum else "MISSED"
        out.append(f"- {scenario} req/s ≥ {minimum:.0%} of floor: {ratio:.1%} — {verdict}")
        if scenario == "retrieve":
            p99 = row.p99_ms / row.floor_p99_ms
            verdict = "met" if p99 <= RETRIEVE_P99_MAX else "MISSED"
            out.append(
                f"- retrieve p99 ≤ {RETRIEVE_P99_MAX:.0f}× floor p99: {p99:.2f}× — {verdict}"
            )
    for scenario in SCENARIOS:
        lite, pg = find("sqlite", scenario), find("postgres", scenario)
        if lite is None or pg is None or not lite.rps:
            continue
        # each against its own bracketing floor, so load changes between the two cancel out
        if lite.floor_rps and pg.floor_rps:
            ratio = (pg.rps / pg.floor_rps) / (lite.rps / lite.floor_rps)
        else:
            ratio = pg.rps / lite.rps
        verdict = "met" if ratio >= POSTGRES_MIN else "MISSED"
        out.append(f"- PostgreSQL {scenario} ≥ {POSTGRES_MIN}× SQLite: {ratio:.2f}× — {verdict}")
    return "\n".join(out) if out else "(no target was measured: needs --workers 2 --conns 16)"


def parse_list(kind: type, text: str) -> list[Any]:
    return [kind(item) for item in text.split(",") if item]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--preset", choices=sorted(PRESETS), default="quick")
    parser.add_argument("--db", type=lambda t: parse_list(str, t), help="sqlite,postgres")
    parser.add_argument("--workers", type=lambda t: parse_list(int, t), help="e.g. 1,2")
    parser.add_argument("--conns", type=lambda t: parse_list(int, t), help="e.g. 1,16,64")
    parser.add_argument(
        "--scenarios",
        type=lambda t: parse_list(str, t),
        default=SCENARIOS,
        help=",".join(SCENARIOS),
    )
    parser.add_argument("--duration", type=float, default=5, help="measured seconds per run")
    parser.add_argument("--warmup", type=float, default=1, help="warm-up seconds per run")
    parser.add_argument("--threads", type=int, default=1, help="wrk threads")
    parser.add_argument("--floor-kind", choices=["dict", "bytes"], default="dict")
    parser.add_argument("--no-floor", action="store_true")
    parser.add_argument(
        "--floor-once", action="store_true", help="one floor run per group, not one per scenario"
    )
    parser.add_argument("--json", type=Path, help="also write the rows here")
    args = parser.parse_args()
    preset = PRESETS[args.preset]
    args.db = args.db or preset["db"]
    args.workers = args.workers or preset["workers"]
    args.conns = args.conns or preset["conns"]
    unknown = set(args.scenarios) - set(SCENARIOS)
    if unknown:
        parser.error(f"unknown scenarios: {', '.join(sorted(unknown))}")

    started = time.monotonic()
    info = common.machine()
    log(f"machine: {info}")
    rows = run(args)
    print(
        f"\nfilelinks-api bench: {args.preset} preset, db={','.join(args.db)},"
        f" workers={','.join(map(str, args.workers))}, conns={','.join(map(str, args.conns))},"
        f" {args.duration:g}s + {args.warmup:g}s warm-up, wrk -t{args.threads},"
        f" floor={args.floor_kind}; nproc {info['nproc']}, {info['cpu']},"
        f" Python {info['python']}, load {info['load']}\n"
    )
    print(table(rows))
    print("\nTargets (--workers 2, SQLite, 16 conns; ratios to the bracketing floor runs):")
    print(targets(rows))
    print(f"\n({time.monotonic() - started:.0f} s)")
    if args.json:
        args.json.write_text(
            json.dumps(
                {
                    "machine": info,
                    "args": vars(args) | {"json": str(args.json)},
                    "rows": [asdict(r) for r in rows],
                },
                indent=2,
            )
        )


if __name__ == "__main__":
    main()
