"""docker-compose.yml and compose.scale.yml are valid for Compose (Debian's docker-compose
validates without a daemon: `.ci/run` installs it), and their settings match .env.example."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]
COMPOSE = shutil.which("docker-compose")

pytestmark = pytest.mark.skipif(
    COMPOSE is None, reason="needs Debian's docker-compose: apt-get install -y docker-compose"
)


def config(tmp_path: Path, env: str | None, file: str = "docker-compose.yml") -> dict:
    """`docker-compose config` of one of the project's files, with `env` as the .env beside
    it."""
    shutil.copy(ROOT / file, tmp_path / file)
    if env is not None:
        (tmp_path / ".env").write_text(env)
    done = subprocess.run(
        [COMPOSE, "-f", file, "config"], cwd=tmp_path, capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, done.stderr
    return yaml.safe_load(done.stdout)


def test_defaults(tmp_path: Path):
    services = config(tmp_path, env=None)["services"]
    api = services["api"]
    assert [(p["published"], p["target"]) for p in api["ports"]] == [(12111, 12111)]
    assert all(s["restart"] == "unless-stopped" for s in services.values())
    assert "healthz" in " ".join(api["healthcheck"]["test"])
    assert api["command"][-2:] == ["--workers", "1"]
    assert api["environment"]["FILELINKS_DATABASE_URL"].startswith("postgresql://")
    assert api["depends_on"]["db"]["condition"] == "service_healthy"


def test_the_env_file_sets_the_port_and_the_settings(tmp_path: Path):
    example = (ROOT / ".env.example").read_text()
    env = example.replace("FILELINKS_PORT=12111", "FILELINKS_PORT=18080").replace(
        "FILELINKS_LOG_FORMAT=text", "FILELINKS_LOG_FORMAT=json"
    )
    api = config(tmp_path, env=env)["services"]["api"]
    assert [(p["published"], p["target"]) for p in api["ports"]] == [(18080, 12111)]
    assert api["environment"]["FILELINKS_LOG_FORMAT"] == "json"


def test_the_scaled_file_shares_nothing_but_the_database_and_the_bucket(tmp_path: Path):
    services = config(tmp_path, env=None, file="compose.scale.yml")["services"]
    api, lb = services["api"], services["lb"]
    assert api["deploy"]["replicas"] == 3
    assert "ports" not in api
    assert "volumes" not in api
    assert api["environment"]["FILELINKS_STORAGE_URL"].startswith("s3://")
    assert api["environment"]["AWS_ENDPOINT_URL"] == "http://minio:9000"
    assert api["environment"]["FILELINKS_DATABASE_URL"].startswith("postgresql://")
    assert [(p["published"], p["target"]) for p in lb["ports"]] == [(12111, 12111)]
    [mount] = lb["volumes"]  # docker-compose 1.x writes it as source:target:mode
    assert mount.endswith("/deploy/nginx.conf:/etc/nginx/conf.d/default.conf:ro")
    assert (ROOT / "deploy" / "nginx.conf").is_file()
    assert all(s["restart"] == "unless-stopped" for s in services.values())
    scaled = config(tmp_path, env="FILELINKS_REPLICAS=5\n", file="compose.scale.yml")
    assert scaled["services"]["api"]["deploy"]["replicas"] == 5


def test_every_setting_of_the_env_example_reaches_compose_and_back():
    example = set(re.findall(r"^([A-Z_]+)=", (ROOT / ".env.example").read_text(), flags=re.M))
    used = {
        name
        for file in ("docker-compose.yml", "compose.scale.yml")
        for name in re.findall(r"\$\{([A-Z_]+):-", (ROOT / file).read_text())
    }
    assert example == used


def test_each_file_trusts_the_forwarded_headers_of_its_own_proxy_only(tmp_path: Path):
    # uvicorn takes the client address and scheme (a Secure dashboard cookie over HTTPS) from
    # X-Forwarded-* only from FORWARDED_ALLOW_IPS
    alone = config(tmp_path, env=None)["services"]["api"]
    assert alone["environment"]["FORWARDED_ALLOW_IPS"] == "127.0.0.1"  # no proxy in front
    behind = config(tmp_path, env="FORWARDED_ALLOW_IPS=10.0.0.5\n")["services"]["api"]
    assert behind["environment"]["FORWARDED_ALLOW_IPS"] == "10.0.0.5"
    (tmp_path / ".env").unlink()
    scaled = config(tmp_path, env=None, file="compose.scale.yml")["services"]
    assert "ports" not in scaled["api"]  # only the load balancer reaches a replica
    assert scaled["api"]["environment"]["FORWARDED_ALLOW_IPS"] == "*"
    nginx = (ROOT / "deploy" / "nginx.conf").read_text()
    assert "proxy_set_header X-Forwarded-Proto" in nginx
