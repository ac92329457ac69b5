"""Throughput and latency of the service against the framework floor, in one run.

    python bench/run.py                 # quick: SQLite + PostgreSQL, --workers 2, 16 conns
    python bench/run.py --preset full   # SQLite + PostgreSQL x workers 1,2 x conns 1,16,64
    python bench/run.py --db sqlite --workers 2 --conns 16,64 --scenarios retrieve,list
    python bench/run.py --compare /tmp/before   # also the checkout at /tmp/before: before/after

Per (database, workers): a fresh service (`python -m filelinks_api serve`) on a fresh data
dir (and, for PostgreSQL, a fresh schema, dropped afterwards) is seeded through the HTTP API,
then every scenario runs under wrk (warm-up, then the measured run). The floor app
(bench/floor_app.py, same workers) runs alongside and is measured before the first scenario
and again after every scenario at the same connection count, so each scenario's ratio is to
the mean of the two floor runs that bracket it: on a machine shared with other work, load
that comes and goes then hits both sides of a ratio alike (`--floor-once`: one floor run per
group, faster, noisier). For PostgreSQL, the PostgreSQL floor (floor_app.py --kind postgres:
the floor plus one prepared row read by id through psycopg's AsyncConnection, on the
service's schema) is measured the same way, for a second ratio. Peak RSS is the sum over the uvicorn
worker processes of VmHWM, reset (clear_refs) before each measured run.

`--compare PATH` also runs the service of another checkout (PATH/src first on PYTHONPATH, so
its code and its migrations), on its own data dir and schema, seeded the same way: each
scenario runs on both services in turn (alternating which goes first), each service run
bracketed by its own floor runs, and a before/after table gives current ÷ PATH.
`--service-src PATH` instead runs only PATH's service.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import common
import httpx

SCENARIOS = ["retrieve", "list", "create", "create-keyed", "update", "upload", "download"]
PRESETS: dict[str, dict[str, list[Any]]] = {
    "quick": {"db": ["sqlite", "postgres"], "workers": [2], "conns": [16]},
    "full": {"db": ["sqlite", "postgres"], "workers": [1, 2], "conns": [1, 16, 64]},
}
SEED_LINKS = 200
UPLOAD_SIZE = 1 * common.MB
UPLOAD_PURPOSE = "tax_document_user_upload"

# Issue 24's targets, at --workers 2, 16 connections, with the defaults (log and metrics on):
# SQLite req/s as a fraction of the floor's; retrieve's p99 at most this many times the
# floor's; PostgreSQL / SQLite req/s (each to its own floor) for these scenarios, and
# PostgreSQL's p99 at most this many times SQLite's; log-on / log-off req/s (--request-log
# both) for these scenarios, on each database.
TARGETS = {"retrieve": 0.6, "list": 0.2, "create": 0.25, "update": 0.3}
RETRIEVE_P99_MAX = 2.0
POSTGRES_MIN = 0.7
POSTGRES_SCENARIOS = ("retrieve", "create", "update")
POSTGRES_P99_MAX = 3.0
LOG_ON_MIN = 0.9
LOG_SCENARIOS = ("retrieve", "create")


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
    pg_floor_rps: float = 0.0  # the bracketing PostgreSQL floor runs' mean (0: none)
    pg_floor_p99_ms: float = 0.0
    service: str = ""  # which checkout's service (Tree.label); "" for floor rows
    # The workers' CPU (user + system) per request served, and the busiest worker's share of
    # it: with several workers, the kernel hands wrk's connections to whichever accepts first,
    # and a run whose connections landed mostly on one worker is bound by that one core
    # (seen: 3,600 against 6,100 req/s, same service, back to back).
    cpu_us: float = 0.0
    busiest: float = 0.0


@dataclass
class Tree:
    """A checkout whose service is benchmarked: src None is the installed (editable) one."""

    label: str
    src: Path | None
    package: str = ""  # where filelinks_api is imported from
    commit: str = ""
    env: dict[str, str] = field(default_factory=dict)  # extra settings for its service


FLOORS = ("floor", "pg-floor")
# A measured run whose busiest worker did more than this share of the work (wrk's connections
# landed mostly on one worker) is run again, up to UNEVEN_RETRIES times; see Row.busiest.
UNEVEN_SHARE = 0.7
UNEVEN_RETRIES = 3
LOG_OFF = {"FILELINKS_REQUEST_LOG": "false"}
METRICS_OFF = {"FILELINKS_METRICS": "false"}


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
    service: str = "",
) -> Row:
    wrk_scenario = "retrieve" if scenario in FLOORS else scenario
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
    for attempt in range(1, UNEVEN_RETRIES + 2):
        server.reset_peak()
        cpu_before = server.cpu_seconds()
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
            service=service,
        )
        used = [seconds - cpu_before.get(pid, 0.0) for pid, seconds in server.cpu_seconds().items()]
        if result.requests and sum(used) > 0:
            row.cpu_us = sum(used) / result.requests * 1e6
            row.busiest = max(used) / sum(used)
        if workers < 2 or conns < workers or row.busiest <= UNEVEN_SHARE:
            break
        if attempt > UNEVEN_RETRIES:
            log(f"  uneven after {UNEVEN_RETRIES} retries; kept")
            break
        log(
            f"  {db:8} w{workers} c{conns:<3} {scenario:9} {service:8} uneven: the busiest"
            f" worker did {row.busiest:.0%} of the work ({row.rps:.0f} req/s); again"
            f" ({attempt}/{UNEVEN_RETRIES})"
        )
    log(
        f"  {db:8} w{workers} c{conns:<3} {scenario:9} {service:8} {row.rps:9.0f} req/s"
        f"  p50 {row.p50_ms:7.2f}  p99 {row.p99_ms:8.2f} ms  rss {row.peak_rss_mb:6.1f} MB"
        f"  cpu {row.cpu_us:6.0f} µs/req  busiest worker {row.busiest:4.0%}"
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


@dataclass
class Floor:
    kind: str  # "floor" or "pg-floor"
    db: str  # the rows' db column
    server: common.Server
    env: dict[str, str]


def floor_runs(
    floors: list[Floor],
    conns: int,
    workers: int,
    args: argparse.Namespace,
    rows: list[Row],
    warmup: float,
) -> dict[str, Row]:
    out = {}
    for floor in floors:
        row = measure(floor.server, floor.kind, conns, floor.env, args, floor.db, workers, warmup)
        rows.append(row)
        out[floor.kind] = row
    return out


def run(args: argparse.Namespace, trees: list[Tree]) -> list[Row]:
    rows: list[Row] = []
    for workers in args.workers:
        with ExitStack() as stack:
            floors = []
            if not args.no_floor:
                server = stack.enter_context(
                    common.running(common.start_floor(workers, args.floor_kind))
                )
                floors.append(Floor("floor", "-", server, FLOOR_ENV))
            for db in args.db:
                with ExitStack() as inner:
                    services = []  # (tree, server, wrk env, database URL)
                    for tree in trees:
                        log(f"service {tree.label} on {db}, --workers {workers}")
                        data_dir = inner.enter_context(common.temp_dir("bench-data-"))
                        url = inner.enter_context(common.database(db, data_dir))
                        server = inner.enter_context(
                            common.running(
                                common.start_service(data_dir, url, workers, tree.src, tree.env)
                            )
                        )
                        services.append((tree, server, seed(server.base_url, data_dir), url))
                    group_floors = list(floors)
                    if db == "postgres" and not args.no_pg_floor:
                        # on the first service's schema, over its seeded ids
                        _, _, env, url = services[0]
                        assert url is not None
                        group_floors.append(
                            inner.enter_context(running_pg_floor(workers, url, env, args))
                        )
                    for conns in args.conns:
                        before = floor_runs(group_floors, conns, workers, args, rows, args.warmup)
                        for index, scenario in enumerate(args.scenarios):
                            # alternate which service goes first, so neither always follows
                            # the other's run (or the floor's)
                            order = services if index % 2 == 0 else services[::-1]
                            for tree, server, env, _ in order:
                                row = measure(
                                    server,
                                    scenario,
                                    conns,
                                    env,
                                    args,
                                    db,
                                    workers,
                                    service=tree.label,
                                )
                                after = (
                                    before
                                    if args.floor_once
                                    else floor_runs(group_floors, conns, workers, args, rows, 0)
                                )
                                bracket(row, before, after)
                                rows.append(row)
                                before = after
    return rows


@contextmanager
def running_pg_floor(
    workers: int, url: str, env: dict[str, str], args: argparse.Namespace
) -> Iterator[Floor]:
    """The PostgreSQL floor on the service's schema, driven over the seeded links' ids (checked:
    the first id reads back)."""
    with common.running(common.start_pg_floor(workers, url, args.pg_floor_pool)) as server:
        first = env["BENCH_IDS"].split(",", 1)[0]
        check = httpx.get(f"{server.base_url}/v1/file_links/{first}", timeout=10)
        check.raise_for_status()
        assert check.json()["id"] == first, check.text
        yield Floor("pg-floor", "postgres", server, {**FLOOR_ENV, "BENCH_IDS": env["BENCH_IDS"]})


def bracket(row: Row, before: dict[str, Row], after: dict[str, Row]) -> None:
    """The row's floors: the mean of the floor runs just before and just after it."""
    runs = {kind: [r for r in (before.get(kind), after.get(kind)) if r] for kind in FLOORS}
    if runs["floor"]:
        row.floor_rps = statistics.mean(r.rps for r in runs["floor"])
        row.floor_p99_ms = statistics.mean(r.p99_ms for r in runs["floor"])
    if runs["pg-floor"]:
        row.pg_floor_rps = statistics.mean(r.rps for r in runs["pg-floor"])
        row.pg_floor_p99_ms = statistics.mean(r.p99_ms for r in runs["pg-floor"])


def floor_summary(rows: list[Row]) -> list[str]:
    out = []
    groups = sorted({(r.scenario, r.workers, r.conns) for r in rows if r.scenario in FLOORS})
    for kind, workers, conns in groups:
        runs = [r for r in rows if (r.scenario, r.workers, r.conns) == (kind, workers, conns)]
        rps = [r.rps for r in runs]
        p99 = [r.p99_ms for r in runs]
        out.append(
            f"| {kind.replace('-', ' ')} | {workers} | {conns} | {len(runs)} runs"
            f" | {statistics.median(rps):,.0f} ({min(rps):,.0f}–{max(rps):,.0f})"
            f" | {statistics.median(p99):.2f} ({min(p99):.2f}–{max(p99):.2f}) |"
        )
    return out


def quotient(value: float, base: float, digits: int = 3) -> str:
    return f"{value / base:.{digits}f}" if base else ""


def table(rows: list[Row], trees: list[Tree]) -> str:
    named = len(trees) > 1 or trees[0].src is not None  # a service column only then
    header = "| db | workers | conns |" + (" service |" if named else "")
    header += (
        " scenario | req/s | p50 ms | p99 ms | peak RSS MB | × floor req/s | × floor p99 |"
        " × pg floor req/s | errors |"
    )
    lines = [header, "|" + " --- |" * (header.count("|") - 1)]
    # in run order, but the services of one scenario in --compare's order (current first)
    groups: dict[tuple[str, int, int, str], int] = {}
    services = [r for r in rows if r.scenario not in FLOORS]
    for r in services:
        groups.setdefault((r.db, r.workers, r.conns, r.scenario), len(groups))
    position = {tree.label: index for index, tree in enumerate(trees)}
    services.sort(
        key=lambda r: (groups[r.db, r.workers, r.conns, r.scenario], position.get(r.service, 0))
    )
    for r in services:
        errors = f"{r.errors}/{r.non_2xx}" if r.errors or r.non_2xx else "0"
        lines.append(
            f"| {r.db} | {r.workers} | {r.conns} |"
            + (f" {r.service} |" if named else "")
            + f" {r.scenario} | {r.rps:,.0f} | {r.p50_ms:.2f} | {r.p99_ms:.2f}"
            f" | {r.peak_rss_mb:.1f} | {quotient(r.rps, r.floor_rps) or '-'}"
            f" | {quotient(r.p99_ms, r.floor_p99_ms, 2) or '-'} | {quotient(r.rps, r.pg_floor_rps)}"
            f" | {errors} |"
        )
    floors = floor_summary(rows)
    if floors:
        lines += [
            "",
            "| floor | workers | conns | runs | req/s median (min–max) | p99 ms median (min–max) |",
            "| --- | --- | --- | --- | --- | --- |",
            *floors,
        ]
    peaks = [
        f"{kind.replace('-', ' ')} peak RSS: {max(r.peak_rss_mb for r in runs):.1f} MB"
        for kind in FLOORS
        if (runs := [r for r in rows if r.scenario == kind])
    ]
    if peaks:
        lines += ["", *peaks]
    return "\n".join(lines)


def comparison(rows: list[Row], trees: list[Tree]) -> str:
    """Before/after: the current service against the --compare one, scenario by scenario.
    `× floor` divides the two services' floor ratios, so load that differed between their
    runs cancels out; plain req/s does not."""
    current, other = trees[0].label, trees[1].label
    lines = [
        f"| db | workers | conns | scenario | {other} req/s | {current} req/s"
        f" | {current}/{other} req/s | {current}/{other} × floor | {current}/{other} × pg floor"
        f" | {other} p99 ms | {current} p99 ms | {other} cpu µs/req | {current} cpu µs/req"
        f" | {other}/{current} cpu | busiest worker ({other}, {current}) |",
        "|" + " --- |" * 15,
    ]
    others: dict[tuple[str, int, int, str], list[Row]] = {}
    for r in rows:
        if r.service == other:
            others.setdefault((r.db, r.workers, r.conns, r.scenario), []).append(r)
    # each pair's ratios (req/s, req/s to the floors, CPU), by scenario, for --rounds
    ratios: dict[tuple[str, int, int, str], list[tuple[float, float | None, float | None]]] = {}
    for a in (r for r in rows if r.service == current):
        # paired in run order (a scenario listed twice gives two pairs)
        key = (a.db, a.workers, a.conns, a.scenario)
        pending = others.get(key)
        b = pending.pop(0) if pending else None
        if b is None or not b.rps:
            continue
        ratios.setdefault(key, []).append(
            (
                a.rps / b.rps,
                by_floors(a, b) if a.floor_rps and b.floor_rps else None,
                b.cpu_us / a.cpu_us if a.cpu_us else None,
            )
        )
        by_floor = (
            quotient(a.rps / a.floor_rps, b.rps / b.floor_rps, 2)
            if a.floor_rps and b.floor_rps
            else ""
        )
        by_pg_floor = (
            quotient(a.rps / a.pg_floor_rps, b.rps / b.pg_floor_rps, 2)
            if a.pg_floor_rps and b.pg_floor_rps
            else ""
        )
        lines.append(
            f"| {a.db} | {a.workers} | {a.conns} | {a.scenario} | {b.rps:,.0f} | {a.rps:,.0f}"
            f" | {quotient(a.rps, b.rps, 2)} | {by_floor} | {by_pg_floor}"
            f" | {b.p99_ms:.2f} | {a.p99_ms:.2f} | {b.cpu_us:.0f} | {a.cpu_us:.0f}"
            f" | {quotient(b.cpu_us, a.cpu_us, 2)} | {b.busiest:.0%}, {a.busiest:.0%} |"
        )
    if any(len(pairs) > 1 for pairs in ratios.values()):
        lines += [
            "",
            f"Medians over the rounds (min–max), {current}/{other}:",
            "",
            "| db | workers | conns | scenario | pairs | req/s | × floor | cpu µs/req"
            f" ({other}/{current}) |",
            "|" + " --- |" * 8,
        ]
        for (db, workers, conns, scenario), pairs in ratios.items():
            columns = [spread([pair[i] for pair in pairs]) for i in range(3)]
            lines.append(
                f"| {db} | {workers} | {conns} | {scenario} | {len(pairs)} | "
                + " | ".join(columns)
                + " |"
            )
    return "\n".join(lines)


def by_floors(a: Row, b: Row) -> float:
    """a's req/s over b's, each against its own bracketing floor (load that changed between
    the two runs cancels out); in plain req/s where a floor was not run."""
    if a.floor_rps and b.floor_rps:
        return (a.rps / a.floor_rps) / (b.rps / b.floor_rps)
    return a.rps / b.rps


def spread(values: list[float | None]) -> str:
    """`median (min–max)` of the values measured."""
    known = [value for value in values if value is not None]
    if not known:
        return ""
    return f"{statistics.median(known):.2f} ({min(known):.2f}–{max(known):.2f})"


def targets(rows: list[Row], trees: list[Tree]) -> str:
    """Issue 24's targets at --workers 2, 16 connections, where the run measured them; with
    --rounds, each the median of its rounds' values."""
    out = []
    service = trees[0].label
    log_off = next((t.label for t in trees if t.label == "log-off"), None)

    def find(db: str, scenario: str, label: str = service) -> list[Row]:
        """The scenario's rows, one a round, in run order."""
        return [
            r
            for r in rows
            if (r.db, r.workers, r.conns, r.scenario, r.service) == (db, 2, 16, scenario, label)
        ]

    def line(
        what: str, values: list[float], at_least: float | None, at_most: float | None = None
    ) -> None:
        value = statistics.median(values)
        met = value >= at_least if at_least is not None else value <= (at_most or 0.0)
        shown = f"{value:.3f}×"
        if len(values) > 1:
            shown += f" (median of {', '.join(f'{v:.3f}' for v in values)})"
        out.append(f"- {what}: {shown} — {'met' if met else 'MISSED'}")

    for scenario, minimum in TARGETS.items():
        found = [row for row in find("sqlite", scenario) if row.floor_rps]
        if not found:
            continue
        line(
            f"SQLite {scenario} ≥ {minimum}× floor",
            [row.rps / row.floor_rps for row in found],
            minimum,
        )
        if scenario == "retrieve":
            line(
                f"SQLite retrieve p99 ≤ {RETRIEVE_P99_MAX:g}× floor p99",
                [row.p99_ms / row.floor_p99_ms for row in found],
                None,
                RETRIEVE_P99_MAX,
            )
    for scenario in POSTGRES_SCENARIOS:
        pairs = [
            (lite, pg)
            for lite, pg in zip(find("sqlite", scenario), find("postgres", scenario), strict=False)
            if lite.rps
        ]
        if not pairs:
            continue
        line(
            f"PostgreSQL / SQLite {scenario} ≥ {POSTGRES_MIN}×",
            [by_floors(pg, lite) for lite, pg in pairs],
            POSTGRES_MIN,
        )
        line(
            f"PostgreSQL / SQLite {scenario} p99 ≤ {POSTGRES_P99_MAX:g}×",
            [pg.p99_ms / lite.p99_ms for lite, pg in pairs],
            None,
            POSTGRES_P99_MAX,
        )
    if log_off is not None:
        for db in ("sqlite", "postgres"):
            for scenario in LOG_SCENARIOS:
                pairs = [
                    (on, off)
                    for on, off in zip(
                        find(db, scenario), find(db, scenario, log_off), strict=False
                    )
                    if off.rps
                ]
                if not pairs:
                    continue
                line(
                    f"{db} {scenario} log-on / log-off ≥ {LOG_ON_MIN}× (to the floors)",
                    [by_floors(on, off) for on, off in pairs],
                    LOG_ON_MIN,
                )
    return "\n".join(out) if out else "(no target was measured: needs --workers 2 --conns 16)"


def parse_list(kind: type, text: str) -> list[Any]:
    return [kind(item) for item in text.split(",") if item]


def git_commit(path: Path) -> str:
    """The checkout's short commit, "+changes" if src/ or migrations/ differ from it; read-only
    (no index refresh)."""
    git = ["git", "--no-optional-locks", "-C", str(path)]
    try:
        head = subprocess.run(
            [*git, "rev-parse", "--short", "HEAD"], capture_output=True, text=True, check=True
        ).stdout.strip()
        clean = subprocess.run(
            [*git, "diff", "--quiet", "HEAD", "--", "src", "migrations"], capture_output=True
        )
    except (OSError, subprocess.CalledProcessError):
        return "?"
    return head + ("" if clean.returncode == 0 else "+changes")


def make_trees(args: argparse.Namespace) -> list[Tree]:
    """The current service (this checkout, or --service-src) first, then --compare's, or the
    same service with its request log off (--request-log both), its metrics off (--metrics
    both) or its contents on disk instead of S3 (--storage both)."""
    trees = [Tree(args.service_src.name if args.service_src else "current", args.service_src)]
    base: dict[str, str] = {}
    if args.request_log == "off":
        base.update(LOG_OFF)
    if args.metrics == "off":
        base.update(METRICS_OFF)
    trees[0].env = dict(base)
    pairs = {  # --OPTION both: the same service twice, (label, settings) each
        "request_log": (("log-on", {}), ("log-off", LOG_OFF)),
        "metrics": (("metrics-on", {}), ("metrics-off", METRICS_OFF)),
        "storage": (("s3", args.s3_env), ("disk", {})),
    }
    for option, sides in pairs.items():
        if getattr(args, option) == "both":
            trees = [Tree(label, args.service_src, env={**base, **env}) for label, env in sides]
    if args.compare:
        label = args.compare.name
        trees.append(Tree(label if label != trees[0].label else "compare", args.compare))
    for tree in trees:
        package = common.service_package(tree.src)
        tree.package = str(package)
        tree.commit = git_commit(package.parents[1])
        log(f"service {tree.label}: {tree.package} (git {tree.commit})")
    return trees


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
    parser.add_argument("--no-floor", action="store_true", help="no floor runs (neither kind)")
    parser.add_argument(
        "--no-pg-floor", action="store_true", help="no PostgreSQL floor (pg_floor_app.py) runs"
    )
    parser.add_argument(
        "--pg-floor-pool",
        type=int,
        default=8,
        metavar="N",
        help="PostgreSQL floor: async connections per worker (default 8)",
    )
    parser.add_argument(
        "--floor-once",
        action="store_true",
        help="one run of each floor per group, not one per scenario",
    )
    parser.add_argument(
        "--compare",
        type=Path,
        metavar="PATH",
        help="also benchmark the service of the checkout at PATH (PATH/src first on PYTHONPATH),"
        " scenario by scenario next to the current one, and print a before/after table"
        " (e.g. after `git worktree add /tmp/before <commit>`)",
    )
    parser.add_argument(
        "--service-src",
        type=Path,
        metavar="PATH",
        help="benchmark the service of the checkout at PATH instead of this one",
    )
    parser.add_argument(
        "--request-log",
        choices=["on", "off", "both"],
        default="on",
        help="the service's request log (FILELINKS_REQUEST_LOG); 'both' runs every scenario"
        " with it on and off and prints log-on / log-off",
    )
    parser.add_argument(
        "--metrics",
        choices=["on", "off", "both"],
        default="on",
        help="the service's /metrics counting (FILELINKS_METRICS); 'both' runs every scenario"
        " with it on and off and prints metrics-on / metrics-off",
    )
    parser.add_argument(
        "--storage",
        choices=["disk", "both"],
        default="disk",
        help="'both' also runs every scenario with contents in S3 (moto's server, started"
        " here) and prints s3 / disk",
    )
    parser.add_argument(
        "--rounds",
        type=int,
        default=1,
        metavar="N",
        help="run the scenarios N times over, interleaved; with a pair (--compare, 'both'),"
        " the before/after table ends with the median of each scenario's N ratios",
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
    if args.rounds < 1:
        parser.error("--rounds must be at least 1")
    args.scenarios = args.scenarios * args.rounds
    pairs = [
        args.request_log == "both",
        args.metrics == "both",
        args.storage == "both",
        args.compare is not None,
    ]
    if sum(pairs) > 1:
        parser.error("--request-log, --metrics, --storage both and --compare each make a pair")
    for path in (args.compare, args.service_src):
        if path is not None and not (path / "src" / "filelinks_api").is_dir():
            parser.error(f"{path} has no src/filelinks_api")
    args.no_pg_floor = args.no_pg_floor or args.no_floor

    started = time.monotonic()
    info = common.machine()
    log(f"machine: {info}")
    with ExitStack() as stack:
        args.s3_env = stack.enter_context(common.s3_store()) if args.storage == "both" else {}
        trees = make_trees(args)
        rows = run(args, trees)
    print(
        f"\nfilelinks-api bench: {args.preset} preset, db={','.join(args.db)},"
        f" workers={','.join(map(str, args.workers))}, conns={','.join(map(str, args.conns))},"
        f" {args.duration:g}s + {args.warmup:g}s warm-up, wrk -t{args.threads},"
        f" floor={args.floor_kind}, pg floor pool={args.pg_floor_pool};"
        f" nproc {info['nproc']}, {info['cpu']}, Python {info['python']}, load {info['load']}"
    )
    print(
        "services: " + "; ".join(f"{t.label} = {t.package} (git {t.commit})" for t in trees) + "\n"
    )
    print(table(rows, trees))
    if len(trees) > 1:
        print(f"\nBefore/after ({trees[0].label} ÷ {trees[1].label}):\n")
        print(comparison(rows, trees))
    print(
        f"\nTargets ({trees[0].label}; --workers 2, 16 conns; ratios to the bracketing floor"
        " runs; log-on / log-off needs --request-log both):"
    )
    print(targets(rows, trees))
    print(f"\n({time.monotonic() - started:.0f} s)")
    if args.json:
        args.json.write_text(
            json.dumps(
                {
                    "machine": info,
                    "args": vars(args),
                    "services": [asdict(t) for t in trees],
                    "rows": [asdict(r) for r in rows],
                },
                indent=2,
                default=str,
            )
        )


if __name__ == "__main__":
    main()
