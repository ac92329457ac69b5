"""Shared pieces of the benchmarks: servers, PostgreSQL schemas, RSS, wrk, sample files.

Everything here starts processes in their own session and stops them by that session's
process group id, so a benchmark never leaves a server behind, and it drops every
PostgreSQL schema it creates (also on Ctrl-C).
"""

from __future__ import annotations

import json
import os
import secrets
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

BENCH_DIR = Path(__file__).resolve().parent
# the repository's root: bench/ shares the tests' sample files, free_port and schema helpers
sys.path.insert(1, str(BENCH_DIR.parent))

from tests import pg, samples  # noqa: E402
from tests.s3 import free_port  # noqa: E402

LUA_DIR = BENCH_DIR / "lua"
PYTHON = sys.executable
KEY = "sk_test_bench_" + "a" * 16
PG_ADMIN_URL = os.environ.get("BENCH_PG_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test")
MB = 1_000_000


def _stop(signum: int, _frame: Any) -> None:
    raise SystemExit(128 + signum)  # unwinds, so servers stop and schemas are dropped


# A benchmark stopped with SIGTERM, or with Ctrl-C after being started in the background
# (where the shell ignores SIGINT for it), still cleans up after itself.
signal.signal(signal.SIGTERM, _stop)
signal.signal(signal.SIGINT, signal.default_int_handler)


# --- sample files: tests/samples.py's, so that the service sees what the tests send --------


def pdf(size: int) -> bytes:
    return samples.pdf_of_size(size)


def apk(size: int) -> bytes:
    return samples.apk(size)


def multipart(
    fields: dict[str, str], filename: str, content: bytes, mime: str
) -> tuple[bytes, str]:
    """A multipart/form-data body (fields, then the file part) and its boundary."""
    parts: list[tuple[str, bytes | str, str | None]] = [(k, v, None) for k, v in fields.items()]
    body, _ = samples.multipart(*parts, ("file", content, filename), file_type=mime)
    return body, samples.BOUNDARY


# --- processes ------------------------------------------------------------------------------


def _children() -> dict[int, list[int]]:
    tree: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as fp:
                stat = fp.read()
        except OSError:
            continue
        ppid = int(stat.rsplit(")", 1)[1].split()[1])
        tree.setdefault(ppid, []).append(int(entry))
    return tree


def descendants(pid: int) -> list[int]:
    tree = _children()
    found: list[int] = []
    todo = [pid]
    while todo:
        current = todo.pop()
        for child in tree.get(current, []):
            found.append(child)
            todo.append(child)
    return found


def cmdline(pid: int) -> str:
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as fp:
            return fp.read().replace(b"\x00", b" ").decode(errors="replace")
    except OSError:
        return ""


def status_kb(pid: int, field_name: str) -> int:
    try:
        with open(f"/proc/{pid}/status") as fp:
            for line in fp:
                if line.startswith(field_name + ":"):
                    return int(line.split()[1])
    except OSError:
        pass
    return 0


CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


def cpu_seconds(pid: int) -> float:
    """utime + stime of a process (its threads included), from /proc/PID/stat."""
    try:
        with open(f"/proc/{pid}/stat") as fp:
            fields = fp.read().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / CLOCK_TICKS


@dataclass
class Server:
    """A server process started in its own session; `workers()` are the uvicorn workers."""

    name: str
    port: int
    process: subprocess.Popen[bytes]
    log_path: Path
    worker_count: int
    _sampler: threading.Thread | None = field(default=None, repr=False)
    _sampling: threading.Event = field(default_factory=threading.Event, repr=False)
    _sampled_peak_kb: int = 0

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def workers(self) -> list[int]:
        """With --workers 1 uvicorn serves in the process itself; with more, in spawned
        children (the supervisor and multiprocessing's resource tracker serve nothing)."""
        if self.worker_count == 1:
            return [self.process.pid]
        return [
            pid for pid in descendants(self.process.pid) if "multiprocessing.spawn" in cmdline(pid)
        ]

    def cpu_seconds(self) -> dict[int, float]:
        """User + system CPU seconds so far, by worker pid."""
        return {pid: cpu_seconds(pid) for pid in self.workers()}

    def rss_kb(self) -> int:
        return sum(status_kb(pid, "VmRSS") for pid in self.workers())

    def hwm_kb(self) -> int:
        return sum(status_kb(pid, "VmHWM") for pid in self.workers())

    def reset_peak(self) -> None:
        """Reset VmHWM to the current RSS (Linux clear_refs 5); also sample VmRSS meanwhile,
        since the sum of per-process peaks can exceed the peak of the sum."""
        for pid in self.workers():
            try:
                with open(f"/proc/{pid}/clear_refs", "w") as fp:
                    fp.write("5")
            except OSError:
                pass
        self.stop_sampling()
        self._sampled_peak_kb = self.rss_kb()
        self._sampling.clear()
        self._sampler = threading.Thread(target=self._sample, daemon=True)
        self._sampler.start()

    def _sample(self) -> None:
        pids = self.workers()
        while not self._sampling.wait(0.05):
            total = sum(status_kb(pid, "VmRSS") for pid in pids)
            self._sampled_peak_kb = max(self._sampled_peak_kb, total)

    def stop_sampling(self) -> None:
        if self._sampler is not None:
            self._sampling.set()
            self._sampler.join()
            self._sampler = None

    def peak_kb(self) -> int:
        """Peak since reset_peak(): the sum of the workers' VmHWM (an upper bound)."""
        self.stop_sampling()
        return max(self.hwm_kb(), self._sampled_peak_kb)

    def stop(self) -> None:
        self.stop_sampling()
        if self.process.poll() is None:
            try:
                os.killpg(self.process.pid, signal.SIGTERM)
            except ProcessLookupError:
                pass
            try:
                self.process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait()
        # leftover children of the group (a worker that outlived the supervisor)
        try:
            os.killpg(self.process.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        self.log_path.unlink(missing_ok=True)


def _wait_ready(server: Server, path: str, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if server.process.poll() is not None:
            raise RuntimeError(
                f"{server.name} exited with {server.process.returncode}:\n"
                + server.log_path.read_text()[-3000:]
            )
        try:
            if httpx.get(server.base_url + path, timeout=2).status_code < 500:
                break
        except httpx.HTTPError:
            pass
        time.sleep(0.1)
    else:
        raise RuntimeError(f"{server.name} did not become ready in {timeout}s")
    # every worker up (with several, the first to answer is not necessarily the last)
    while server.worker_count > 1 and len(server.workers()) < server.worker_count:
        if time.monotonic() > deadline:
            raise RuntimeError(f"{server.name}: workers did not all start")
        time.sleep(0.1)
    time.sleep(0.5 if server.worker_count > 1 else 0.1)


def start_process(
    name: str, argv: list[str], env: dict[str, str], workers: int, port: int, ready_path: str
) -> Server:
    log = Path(tempfile.mkstemp(prefix=f"bench-{name}-", suffix=".log")[1])
    with open(log, "wb") as out:
        process = subprocess.Popen(
            argv,
            env={**os.environ, **env},
            stdout=out,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
        )
    server = Server(name=name, port=port, process=process, log_path=log, worker_count=workers)
    try:
        _wait_ready(server, ready_path)
    except BaseException:
        tail = log.read_text(errors="replace")[-3000:]
        server.stop()
        print(f"{name} log (last lines):\n{tail}", file=sys.stderr)
        raise
    return server


def source_env(src: Path | None) -> dict[str, str]:
    """The environment that makes `python -m filelinks_api` import the checkout at `src`
    (its `src/` first on PYTHONPATH, ahead of the editable install); {} for the installed one."""
    if src is None:
        return {}
    paths = [str(Path(src).resolve() / "src")]
    if os.environ.get("PYTHONPATH"):
        paths.append(os.environ["PYTHONPATH"])
    return {"PYTHONPATH": os.pathsep.join(paths)}


def service_package(src: Path | None) -> Path:
    """Where the service's package is imported from with source_env(src); raises if `src`
    is given and the import does not resolve inside it."""
    completed = subprocess.run(
        [PYTHON, "-c", "import filelinks_api; print(filelinks_api.__file__)"],
        env={**os.environ, **source_env(src)},
        capture_output=True,
        text=True,
        check=True,
    )  # from this cwd, as the service is started (`-m` puts the cwd first on sys.path)
    package = Path(completed.stdout.strip()).resolve().parent
    if src is not None and not package.is_relative_to(Path(src).resolve() / "src"):
        raise RuntimeError(f"filelinks_api imports from {package}, not from {src}/src")
    return package


def start_service(
    data_dir: Path,
    database_url: str | None,
    workers: int,
    src: Path | None = None,
    settings: dict[str, str] | None = None,
) -> Server:
    """`python -m filelinks_api serve`; with `src`, the service of the checkout at `src`;
    `settings`: extra FILELINKS_* variables."""
    port = free_port()
    env = {"FILELINKS_DATA_DIR": str(data_dir), **source_env(src), **(settings or {})}
    if database_url:
        env["FILELINKS_DATABASE_URL"] = database_url
    argv = [PYTHON, "-m", "filelinks_api", "serve", "--port", str(port)]
    argv += ["--workers", str(workers), "--log-level", "warning"]
    return start_process("service", argv, env, workers, port, "/healthz")


def start_floor(workers: int, kind: str = "dict") -> Server:
    port = free_port()
    argv = [PYTHON, str(BENCH_DIR / "floor_app.py"), "--port", str(port)]
    argv += ["--workers", str(workers), "--kind", kind]
    return start_process("floor", argv, {}, workers, port, "/v1/file_links/link_ready")


def start_pg_floor(workers: int, database_url: str, pool: int = 8) -> Server:
    """The PostgreSQL floor (floor_app.py --kind postgres) on the service's PostgreSQL URL
    (so the same schema)."""
    port = free_port()
    argv = [PYTHON, str(BENCH_DIR / "floor_app.py"), "--port", str(port), "--kind", "postgres"]
    argv += ["--workers", str(workers), "--url", database_url, "--pool", str(pool)]
    return start_process("pg-floor", argv, {}, workers, port, "/v1/file_links/link_ready")


@contextmanager
def s3_store() -> Iterator[dict[str, str]]:
    """moto's S3 server (pip install 'moto[server]', in the test extra) on a free port, and the
    settings of a service storing its contents there (a bucket of its own)."""
    port = free_port()
    credentials = {
        "AWS_ACCESS_KEY_ID": "bench",
        "AWS_SECRET_ACCESS_KEY": "bench",
        "AWS_REGION": "us-east-1",
    }
    process = subprocess.Popen(
        [PYTHON, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)],
        env={**os.environ, **credentials},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                httpx.get(f"http://127.0.0.1:{port}/moto-api/", timeout=1)
                break
            except httpx.HTTPError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.1)
        yield {
            **credentials,
            "AWS_ENDPOINT_URL": f"http://127.0.0.1:{port}",
            "FILELINKS_STORAGE_URL": f"s3://bench-{secrets.token_hex(4)}/filelinks",
        }
    finally:
        os.killpg(process.pid, signal.SIGTERM)
        process.wait()


@contextmanager
def running(server: Server) -> Iterator[Server]:
    try:
        yield server
    finally:
        server.stop()


# --- databases ------------------------------------------------------------------------------


def new_postgres_schema(prefix: str = "bench") -> tuple[str, str]:
    """A fresh schema (tests/pg.py, as the tests make theirs): its name, and the service URL
    confined to it by search_path."""
    schema = f"{prefix}_{secrets.token_hex(4)}"
    pg.create_schema(PG_ADMIN_URL, schema)
    return schema, pg.schema_url(PG_ADMIN_URL, schema)


@contextmanager
def postgres_schema(prefix: str = "bench") -> Iterator[str]:
    """A fresh schema; yields the service URL confined to it; drops it after."""
    schema, url = new_postgres_schema(prefix)
    try:
        yield url
    finally:
        pg.drop_schema(PG_ADMIN_URL, schema)


@contextmanager
def temp_dir(prefix: str) -> Iterator[Path]:
    path = Path(tempfile.mkdtemp(prefix=prefix))
    try:
        yield path
    finally:
        shutil.rmtree(path, ignore_errors=True)


@contextmanager
def database(db: str, data_dir: Path) -> Iterator[str | None]:
    """None for SQLite in the data dir (the service's default), a URL for PostgreSQL."""
    if db == "sqlite":
        yield None
    elif db == "postgres":
        with postgres_schema() as url:
            yield url
    else:
        raise ValueError(f"unknown database {db!r}")


# --- wrk ------------------------------------------------------------------------------------


@dataclass
class WrkResult:
    requests: int
    seconds: float
    rps: float
    p50_ms: float
    p99_ms: float
    errors: int
    non_2xx: int
    raw: dict[str, Any]


def wrk(
    base_url: str,
    scenario: str,
    *,
    connections: int,
    duration: float,
    env: dict[str, str] | None = None,
    threads: int = 1,
    timeout: str = "30s",
) -> WrkResult:
    """Run wrk with lua/common.lua + lua/<scenario>.lua; the done() hook prints JSON."""
    script = (LUA_DIR / "common.lua").read_text() + "\n" + (LUA_DIR / f"{scenario}.lua").read_text()
    with tempfile.NamedTemporaryFile("w", suffix=".lua", prefix="bench-") as fp:
        fp.write(script)
        fp.flush()
        argv = ["wrk", "-t", str(min(threads, connections)), "-c", str(connections)]
        argv += ["-d", f"{max(1, round(duration))}s", "--timeout", timeout, "--latency"]
        argv += ["-s", fp.name, base_url]
        completed = subprocess.run(
            argv,
            env={**os.environ, **(env or {})},
            capture_output=True,
            text=True,
            timeout=duration + 120,
        )
    line = next((ln for ln in completed.stdout.splitlines() if ln.startswith("BENCHJSON ")), None)
    if completed.returncode != 0 or line is None:
        raise RuntimeError(
            f"wrk failed ({completed.returncode}):\n{completed.stdout}\n{completed.stderr}"
        )
    raw = json.loads(line.removeprefix("BENCHJSON "))
    seconds = raw["duration_us"] / 1e6
    errors = raw["connect"] + raw["read"] + raw["write"] + raw["timeout"]
    return WrkResult(
        requests=raw["requests"],
        seconds=seconds,
        rps=raw["requests"] / seconds if seconds else 0.0,
        p50_ms=raw["p50_us"] / 1000,
        p99_ms=raw["p99_us"] / 1000,
        errors=errors,
        non_2xx=raw["status"],
        raw=raw,
    )


# --- seeding through the HTTP API -----------------------------------------------------------


def client(base_url: str, key: str = KEY) -> httpx.Client:
    return httpx.Client(base_url=base_url, headers={"Authorization": f"Bearer {key}"}, timeout=120)


def upload(http: httpx.Client, purpose: str, filename: str, content: bytes) -> dict[str, Any]:
    body, boundary = multipart({"purpose": purpose}, filename, content, "application/octet-stream")
    response = http.post(
        "/v1/files",
        content=body,
        headers={"Content-Type": f"multipart/form-data; boundary={boundary}"},
    )
    response.raise_for_status()
    return dict(response.json())


def create_link(http: httpx.Client, file_id: str, **extra: str) -> dict[str, Any]:
    response = http.post("/v1/file_links", data={"file": file_id, **extra})
    response.raise_for_status()
    return dict(response.json())


def machine() -> dict[str, str]:
    model = "?"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return {
        "nproc": str(os.cpu_count()),
        "cpu": model,
        "python": sys.version.split()[0],
        "load": " ".join(f"{x:.2f}" for x in os.getloadavg()),
    }
