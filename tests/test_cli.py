"""The CLI: `migrate`, and `serve` refusing bad settings (a database that never answers
included) with one clear line and exit status 2."""

from __future__ import annotations

import os
import socket
import sqlite3
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from filelinks_api.config import Settings
from tests.s3 import free_port


def run_cli(
    *args: str, env: dict[str, str], timeout: float = 60
) -> subprocess.CompletedProcess[str]:
    clean = {k: v for k, v in os.environ.items() if not k.startswith("FILELINKS_")}
    return subprocess.run(
        [sys.executable, "-m", "filelinks_api", *args],
        env={**clean, **env},
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def test_migrate_creates_the_sqlite_database_in_the_data_dir(tmp_path: Path):
    result = run_cli("migrate", env={"FILELINKS_DATA_DIR": str(tmp_path / "data")})
    assert result.returncode == 0, result.stderr
    database = tmp_path / "data" / "filelinks.db"
    tables = {row[0] for row in sqlite3.connect(database).execute("select name from sqlite_master")}
    assert {"files", "file_links", "alembic_version"} <= tables


def test_unparsable_database_url_is_one_line_not_a_traceback(tmp_path: Path):
    result = run_cli(
        "migrate",
        env={"FILELINKS_DATA_DIR": str(tmp_path), "FILELINKS_DATABASE_URL": "not a url"},
    )
    assert result.returncode == 2
    assert result.stderr.strip().splitlines() == [
        "filelinks-api: error: FILELINKS_DATABASE_URL is not a database URL: 'not a url'"
    ]


def test_unsupported_database_is_refused(tmp_path: Path):
    result = run_cli(
        "migrate",
        env={"FILELINKS_DATA_DIR": str(tmp_path), "FILELINKS_DATABASE_URL": "mysql://x@y/z"},
    )
    assert result.returncode == 2
    assert "unsupported database 'mysql'" in result.stderr
    assert "Traceback" not in result.stderr


def test_data_dir_that_cannot_be_created_is_one_line(tmp_path: Path):
    blocker = tmp_path / "a-file"
    blocker.write_text("not a directory")
    result = run_cli("migrate", env={"FILELINKS_DATA_DIR": str(blocker / "data")})
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1
    assert lines[0].startswith("filelinks-api: error: FILELINKS_DATA_DIR: cannot create")


def test_malformed_api_keys_setting_is_one_line(tmp_path: Path):
    result = run_cli(
        "migrate", env={"FILELINKS_DATA_DIR": str(tmp_path), "FILELINKS_API_KEYS": "sk_test_x"}
    )
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1
    assert lines[0].startswith("filelinks-api: error: FILELINKS_API_KEYS:")


def test_serve_refuses_a_port_in_use(tmp_path: Path):
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        result = run_cli("serve", "--port", str(port), env={"FILELINKS_DATA_DIR": str(tmp_path)})
    assert result.returncode == 2
    assert result.stderr.strip().splitlines() == [
        f"filelinks-api: error: port {port} on 127.0.0.1 is already in use"
    ]


def test_unreachable_database_is_one_line(tmp_path: Path):
    result = run_cli(
        "migrate",
        env={
            "FILELINKS_DATA_DIR": str(tmp_path),
            "FILELINKS_DATABASE_URL": "postgresql://nobody@127.0.0.1:1/none?connect_timeout=2",
        },
    )
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1
    assert lines[0].startswith("filelinks-api: error: cannot migrate the database:")


class SilentServer:
    """A 'database host' that accepts TCP connections and never says a word."""

    def __init__(self) -> None:
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port = self.listener.getsockname()[1]
        self.accepted: list[socket.socket] = []
        self.thread = threading.Thread(target=self._accept, daemon=True)
        self.thread.start()

    def _accept(self) -> None:
        while True:
            try:
                connection, _ = self.listener.accept()
            except OSError:
                return
            self.accepted.append(connection)  # held open, never answered

    def close(self) -> None:
        self.listener.close()
        for connection in self.accepted:
            connection.close()


@pytest.mark.parametrize("command", ["migrate", "serve"])
def test_a_database_that_never_answers_fails_in_bounded_time(tmp_path: Path, command: str):
    args = ("serve", "--port", str(free_port())) if command == "serve" else ("migrate",)
    silent = SilentServer()
    try:
        started = time.monotonic()
        result = run_cli(
            *args,
            env={
                "FILELINKS_DATA_DIR": str(tmp_path),
                "FILELINKS_DATABASE_URL": f"postgresql://postgres@127.0.0.1:{silent.port}/x",
                "FILELINKS_DATABASE_TIMEOUT_SECONDS": "2",
            },
            timeout=30,
        )
        took = time.monotonic() - started
    finally:
        silent.close()
    assert silent.accepted  # it did reach the silent host
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("filelinks-api: error: cannot migrate the database:")
    assert "timeout" in lines[0].lower()
    assert took < 15


def test_the_default_database_timeout_is_ten_seconds(tmp_path: Path):
    settings = Settings(data_dir=tmp_path, _env_file=None)  # type: ignore[call-arg]
    assert settings.database_timeout_seconds == 10


def test_a_sqlite_file_in_a_missing_directory_is_named(tmp_path: Path):
    database = tmp_path / "no-such-dir" / "f.db"
    result = run_cli(
        "migrate",
        env={
            "FILELINKS_DATA_DIR": str(tmp_path),
            "FILELINKS_DATABASE_URL": f"sqlite:///{database}",
        },
    )
    assert result.returncode == 2
    assert result.stderr.strip().splitlines() == [
        f"filelinks-api: error: FILELINKS_DATABASE_URL: the directory of the SQLite file"
        f" {database} does not exist"
    ]


class TestMigrateSaysWhatItDid:
    def test_a_new_database_is_created(self, tmp_path: Path):
        result = run_cli("migrate", env={"FILELINKS_DATA_DIR": str(tmp_path)})
        assert result.returncode == 0, result.stderr
        [line] = result.stderr.splitlines()
        assert line.startswith(
            f"filelinks-api: created the database schema in sqlite:///{tmp_path}/filelinks.db"
            f" (revision {head_revision()}, "
        )
        assert line.endswith(" migrations)")

    def test_an_up_to_date_database_is_left_alone(self, tmp_path: Path):
        run_cli("migrate", env={"FILELINKS_DATA_DIR": str(tmp_path)})
        result = run_cli("migrate", env={"FILELINKS_DATA_DIR": str(tmp_path)})
        assert result.stderr.splitlines() == [
            f"filelinks-api: the database schema in sqlite:///{tmp_path}/filelinks.db is up to"
            f" date (revision {head_revision()}); nothing to do"
        ]

    def test_an_older_schema_is_upgraded(self, tmp_path: Path):
        from alembic import command

        from filelinks_api.db import alembic_config

        url = f"sqlite:///{tmp_path}/filelinks.db"
        command.upgrade(alembic_config(url), "0005")
        result = run_cli("migrate", env={"FILELINKS_DATA_DIR": str(tmp_path)})
        applied = int(head_revision()) - 5
        assert result.stderr.splitlines() == [
            f"filelinks-api: upgraded the database schema in {url} from revision 0005 to"
            f" {head_revision()} ({applied} migration{'s' if applied > 1 else ''})"
        ]


def head_revision() -> str:
    from alembic.script import ScriptDirectory

    from filelinks_api.db import alembic_config

    head = ScriptDirectory.from_config(alembic_config("sqlite://")).get_current_head()
    assert head is not None
    return head


@pytest.mark.parametrize(
    ("args", "env", "message"),
    [
        (("--port", "99999"), {}, "--port must be 1-65535, got 99999"),
        (("--port", "0", "--workers", "2"), {}, "--port must be 1-65535, got 0"),
        (("--workers", "0"), {}, "--workers must be at least 1, got 0"),
        ((), {"FILELINKS_PORT": "99999"}, "FILELINKS_PORT must be 1-65535, got 99999"),
        ((), {"FILELINKS_WORKERS": "0"}, "FILELINKS_WORKERS must be at least 1, got 0"),
        ((), {"FILELINKS_PORT": "http"}, "FILELINKS_PORT: "),
    ],
)
def test_a_bad_port_or_worker_count_is_named_alone(tmp_path: Path, args, env, message):
    result = run_cli("serve", *args, env={"FILELINKS_DATA_DIR": str(tmp_path), **env})
    assert result.returncode == 2
    [line] = result.stderr.splitlines()
    assert line.startswith(f"filelinks-api: error: {message}")
    if message.endswith("got 0") and "--port" in message:
        assert "--workers" not in line


def serve_until_healthy(
    *args: str, env: dict[str, str], cwd: Path, port: int
) -> subprocess.CompletedProcess[str] | str:
    """Start `serve`, wait for /healthz on `port` (polled, with a deadline), stop it; the
    line saying where it listened."""
    import httpx

    clean = {k: v for k, v in os.environ.items() if not k.startswith("FILELINKS_")}
    process = subprocess.Popen(
        [sys.executable, "-m", "filelinks_api", "serve", *args],
        env={**clean, **env},
        cwd=cwd,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and process.poll() is None:
            try:
                if httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                time.sleep(0.05)
        else:
            raise AssertionError(f"serve did not answer on {port}")
    finally:
        process.terminate()
        _, stderr = process.communicate(timeout=30)
    [listening] = [line for line in stderr.splitlines() if "listening on" in line]
    return listening


def test_serve_takes_host_port_and_workers_from_the_environment_or_dot_env(tmp_path: Path):
    port = free_port()
    (tmp_path / ".env").write_text(f"FILELINKS_PORT={port}\nFILELINKS_WORKERS=1\n")
    env = {"FILELINKS_DATA_DIR": str(tmp_path / "data"), "FILELINKS_HOST": "127.0.0.1"}
    listening = serve_until_healthy(env=env, cwd=tmp_path, port=port)
    assert f"listening on http://localhost:{port} (1 worker)" in listening


def test_serve_flags_win_over_the_environment(tmp_path: Path):
    port = free_port()
    env = {
        "FILELINKS_DATA_DIR": str(tmp_path / "data"),
        "FILELINKS_PORT": "99999",
        "FILELINKS_WORKERS": "0",
    }
    listening = serve_until_healthy(
        "--port", str(port), "--workers", "1", env=env, cwd=tmp_path, port=port
    )
    assert f"listening on http://localhost:{port} (1 worker)" in listening
