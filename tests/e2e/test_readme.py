"""The README's Python examples run as written, against a live server, with every warning an
error (an unclosed file or client fails them), so that they cannot rot.

Consecutive blocks are read as the README presents them: a block without `def test_` is a
script (a block that does not start with an import continues the script before it), run
against the test server (the examples' `http://localhost:12111` becomes its URL). Each block
with tests is a test module of its own, as a reader would copy it, run under pytest with the
package's plugin and no server started by hand (FILELINKS_URL unset).
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from tests import samples
from tests.e2e.conftest import Server

README = Path(__file__).resolve().parents[2] / "README.md"
EXAMPLE_URL = "http://localhost:12111"


def python_blocks() -> list[str]:
    return re.findall(r"^```python\n(.*?)^```", README.read_text(), flags=re.M | re.S)


def programs() -> tuple[list[str], list[str]]:
    """(the scripts, the test modules)."""
    scripts: list[str] = []
    tests: list[str] = []
    for block in python_blocks():
        if re.search(r"^def test_", block, flags=re.M):
            tests.append(block)
        elif block.startswith(("import ", "from ")) or not scripts:
            scripts.append(block)
        else:
            scripts[-1] += "\n" + block
    return scripts, tests


def test_the_readme_has_the_examples_this_test_runs():
    scripts, tests = programs()
    assert len(scripts) >= 2
    assert len(tests) >= 3


@pytest.fixture
def workdir(tmp_path: Path) -> Path:
    """A directory with the examples' evidence.pdf and an empty pytest configuration."""
    (tmp_path / "evidence.pdf").write_bytes(samples.pdf())
    # pytest-asyncio (in the test extra) warns when this is unset, and warnings are errors here
    (tmp_path / "pytest.ini").write_text(
        "[pytest]\nasyncio_default_fixture_loop_scope = function\n"
    )
    return tmp_path


def run(command: list[str], cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(command, cwd=cwd, capture_output=True, text=True, timeout=120)


@pytest.mark.parametrize("index", range(len(programs()[0])))
def test_a_readme_script_runs_with_warnings_as_errors(server: Server, workdir: Path, index: int):
    script = programs()[0][index].replace(EXAMPLE_URL, server.url)
    (workdir / "example.py").write_text(script)
    done = run([sys.executable, "-W", "error", "-X", "dev", "example.py"], workdir)
    assert done.returncode == 0, done.stdout + done.stderr
    assert done.stderr == "", done.stderr  # not even an ignored warning


def test_the_readme_tests_pass_each_in_its_own_file_with_warnings_as_errors(workdir: Path):
    modules = programs()[1]
    for index, module in enumerate(modules):
        (workdir / f"test_readme_example_{index}.py").write_text(module)
    env = {k: v for k, v in os.environ.items() if k != "FILELINKS_URL"}
    done = subprocess.run(
        [
            sys.executable,
            "-X",
            "dev",
            "-m",
            "pytest",
            "-W",
            "error",
            "-p",
            "no:cacheprovider",
            "-q",
        ],
        cwd=workdir,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert f"{len(modules)} passed" in done.stdout, done.stdout
    assert "warning" not in done.stdout.lower(), done.stdout
