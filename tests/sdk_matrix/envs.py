"""The SDK versions of the matrix, each installed alone, once, in a cache kept between runs.

stripe-python: a virtualenv per version, built with this interpreter; stripe-node: a
`node_modules` per version. They live under `$FILELINKS_SDK_CACHE`, else
`$XDG_CACHE_HOME/filelinks-sdk-matrix`, else `~/.cache/filelinks-sdk-matrix`, keyed by the
version (and the Python minor version), so a second run installs nothing. A build happens
under a lock and is marked complete at its end: an interrupted one is built again.
Installing needs PyPI and the npm registry; without them the tests fail, saying so.

`python -m tests.sdk_matrix.envs` builds them all ahead of the tests (`.ci/run` does).
"""

from __future__ import annotations

import fcntl
import json
import os
import re
import shutil
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class PythonSdk:
    version: str
    apis: tuple[str, ...]  # the ways of calling it this version has
    extras: tuple[str, ...] = ()  # installed beside it (httpx: the async HTTP client)


# The oldest: 4.2.1, the oldest major Stripe still maintains (every major from 4 to 16 got a
# release in 2026-10; 2.x and 3.x none), has `upload_api_base`, runs on Python 3.11 and sends
# no Stripe-Version (the account's default). The middle: 10.12.1, StripeClient and async
# (both since 8.x), pinning 2024-06-20, the last version without a codename. The newest.
PYTHON_SDKS = (
    PythonSdk("4.2.1", ("module",)),
    PythonSdk("10.12.1", ("module", "client", "module_async", "client_async"), ("httpx",)),
    PythonSdk("16.1.0", ("module", "client", "module_async", "client_async"), ("httpx",)),
)

# The newest two majors. From 22 on, `files.create` follows the constructor's `host`.
NODE_SDKS = ("22.6.2", "23.1.0")
NODE_MIN_MAJOR = 20  # stripe 23 needs node >= 20

INSTALL_TIMEOUT = 600


def cache_dir() -> Path:
    configured = os.environ.get("FILELINKS_SDK_CACHE")
    if configured:
        return Path(configured)
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "filelinks-sdk-matrix"


class SdkInstallError(RuntimeError):
    pass


def _run(command: list[str], cwd: Path | None = None) -> None:
    try:
        done = subprocess.run(
            command, cwd=cwd, capture_output=True, text=True, timeout=INSTALL_TIMEOUT
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise SdkInstallError(f"{' '.join(command)}: {exc}") from exc
    if done.returncode != 0:
        raise SdkInstallError(
            f"{' '.join(command)} exited with {done.returncode}:\n{done.stdout}\n{done.stderr}"
        )


@contextmanager
def _building(target: Path) -> Iterator[bool]:
    """Yields whether `target` must be built (under a lock; a half-built one is removed)."""
    target.parent.mkdir(parents=True, exist_ok=True)
    marker = target / ".complete"
    with open(target.parent / f"{target.name}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if marker.exists():
            yield False
            return
        shutil.rmtree(target, ignore_errors=True)
        yield True
        marker.write_text("ok\n")


def python_env(sdk: PythonSdk) -> Path:
    """The interpreter of the virtualenv holding `stripe==<version>` and nothing else of ours."""
    minor = f"{sys.version_info.major}.{sys.version_info.minor}"
    target = cache_dir() / f"python{minor}-stripe-{sdk.version}"
    python = target / "bin" / "python"
    with _building(target) as build:
        if not build and not python.resolve().exists():  # its base interpreter went away
            raise SdkInstallError(f"{target} is broken: remove it and run again")
        if build:
            _run([sys.executable, "-m", "venv", str(target)])
            _run(
                [
                    str(python),
                    "-m",
                    "pip",
                    "install",
                    "--quiet",
                    "--disable-pip-version-check",
                    f"stripe=={sdk.version}",
                    *sdk.extras,
                ]
            )
    return python


def node_binary() -> str:
    """`node`, at least NODE_MIN_MAJOR (`$FILELINKS_NODE`, else the PATH's)."""
    node = os.environ.get("FILELINKS_NODE") or shutil.which("node")
    if node is None:
        raise SdkInstallError(
            f"node (>= {NODE_MIN_MAJOR}) is not installed: the stripe-node tests need it"
            " (.ci/run installs it)"
        )
    version = subprocess.run([node, "--version"], capture_output=True, text=True).stdout
    match = re.match(r"v(\d+)\.", version)
    if match is None or int(match.group(1)) < NODE_MIN_MAJOR:
        raise SdkInstallError(f"{node} is {version.strip()}: need node >= {NODE_MIN_MAJOR}")
    return node


def npm_binary(node: str) -> str:
    npm = shutil.which("npm", path=str(Path(node).parent)) or shutil.which("npm")
    if npm is None:
        raise SdkInstallError("npm is not installed: the stripe-node tests need it")
    return npm


def node_env(version: str) -> Path:
    """A directory whose `node_modules` holds `stripe@<version>` and nothing else."""
    node = node_binary()
    target = cache_dir() / f"node-stripe-{version}"
    with _building(target) as build:
        if build:
            target.mkdir(parents=True)
            (target / "package.json").write_text(json.dumps({"private": True}))
            _run(
                [
                    npm_binary(node),
                    "install",
                    "--no-audit",
                    "--no-fund",
                    "--no-package-lock",
                    "--loglevel=error",
                    f"stripe@{version}",
                ],
                cwd=target,
            )
    return target


def main() -> None:
    for sdk in PYTHON_SDKS:
        print(f"stripe-python {sdk.version}: {python_env(sdk)}")
    for version in NODE_SDKS:
        print(f"stripe-node {version}: {node_env(version)}")


if __name__ == "__main__":
    main()
