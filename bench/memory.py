"""Server memory: peak RSS during a 30 MB upload and its download, and RSS before and after
100,000 mixed requests.

    python bench/memory.py [--db sqlite|postgres] [--storage local|s3] [--workers 1]
                           [--size-mb 30] [--requests 100000]

RSS is the sum over the uvicorn worker processes (VmRSS; peaks from VmHWM after clear_refs,
and from sampling VmRSS every 50 ms). The upload is a real APK (a zip holding
AndroidManifest.xml, padded with a stored random entry) with purpose terminal_android_apk, so
it can be linked and downloaded through its public URL; both transfers stream through httpx.
The mixed load is wrk (lua/mixed.lua): retrieve, list limit=100, create, update, and a 10 kB
public download, round robin, in chunks until --requests have been answered.
`--storage s3` stores the contents in moto's S3 server (FILELINKS_STORAGE_URL=s3://...),
started on a free port for the run.
"""

from __future__ import annotations

import argparse
import contextlib
import hashlib
import sys
import time

import common
from run import seed

MIB = 1024 * 1024


def log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--db", choices=["sqlite", "postgres"], default="sqlite")
    parser.add_argument("--storage", choices=["local", "s3"], default="local")
    parser.add_argument("--workers", type=int, default=1)
    parser.add_argument("--size-mb", type=float, default=30)
    parser.add_argument("--requests", type=int, default=100_000)
    parser.add_argument("--conns", type=int, default=16)
    parser.add_argument("--chunk", type=float, default=5, help="seconds per wrk chunk")
    args = parser.parse_args()
    size = int(args.size_mb * common.MB)
    apk = common.apk(size)
    digest = hashlib.sha256(apk).hexdigest()
    lines = []

    with (
        common.temp_dir("bench-memory-") as data_dir,
        common.database(args.db, data_dir) as url,
        contextlib.ExitStack() as stack,
    ):
        store = stack.enter_context(common.s3_store()) if args.storage == "s3" else {}
        service = common.start_service(data_dir, url, args.workers, settings=store)
        with common.running(service) as server:
            env = seed(server.base_url, data_dir)
            with common.client(server.base_url) as http:
                small = common.upload(
                    http, "tax_document_user_upload", "small.pdf", common.pdf(10_000)
                )
                env["BENCH_TOKEN"] = common.create_link(http, small["id"])["url"].rsplit("/", 1)[1]
                # warm every code path once (imports, statement caches, pool connections)
                common.wrk(server.base_url, "mixed", connections=args.conns, duration=3, env=env)
                small_apk = common.upload(
                    http, "terminal_android_apk", "warm.apk", common.apk(100_000)
                )
                link = common.create_link(http, small_apk["id"])
                http.get(link["url"].removeprefix(server.base_url)).raise_for_status()
                time.sleep(1)

                baseline = server.rss_kb()
                server.reset_peak()
                body, boundary = common.multipart(
                    {"purpose": "terminal_android_apk"}, "big.apk", apk, "application/octet-stream"
                )
                started = time.perf_counter()
                response = http.post(
                    "/v1/files",
                    content=body,
                    headers={"Content-Type": f"multipart/form-data; boundary={boundary}"},
                )
                upload_seconds = time.perf_counter() - started
                response.raise_for_status()
                uploaded = response.json()
                assert uploaded["size"] == len(apk), uploaded
                upload_peak = server.peak_kb()
                del body

                link = common.create_link(http, uploaded["id"])
                time.sleep(0.5)
                before_download = server.rss_kb()
                server.reset_peak()
                hasher = hashlib.sha256()
                started = time.perf_counter()
                with http.stream("GET", link["url"].removeprefix(server.base_url)) as download:
                    download.raise_for_status()
                    for chunk in download.iter_bytes():
                        hasher.update(chunk)
                download_seconds = time.perf_counter() - started
                assert hasher.hexdigest() == digest, "downloaded bytes differ"
                download_peak = server.peak_kb()

            lines += [
                f"| {args.size_mb:g} MB upload ({upload_seconds:.2f} s) | {baseline / 1024:.1f}"
                f" | {upload_peak / 1024:.1f} | {(upload_peak - baseline) / 1024:+.1f} |",
                f"| {args.size_mb:g} MB download ({download_seconds:.2f} s) |"
                f" {before_download / 1024:.1f} | {download_peak / 1024:.1f} |"
                f" {(download_peak - before_download) / 1024:+.1f} |",
            ]

            # 100k mixed requests, RSS after every chunk
            common.wrk(server.base_url, "mixed", connections=args.conns, duration=5, env=env)
            before = server.rss_kb()
            samples = [(0, before)]
            total = non_2xx = errors = 0
            started = time.perf_counter()
            while total < args.requests:
                result = common.wrk(
                    server.base_url, "mixed", connections=args.conns, duration=args.chunk, env=env
                )
                total += result.requests
                non_2xx += result.non_2xx
                errors += result.errors
                samples.append((total, server.rss_kb()))
                log(f"  {total:,} requests, RSS {samples[-1][1] / 1024:.1f} MB")
            elapsed = time.perf_counter() - started
            after = server.rss_kb()

    info = common.machine()
    print(
        f"filelinks-api memory bench: {args.db}, {args.storage} storage, --workers {args.workers}; nproc {info['nproc']},"
        f" {info['cpu']}, Python {info['python']}\n"
    )
    print("| transfer | RSS before MB | peak RSS MB | added MB |")
    print("| --- | --- | --- | --- |")
    print("\n".join(lines))
    trend = ", ".join(f"{n // 1000}k: {kb / 1024:.1f}" for n, kb in samples)
    print(
        f"\n{total:,} mixed requests in {elapsed:.0f} s ({total / elapsed:,.0f} req/s,"
        f" {non_2xx} non-2xx, {errors} socket errors, {args.conns} conns):"
        f" RSS {before / 1024:.1f} MB before, {after / 1024:.1f} MB after"
        f" ({(after - before) / 1024:+.1f} MB)\nRSS (MB) after each chunk: {trend}"
    )


if __name__ == "__main__":
    main()
