"""Which S3 client for the S3 storage backend: boto3 in a thread, aiobotocore, obstore.

    pip install aiobotocore   # boto3 and obstore are dependencies, moto[server] is in [test]
    python bench/s3_clients.py [--rounds 3] [--small 300]

Each client runs in a process of its own (so imports and peaks do not mix), inside an
asyncio loop the way the service would use it, against one moto server on a free port:

- import: seconds, and RSS after the import (MB);
- put/get of a 1 MB object (one PutObject; the GET streamed in 1 MiB reads);
- put/get of a 30 MB object (put: multipart upload of 8 MiB parts from a file on disk, two
  at a time; get: streamed), and the RSS the 30 MB put and get add to the peak (VmHWM after
  clear_refs);
- a small GET (1 kB, ranged GetObject + read): median and p90 latency over --small requests,
  one at a time; and 16 at once (the event loop must not be held by any of them).

moto is a Python server, so the absolute figures are moto's as much as the client's: read
the differences between clients, same run.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import secrets
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import common
import httpx

MB = 1_000_000
MIB = 1024 * 1024
PART = 8 * MIB
CLIENTS = ("boto3-thread", "aiobotocore", "obstore")


def _rss_kb(field: str = "VmRSS") -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    return 0


def _reset_peak() -> None:
    Path("/proc/self/clear_refs").write_text("5")


# --- the three clients, one interface ----------------------------------------------------------


class Client:
    async def put_small(self, key: str, data: bytes) -> None: ...
    async def put_file(self, key: str, path: Path) -> None: ...
    def get(self, key: str, start: int = 0, end: int | None = None) -> AsyncIterator[bytes]: ...
    async def close(self) -> None: ...


def _range(start: int, end: int | None) -> str:
    return f"bytes={start}-{'' if end is None else end - 1}"


class Boto3Thread(Client):
    def __init__(self, endpoint: str, bucket: str) -> None:
        import boto3
        from boto3.s3.transfer import TransferConfig
        from botocore.config import Config

        self.bucket = bucket
        self.s3 = boto3.client(
            "s3", endpoint_url=endpoint, config=Config(s3={"addressing_style": "path"})
        )
        self.transfer = TransferConfig(
            multipart_threshold=PART, multipart_chunksize=PART, max_concurrency=2
        )

    async def put_small(self, key: str, data: bytes) -> None:
        await asyncio.to_thread(self.s3.put_object, Bucket=self.bucket, Key=key, Body=data)

    async def put_file(self, key: str, path: Path) -> None:
        await asyncio.to_thread(
            self.s3.upload_file, str(path), self.bucket, key, Config=self.transfer
        )

    async def get(self, key: str, start: int = 0, end: int | None = None) -> AsyncIterator[bytes]:
        got = await asyncio.to_thread(
            self.s3.get_object, Bucket=self.bucket, Key=key, Range=_range(start, end)
        )
        body = got["Body"]
        while chunk := await asyncio.to_thread(body.read, MIB):
            yield chunk
        body.close()

    async def close(self) -> None:
        self.s3.close()


class Aiobotocore(Client):
    def __init__(self, endpoint: str, bucket: str) -> None:
        self.endpoint, self.bucket = endpoint, bucket

    async def start(self) -> None:
        from aiobotocore.config import AioConfig
        from aiobotocore.session import get_session

        self._cm = get_session().create_client(
            "s3", endpoint_url=self.endpoint, config=AioConfig(s3={"addressing_style": "path"})
        )
        self.s3 = await self._cm.__aenter__()

    async def put_small(self, key: str, data: bytes) -> None:
        await self.s3.put_object(Bucket=self.bucket, Key=key, Body=data)

    async def put_file(self, key: str, path: Path) -> None:
        upload = await self.s3.create_multipart_upload(Bucket=self.bucket, Key=key)
        upload_id = upload["UploadId"]
        parts: list[dict[str, Any]] = []
        with open(path, "rb") as fp:
            pending: list[Awaitable[Any]] = []
            number = 0
            while chunk := fp.read(PART):
                number += 1
                pending.append(self._part(key, upload_id, number, chunk, parts))
                if len(pending) == 2:
                    await asyncio.gather(*pending)
                    pending = []
            await asyncio.gather(*pending)
        parts.sort(key=lambda part: part["PartNumber"])
        await self.s3.complete_multipart_upload(
            Bucket=self.bucket, Key=key, UploadId=upload_id, MultipartUpload={"Parts": parts}
        )

    async def _part(self, key: str, upload_id: str, number: int, chunk: bytes, parts: list) -> None:
        got = await self.s3.upload_part(
            Bucket=self.bucket, Key=key, UploadId=upload_id, PartNumber=number, Body=chunk
        )
        parts.append({"PartNumber": number, "ETag": got["ETag"]})

    async def get(self, key: str, start: int = 0, end: int | None = None) -> AsyncIterator[bytes]:
        got = await self.s3.get_object(Bucket=self.bucket, Key=key, Range=_range(start, end))
        async with got["Body"] as body:
            while chunk := await body.read(MIB):
                yield chunk

    async def close(self) -> None:
        await self._cm.__aexit__(None, None, None)


class Obstore(Client):
    def __init__(self, endpoint: str, bucket: str) -> None:
        import obstore
        from obstore.store import S3Store

        self.obs = obstore
        self.store = S3Store(
            bucket,
            endpoint=endpoint,
            virtual_hosted_style_request=False,
            client_options={"allow_http": True},
        )

    async def put_small(self, key: str, data: bytes) -> None:
        await self.obs.put_async(self.store, key, data)

    async def put_file(self, key: str, path: Path) -> None:
        await self.obs.put_async(self.store, key, path, chunk_size=PART, max_concurrency=2)

    async def get(self, key: str, start: int = 0, end: int | None = None) -> AsyncIterator[bytes]:
        options: dict[str, Any] = {"range": (start, end) if end is not None else {"offset": start}}
        got = await self.obs.get_async(self.store, key, options=options)
        async for chunk in got.stream(min_chunk_size=MIB):
            yield bytes(chunk)

    async def close(self) -> None:
        pass


# --- one client's run (a child process) ----------------------------------------------------------


async def _timed(work: Callable[[], Awaitable[Any]], rounds: int) -> float:
    best = float("inf")
    for _ in range(rounds):
        started = time.perf_counter()
        await work()
        best = min(best, time.perf_counter() - started)
    return best


async def _drain(chunks: AsyncIterator[bytes]) -> int:
    total = 0
    async for chunk in chunks:
        total += len(chunk)
    return total


async def child(name: str, endpoint: str, bucket: str, rounds: int, small: int) -> dict[str, Any]:
    rss0 = _rss_kb()
    started = time.perf_counter()
    client: Client
    if name == "boto3-thread":
        client = Boto3Thread(endpoint, bucket)
    elif name == "aiobotocore":
        client = Aiobotocore(endpoint, bucket)
        await client.start()
    else:
        client = Obstore(endpoint, bucket)
    out: dict[str, Any] = {"client": name, "import_s": time.perf_counter() - started}
    prefix = f"{name}/{secrets.token_hex(4)}"
    one_mb = os.urandom(MB)
    with tempfile.NamedTemporaryFile() as big:
        big.write(os.urandom(30 * MB))
        big.flush()
        await client.put_small(f"{prefix}/warm", b"x" * 1000)
        await _drain(client.get(f"{prefix}/warm"))
        out["import_rss_mb"] = (_rss_kb() - rss0) / 1024
        out["put_1mb_s"] = await _timed(lambda: client.put_small(f"{prefix}/1mb", one_mb), rounds)
        out["get_1mb_s"] = await _timed(lambda: _drain(client.get(f"{prefix}/1mb")), rounds)
        await client.put_file(f"{prefix}/30mb", Path(big.name))  # warm the multipart path
        base = _rss_kb()
        _reset_peak()
        out["put_30mb_s"] = await _timed(
            lambda: client.put_file(f"{prefix}/30mb", Path(big.name)), rounds
        )
        out["put_30mb_peak_mb"] = (_rss_kb("VmHWM") - base) / 1024
        base = _rss_kb()
        _reset_peak()
        size = 0

        async def get_big() -> None:
            nonlocal size
            size = await _drain(client.get(f"{prefix}/30mb"))

        out["get_30mb_s"] = await _timed(get_big, rounds)
        out["get_30mb_peak_mb"] = (_rss_kb("VmHWM") - base) / 1024
        assert size == 30 * MB, size
    await client.put_small(f"{prefix}/small", b"s" * 1000)
    latencies = []
    for _ in range(small):
        started = time.perf_counter()
        await _drain(client.get(f"{prefix}/small", 0, 1000))
        latencies.append(time.perf_counter() - started)
    latencies.sort()
    out["small_get_p50_ms"] = statistics.median(latencies) * 1000
    out["small_get_p90_ms"] = latencies[int(len(latencies) * 0.9)] * 1000
    started = time.perf_counter()
    for _ in range(max(1, small // 16)):
        await asyncio.gather(*(_drain(client.get(f"{prefix}/small", 0, 1000)) for _ in range(16)))
    out["small_get_16_at_once_per_s"] = max(1, small // 16) * 16 / (time.perf_counter() - started)
    await client.close()
    return out


# --- the parent: moto, then each client in turn --------------------------------------------------


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--small", type=int, default=300)
    parser.add_argument("--clients", default=",".join(CLIENTS))
    parser.add_argument("--child", help=argparse.SUPPRESS)
    parser.add_argument("--endpoint", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        result = asyncio.run(child(args.child, args.endpoint, "bench", args.rounds, args.small))
        print(json.dumps(result), flush=True)
        # Skip interpreter teardown: with its output on a pipe, a child that had imported the
        # clients died with SIGABRT there after printing (seen with obstore and boto3).
        os._exit(0)

    unknown = set(args.clients.split(",")) - set(CLIENTS)
    if unknown:  # the child would measure obstore under another name
        parser.error(f"unknown clients: {', '.join(sorted(unknown))}; known: {', '.join(CLIENTS)}")
    with common.s3_store() as store:
        endpoint = store["AWS_ENDPOINT_URL"]
        env = {**os.environ, **store, "AWS_DEFAULT_REGION": store["AWS_REGION"]}
        httpx.put(f"{endpoint}/bench", timeout=5)  # create the bucket (moto takes anonymous)
        results = []
        for name in args.clients.split(","):
            got = subprocess.run(
                [
                    sys.executable,
                    __file__,
                    "--child",
                    name,
                    "--endpoint",
                    endpoint,
                    "--rounds",
                    str(args.rounds),
                    "--small",
                    str(args.small),
                ],
                env=env,
                check=True,
                capture_output=True,
                text=True,
            )
            results.append(json.loads(got.stdout.strip().splitlines()[-1]))

    print(
        f"S3 clients against moto (best of {args.rounds}; small GETs: {args.small});"
        f" nproc {os.cpu_count()}, Python {sys.version.split()[0]}\n"
    )
    columns = [
        ("import s", "import_s", "{:.2f}"),
        ("RSS after import MB", "import_rss_mb", "{:.1f}"),
        ("put 1 MB ms", "put_1mb_s", "ms"),
        ("get 1 MB ms", "get_1mb_s", "ms"),
        ("put 30 MB ms", "put_30mb_s", "ms"),
        ("get 30 MB ms", "get_30mb_s", "ms"),
        ("put 30 MB adds MB", "put_30mb_peak_mb", "{:+.1f}"),
        ("get 30 MB adds MB", "get_30mb_peak_mb", "{:+.1f}"),
        ("small GET p50 ms", "small_get_p50_ms", "{:.2f}"),
        ("small GET p90 ms", "small_get_p90_ms", "{:.2f}"),
        ("small GETs/s, 16 at once", "small_get_16_at_once_per_s", "{:.0f}"),
    ]
    print("| measure | " + " | ".join(r["client"] for r in results) + " |")
    print("| --- |" + " --- |" * len(results))
    for label, key, form in columns:
        cells = [f"{r[key] * 1000:.0f}" if form == "ms" else form.format(r[key]) for r in results]
        print(f"| {label} | " + " | ".join(cells) + " |")


if __name__ == "__main__":
    main()
