"""A fuzz of every surface of a running service: the Stripe API, the /_emulator controls and
request log, the dashboard's pages and forms (signed in, with and without the form token, from
this origin and from others), public link URLs with odd Range headers, and /metrics.

Each client is one account (a key of its own) doing one request at a time, chosen at random
(seeded) from a weighted menu of valid and hostile requests; the clients run concurrently.
Invariants, checked on every response:

- no 5xx, ever;
- every error of `/v1`, `/links` and `/_emulator` is Stripe's envelope (`{"error": {"type",
  "message", ...}}`, JSON) with a `Request-Id`;
- a dashboard form without this session's token, or sent from another origin, is refused (403);
- every create the service acknowledged (an upload, a link, a dashboard-made link) can be
  retrieved afterwards, unless its account reset its data since;
- the service logged no error (its log is read at the end, by the runner below).

The full run, on a `serve --workers 2` of its own per database (from the repository root):

    python -m tests.fuzz.surfaces --requests 100000 --clients 8 --db sqlite --db postgresql

prints requests, failures and time per database; it exits 1 on any failure.
tests/e2e/test_fuzz_surfaces.py runs a short form of it in the suite.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import re
import secrets
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlsplit

import httpx
import orjson

from tests import samples

INT64_MAX = 2**63 - 1
REQUEST_ID = re.compile(r"^req_[A-Za-z0-9]{14}$")
CSRF = re.compile(r'name="csrf_token" value="([0-9a-f]{64})"')
LINK_IN_LOCATION = re.compile(r"[?&]link=(link_[A-Za-z0-9]+)")
PURPOSES = (
    "dispute_evidence",
    "business_logo",
    "identity_document",
    "customer_signature",
    "pci_document",
    "tax_document_user_upload",
    "account_requirement",
    "additional_verification",
    "sigma_scheduled_query",
    "finance_report_run",
    "not_a_purpose",
)
RANGES = [
    "bytes=0-0",
    "bytes=0-7",
    "bytes=-1",
    "bytes=-0",
    "bytes=5-2",
    "bytes=10-",
    "bytes=-" + "9" * 5000,
    "bytes=" + "9" * 5000 + "-",
    "bytes=0-" + "9" * 30,
    "bytes=" + "0" * 4000 + "1-2",
    "bytes=0-1,3-4",
    "bytes=-",
    "bytes=",
    "bytes= 1-2",
    "items=0-1",
    "bytes=\xb2-\xb3",
    "bytes=1-2-3",
    "\x01",
]


def hostile_text(rng: random.Random) -> str:
    """A string a client may send: plain, unicode, control characters, NUL, long, numeric."""
    kind = rng.randrange(12)
    if kind == 0:
        return ""
    if kind == 1:
        return "x" * rng.choice((39, 40, 41, 255, 256, 500, 501, 600, 5001))
    if kind == 2:
        return "".join(
            rng.choice("\x00\x01\n\r\t\x1b\x7f\x85\u2028") for _ in range(rng.randint(1, 4))
        )
    if kind == 3:
        return rng.choice(("ünïcödé", "☃", "𝄞", "\u202ereversed", "ﷺ", "a\u0301"))
    if kind == 4:
        return str(rng.choice((0, -1, 1, INT64_MAX, INT64_MAX + 1, 253402300800, -(2**63))))
    if kind == 5:
        return "9" * rng.choice((19, 20, 400, 5000))
    if kind == 6:
        return rng.choice(("a[b]", "a]b[", "[]", "a=b", "a&b=c", "%00", "%zz", "../../etc/passwd"))
    if kind == 7:
        return rng.choice(("true", "false", "now", "null", "{}", "[]", '{"a":1}'))
    if kind == 8:
        return "line one\nline two\\n = x"
    return secrets.token_hex(rng.randint(1, 8))


def pick_id(rng: random.Random, known: list[str], prefix: str) -> str:
    if known and rng.random() < 0.7:
        return rng.choice(known)
    return rng.choice(
        (prefix + "_" + secrets.token_hex(8), prefix + "_" + hostile_text(rng), hostile_text(rng))
    )


def path_part(text: str) -> str:
    return quote(text, safe="") or "%20"


@dataclass
class Report:
    requests: int = 0
    statuses: Counter[int] = field(default_factory=Counter)
    failures: list[str] = field(default_factory=list)
    checked_creates: int = 0
    seconds: float = 0.0

    def fail(self, message: str) -> None:
        self.failures.append(message)


@dataclass
class Actor:
    """One client: an account, its dashboard session, and what it created."""

    index: int
    key: str
    http: httpx.AsyncClient
    rng: random.Random
    report: Report
    csrf: str = ""
    files: list[str] = field(default_factory=list)
    linkable_files: list[str] = field(default_factory=list)
    links: list[str] = field(default_factory=list)
    link_urls: list[str] = field(default_factory=list)
    request_ids: list[str] = field(default_factory=list)
    # the Stripe-Account (connected account) each create was made in, None for the account's own
    made_in: dict[str, str | None] = field(default_factory=dict)

    def created(self, response: httpx.Response, object_id: str) -> None:
        self.made_in[object_id] = response.request.headers.get("stripe-account")

    # --- one request, checked ------------------------------------------------------------------

    async def send(
        self,
        method: str,
        url: str,
        *,
        expect_refused: bool = False,
        **kwargs: Any,
    ) -> httpx.Response | None:
        report = self.report
        report.requests += 1
        if "headers" in kwargs:  # sent as latin-1, as a header may be
            kwargs["headers"] = {
                name: value.encode("latin-1", "replace") if isinstance(value, str) else value
                for name, value in kwargs["headers"].items()
            }
        try:
            response = await self.http.request(method, url, **kwargs)
        except httpx.HTTPError as exc:
            report.fail(f"{method} {url[:200]}: no answer ({type(exc).__name__}: {exc})")
            return None
        report.statuses[response.status_code] += 1
        self.check(method, url, response, expect_refused=expect_refused)
        return response

    def check(
        self, method: str, url: str, response: httpx.Response, *, expect_refused: bool
    ) -> None:
        status = response.status_code
        where = f"{method} {url[:200]} -> {status}"
        if status >= 500:
            self.report.fail(f"{where}: {response.text[:300]}")
            return
        path = urlsplit(url).path
        stripe_path = path.startswith(("/v1", "/_emulator", "/links/"))
        if stripe_path:
            request_id = response.headers.get("request-id", "")
            if not REQUEST_ID.match(request_id):
                self.report.fail(f"{where}: no Request-Id")
            elif path.startswith("/v1") and len(self.request_ids) < 200:
                self.request_ids.append(request_id)
        if stripe_path and status >= 400 and method != "HEAD":
            try:
                error = orjson.loads(response.content)["error"]
                ok = (
                    response.headers.get("content-type") == "application/json"
                    and isinstance(error, dict)
                    and isinstance(error.get("type"), str)
                    and isinstance(error.get("message"), str)
                    and error["message"] != ""
                )
            except (orjson.JSONDecodeError, KeyError, TypeError):
                ok = False
            if not ok:
                self.report.fail(f"{where}: not Stripe's error envelope: {response.text[:300]}")
        if expect_refused and status < 400:  # 403; or 400, 404: a body or path it refused first
            self.report.fail(f"{where}: a form that should have been refused was not")

    # --- the Stripe API ----------------------------------------------------------------------------

    def auth(self, **extra: Any) -> dict[str, Any]:
        headers = {"Authorization": f"Bearer {self.key}", **extra}
        rng = self.rng
        if rng.random() < 0.1:
            headers["Stripe-Version"] = rng.choice(
                ("2020-08-27", "2026-06-24.dahlia", "garbage", "9" * 50)
            )
        if rng.random() < 0.03:
            headers["Stripe-Account"] = rng.choice(("acct_1Fuzz", "acct_" + "x" * 100, "bad"))
        if rng.random() < 0.2:
            headers["Idempotency-Key"] = rng.choice(
                (secrets.token_hex(8), "fuzz-shared-key", "k" * 255, "k" * 256, "ünï", "a\tb")
            )
        return headers

    async def upload(self) -> None:
        rng = self.rng
        if rng.random() < 0.5:  # a plain upload, as an SDK sends it
            got = await self.send(
                "POST",
                "/v1/files",
                data={"purpose": "dispute_evidence"},
                files={"file": ("a.pdf", samples.pdf(secrets.token_hex(4)), "application/pdf")},
                headers=self.auth(),
            )
            if got is not None and got.status_code == 200:
                self.files.append(got.json()["id"])
                self.linkable_files.append(got.json()["id"])
                self.created(got, got.json()["id"])
            return
        purpose = rng.choice(PURPOSES) if rng.random() < 0.5 else "dispute_evidence"
        content, name = rng.choice(
            (
                (samples.pdf(secrets.token_hex(4)), "a.pdf"),
                (samples.png(), "logo.png"),
                (samples.csv(), "rows.csv"),
                (secrets.token_bytes(rng.randint(0, 64)), "random.bin"),
                (b"", "empty.pdf"),
            )
        )
        if rng.random() < 0.2:
            name = hostile_text(rng).replace("\x00", "") + ".pdf"
        data: dict[str, Any] = {"purpose": purpose}
        if rng.random() < 0.3:
            data["file_link_data[create]"] = rng.choice(("true", "false", "yes"))
            if rng.random() < 0.5:
                data["file_link_data[expires_at]"] = rng.choice(
                    ("1", str(INT64_MAX), "253402300800", "x")
                )
            if rng.random() < 0.5:
                data[f"file_link_data[metadata][{hostile_text(rng)[:40]}]"] = hostile_text(rng)[
                    :500
                ]
        if rng.random() < 0.1:
            data[hostile_text(rng)] = hostile_text(rng)
        path = "/v1/files" if rng.random() < 0.85 else "/_emulator/files"
        got = await self.send(
            "POST",
            path,
            data=data,
            files={"file": (name, content, "application/octet-stream")},
            headers=self.auth(),
        )
        if got is not None and got.status_code == 200:
            created = got.json()
            self.files.append(created["id"])
            self.created(got, created["id"])
            if created.get("links", {}).get("data"):
                self.links.append(created["links"]["data"][0]["id"])
                self.created(got, self.links[-1])
            if purpose in (
                "dispute_evidence",
                "business_logo",
                "sigma_scheduled_query",
                "finance_report_run",
            ):
                self.linkable_files.append(created["id"])

    async def create_link(self) -> None:
        rng = self.rng
        data: dict[str, Any] = {"file": pick_id(rng, self.linkable_files, "file")}
        if rng.random() < 0.3:
            data["expires_at"] = rng.choice(
                (
                    "2100000000",
                    "253402300800",
                    str(INT64_MAX),
                    "1",
                    "-1",
                    "now",
                    "",
                    "9" * 30,
                    hostile_text(rng),
                )
            )
        for _ in range(rng.choice((0, 0, 0, 1, 2, 51))):
            data[f"metadata[{hostile_text(rng)}]"] = hostile_text(rng)
        if rng.random() < 0.05:
            data["metadata"] = ""
        if rng.random() < 0.05:
            data["expand[]"] = rng.choice(("file", "file.links", "nope"))
        got = await self.send("POST", "/v1/file_links", data=data, headers=self.auth())
        if got is not None and got.status_code == 200:
            link = got.json()
            self.links.append(link["id"])
            self.created(got, link["id"])
            if link.get("url"):
                self.link_urls.append(link["url"])

    async def update_link(self) -> None:
        rng = self.rng
        link_id = pick_id(rng, self.links, "link")
        data: dict[str, Any] = {}
        if rng.random() < 0.5:
            data["expires_at"] = rng.choice(
                ("now", "", "2200000000", str(INT64_MAX), hostile_text(rng))
            )
        if rng.random() < 0.7:
            data[f"metadata[{hostile_text(rng)}]"] = hostile_text(rng)
        await self.send(
            "POST", f"/v1/file_links/{path_part(link_id)}", data=data, headers=self.auth()
        )

    async def retrieve(self) -> None:
        rng = self.rng
        kind = rng.randrange(3)
        if kind == 0:
            url = f"/v1/files/{path_part(pick_id(rng, self.files, 'file'))}"
        elif kind == 1:
            url = f"/v1/file_links/{path_part(pick_id(rng, self.links, 'link'))}"
        else:
            url = f"/v1/files/{path_part(pick_id(rng, self.linkable_files, 'file'))}/contents"
        params = {"expand[]": rng.choice(("file", "links", "x"))} if rng.random() < 0.2 else None
        headers = self.auth()
        if kind == 2 and rng.random() < 0.5:
            headers["Range"] = rng.choice(RANGES).encode("latin-1")
        await self.send(
            rng.choice(("GET", "GET", "GET", "HEAD")) if kind == 2 else "GET",
            url,
            params=params,
            headers=headers,
        )

    async def list_objects(self) -> None:
        rng = self.rng
        url = rng.choice(("/v1/files", "/v1/file_links"))
        params: list[tuple[str, str]] = []
        for name, values in (
            ("limit", ("1", "3", "100", "0", "101", "x", "9" * 30)),
            ("starting_after", (pick_id(rng, self.files + self.links, "file"),)),
            ("ending_before", (pick_id(rng, self.files + self.links, "link"),)),
            ("created[gte]", ("0", str(INT64_MAX), "x")),
            ("created", ("1800000000",)),
            ("expired", ("true", "false", "maybe")),
            ("purpose", PURPOSES),
            ("file", (pick_id(rng, self.files, "file"),)),
            ("expand[]", ("data.file", "data.links", "file")),
            (hostile_text(rng), (hostile_text(rng),)),
        ):
            if rng.random() < 0.2:
                params.append((name, rng.choice(values)))
        await self.send("GET", url, params=params, headers=self.auth())

    async def garbage(self) -> None:
        rng = self.rng
        method = rng.choice(("GET", "POST", "DELETE", "PUT", "PATCH", "OPTIONS", "PROPFIND"))
        path = rng.choice(
            ("/v1/", "/v1/files/x/y/z", "/v1/charges", "/_emulator/", "/_emulator/nope", "/links/")
        )
        path += path_part(hostile_text(rng))
        kwargs: dict[str, Any] = {"headers": self.auth()}
        if method in ("POST", "PUT", "PATCH"):
            kwargs["content"] = rng.choice(
                (
                    b"a=1&a[b]=2",
                    b"%zz=%",
                    b'{"json": true}',
                    secrets.token_bytes(32),
                    b"file=" + b"x" * 5000,
                )
            )
            kwargs["headers"]["Content-Type"] = rng.choice(
                (
                    "application/x-www-form-urlencoded",
                    "application/json",
                    "multipart/form-data; boundary=x",
                    "text/plain",
                )
            )
        if rng.random() < 0.2:
            kwargs["headers"]["Authorization"] = rng.choice(
                ("Bearer pk_test_x", "Bearer sk_test_", "Basic !!", "x")
            )
        await self.send(method, path, **kwargs)

    # --- /_emulator: controls and the request log -------------------------------------------------

    async def clock(self) -> None:
        rng = self.rng
        if rng.random() < 0.4:
            await self.send("GET", "/_emulator/clock", headers=self.auth())
            return
        data = rng.choice(
            (
                {"advance": str(rng.choice((60, 3600, 86400 * 30)))},
                {
                    "frozen_at": str(
                        rng.choice((1_800_000_000, 2_100_000_000, 253402300799, 253402300800))
                    )
                },
                {"reset": "true"},
                {"advance": rng.choice(("-1", str(INT64_MAX), "x", "9" * 30))},
                {"frozen_at": "1", "advance": "1"},
                {},
            )
        )
        await self.send("POST", "/_emulator/clock", data=data, headers=self.auth())

    async def request_log(self) -> None:
        rng = self.rng
        kind = rng.randrange(10)
        if kind < 6:
            params: list[tuple[str, str]] = []
            for name, values in (
                ("method", ("GET", "post", "\x00", "X" * 20)),
                ("path", ("/v1/files", "/v1/", "%", "_", "\x00")),
                ("status", ("200", "4xx", "5xx", "99", "600", "x", "\x00")),
                ("idempotency_key", ("fuzz-shared-key", "\x00", "k" * 300)),
                ("limit", ("1", "100", "0")),
                ("starting_after", (rng.choice(self.request_ids or ["req_x"]), "\x00")),
                ("created[lt]", ("0", str(INT64_MAX))),
            ):
                if rng.random() < 0.3:
                    params.append((name, rng.choice(values)))
            await self.send("GET", "/_emulator/requests", params=params, headers=self.auth())
        elif kind < 9:
            request_id = (
                rng.choice(self.request_ids)
                if self.request_ids and rng.random() < 0.7
                else hostile_text(rng)
            )
            await self.send(
                "GET", f"/_emulator/requests/{path_part(request_id)}", headers=self.auth()
            )
        else:
            await self.send("DELETE", "/_emulator/requests", headers=self.auth())

    async def reset_data(self) -> None:
        got = await self.send("DELETE", "/_emulator/data", headers=self.auth())
        if got is not None and got.status_code == 200:
            self.files.clear()
            self.linkable_files.clear()
            self.links.clear()
            self.link_urls.clear()
            self.made_in.clear()

    # --- public links and /metrics ------------------------------------------------------------------

    async def public_link(self) -> None:
        rng = self.rng
        if self.link_urls and rng.random() < 0.7:
            path = urlsplit(rng.choice(self.link_urls)).path
        else:
            path = "/links/" + path_part(hostile_text(rng))
        headers = {"Range": rng.choice(RANGES).encode("latin-1")} if rng.random() < 0.7 else {}
        await self.send(rng.choice(("GET", "GET", "HEAD")), path, headers=headers)

    async def metrics(self) -> None:
        await self.send(
            "GET", self.rng.choice(("/metrics", "/metrics", "/healthz", "/openapi.json"))
        )

    # --- the dashboard --------------------------------------------------------------------------------

    async def sign_in(self) -> None:
        page = await self.send("GET", "/dashboard/signin")
        token = CSRF.search(page.text) if page is not None else None
        if token is None:
            self.report.fail(f"client {self.index}: the sign-in page has no form token")
            return
        await self.send(
            "POST", "/dashboard/signin", data={"csrf_token": token.group(1), "api_key": self.key}
        )
        home = await self.send("GET", "/dashboard")
        found = CSRF.search(home.text) if home is not None else None
        self.csrf = found.group(1) if found else ""

    async def dashboard_session(self) -> None:
        """Sign out and in again, or look at the sign-in page from odd places."""
        rng = self.rng
        if rng.random() < 0.5:
            params = {"next": rng.choice(("/dashboard/files", "//evil.example", hostile_text(rng)))}
            headers = (
                {"Sec-Fetch-Site": "cross-site", "Sec-Fetch-Mode": "navigate"}
                if rng.random() < 0.5
                else {}
            )
            await self.send("GET", "/dashboard/signin", params=params, headers=headers)
            return
        await self.send("POST", "/dashboard/signout", data={"csrf_token": self.csrf})
        await self.sign_in()

    async def dashboard_page(self) -> None:
        rng = self.rng
        choices = [
            "/dashboard",
            "/dashboard/logs",
            "/dashboard/files",
            "/dashboard/file_links",
            "/dashboard/clock",
            "/dashboard/nope/" + path_part(hostile_text(rng)),
            "/dashboard/logs/"
            + path_part(rng.choice(self.request_ids) if self.request_ids else hostile_text(rng)),
            "/dashboard/files/" + path_part(pick_id(rng, self.files, "file")),
            "/dashboard/files/"
            + path_part(pick_id(rng, self.linkable_files, "file"))
            + "/contents",
            "/dashboard/assets/"
            + rng.choice(("dashboard.css", "dashboard.js", path_part(hostile_text(rng)))),
        ]
        url = rng.choice(choices)
        params: list[tuple[str, str]] = []
        for name in (
            "method",
            "status",
            "path",
            "idempotency_key",
            "purpose",
            "expired",
            "file",
            "starting_after",
            "ending_before",
            "link",
            "done",
        ):
            if rng.random() < 0.1:
                params.append((name, hostile_text(rng)))
        headers = {}
        if rng.random() < 0.1:
            headers = {"Sec-Fetch-Site": "cross-site", "Sec-Fetch-Mode": "navigate"}
        if rng.random() < 0.05:
            url = "/dashboard/signin"
        await self.send("GET", url, params=params, headers=headers)

    async def dashboard_form(self) -> None:
        rng = self.rng
        link_id = pick_id(rng, self.links, "link")
        kind = rng.randrange(5)
        if kind == 0:
            url = "/dashboard/file_links"
            data = {
                "file": pick_id(rng, self.linkable_files, "file"),
                "expires_in": rng.choice(("", "1", "24", "-1", "9" * 30, "x")),
                "expires_unit": rng.choice(("hours", "days", "seconds", "weeks")),
                "metadata": rng.choice(
                    (
                        "",
                        "a=b",
                        "a=b\nc=d",
                        "no equals",
                        hostile_text(rng) + "=" + hostile_text(rng),
                        "k\\=1=\\x20v\\u2028",
                    )
                ),
            }
        elif kind == 1:
            url = f"/dashboard/file_links/{path_part(link_id)}/metadata"
            data = {
                "metadata": rng.choice(
                    ("a=1", "", "x", hostile_text(rng) + "=" + hostile_text(rng))
                ),
                "shown_keys": rng.choice(
                    (
                        '["a"]',
                        "[]",
                        '{"a":1}',
                        "1",
                        "null",
                        "[1,[2]]",
                        "not json",
                        '["' + "k" * 50 + '"]',
                    )
                ),
            }
        elif kind == 2:
            url = f"/dashboard/file_links/{path_part(link_id)}/expire"
            data = {}
        elif kind == 3:
            url = "/dashboard/clock"
            data = rng.choice(
                (
                    {
                        "action": "advance",
                        "advance_by": rng.choice(("1", "24", "-1", "9" * 30)),
                        "advance_unit": "hours",
                    },
                    {
                        "action": "freeze",
                        "frozen_at": rng.choice(
                            ("2030-01-01T00:00", "9999-12-31T23:59:59", "x", "")
                        ),
                    },
                    {"action": "reset"},
                    {"action": hostile_text(rng)},
                )
            )
        else:
            url = f"/dashboard/files/{path_part(pick_id(rng, self.linkable_files, 'file'))}/file_links"
            data = {"expires_in": rng.choice(("", "2")), "expires_unit": "days", "metadata": "a=b"}
        data["back"] = rng.choice(("", "expired=true", "file=" + hostile_text(rng)))
        token_kind = rng.randrange(10)
        headers: dict[str, str] = {}
        refused = False
        if token_kind == 0:
            refused = True  # no token
        elif token_kind == 1:
            data["csrf_token"] = "0" * 64
            refused = True
        elif token_kind == 2:
            data["csrf_token"] = self.csrf
            headers = rng.choice(
                (
                    {"Sec-Fetch-Site": "cross-site"},
                    {"Origin": "https://evil.example"},
                    {"Sec-Fetch-Site": "same-site"},
                )
            )
            refused = True
        else:
            data["csrf_token"] = self.csrf
            if rng.random() < 0.3:
                headers = {
                    "Sec-Fetch-Site": "same-origin",
                    "Origin": str(self.http.base_url).rstrip("/"),
                }
        got = await self.send("POST", url, data=data, headers=headers, expect_refused=refused)
        if got is not None and got.status_code == 303 and kind in (0, 4):
            found = LINK_IN_LOCATION.search(got.headers.get("location", ""))
            if found and "done=created" in got.headers.get("location", ""):
                self.links.append(found.group(1))
                self.made_in[found.group(1)] = None

    # --- the loop ------------------------------------------------------------------------------------

    async def run(self, budget: Callable[[], bool]) -> None:
        await self.sign_in()
        menu: list[tuple[Callable[[], Awaitable[None]], int]] = [
            (self.upload, 32),
            (self.create_link, 40),
            (self.update_link, 24),
            (self.retrieve, 56),
            (self.list_objects, 32),
            (self.garbage, 24),
            (self.clock, 12),
            (self.request_log, 28),
            (self.public_link, 40),
            (self.metrics, 8),
            (self.dashboard_page, 48),
            (self.dashboard_form, 32),
            (self.dashboard_session, 4),
        ]
        if self.index % 4 == 0:  # a client in four also resets its data, rarely: what it had
            menu.append((self.reset_data, 1))  # created before is then no longer checked
        actions = [action for action, _ in menu]
        weights = [weight for _, weight in menu]
        while budget():
            await self.rng.choices(actions, weights)[0]()

    async def verify(self) -> None:
        """Every acknowledged create, still there (this account did not reset since)."""
        for object_id, stripe_account in self.made_in.items():
            kind = "files" if object_id.startswith("file_") else "file_links"
            headers = {"Authorization": f"Bearer {self.key}"}
            if stripe_account is not None:
                headers["Stripe-Account"] = stripe_account
            self.report.checked_creates += 1
            got = await self.http.get(f"/v1/{kind}/{object_id}", headers=headers)
            if got.status_code != 200:
                self.report.fail(
                    f"acknowledged {object_id} not retrievable: {got.status_code} {got.text[:200]}"
                )


async def fuzz(base_url: str, *, requests: int, clients: int, seed: int) -> Report:
    """`requests` requests (about: each client finishes the one it is on) from `clients`
    concurrent clients against the service at `base_url`, then the verification."""
    report = Report()
    started = time.monotonic()
    limits = httpx.Limits(max_connections=1, max_keepalive_connections=1)
    actors = [
        Actor(
            index=index,
            key=f"sk_test_fuzz{seed:04d}{index:03d}{secrets.token_hex(8)}",
            http=httpx.AsyncClient(
                base_url=base_url, timeout=60, limits=limits, follow_redirects=False
            ),
            rng=random.Random(seed * 1000 + index),
            report=report,
        )
        for index in range(clients)
    ]
    try:
        await asyncio.gather(*(actor.run(lambda: report.requests < requests) for actor in actors))
        await asyncio.gather(*(actor.verify() for actor in actors))
    finally:
        await asyncio.gather(*(actor.http.aclose() for actor in actors))
    report.seconds = time.monotonic() - started
    return report


def logged_errors(log_text: str) -> list[str]:
    """Lines of the service's own log (text or JSON) that report a failure."""
    return [
        line
        for line in log_text.splitlines()
        if " ERROR " in line or '"level":"error"' in line or line.startswith("Traceback")
    ]


# --- the full run -------------------------------------------------------------------------------


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--requests", type=int, default=100_000)
    parser.add_argument("--clients", type=int, default=8)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--seed", type=int, default=21)
    parser.add_argument("--db", action="append", choices=("sqlite", "postgresql"))
    parser.add_argument(
        "--postgres-url",
        default="postgresql+psycopg://postgres@127.0.0.1:5432/test",
        help="a database in which the run may create and drop a schema",
    )
    args = parser.parse_args(argv)
    os.environ.setdefault("FILELINKS_TEST_DATABASE_URL", args.postgres_url)
    from tests.conftest import create_postgres_schema, drop_postgres_schema, postgres_schema_url
    from tests.e2e.conftest import start_server

    failed = False
    for db in args.db or ["sqlite"]:
        with tempfile.TemporaryDirectory(prefix="filelinks-fuzz-") as tmp:
            schema = url = None
            if db == "postgresql":
                schema = f"filelinks_fuzz_{secrets.token_hex(4)}"
                create_postgres_schema(schema)
                url = postgres_schema_url(schema)
            server = start_server(Path(tmp) / "data", database_url=url, workers=args.workers)
            try:
                report = asyncio.run(
                    fuzz(server.url, requests=args.requests, clients=args.clients, seed=args.seed)
                )
            finally:
                server.stop()
                if schema:
                    drop_postgres_schema(schema)
            log_text = server.log_text()
            errors = logged_errors(log_text)
        failures = report.failures + [f"logged: {line}" for line in errors]
        statuses = ", ".join(
            f"{status}: {count}" for status, count in sorted(report.statuses.items())
        )
        print(
            f"{db}: {report.requests} requests from {args.clients} clients to {args.workers} workers"
            f" in {report.seconds:.1f} s ({report.requests / report.seconds:.0f}/s);"
            f" {report.checked_creates} acknowledged creates retrieved afterwards;"
            f" {len(failures)} failures"
        )
        print(f"  statuses: {statuses}")
        for failure in failures[:30]:
            print(f"  FAIL {failure}")
        if errors and os.environ.get("FUZZ_SAVE_LOG"):
            Path(os.environ["FUZZ_SAVE_LOG"]).write_text(log_text)
        failed = failed or bool(failures)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
