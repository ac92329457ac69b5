"""From an HTTP request to (caller, params): the API key, the account, one params dict.

GET parameters come from the query string; POST parameters from the body, with the query
string merged underneath, as stripe-mock does: the query's pairs and the body's (form-encoded
or multipart fields) are decoded together, once, so a bracket key split between the two
merges deeply (`?metadata[a]=1` with `metadata[b]=2` in the body gives both keys) and the
body wins a clash (a repeated key keeps its last value).
"""

from __future__ import annotations

import base64
import binascii
import hmac
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from functools import lru_cache
from typing import TYPE_CHECKING, Any, Protocol

from python_multipart import MultipartParser
from python_multipart.exceptions import MultipartParseError
from python_multipart.multipart import MultipartState, parse_options_header
from starlette.requests import ClientDisconnect, HTTPConnection, Request

from filelinks_api.config import API_KEY_PATTERN
from filelinks_api.errors import (
    AuthenticationError,
    InvalidRequestError,
    PayloadTooLarge,
    PermissionDenied,
    publishable_key_refused,
)
from filelinks_api.ids import account_for_key
from filelinks_api.wire.form import MAX_PARAMS, decode_pairs, decode_query, query_pairs

_CONNECTED_ACCOUNT = re.compile(r"acct_[A-Za-z0-9]{1,64}")

NO_KEY = (
    "You did not provide an API key. You need to provide your API key in the Authorization"
    " header, using Bearer auth (e.g. 'Authorization: Bearer YOUR_SECRET_KEY'). See"
    " https://stripe.com/docs/api#authentication for details, or we can help at"
    " https://support.stripe.com/."
)

if TYPE_CHECKING:  # a TypedDict python-multipart defines for type checkers only
    from python_multipart.multipart import MultipartCallbacks


@dataclass(frozen=True, slots=True)
class Caller:
    """Who is calling: the account namespace (with any connected account) and the mode."""

    account: str
    livemode: bool
    publishable: bool = False


def uploaded_by_platform(account: str) -> bool:
    """Whether an account namespace is a connected account reached by its platform
    (`Stripe-Account`), as `authenticate` builds them."""
    return "/" in account


def mask_key(key: str) -> str:
    """Stripe's masking: the first min(8, len-24) characters and the last 4 stay visible."""
    keep_head = min(8, max(0, len(key) - 24))
    keep_tail = min(4, len(key))
    hidden = len(key) - keep_head - keep_tail
    return key[:keep_head] + "*" * hidden + key[len(key) - keep_tail :]


def extract_key(authorization: str | None) -> str | None:
    """Bearer KEY, Basic base64(KEY:) or raw Basic KEY; None when no key was sent."""
    if not authorization:
        return None
    scheme, _, credentials = authorization.strip().partition(" ")
    credentials = credentials.strip()
    scheme = scheme.lower()
    if scheme == "bearer":
        return credentials or None
    if scheme == "basic":
        if not credentials:
            return None
        if API_KEY_PATTERN.fullmatch(credentials):
            return credentials
        try:
            decoded = base64.b64decode(credentials, validate=True).decode("utf-8")
        except (binascii.Error, UnicodeDecodeError):
            return credentials
        return decoded.partition(":")[0] or None
    return authorization.strip()


def authenticate(
    authorization: str | None,
    stripe_account: str | None,
    api_keys: dict[str, str] | None,
    *,
    allow_publishable: bool = False,
) -> Caller:
    key = extract_key(authorization)
    if key is None:
        raise AuthenticationError(NO_KEY)
    if " " in key:
        raise AuthenticationError(
            "Invalid API Key provided: nil. This key contains at least one space. Please delete"
            " the spaces and try again. If you have any questions, we can help at"
            " https://support.stripe.com/."
        )
    match = API_KEY_PATTERN.fullmatch(key)
    if match is None:
        raise AuthenticationError(f"Invalid API Key provided: {mask_key(key)}")
    account = account_for_key(key) if api_keys is None else _lookup_constant_time(key, api_keys)
    if account is None:
        raise AuthenticationError(f"Invalid API Key provided: {mask_key(key)}")
    kind, mode = match.group(1), match.group(2)
    publishable = kind == "pk"
    if publishable and not allow_publishable:
        raise publishable_key_refused()
    if stripe_account is not None:
        connected = stripe_account.strip()
        if not _CONNECTED_ACCOUNT.fullmatch(connected):
            raise PermissionDenied(
                f"The provided key '{mask_key(key)}' does not have access to account"
                f" '{connected[:80]}' (or that account does not exist). Application access may"
                " have been revoked.",
                code="account_invalid",
            )
        account = f"{account}/{connected}"
    return Caller(account=account, livemode=mode == "live", publishable=publishable)


def _lookup_constant_time(key: str, api_keys: dict[str, str]) -> str | None:
    """Compare against every configured key, always, so timing reveals nothing."""
    found: str | None = None
    candidate = key.encode()
    for known, account in api_keys.items():
        if hmac.compare_digest(candidate, known.encode()):
            found = account
    return found


def base_url(request: Request) -> str:
    """Where this server is reached, as the client addressed it (for link URLs).

    Starlette builds a URL object for it on every request; the answer only depends on the
    scheme, server, Host header and root path, so it is kept for the few a server sees."""
    scope = request.scope
    server = scope.get("server")
    return _base_url(
        scope.get("scheme", "http"),
        tuple(server) if server else None,
        request.headers.get("host"),
        scope.get("app_root_path", scope.get("root_path", "")),
    )


@lru_cache(maxsize=256)
def _base_url(scheme: str, server: tuple[str, int] | None, host: str | None, root_path: str) -> str:
    headers = [(b"host", host.encode("latin-1"))] if host is not None else []
    scope = {
        "type": "http",
        "scheme": scheme,
        "server": server,
        "path": "/",
        "root_path": root_path,
        "query_string": b"",
        "headers": headers,
    }
    return str(HTTPConnection(scope).base_url).rstrip("/")


# --- parameters -------------------------------------------------------------------------


async def read_body(request: Request, limit: int) -> bytes:
    declared = request.headers.get("content-length", "").lstrip("0")
    # ASCII digits only; more of them than the limit has is over it, without an int() of
    # thousands of digits (refused past 4,300)
    if declared.isascii() and declared.isdigit():
        if len(declared) > len(str(limit)) or int(declared) > limit:
            raise body_too_large(limit)
    # The ASGI messages themselves, not Request.stream(): its async generator cost a form
    # POST about 8 µs (bench/asgi_cost.py --profile update); the body is read once, here.
    receive = request.receive
    chunks = []
    size = 0
    while True:
        message = await receive()
        if message["type"] != "http.request":  # http.disconnect
            raise ClientDisconnect()
        chunk = message.get("body", b"")
        size += len(chunk)
        if size > limit:
            raise body_too_large(limit)
        chunks.append(chunk)
        if not message.get("more_body", False):
            return chunks[0] if len(chunks) == 1 else b"".join(chunks)


def body_too_large(limit: int) -> PayloadTooLarge:
    return PayloadTooLarge(f"The request body is too large: the limit is {limit} bytes.")


INVALID_BODY = (
    "Invalid request (check your POST parameters): For assistance, contact support at"
    " https://support.stripe.com/contact/."
)
JSON_BODY = (
    "Invalid request (check that your POST content type is application/x-www-form-urlencoded)."
    " If you have any questions, we can help at https://support.stripe.com/."
)


def unsupported_body(content_type: str) -> InvalidRequestError:
    """Stripe's answers to a body that is neither form-encoded nor multipart."""
    if content_type.partition(";")[0].strip().lower() == "application/json":
        return InvalidRequestError(JSON_BODY)
    return InvalidRequestError(
        f"Invalid request: unsupported Content-Type {content_type}. If error persists and you"
        " need assistance, please contact support@stripe.com."
    )


def not_an_upload(data: Mapping[str, Any]) -> InvalidRequestError:
    """A form-encoded body sent where an upload (multipart) belongs: a `file` sent as a plain
    string is "Invalid hash" on `file`, as a multipart field would be; anything else Stripe's
    generic refusal."""
    if isinstance(data.get("file"), str):
        return InvalidRequestError("Invalid hash", param="file")
    return InvalidRequestError(INVALID_BODY)


@dataclass
class Upload:
    """How a route takes an uploaded `file` part: where its bytes go, and its size limit."""

    open_sink: Callable[[], FileSink]
    limit: FileLimit


@dataclass
class Params:
    """A request's parameters, decoded once, and the uploaded file part if any."""

    data: dict[str, Any]
    file: FilePart | None = None


async def read_params(request: Request, body_limit: int, upload: Upload | None = None) -> Params:
    """The request's parameters: query string and body assembled into one list of pairs and
    decoded once. With `upload`, the body must be multipart and its `file` part streams into
    `upload.open_sink()`; without, a file part is refused as an unknown parameter."""
    raw_query = request.scope.get("query_string", b"")
    if request.method in ("GET", "HEAD", "DELETE"):
        return Params(decode_query(raw_query))
    pairs = query_pairs(raw_query)
    content_type, _ = parse_options_header(request.headers.get("content-type"))
    if content_type == b"multipart/form-data":
        form = await read_multipart(
            request,
            upload.open_sink if upload else None,
            body_limit=body_limit,
            file_limit=upload.limit if upload else 0,
            pairs=pairs,
        )
        try:
            return Params(decode_pairs(pairs), form.file)
        except BaseException:
            _discard(form.file)
            raise
    raw = await read_body(request, body_limit)
    if raw and content_type not in (b"application/x-www-form-urlencoded", b""):
        raise unsupported_body(request.headers.get("content-type", ""))
    pairs += query_pairs(raw)
    if upload is not None:
        raise not_an_upload(decode_pairs(pairs))
    return Params(decode_pairs(pairs))


# --- multipart ---------------------------------------------------------------------------


class FileSink(Protocol):
    """Where the bytes of the `file` part go as they arrive (storage stages them)."""

    def write(self, chunk: bytes) -> None: ...

    def discard(self) -> None: ...


@dataclass
class FilePart:
    filename: str | None
    sink: FileSink
    limit: int
    size: int = 0


@dataclass
class MultipartForm:
    file: FilePart | None


MAX_FIELD_BYTES = 64 * 1024

# The most bytes the file part may have, given the fields that came before it.
FileLimit = int | Callable[[Mapping[str, str]], int]


async def read_multipart(
    request: Request,
    open_sink: Callable[[], FileSink] | None,
    *,
    body_limit: int,
    file_limit: FileLimit,
    pairs: list[tuple[str, str]],
) -> MultipartForm:
    """Stream a multipart body: fields appended to `pairs` (bounded), the `file` part into a
    sink.

    `file_limit` bounds the file part, `body_limit` everything else. A callable `file_limit`
    is asked when the file part begins, with the fields sent so far (SDKs send `purpose`
    first), so a per-purpose limit stops an upload before more than that reaches the sink.
    On any failure the sink is discarded, so a refused or broken upload leaves nothing behind.
    """
    _, options = parse_options_header(request.headers.get("content-type"))
    boundary = options.get(b"boundary")
    if not boundary:
        raise InvalidRequestError(INVALID_BODY)
    reader = _MultipartReader(open_sink, body_limit=body_limit, file_limit=file_limit, pairs=pairs)
    parser = MultipartParser(boundary, reader.callbacks())
    try:
        async for chunk in request.stream():
            parser.write(chunk)
        if parser.state != MultipartState.END:
            raise InvalidRequestError(
                "Invalid request: the multipart body ended before its closing boundary."
            )
    except MultipartParseError:
        _discard(reader.upload)
        raise InvalidRequestError(INVALID_BODY) from None
    except BaseException:  # includes ClientDisconnect and cancellation
        _discard(reader.upload)
        raise
    return MultipartForm(file=reader.upload)


class _MultipartReader:
    """The parser's callbacks for one body: the part being read, the fields so far, the
    file part (at most one) and the bytes counted against `body_limit`."""

    def __init__(
        self,
        open_sink: Callable[[], FileSink] | None,
        *,
        body_limit: int,
        file_limit: FileLimit,
        pairs: list[tuple[str, str]],
    ) -> None:
        self.open_sink = open_sink
        self.body_limit = body_limit
        self.file_limit = file_limit
        self.pairs = pairs
        self.upload: FilePart | None = None
        self.total = 0
        self.on_part_begin()

    def callbacks(self) -> MultipartCallbacks:
        return {
            "on_part_begin": self.on_part_begin,
            "on_header_field": self.on_header_field,
            "on_header_value": self.on_header_value,
            "on_header_end": self.on_header_end,
            "on_headers_finished": self.on_headers_finished,
            "on_part_data": self.on_part_data,
            "on_part_end": self.on_part_end,
        }

    def on_part_begin(self) -> None:
        self.headers: dict[bytes, bytes] = {}
        self.header_field = bytearray()
        self.header_value = bytearray()
        self.name = ""
        self.value = bytearray()
        self.file: FilePart | None = None

    def count(self, size: int) -> None:
        # Part headers and field values share `body_limit`; only the file part may exceed it.
        self.total += size
        if self.total > self.body_limit:
            raise body_too_large(self.body_limit)

    def on_header_field(self, data: bytes, start: int, end: int) -> None:
        self.count(end - start)
        self.header_field += data[start:end]

    def on_header_value(self, data: bytes, start: int, end: int) -> None:
        self.count(end - start)
        self.header_value += data[start:end]

    def on_header_end(self) -> None:
        self.headers[bytes(self.header_field).lower()] = bytes(self.header_value)
        self.header_field.clear()
        self.header_value.clear()

    def on_headers_finished(self) -> None:
        _, disposition = parse_options_header(self.headers.get(b"content-disposition"))
        name = disposition.get(b"name")
        if name is None:
            raise InvalidRequestError(INVALID_BODY)
        self.name = _text(name)
        filename = disposition.get(b"filename")
        if filename is not None:
            if self.name != "file" or self.open_sink is None:
                raise InvalidRequestError(
                    f"Received unknown parameter: {self.name}",
                    code="parameter_unknown",
                    param=self.name,
                )
            if self.upload is not None:
                raise InvalidRequestError(
                    "Received more than one file for parameter: file. Send exactly one.",
                    param="file",
                )
            limit = (
                self.file_limit(dict(self.pairs)) if callable(self.file_limit) else self.file_limit
            )
            self.upload = self.file = FilePart(
                filename=_text(filename), sink=self.open_sink(), limit=limit
            )
        elif len(self.pairs) >= MAX_PARAMS:
            raise InvalidRequestError(
                f"Too many parameters: at most {MAX_PARAMS} may be sent in one request."
            )

    def on_part_data(self, data: bytes, start: int, end: int) -> None:
        if self.file is not None:
            self.file.size += end - start
            if self.file.size > self.file.limit:
                raise body_too_large_file(self.file.limit)
            self.file.sink.write(data[start:end])
        else:
            self.count(end - start)
            self.value += data[start:end]
            if len(self.value) > MAX_FIELD_BYTES:
                raise InvalidRequestError(
                    f"The value of {self.name} is longer than {MAX_FIELD_BYTES} bytes.",
                    param=self.name,
                )

    def on_part_end(self) -> None:
        if self.file is None:
            self.pairs.append((self.name, _text(bytes(self.value))))


def body_too_large_file(limit: int) -> InvalidRequestError:
    return InvalidRequestError(
        f"The file you uploaded is too large: files may be at most {limit} bytes.", param="file"
    )


def _discard(upload: FilePart | None) -> None:
    if upload is not None:
        upload.sink.discard()


def _text(raw: bytes) -> str:
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        raise InvalidRequestError("Invalid request: the parameters are not valid UTF-8.") from None
