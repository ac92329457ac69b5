"""A real S3 HTTP server for the tests: moto's server mode, one per test session, on a free
port, started as a subprocess (`python -m moto.server`), stopped at the end."""

from __future__ import annotations

import os
import secrets
import socket
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import httpx

# moto accepts any credentials (unless started in its auth mode): these just have to exist.
CREDENTIALS = {
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "AWS_REGION": "us-east-1",
}


def stop_process(process: subprocess.Popen[bytes]) -> None:
    """SIGTERM, then SIGKILL if it has not ended within 10 s."""
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@dataclass
class Moto:
    endpoint: str
    process: subprocess.Popen[bytes]

    def env(self, bucket: str, prefix: str = "filelinks") -> dict[str, str]:
        """The environment of a `serve` storing its contents in `bucket` on this server."""
        return {
            **CREDENTIALS,
            "AWS_ENDPOINT_URL": self.endpoint,
            "FILELINKS_STORAGE_URL": f"s3://{bucket}/{prefix}",
        }

    def stop(self) -> None:
        stop_process(self.process)


def start_moto(log: Path, extra_env: dict[str, str] | None = None) -> Moto:
    port = free_port()
    env = {**os.environ, **CREDENTIALS, **(extra_env or {})}
    with open(log, "wb") as out:
        process = subprocess.Popen(
            [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)],
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    moto = Moto(f"http://127.0.0.1:{port}", process)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"moto exited with {process.returncode}:\n{log.read_text()}")
        try:
            httpx.get(f"{moto.endpoint}/moto-api/", timeout=1)
            return moto
        except httpx.HTTPError:
            time.sleep(0.1)
    moto.stop()
    raise RuntimeError(f"moto did not start:\n{log.read_text()}")


def new_bucket() -> str:
    return f"filelinks-test-{secrets.token_hex(6)}"


def boto3_client(moto: Moto):  # type: ignore[no-untyped-def]
    import boto3

    return boto3.client(
        "s3",
        endpoint_url=moto.endpoint,
        region_name="us-east-1",
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
    )
