"""Contents in an S3-compatible store (`FILELINKS_STORAGE_URL=s3://bucket/prefix`).

Objects are `<prefix>/objects/<file id>`. The data path (put, ranged get, delete, list) is
obstore, async in the event loop; the start-up checks (bucket, credentials) and the abort of
unfinished multipart uploads, which obstore does not offer, are boto3, called once per
`serve` (and from the sweep, in a thread). The README's "Contents in an S3-compatible store"
has the figures behind this choice.

Uploads are staged on local disk first, as with `LocalStorage` (hashed and counted as they
arrive), and put to the store by `commit` once every check passed: the type sniffer reads the
staged head and, for zip-based types, the zip's directory at its end; a refused upload never
reaches the store; and a slow client holds a local temp file, not an open multipart upload.
The temp dir is this replica's own scratch space, not shared state. The put re-reads the staged
file in 1 MiB reads (each in a thread), checks its size and SHA-256 against what arrived, and
fails before the object is completed if they differ. Large files go up as a multipart upload
of 5 MiB parts, two in flight: memory stays bounded by that, not by the file.

Limits: the orphan sweep trusts the store's LastModified, so the grace period
(`FILELINKS_ORPHAN_GRACE_SECONDS`) must be longer than the slowest upload's put to the store.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import hashlib
import os
import re
from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import obstore
from obstore.exceptions import BaseError as ObstoreError
from obstore.exceptions import NotFoundError
from obstore.store import S3Store

from filelinks_api.config import Settings, SettingsError
from filelinks_api.storage.base import CHUNK, ContentsMissing, StagedFile, StoreUnavailable
from filelinks_api.storage.local import LocalStaged, stage_in, sweep_staged_dir

PART = 5 * 1024 * 1024  # S3's smallest multipart part
PARTS_IN_FLIGHT = 2
READ = 1024 * 1024  # a staged file is re-read in reads of this size, each in a thread
TIMEOUT_SECONDS = 10
_OBJECT = re.compile(r"objects/([A-Za-z0-9_]+)")
# S3 bucket names (the common rules; the store has the last word)
_BUCKET = re.compile(r"[a-z0-9][a-z0-9.\-]{1,61}[a-z0-9]")


@dataclass(frozen=True)
class S3Location:
    """Where and how to reach the bucket: FILELINKS_STORAGE_URL plus the AWS_* variables."""

    bucket: str
    prefix: str  # "" or "some/prefix" (no slash at either end)
    endpoint: str | None  # None: AWS itself
    region: str
    access_key_id: str | None
    secret_access_key: str | None
    session_token: str | None
    path_style: bool

    @property
    def url(self) -> str:
        where = f" at {self.endpoint}" if self.endpoint else ""
        return f"s3://{self.bucket}/{self.prefix}{where}"

    def key(self, name: str) -> str:
        return f"{self.prefix}/{name}" if self.prefix else name


def s3_location(settings: Settings, environ: Mapping[str, str] | None = None) -> S3Location:
    env = os.environ if environ is None else environ
    raw = settings.storage_url or ""
    parts = urlsplit(raw)
    if parts.scheme != "s3" or not _BUCKET.fullmatch(parts.netloc) or parts.query:
        raise SettingsError(
            f"FILELINKS_STORAGE_URL: expected s3://bucket or s3://bucket/prefix, got {raw!r}"
        )
    endpoint = (env.get("AWS_ENDPOINT_URL_S3") or env.get("AWS_ENDPOINT_URL") or "").strip()
    style = settings.s3_addressing_style
    return S3Location(
        bucket=parts.netloc,
        prefix=parts.path.strip("/"),
        endpoint=endpoint.rstrip("/") or None,
        region=env.get("AWS_REGION") or env.get("AWS_DEFAULT_REGION") or "us-east-1",
        access_key_id=env.get("AWS_ACCESS_KEY_ID") or None,
        secret_access_key=env.get("AWS_SECRET_ACCESS_KEY") or None,
        session_token=env.get("AWS_SESSION_TOKEN") or None,
        # MinIO-like servers answer on one host name: path-style unless told otherwise
        path_style=style == "path" or (style == "auto" and bool(endpoint)),
    )


class S3Storage:
    def __init__(
        self, location: S3Location, *, staging: Path, timeout: float = TIMEOUT_SECONDS
    ) -> None:
        self.location = location
        self.timeout = timeout
        self.tmp = staging
        self.description = location.url
        config: dict[str, Any] = {
            "region": location.region,
            "virtual_hosted_style_request": not location.path_style,
        }
        if location.endpoint:
            config["endpoint"] = location.endpoint
        for name in ("access_key_id", "secret_access_key", "session_token"):
            value = getattr(location, name)
            if value:
                config[name] = value
        self.store = S3Store(
            location.bucket,
            prefix=location.prefix or None,
            config=config,  # type: ignore[arg-type]
            client_options={
                "allow_http": bool(location.endpoint and location.endpoint.startswith("http:")),
                "connect_timeout": f"{timeout:g}s",
                # a store that stops answering is a 503 after FILELINKS_DATABASE_TIMEOUT_SECONDS:
                # no byte for that long ends the request; a transfer that is merely long (a
                # 200 MB download on a slow link) is not cut (obstore's default cuts at 30 s)
                "read_timeout": f"{timeout:g}s",
                "timeout": "1h",
            },
            # a store that does not answer is a 503 within seconds, not a request that hangs
            retry_config={
                "max_retries": 2,
                "retry_timeout": dt.timedelta(seconds=timeout),
                "backoff": {
                    "init_backoff": dt.timedelta(milliseconds=100),
                    "max_backoff": dt.timedelta(seconds=1),
                    "base": 2,
                },
            },
        )

    async def prepare(self) -> None:
        self.tmp.mkdir(parents=True, exist_ok=True)

    def stage(self) -> LocalStaged:
        return stage_in(self.tmp)

    async def commit(self, staged: StagedFile, file_id: str) -> None:
        assert isinstance(staged, LocalStaged)
        staged.finish()  # a scratch copy, not fsynced: the store makes the bytes durable
        try:
            await self._put(staged, file_id)
        except (NotFoundError, FileNotFoundError):
            # NoSuchBucket: the bucket went away behind our back. Create it again, as `serve`
            # does at start, and put once more; if that fails too, the retryable 503.
            await self._recreate_bucket()
            try:
                await self._put(staged, file_id)
            except (NotFoundError, FileNotFoundError) as exc:
                raise StoreUnavailable(f"bucket {self.location.bucket!r} is missing") from exc
        staged.stored_as = file_id
        staged.discard()  # the local copy; the store has the bytes now

    async def _put(self, staged: LocalStaged, file_id: str) -> None:
        try:
            await obstore.put_async(
                self.store,
                _key(file_id),
                _checked_reads(staged),
                use_multipart=staged.size > PART,
                chunk_size=PART,
                max_concurrency=PARTS_IN_FLIGHT,
            )
        except (NotFoundError, FileNotFoundError):
            raise
        except ObstoreError as exc:
            raise StoreUnavailable(_first_line(exc)) from None

    async def _recreate_bucket(self) -> None:
        try:
            await asyncio.to_thread(check_store, self.location, timeout=self.timeout)
        except SettingsError as exc:
            raise StoreUnavailable(str(exc).removeprefix("FILELINKS_STORAGE_URL: ")) from None

    async def open(
        self, file_id: str, start: int = 0, end: int | None = None
    ) -> AsyncIterator[bytes]:
        options: dict[str, Any] = {}
        if end is not None:
            options["range"] = (start, end)
        elif start:
            options["range"] = {"offset": start}
        try:
            got = await obstore.get_async(self.store, _key(file_id), options=options)  # type: ignore[arg-type]
        except (NotFoundError, FileNotFoundError):  # obstore raises the latter for a 404
            raise ContentsMissing(file_id) from None
        except ObstoreError as exc:
            raise StoreUnavailable(_first_line(exc)) from None
        return _chunks(got.stream(min_chunk_size=CHUNK))

    async def delete(self, file_id: str) -> None:
        try:
            await obstore.delete_async(self.store, _key(file_id))
        except ObstoreError as exc:
            raise StoreUnavailable(_first_line(exc)) from None

    async def sweep_staged(self, *, older_than: float) -> int:
        local = sweep_staged_dir(self.tmp, older_than=older_than)
        aborted = await asyncio.to_thread(abort_stale_uploads, self.location, older_than)
        return local + aborted

    async def stored_ids(self, *, older_than: float) -> AsyncIterator[str]:
        cutoff = dt.datetime.now(dt.UTC) - dt.timedelta(seconds=older_than)
        try:
            async for batch in obstore.list(self.store, "objects/", chunk_size=1000):
                for meta in batch:
                    match = _OBJECT.fullmatch(meta["path"])
                    if match is None:
                        continue  # not ours: never touched
                    if meta["last_modified"] <= cutoff:
                        yield match.group(1)
        except ObstoreError as exc:
            raise StoreUnavailable(_first_line(exc)) from None


def _key(file_id: str) -> str:
    # Ids are generated by us ([A-Za-z0-9_]); refuse anything else rather than build a key.
    if not file_id.replace("_", "").isalnum() or not file_id.isascii():
        raise ValueError(f"not a file id: {file_id!r}")
    return f"objects/{file_id}"


async def _checked_reads(staged: LocalStaged) -> AsyncIterator[bytes]:
    """The staged file's bytes, checked against the size and SHA-256 counted as they arrived.
    The last read is held back until the check passed: a difference fails the put before the
    object exists."""
    digest = hashlib.sha256()
    size = 0
    held = b""
    with open(staged.path, "rb") as fp:
        while chunk := await asyncio.to_thread(fp.read, READ):
            if held:
                yield held
            digest.update(chunk)
            size += len(chunk)
            held = chunk
    if size != staged.size or digest.hexdigest() != staged.sha256():
        raise OSError(f"staged upload {staged.path.name} changed on disk before its put")
    if held:
        yield held


async def _chunks(stream: Any) -> AsyncIterator[bytes]:
    try:
        async for chunk in stream:
            yield bytes(chunk)
    except ObstoreError as exc:  # the response has started: all that is left is to cut it
        raise StoreUnavailable(_first_line(exc)) from None


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0][:300] if text else type(exc).__name__


# --- the control plane: boto3, at start and in the sweep ------------------------------------------


def _boto3_client(location: S3Location, timeout: float) -> Any:
    import boto3
    from botocore.config import Config

    return boto3.session.Session().client(
        "s3",
        endpoint_url=location.endpoint,
        region_name=location.region,
        aws_access_key_id=location.access_key_id,
        aws_secret_access_key=location.secret_access_key,
        aws_session_token=location.session_token,
        config=Config(
            s3={"addressing_style": "path" if location.path_style else "virtual"},
            connect_timeout=timeout,
            read_timeout=timeout,
            retries={"max_attempts": 2, "mode": "standard"},
        ),
    )


_REFUSED = {
    "403",
    "AccessDenied",
    "InvalidAccessKeyId",
    "SignatureDoesNotMatch",
    "InvalidToken",
    "ExpiredToken",
    "InvalidClientTokenId",
}


def check_store(location: S3Location, *, timeout: float = TIMEOUT_SECONDS) -> bool:
    """Reach the store, check the credentials, create the bucket if missing (True if it did).
    Any failure is one SettingsError line."""
    from botocore.exceptions import BotoCoreError, ClientError, NoCredentialsError

    where = location.endpoint or f"AWS S3 ({location.region})"
    client = _boto3_client(location, timeout)
    try:
        try:
            client.head_bucket(Bucket=location.bucket)
            return False
        except ClientError as exc:
            if _code(exc) not in ("404", "NoSuchBucket", "NotFound"):
                raise
        options: dict[str, Any] = {}
        if location.region != "us-east-1":
            options["CreateBucketConfiguration"] = {"LocationConstraint": location.region}
        try:
            client.create_bucket(Bucket=location.bucket, **options)
        except ClientError as exc:
            if _code(exc) not in ("BucketAlreadyOwnedByYou", "BucketAlreadyExists"):
                raise  # (another replica created it first: fine)
        return True
    except NoCredentialsError:
        raise SettingsError(
            f"FILELINKS_STORAGE_URL: no credentials for {where}: set AWS_ACCESS_KEY_ID and"
            " AWS_SECRET_ACCESS_KEY"
        ) from None
    except ClientError as exc:
        code = _code(exc)
        if code in _REFUSED:
            raise SettingsError(
                f"FILELINKS_STORAGE_URL: {where} refused the credentials for bucket"
                f" {location.bucket!r} ({code}; check AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY)"
            ) from None
        raise SettingsError(
            f"FILELINKS_STORAGE_URL: {where} refused bucket {location.bucket!r}: {code}"
            f" {_first_line(exc)}"
        ) from None
    except BotoCoreError as exc:
        raise SettingsError(
            f"FILELINKS_STORAGE_URL: cannot reach the object store at {where}: {_first_line(exc)}"
        ) from None
    finally:
        client.close()


def abort_stale_uploads(location: S3Location, older_than: float) -> int:
    """Abort the multipart uploads under our prefix begun more than `older_than` seconds ago
    (left by a replica that died mid-put); returns how many."""
    from botocore.exceptions import BotoCoreError, ClientError

    cutoff = dt.datetime.now(dt.UTC) - dt.timedelta(seconds=older_than)
    client = _boto3_client(location, TIMEOUT_SECONDS)
    aborted = 0
    try:
        pages = client.get_paginator("list_multipart_uploads").paginate(
            Bucket=location.bucket, Prefix=location.key("objects/")
        )
        for page in pages:
            for upload in page.get("Uploads", []):
                if upload["Initiated"] <= cutoff:
                    client.abort_multipart_upload(
                        Bucket=location.bucket, Key=upload["Key"], UploadId=upload["UploadId"]
                    )
                    aborted += 1
    except (BotoCoreError, ClientError) as exc:
        raise StoreUnavailable(_first_line(exc)) from None
    finally:
        client.close()
    return aborted


def _code(exc: Any) -> str:
    return str(exc.response.get("Error", {}).get("Code", ""))
