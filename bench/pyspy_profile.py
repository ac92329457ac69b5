"""Where a scenario's time goes: py-spy samples a one-worker service while wrk drives it.

    /work/venv/bin/pip install py-spy          # a tool for this script only, not a dependency
    python bench/pyspy_profile.py retrieve [--db sqlite] [--workers 1] [--conns 16] [--duration 10]
        [--idle] [--top 25]

Prints self samples by package, then the functions with the most inclusive and the most
self samples (the framework's outer wrappers left out). `--raw PATH` keeps py-spy's collapsed
stacks, which any flame-graph tool reads. `--workers 2` follows every worker; `--idle` also
counts waiting threads (a lock wait inside sqlite3 shows up then) and keeps only the samples
taken inside a request.
"""

from __future__ import annotations

import argparse
import collections
import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import common
from run import SCENARIOS, seed

_FRAME = re.compile(r"^(?P<func>.*?) \((?P<file>[^()]*?)(?::(?P<line>\d+))?\)$")


def short(frame: str) -> str:
    """`func (/long/path/site-packages/pkg/mod.py:12)` -> `pkg/mod.py:func`."""
    match = _FRAME.match(frame)
    if not match:
        return frame
    path = match["file"]
    for marker in ("site-packages/", "/src/", "/lib/python3"):
        if marker in path:
            path = path.split(marker, 1)[1]
            break
    return f"{path}:{match['func']}"


def summarize(raw: Path, top: int, requests_only: bool = False) -> str:
    inclusive: collections.Counter[str] = collections.Counter()
    own: collections.Counter[str] = collections.Counter()
    total = 0
    for line in raw.read_text().splitlines():
        stack, _, count_text = line.rpartition(" ")
        if not stack or not count_text.isdigit():
            continue
        count = int(count_text)
        total += count
        frames = [short(f) for f in stack.split(";")]
        # drop py-spy's thread/process prefix frames ("process 123:...", "thread (0x..)")
        frames = [f for f in frames if not f.startswith(("process ", "thread "))]
        if not frames or (requests_only and not any("StripeMiddleware" in f for f in frames)):
            total -= count
            continue
        own[frames[-1]] += count
        for frame in set(frames):
            inclusive[frame] += count
    by_package: collections.Counter[str] = collections.Counter()
    for frame, count in own.items():
        by_package[frame.split("/", 1)[0] if "/" in frame else frame.split(":", 1)[0]] += count
    out = [f"{total} samples", "", "self samples by package:"]
    for package, count in by_package.most_common(12):
        out.append(f"  {count / total:6.1%}  {package}")
    out += ["", "inclusive, under 80% (the framework's wrappers left out):"]
    shown = [(f, c) for f, c in inclusive.most_common() if c / total < 0.8]
    for frame, count in shown[:top]:
        out.append(f"  {count / total:6.1%}  {frame}")
    out += ["", "inclusive, the service's own functions:"]
    ours = [(f, c) for f, c in inclusive.most_common() if f.startswith("filelinks_api/")]
    for frame, count in ours[:top]:
        out.append(f"  {count / total:6.1%}  {frame}")
    out += ["", "self (the function's own code):"]
    for frame, count in own.most_common(top):
        out.append(f"  {count / total:6.1%}  {frame}")
    return "\n".join(out)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("scenario", choices=SCENARIOS)
    parser.add_argument("--db", choices=["sqlite", "postgres"], default="sqlite")
    parser.add_argument("--conns", type=int, default=16)
    parser.add_argument("--duration", type=float, default=10)
    parser.add_argument("--workers", type=int, default=1, help="py-spy follows every worker")
    parser.add_argument(
        "--idle",
        action="store_true",
        help="keep samples of waiting threads (lock waits, sleeps); only those inside a request",
    )
    parser.add_argument("--rate", type=int, default=250, help="py-spy samples per second")
    parser.add_argument("--top", type=int, default=25)
    parser.add_argument("--raw", type=Path, help="keep the collapsed stacks here")
    args = parser.parse_args()
    py_spy = shutil.which("py-spy") or str(Path(sys.executable).parent / "py-spy")
    if not Path(py_spy).exists():
        sys.exit("py-spy is not installed: pip install py-spy")

    with common.temp_dir("bench-profile-") as data_dir, common.database(args.db, data_dir) as url:
        with common.running(common.start_service(data_dir, url, args.workers)) as server:
            env = seed(server.base_url, data_dir)
            common.wrk(server.base_url, args.scenario, connections=args.conns, duration=1, env=env)
            raw = args.raw or Path(tempfile.mkstemp(prefix="bench-pyspy-", suffix=".txt")[1])
            spy = subprocess.Popen(
                [py_spy, "record", "--format", "raw", "-o", str(raw), "-r", str(args.rate)]
                + ["-d", str(int(args.duration)), "-p", str(server.process.pid)]
                + (["--subprocesses"] if args.workers > 1 else [])
                + (["--idle"] if args.idle else []),
                stdout=subprocess.DEVNULL,
                stderr=subprocess.PIPE,
            )
            time.sleep(0.5)
            result = common.wrk(
                server.base_url,
                args.scenario,
                connections=args.conns,
                duration=args.duration,
                env=env,
            )
            _, err = spy.communicate(timeout=args.duration + 60)
            if spy.returncode != 0:
                sys.exit(f"py-spy failed: {err.decode()}")
    print(
        f"{args.scenario} on {args.db}, --workers {args.workers}, {args.conns} conns: {result.rps:.0f} req/s"
        f" under py-spy (sampling slows it)"
    )
    print(summarize(raw, args.top, requests_only=args.idle))
    if args.raw is None:
        raw.unlink()


if __name__ == "__main__":
    main()
