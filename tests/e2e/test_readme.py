"""The README's Python examples run as written, against a live server, with every warning an
error (an unclosed file or client fails them), so that they cannot rot.

Consecutive blocks are read as the README presents them: a block without `def test_` is a
script (a block that does not start with an import continues the script before it); blocks
with tests form one test module (a later one may use a fixture of an earlier one) and run
under pytest. The examples' `http://localhost:12111` becomes the test server's URL.
"""

from __future__ import annotations

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


def programs() -> tuple[list[str], str]:
    """(the scripts, the test module)."""
    scripts: list[str] = []
    tests: list[str] = []
    for block in python_blocks():
        if re.search(r"^def test_", block, flags=re.M):
            tests.append(block)
        elif block.startswith(("import ", "from ")) or not scripts:
            scripts.append(block)
        else:
            scripts[-1] += "\n" + block
    return scripts, "\n\n".join(tests)


def test_the_readme_has_the_examples_this_test_runs():
    scripts, tests = programs()
    assert len(scripts) >= 1
    assert tests.count("\ndef test_") + tests.startswith("def test_") >= 2


@pytest.fixture
def workdir(tmp_path: Path, server: Server) -> Path:
    """A directory with the examples' evidence.pdf and an empty pytest configuration."""
    (tmp_path / "evidence.pdf").write_bytes(samples.pdf())
    (tmp_path / "pytest.ini").write_text("[pytest]\n")
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


def test_the_readme_tests_pass_with_warnings_as_errors(server: Server, workdir: Path):
    module = programs()[1].replace(EXAMPLE_URL, server.url)
    (workdir / "test_readme_examples.py").write_text(module)
    done = run(
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
            "test_readme_examples.py",
        ],
        workdir,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert re.search(r"\b[2-9] passed\b", done.stdout), done.stdout
    assert "warning" not in done.stdout.lower(), done.stdout
