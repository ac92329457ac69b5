"""Settings from FILELINKS_* environment variables (and an optional .env file).

Nothing here touches the disk or the network at import time: `Settings()` is built once by
the CLI (or a test) and passed down.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Annotated, Literal

from pydantic import Field, ValidationError, field_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict
from sqlalchemy.engine import URL, make_url
from sqlalchemy.exc import ArgumentError

# A well-formed API key (used with fullmatch: `$` alone would let a trailing newline through).
API_KEY_PATTERN = re.compile(r"(sk|rk|pk)_(test|live)_[A-Za-z0-9_]{1,247}")
_ACCOUNT_PATTERN = re.compile(r"acct_[A-Za-z0-9]+")

MB = 1_000_000


class SettingsError(ValueError):
    """A setting has a value the service cannot start with; the message is one line."""


class Settings(BaseSettings):
    model_config = SettingsConfigDict(
        env_prefix="FILELINKS_", env_file=".env", extra="ignore", frozen=True
    )

    data_dir: Path = Path("./filelinks-data")
    database_url: str | None = None
    public_url: str | None = None
    # Where contents live: unset, local disk under the data dir; s3://bucket/prefix, an
    # S3-compatible store reached with the standard AWS_* variables (storage/s3.py).
    storage_url: str | None = None
    # How S3 requests name the bucket: auto = path-style when AWS_ENDPOINT_URL(_S3) is set
    # (MinIO and most self-hosted stores), virtual-hosted on AWS itself.
    s3_addressing_style: Literal["auto", "path", "virtual"] = "auto"
    # KEY=acct_ID pairs; None means "any well-formed key is its own account".
    api_keys: Annotated[dict[str, str] | None, NoDecode] = None
    max_upload_bytes: int = Field(default=200 * MB, gt=0)
    # Upper bound of a non-upload request body (form-encoded or multipart without a file).
    max_body_bytes: int = Field(default=1024 * 1024, gt=0)
    # A request body (upload included) must have fully arrived this long after the request
    # began; slower clients get a 408 and their connection closed.
    body_timeout_seconds: float = Field(default=30, gt=0)
    # `serve` removes stored bytes without a row, and interrupted uploads, at start; only those
    # older than this, because other replicas sharing the data dir may be mid-upload.
    orphan_grace_seconds: float = Field(default=60, ge=0)
    # The /_emulator/ test controls (clock, reset, generated files); off for shared deployments.
    emulator_controls: bool = True
    # The request log (/_emulator/requests, the dashboard's logs): on or off, and how many
    # entries each scope keeps (the newest).
    request_log: bool = True
    request_log_limit: int = Field(default=10_000, gt=0)
    request_log_total_limit: int = Field(default=100_000, gt=0)
    # Connecting to the database may take this long; then `serve`/`migrate` fail (one line, exit
    # 2) and a request gets a 503 instead of hanging on a host that never answers.
    database_timeout_seconds: float = Field(default=10, gt=0)
    # GET /metrics (Prometheus); false removes the route and the per-request counting.
    metrics: bool = True
    # `serve`'s logs: text lines on stderr, or one JSON object per line on stdout.
    log_format: Literal["text", "json"] = "text"
    # On SIGTERM or Ctrl-C, requests in flight get this long to finish; then they are cut off.
    shutdown_timeout_seconds: int = Field(default=30, ge=0)
    # Where `serve` listens when --host/--port/--workers are not given (the flags win); the
    # CLI checks their ranges, naming the setting.
    host: str | None = None
    port: int | None = None
    workers: int | None = None

    @field_validator("api_keys", mode="before")
    @classmethod
    def _parse_api_keys(cls, value: object) -> dict[str, str] | None:
        if value is None or isinstance(value, dict):
            return value
        text = str(value).strip()
        if not text:
            return None
        keys: dict[str, str] = {}
        for item in text.split(","):
            key, sep, account = item.strip().partition("=")
            key, account = key.strip(), account.strip()
            if (
                not sep
                or not API_KEY_PATTERN.fullmatch(key)
                or not _ACCOUNT_PATTERN.fullmatch(account)
            ):
                raise ValueError(f"expected KEY=acct_ID pairs separated by commas, got {item!r}")
            keys[key] = account
        return keys

    @field_validator("public_url")
    @classmethod
    def _strip_public_url(cls, value: str | None) -> str | None:
        if value is None or not value.strip():
            return None
        value = value.strip().rstrip("/")
        if not re.match(r"^https?://[^/\s]+", value):
            raise ValueError(f"must be an http(s) URL, got {value!r}")
        return value

    @field_validator("storage_url")
    @classmethod
    def _check_storage_url(cls, value: str | None) -> str | None:
        if value is None or not value.strip():
            return None
        value = value.strip()
        if not value.startswith("s3://"):
            raise ValueError(f"must be unset (local disk) or s3://bucket/prefix, got {value!r}")
        return value

    @property
    def resolved_database_url(self) -> str:
        """The database URL with the driver this service ships with (psycopg 3 for PostgreSQL)."""
        if self.database_url is None or not self.database_url.strip():
            return f"sqlite:///{(self.data_dir / 'filelinks.db').absolute()}"
        return normalize_database_url(self.database_url.strip())

    @property
    def files_dir(self) -> Path:
        return self.data_dir / "files"


def normalize_database_url(raw: str) -> str:
    try:
        url: URL = make_url(raw)
    except ArgumentError as exc:
        raise SettingsError(f"FILELINKS_DATABASE_URL is not a database URL: {raw!r}") from exc
    backend = url.get_backend_name()
    if backend in ("postgresql", "postgres"):
        url = url.set(drivername="postgresql+psycopg")
    elif backend == "sqlite":
        if url.database in (None, "", ":memory:"):
            raise SettingsError(
                "FILELINKS_DATABASE_URL: SQLite needs a file path (sqlite:///path/to/file.db)"
            )
        url = url.set(drivername="sqlite")
    else:
        raise SettingsError(
            f"FILELINKS_DATABASE_URL: unsupported database {backend!r}; use sqlite:/// or postgresql://"
        )
    return url.render_as_string(hide_password=False)


def load_settings() -> Settings:
    """Read and validate the settings once; any problem becomes one SettingsError line."""
    try:
        settings = Settings()
    except ValidationError as exc:
        first = exc.errors()[0]
        name = "FILELINKS_" + str(first["loc"][0]).upper() if first["loc"] else "settings"
        raise SettingsError(f"{name}: {first['msg']}") from None
    settings.resolved_database_url  # noqa: B018 - validates the URL now, not at first use
    return settings
