"""The emulator in a Python test suite: start (or attach to) a server, hand out fresh accounts.

```python
from filelinks_api.testing import Emulator

with Emulator() as emulator:            # starts `filelinks-api serve` on a free port
    account = emulator.account()        # a fresh key: a fresh, empty account
    account.clock.freeze(1_900_000_000)
    link = account.client.v1.file_links.create(params={"file": "file_..."})
    [entry] = account.requests(path="/v1/file_links")
```

The pytest plugin (`filelinks_api.pytest_plugin`) gives the same objects as the
`filelinks_emulator` and `stripe_account` fixtures. Only the standard library is imported here;
`stripe` is imported when an account's `client` or `stripe_globals()` is first used, so the
module costs nothing to a suite that does not use it.

A started server runs on 127.0.0.1 with SQLite in a temporary data dir, its own working
directory (a project's `.env` is not read) and no `FILELINKS_*` setting of the caller's
environment; it is stopped by its own process id, and also when the interpreter exits.
"""

from __future__ import annotations

import contextlib
import json
import os
import secrets
import shutil
import signal
import socket
import ssl
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.parse
import urllib.request
import weakref
from collections.abc import Iterator, Mapping
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import stripe

__all__ = ["Account", "Clock", "ControlError", "Emulator", "EmulatorError", "Faults"]

URL_VARIABLE = "FILELINKS_URL"

# The server a run starts answers its first /healthz within about a second here; a busy CI
# machine may need far more, and a server that cannot start says so sooner (it exits).
STARTUP_TIMEOUT_SECONDS = 60.0
_LOG_TAIL_LINES = 30
# A request that stays unanswered this long means the server is stuck, not slow.
_CONTROL_TIMEOUT_SECONDS = 30.0
# A port picked free can be taken before `serve` binds it: that many tries, each on a new port.
_PORT_ATTEMPTS = 3


class EmulatorError(RuntimeError):
    """The emulator could not be started, reached or used; the message says why."""


class ControlError(EmulatorError):
    """A test-control call (`/_emulator/...`) failed.

    `route` is the method and path (`POST /_emulator/clock`), `status` the HTTP status (`None`
    when the server could not be reached), and `type`, `code`, `param`, `message` come from
    the Stripe error envelope the server answered with.
    """

    def __init__(
        self,
        route: str,
        status: int | None,
        *,
        type: str | None = None,
        code: str | None = None,
        param: str | None = None,
        message: str,
    ) -> None:
        self.route = route
        self.status = status
        self.type = type
        self.code = code
        self.param = param
        self.message = message
        if status is None:
            text = f"{route}: {message}"
        else:
            kind = " ".join(x for x in (type, code) if x) or "error"
            where = f" (param: {param})" if param else ""
            text = f"{route} failed with {status} {kind}{where}: {message}"
        super().__init__(text)


class Emulator:
    """A filelinks-api server for a test run: attached to by URL, or started and owned.

    `url`: the server to use; when None, `$FILELINKS_URL` if set, else a server is started
    (`filelinks-api serve` on a free port of 127.0.0.1, SQLite in a temporary data dir) by
    `start()` or `with`, and stopped by `stop()` or the end of the `with` block.
    `data_dir`: where a started server keeps its data and log (default: a temporary directory,
    removed at `stop()`; a given one is kept).
    `startup_timeout`: how long `start()` waits for `/healthz` to answer 200, for a started
    server and an attached one alike.
    """

    def __init__(
        self,
        url: str | None = None,
        *,
        data_dir: str | os.PathLike[str] | None = None,
        startup_timeout: float = STARTUP_TIMEOUT_SECONDS,
    ) -> None:
        if url is None:
            url = os.environ.get(URL_VARIABLE, "").strip() or None
        self._given_url = url.rstrip("/") if url else None
        self._data_dir = Path(data_dir) if data_dir is not None else None
        self._startup_timeout = startup_timeout
        self._url: str | None = self._given_url
        self._process: subprocess.Popen[bytes] | None = None
        self._workdir: Path | None = None
        self._own_workdir = False
        self._finalizer: weakref.finalize[Any, Any] | None = None

    # --- lifecycle -------------------------------------------------------------------------

    @property
    def url(self) -> str:
        """The server's base URL (`http://127.0.0.1:<port>` for a started one)."""
        if self._url is None:
            raise EmulatorError("the emulator is not started: use `with Emulator() as em:`")
        return self._url

    @property
    def pid(self) -> int | None:
        """The started server's process id; None when attached to a URL."""
        return self._process.pid if self._process is not None else None

    @property
    def log_path(self) -> Path | None:
        """The started server's log (its stdout and stderr); None when attached to a URL."""
        return self._workdir / "server.log" if self._workdir is not None else None

    def start(self) -> Emulator:
        """Attach (check `/healthz`) or start a server and wait until it is healthy."""
        if self._given_url is not None:
            # A service container may still be starting: it gets the same time as our own.
            self._wait_healthy(deadline=time.monotonic() + self._startup_timeout)
            return self
        if self._process is not None:
            return self
        if self._data_dir is not None:
            self._workdir = self._data_dir
            self._workdir.mkdir(parents=True, exist_ok=True)
        else:
            self._workdir = Path(tempfile.mkdtemp(prefix="filelinks-emulator-"))
            self._own_workdir = True
        for attempt in range(_PORT_ATTEMPTS):
            self._spawn(_free_port())
            try:
                self._wait_healthy(deadline=time.monotonic() + self._startup_timeout)
                return self
            except EmulatorError:
                if attempt + 1 < _PORT_ATTEMPTS and "already in use" in self.log_tail():
                    continue
                self.stop()
                raise
        raise AssertionError("unreachable")  # pragma: no cover

    def stop(self) -> None:
        """Stop a started server (SIGTERM, then SIGKILL after 15 s) and remove its temporary
        data dir; does nothing for an attached one."""
        if self._finalizer is not None:
            self._finalizer()
            self._finalizer = None
        self._process = None
        if self._given_url is None:
            self._url = None
        if self._own_workdir and self._workdir is not None:
            shutil.rmtree(self._workdir, ignore_errors=True)
            self._workdir = None
            self._own_workdir = False

    def __enter__(self) -> Emulator:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    def check(self) -> None:
        """Raise EmulatorError, with the end of its log, if the server this started has exited."""
        process = self._process
        if process is not None and process.poll() is not None:
            raise EmulatorError(
                f"the filelinks-api server (pid {process.pid}) exited with status"
                f" {process.returncode}; the end of its log ({self.log_path}):\n{self.log_tail()}"
            )

    def log_tail(self, lines: int = _LOG_TAIL_LINES) -> str:
        """The last `lines` lines of a started server's log ('' when attached)."""
        path = self.log_path
        if path is None or not path.exists():
            return ""
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])

    def _spawn(self, port: int) -> None:
        assert self._workdir is not None
        # The caller's FILELINKS_* settings (a database URL, API keys, ...) are not the test
        # server's: it gets SQLite in its data dir, open keys, and no .env (its cwd is its own).
        env = {k: v for k, v in os.environ.items() if not k.startswith("FILELINKS_")}
        env["FILELINKS_DATA_DIR"] = str(self._workdir / "data")
        env["FILELINKS_SHUTDOWN_TIMEOUT_SECONDS"] = "5"
        command = [
            sys.executable,
            "-m",
            "filelinks_api",
            "serve",
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            "--log-level",
            "warning",
        ]
        with open(self._workdir / "server.log", "ab") as log:
            self._process = subprocess.Popen(
                command,
                cwd=self._workdir,
                env=env,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        self._finalizer = weakref.finalize(self, _terminate, self._process)
        self._url = f"http://127.0.0.1:{port}"

    def _wait_healthy(self, *, deadline: float) -> None:
        url = f"{self.url}/healthz"
        last = "no answer yet"
        while True:
            self.check()
            try:
                with _OPENER.open(url, timeout=2) as response:
                    if response.status == 200:
                        return
                    last = f"status {response.status}"
            except urllib.error.HTTPError as exc:
                last = f"status {exc.code}"
                exc.close()
            except (OSError, urllib.error.URLError) as exc:
                last = str(getattr(exc, "reason", exc))
            if time.monotonic() >= deadline:
                tail = self.log_tail()
                raise EmulatorError(
                    f"the filelinks-api server at {self.url} is not healthy (GET /healthz: {last})"
                    + (f"; the end of its log:\n{tail}" if tail else "")
                )
            time.sleep(0.05)  # a poll with a deadline: nothing to wait on but the socket

    # --- accounts --------------------------------------------------------------------------

    def account(self, key: str | None = None) -> Account:
        """A fresh account: a new random `sk_test_` key (every key is its own, empty account
        unless the server sets FILELINKS_API_KEYS), or the given `key`."""
        return Account(self, key or f"sk_test_{secrets.token_hex(16)}")


class Account:
    """One account on the emulator: its key, a Stripe client, and its test controls.

    Every control call raises ControlError, naming the route and Stripe's error, when the
    server refuses it.
    """

    def __init__(self, emulator: Emulator, key: str) -> None:
        self.emulator = emulator
        self.key = key
        self.url = emulator.url
        self.clock = Clock(self)
        self.faults = Faults(self)
        self._client: stripe.StripeClient | None = None
        self._http_client: stripe.HTTPClient | None = None

    def __repr__(self) -> str:
        return f"<filelinks Account {self.key[:12]}… at {self.url}>"

    def __enter__(self) -> Account:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    @property
    def client(self) -> stripe.StripeClient:
        """A `stripe.StripeClient` for this account, both of its bases on the emulator."""
        if self._client is None:
            import stripe

            self._client = stripe.StripeClient(
                self.key,
                base_addresses={"api": self.url, "files": self.url},
                http_client=self._http(),
            )
        return self._client

    def close(self) -> None:
        """Close the HTTP connections of `client` (and of the globals' client, see
        `stripe_globals`); the fixture does it after each test. The account itself stays."""
        if self._http_client is not None:
            self._http_client.close()
        self._client = self._http_client = None

    @contextlib.contextmanager
    def stripe_globals(self) -> Iterator[Account]:
        """Point stripe-python's module globals (`api_key`, `api_base`, `upload_api_base`) at
        this account inside the block, and put back what they were afterwards. A no-op when
        stripe-python is not installed.

        Unless the caller chose a `stripe.default_http_client`, the block also gets this
        account's own, whose connections `close()` ends: a pooled connection must not outlive
        an async test's event loop.
        """
        try:
            import stripe
        except ImportError:
            yield self
            return
        saved = (stripe.api_key, stripe.api_base, stripe.upload_api_base)
        saved_http_client = stripe.default_http_client
        stripe.api_key = self.key
        stripe.api_base = stripe.upload_api_base = self.url
        if saved_http_client is None:
            stripe.default_http_client = self._http()
        try:
            yield self
        finally:
            stripe.api_key, stripe.api_base, stripe.upload_api_base = saved
            stripe.default_http_client = saved_http_client

    def _http(self) -> stripe.HTTPClient:
        if self._http_client is None:
            self._http_client = _new_http_client()
        return self._http_client

    @property
    def dashboard_url(self) -> str:
        """The dashboard's sign-in page (sign in with `key`)."""
        return f"{self.url}/dashboard"

    def requests(self, **filters: Any) -> list[dict[str, Any]]:
        """The account's request log as a list of dicts, newest first.

        Filters are those of `GET /_emulator/requests`: `method`, `path` (a prefix), `status`
        (`404` or `"4xx"`), `idempotency_key`, `created={"gte": ts}`. Without `limit`, every
        matching entry is returned (page after page); with it, one page.
        """
        return self._list("/_emulator/requests", filters)

    def reset(self) -> None:
        """Delete the account's files (and bytes), links, idempotency keys, request log and
        fault rules, and put its clock back to real time (`DELETE /_emulator/data`)."""
        self.call("DELETE", "/_emulator/data")

    def call(
        self, method: str, path: str, params: Mapping[str, Any] | None = None
    ) -> dict[str, Any]:
        """One authenticated request to the emulator, Stripe-form-encoded parameters in the
        query string (GET, DELETE) or the body (POST); the JSON answer, or ControlError."""
        pairs = _form_pairs(params or {})
        body = None
        url = f"{self.url}{path}"
        headers = {"Authorization": f"Bearer {self.key}", "Accept": "application/json"}
        if method == "POST":
            body = urllib.parse.urlencode(pairs).encode()
            headers["Content-Type"] = "application/x-www-form-urlencoded"
        elif pairs:
            url += "?" + urllib.parse.urlencode(pairs)
        route = f"{method} {path}"
        request = urllib.request.Request(url, data=body, headers=headers, method=method)
        try:
            with _OPENER.open(request, timeout=_CONTROL_TIMEOUT_SECONDS) as response:
                return _json_of(route, response.status, response.read())
        except urllib.error.HTTPError as exc:
            with exc:
                raise _error_of(route, exc.code, exc.read()) from None
        except (OSError, urllib.error.URLError) as exc:
            self.emulator.check()  # a crashed server says so, with its log
            reason = getattr(exc, "reason", exc)
            raise ControlError(
                route, None, message=f"cannot reach the emulator at {self.url}: {reason}"
            ) from None

    def _list(self, path: str, filters: Mapping[str, Any]) -> list[dict[str, Any]]:
        if "limit" in filters:
            return list(self.call("GET", path, filters)["data"])
        entries: list[dict[str, Any]] = []
        params = dict(filters)
        while True:
            page = self.call("GET", path, params)
            entries.extend(page["data"])
            if not page.get("has_more") or not page["data"]:
                return entries
            params = {**filters, "limit": 100, "starting_after": page["data"][-1]["id"]}


class Clock:
    """The account's test clock (`/_emulator/clock`); every method returns the clock's `now`."""

    def __init__(self, account: Account) -> None:
        self._account = account

    def now(self) -> int:
        """The account's current time (Unix seconds)."""
        return int(self._account.call("GET", "/_emulator/clock")["now"])

    def freeze(self, timestamp: int) -> int:
        """Stop the account's time at `timestamp`."""
        return self._set(frozen_at=int(timestamp))

    def advance(self, seconds: int) -> int:
        """Move the account's time forward by `seconds` (frozen or running)."""
        return self._set(advance=int(seconds))

    def reset(self) -> int:
        """Back to real time."""
        return self._set(reset=True)

    def _set(self, **params: Any) -> int:
        return int(self._account.call("POST", "/_emulator/clock", params)["now"])


class Faults:
    """The account's fault rules (`/_emulator/faults`): make `/v1` requests fail on demand."""

    def __init__(self, account: Account) -> None:
        self._account = account

    def add(self, **params: Any) -> dict[str, Any]:
        """Add a rule; returns it (`{"id": "fault_…", "object": "emulator.fault", ...}`).

        `action="error"` (`status`, `type`, `code`, `message`), `"delay"` (`delay_ms`) or
        `"reset"` (`when="before"` or `"after"`), matching `method`, `path` (a prefix) and
        acting on `times` requests (default 1).
        """
        return self._account.call("POST", "/_emulator/faults", params)

    def list(self) -> list[dict[str, Any]]:
        """The account's rules, spent ones included, as dicts."""
        page = self._account.call("GET", "/_emulator/faults")
        rules = list(page["data"])
        while page.get("has_more") and page["data"]:
            page = self._account.call(
                "GET", "/_emulator/faults", {"starting_after": page["data"][-1]["id"]}
            )
            rules.extend(page["data"])
        return rules

    def remove(self, fault_id: str) -> None:
        """Delete one rule."""
        self._account.call("DELETE", f"/_emulator/faults/{urllib.parse.quote(fault_id)}")

    def clear(self) -> None:
        """Delete all the account's rules."""
        self._account.call("DELETE", "/_emulator/faults")


# No proxy: the emulator is local, and an HTTP(S)_PROXY of the environment would swallow it.
_OPENER = urllib.request.build_opener(urllib.request.ProxyHandler({}))


def _new_http_client() -> stripe.HTTPClient:
    """stripe-python's default HTTP client, except that async requests keep no connection
    open: pytest-asyncio gives each test its own event loop, and a pooled connection left to
    the closed loop is an 'unclosed transport' ResourceWarning (or 'Event loop is closed'
    when the next test reuses it). A new connection to a local server costs about 0.1 ms.
    Replaces `HTTPXClient._client_async` (stripe-python's attribute since async support in
    8.x; tests/test_pytest_plugin.py's async test covers the versions of the test extra)."""
    import stripe

    try:
        import httpx

        fallback = stripe.HTTPXClient()
    except ImportError:  # no httpx: stripe-python's own choice (aiohttp, or sync only)
        return stripe.new_default_http_client()
    if isinstance(getattr(fallback, "_client_async", None), httpx.AsyncClient):
        fallback._client_async = httpx.AsyncClient(
            verify=ssl.create_default_context(cafile=stripe.ca_bundle_path),
            limits=httpx.Limits(max_keepalive_connections=0),
        )
    return stripe.new_default_http_client(async_fallback_client=fallback)


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _terminate(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def _form_pairs(params: Mapping[Any, Any], prefix: str = "") -> list[tuple[str, str]]:
    """Stripe's form encoding: `{"created": {"gte": 1}}` -> `created[gte]=1`; lists as
    `key[0]`, booleans as `true`/`false`; None is left out."""
    pairs: list[tuple[str, str]] = []
    for name, value in params.items():
        key = f"{prefix}[{name}]" if prefix else str(name)
        if value is None:
            continue
        if isinstance(value, Mapping):
            pairs.extend(_form_pairs(value, key))
        elif isinstance(value, list | tuple):
            pairs.extend(_form_pairs(dict(enumerate(value)), key))
        elif isinstance(value, bool):
            pairs.append((key, "true" if value else "false"))
        else:
            pairs.append((key, str(value)))
    return pairs


def _json_of(route: str, status: int, raw: bytes) -> dict[str, Any]:
    try:
        body = json.loads(raw)
    except ValueError:
        raise ControlError(
            route, status, message=f"the answer is not JSON: {raw[:200]!r}"
        ) from None
    if not isinstance(body, dict):
        raise ControlError(route, status, message=f"the answer is not an object: {body!r}")
    return body


def _error_of(route: str, status: int, raw: bytes) -> ControlError:
    try:
        error = json.loads(raw)["error"]
        return ControlError(
            route,
            status,
            type=error.get("type"),
            code=error.get("code"),
            param=error.get("param"),
            message=error.get("message") or "(no message)",
        )
    except (ValueError, KeyError, TypeError, AttributeError):
        return ControlError(route, status, message=raw[:200].decode(errors="replace"))
