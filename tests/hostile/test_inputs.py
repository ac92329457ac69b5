"""Hostile input: every request below is refused with Stripe's error envelope (or served
harmlessly), never a 5xx; nothing is stored for a refused upload; the objects already there
stay as they were; and the service keeps answering after each one."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlencode

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from filelinks_api.config import Settings
from filelinks_api.storage import CHUNK, LocalStaged, LocalStorage
from tests import samples
from tests.hostile.checks import (
    MULTIPART,
    answered,
    multipart,
    part,
    staged_files,
    stored_files,
    stripe_error,
)

UPLOAD_CAP = 1_000_000  # small, so an oversized upload is quick to send
LOGO_LIMIT = 512_000  # business_logo's limit (Stripe: 512 KB)
FORM = {"Content-Type": "application/x-www-form-urlencoded"}


@pytest.fixture
def settings(tmp_path: Path, backend_url: str) -> Settings:
    return Settings(  # type: ignore[call-arg]
        data_dir=tmp_path / "data",
        database_url=backend_url,
        max_upload_bytes=UPLOAD_CAP,
        _env_file=None,
    )


@pytest.fixture
def files_dir(settings: Settings) -> Path:
    return settings.files_dir


@pytest.fixture
def existing(client: TestClient) -> dict[str, Any]:
    """An object the account already has: hostile requests must neither reach nor harm it."""
    content = samples.pdf("existing")
    file = client.post(
        "/v1/files",
        files={"file": ("existing.pdf", content, "application/pdf")},
        data={
            "purpose": "dispute_evidence",
            "file_link_data[create]": "true",
            "file_link_data[metadata][owner]": "alice",
        },
    ).json()
    link = file["links"]["data"][0]
    return {"file": file, "link": link, "content": content}


@pytest.fixture(autouse=True)
def keeps_answering(client: TestClient, existing: dict[str, Any]) -> Iterator[None]:
    yield
    listed = client.get("/v1/file_links", params={"file": existing["file"]["id"]})
    assert listed.status_code == 200, listed.text
    assert existing["link"]["id"] in [link["id"] for link in listed.json()["data"]]
    link = client.get(f"/v1/file_links/{existing['link']['id']}").json()
    assert link["metadata"] == {"owner": "alice"}
    assert client.get(link["url"]).content == existing["content"]


def upload(client: TestClient, body: bytes, **headers: str) -> Any:
    return client.post("/v1/files", content=body, headers={**MULTIPART, **headers})


def pdf_part(content: bytes | None = None, filename: bytes = b"a.pdf") -> bytes:
    return part(b"file", content if content is not None else samples.pdf(), filename)


PURPOSE = part(b"purpose", b"dispute_evidence")


# --- oversized bodies and uploads ------------------------------------------------------------


class TestOversized:
    def test_streamed_form_body_over_the_limit_is_a_413(
        self, client: TestClient, settings: Settings
    ) -> None:
        def chunks() -> Iterator[bytes]:  # no Content-Length: only counting can stop it
            yield b"file=file_x&metadata[a]="
            for _ in range(settings.max_body_bytes // CHUNK + 2):
                yield b"x" * CHUNK

        stripe_error(client.post("/v1/file_links", content=chunks(), headers=FORM), 413)

    def test_declared_form_body_over_the_limit_is_a_413(
        self, client: TestClient, settings: Settings
    ) -> None:
        body = b"metadata[a]=" + b"x" * settings.max_body_bytes
        stripe_error(client.post("/v1/file_links", content=body, headers=FORM), 413)

    def test_upload_over_the_cap_is_refused_and_leaves_nothing(
        self, client: TestClient, files_dir: Path
    ) -> None:
        before = stored_files(files_dir)
        body = multipart(PURPOSE, pdf_part(samples.pdf(pad=UPLOAD_CAP)))
        assert stripe_error(upload(client, body), 400)["param"] == "file"
        assert staged_files(files_dir) == []
        assert stored_files(files_dir) == before

    def test_multipart_fields_over_the_body_limit_are_a_413(
        self, client: TestClient, settings: Settings, files_dir: Path
    ) -> None:
        fields = [part(b"metadata[k%d]" % i, b"v" * 60_000) for i in range(20)]
        stripe_error(upload(client, multipart(PURPOSE, *fields, pdf_part())), 413)
        assert staged_files(files_dir) == []

    def test_huge_part_headers_are_refused(
        self, client: TestClient, settings: Settings, files_dir: Path
    ) -> None:
        header = b"X-Padding: " + b"h" * settings.max_body_bytes + b"\r\n"
        stripe_error(upload(client, multipart(header + pdf_part())))
        assert staged_files(files_dir) == []


def post_in_chunks(app: FastAPI, path: str, body: bytes, key: str) -> tuple[int, Any, int]:
    """POST `body` straight to the ASGI app in CHUNK-sized messages, as uvicorn delivers a
    real upload (TestClient sends it in one); returns the status, the JSON, chunks read."""
    pieces = [body[i : i + CHUNK] for i in range(0, len(body), CHUNK)]
    read = 0
    sent: list[dict[str, Any]] = []
    scope = {
        "type": "http",
        "asgi": {"version": "3.0", "spec_version": "2.3"},
        "http_version": "1.1",
        "method": "POST",
        "scheme": "http",
        "path": path,
        "raw_path": path.encode(),
        "query_string": b"",
        "root_path": "",
        "headers": [
            (b"authorization", f"Bearer {key}".encode()),
            (b"content-type", MULTIPART["Content-Type"].encode()),
            (b"content-length", str(len(body)).encode()),
        ],
        "client": ("127.0.0.1", 50000),
        "server": ("testserver", 80),
    }

    async def receive() -> dict[str, Any]:
        nonlocal read
        if read == len(pieces):
            return {"type": "http.disconnect"}
        read += 1
        return {"type": "http.request", "body": pieces[read - 1], "more_body": read < len(pieces)}

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    asyncio.run(app(scope, receive, send))
    status = next(m["status"] for m in sent if m["type"] == "http.response.start")
    answer = json.loads(
        b"".join(m.get("body", b"") for m in sent if m["type"] == "http.response.body")
    )
    return status, answer, read


class TestPerPurposeLimitWhileStreaming:
    """An upload over its purpose's limit stops once that much has arrived, not at the cap."""

    @pytest.fixture
    def staged_sizes(self, app: FastAPI, monkeypatch: pytest.MonkeyPatch) -> list[LocalStaged]:
        storage: LocalStorage = app.state.runtime.storage
        opened: list[LocalStaged] = []
        stage = storage.stage

        def spying_stage() -> LocalStaged:
            opened.append(stage())
            return opened[-1]

        monkeypatch.setattr(storage, "stage", spying_stage)
        return opened

    def test_oversized_logo_stops_at_its_limit(
        self, app: FastAPI, api_key: str, staged_sizes: list[LocalStaged], files_dir: Path
    ) -> None:
        logo = samples.png() + b"\x00" * (UPLOAD_CAP - 100_000)  # under the cap, over 512 KB
        body = multipart(part(b"purpose", b"business_logo"), part(b"file", logo, b"logo.png"))
        status, answer, chunks_read = post_in_chunks(app, "/v1/files", body, api_key)
        assert status == 400
        assert answer["error"]["param"] == "file"
        assert [staged.size for staged in staged_sizes] != []
        assert max(staged.size for staged in staged_sizes) <= LOGO_LIMIT + CHUNK
        assert chunks_read <= LOGO_LIMIT // CHUNK + 2  # the rest of the body was never read
        assert len(body) // CHUNK > LOGO_LIMIT // CHUNK + 4
        assert staged_files(files_dir) == []

    def test_logo_sent_before_its_purpose_is_still_refused_after_upload(
        self, client: TestClient, files_dir: Path
    ) -> None:
        logo = samples.png() + b"\x00" * (LOGO_LIMIT + 1)
        body = multipart(part(b"file", logo, b"logo.png"), part(b"purpose", b"business_logo"))
        error = stripe_error(upload(client, body), 400)
        assert "business_logo" in error["message"]
        assert staged_files(files_dir) == []

    def test_logo_at_its_limit_is_accepted(self, client: TestClient) -> None:
        logo = samples.png()
        logo += b"\x00" * (LOGO_LIMIT - len(logo))
        body = multipart(part(b"purpose", b"business_logo"), part(b"file", logo, b"logo.png"))
        got = upload(client, body)
        assert got.status_code == 200, got.text
        assert got.json()["size"] == LOGO_LIMIT


# --- many parameters, deep nesting -----------------------------------------------------------


class TestManyParameters:
    def test_ten_thousand_in_a_query_string(self, client: TestClient) -> None:
        query = "&".join(["a=1"] * 10_000)  # repeated: distinct names would pass 64 KiB of URL
        assert "Too many parameters" in stripe_error(client.get(f"/v1/files?{query}"))["message"]

    def test_ten_thousand_in_a_form_body(self, client: TestClient) -> None:
        body = "&".join(f"metadata[k{i}]=v" for i in range(10_000))
        got = client.post("/v1/file_links", content=body, headers=FORM)
        assert "Too many parameters" in stripe_error(got)["message"]

    def test_ten_thousand_multipart_fields(self, client: TestClient, files_dir: Path) -> None:
        fields = [part(b"metadata[k%d]" % i, b"v") for i in range(10_000)]
        body = multipart(PURPOSE, *fields, pdf_part())
        assert "Too many parameters" in stripe_error(upload(client, body))["message"]
        assert staged_files(files_dir) == []

    def test_ten_thousand_metadata_keys_in_an_update(
        self, client: TestClient, existing: dict[str, Any]
    ) -> None:
        body = urlencode({f"metadata[k{i}]": "v" for i in range(10_000)})
        got = client.post(f"/v1/file_links/{existing['link']['id']}", content=body, headers=FORM)
        stripe_error(got, 400)

    def test_repeated_expand_within_the_limit_is_served(
        self, client: TestClient, existing: dict[str, Any]
    ) -> None:
        query = "&".join(["expand[]=file"] * 999)
        got = client.get(f"/v1/file_links/{existing['link']['id']}?{query}")
        assert got.status_code == 200, got.text
        assert got.json()["file"]["id"] == existing["file"]["id"]


DEEP = "metadata" + "[a]" * 100


class TestDeepNesting:
    def test_in_a_query_string(self, client: TestClient) -> None:
        error = stripe_error(client.get(f"/v1/file_links?{quote(DEEP)}=v"), 400)
        assert "nested" in error["message"]

    def test_in_a_form_body(self, client: TestClient) -> None:
        got = client.post("/v1/file_links", content=f"{DEEP}=v", headers=FORM)
        assert "nested" in stripe_error(got, 400)["message"]

    def test_in_a_multipart_field(self, client: TestClient, files_dir: Path) -> None:
        body = multipart(PURPOSE, part(DEEP.encode(), b"v"), pdf_part())
        assert "nested" in stripe_error(upload(client, body), 400)["message"]
        assert staged_files(files_dir) == []

    @pytest.mark.parametrize(
        "key",
        ["expand" + "[]" * 100, "[" * 100 + "]" * 100, "a" + "]" * 100, "a" + "[" * 100],
        ids=["empty-brackets", "brackets-only", "unbalanced-close", "unbalanced-open"],
    )
    def test_malformed_brackets(self, client: TestClient, key: str) -> None:
        stripe_error(client.get(f"/v1/file_links?{quote(key)}=v"), 400)


# --- invalid UTF-8 and NUL bytes -------------------------------------------------------------


class TestInvalidUtf8:
    @pytest.mark.parametrize(
        "query", ["%FF=1", "file=%FF%FE", "metadata%5B%C3%28%5D=1", "%ED%A0%80=1"]
    )
    def test_in_a_query_string(self, client: TestClient, query: str) -> None:
        stripe_error(client.get(f"/v1/file_links?{query}"), 400)

    @pytest.mark.parametrize(
        "body", [b"\xff=1", b"file=\xff\xfe", b"file=%ff", b"metadata[\xc3\x28]=v"]
    )
    def test_in_a_form_body(self, client: TestClient, body: bytes) -> None:
        stripe_error(client.post("/v1/file_links", content=body, headers=FORM), 400)

    @pytest.mark.parametrize(
        "field",
        [part(b"\xff\xfe", b"1"), part(b"purpose", b"dispute\xff"), pdf_part(filename=b"\xff.pdf")],
        ids=["name", "value", "filename"],
    )
    def test_in_a_multipart_part(self, client: TestClient, files_dir: Path, field: bytes) -> None:
        body = multipart(PURPOSE, field) if b"filename" in field else multipart(field, pdf_part())
        stripe_error(upload(client, body), 400)
        assert staged_files(files_dir) == []

    @pytest.mark.parametrize(
        "path", ["/v1/files/file_%FF%FE", "/v1/file_links/link_%C3%28", "/links/%FF"]
    )
    def test_in_an_id(self, client: TestClient, path: str) -> None:
        stripe_error(client.get(path), 404)

    def test_in_headers(self, client: TestClient, api_key: str) -> None:
        stripe_error(
            client.get("/v1/files", headers={"Authorization": b"Bearer sk_test_\xff"}), 401
        )
        got = client.get("/v1/files", headers={"Stripe-Account": b"acct_\xff\xfe"})
        stripe_error(got, 403)
        stripe_error(
            client.post(
                "/v1/file_links", data={"file": "file_x"}, headers={"Idempotency-Key": b"\xff\xfe"}
            ),
            400,
        )


class TestNulBytes:
    @pytest.mark.parametrize("query", ["file=file_%00", "%00=1", "metadata%5Ba%00b%5D=1"])
    def test_in_a_query_string(self, client: TestClient, query: str) -> None:
        assert "NUL" in stripe_error(client.get(f"/v1/file_links?{query}"), 400)["message"]

    @pytest.mark.parametrize(
        "body", [b"file=file_%00", b"metadata[%00]=v", b"file=a&metadata[a]=%00"]
    )
    def test_in_a_form_body(self, client: TestClient, body: bytes) -> None:
        got = client.post("/v1/file_links", content=body, headers=FORM)
        assert "NUL" in stripe_error(got, 400)["message"]

    @pytest.mark.parametrize(
        "field", [part(b"purpose", b"dispute\x00evidence"), part(b"meta\x00data[a]", b"v")]
    )
    def test_in_a_multipart_field(self, client: TestClient, files_dir: Path, field: bytes) -> None:
        stripe_error(upload(client, multipart(field, pdf_part())), 400)
        assert staged_files(files_dir) == []

    def test_in_a_filename_is_dropped(self, client: TestClient) -> None:
        got = upload(client, multipart(PURPOSE, pdf_part(filename=b"re\x00port.pdf")))
        assert got.status_code == 200, got.text
        assert got.json()["filename"] == "report.pdf"

    @pytest.mark.parametrize(
        ("method", "path"),
        [
            ("GET", "/v1/files/file_%00"),
            ("GET", "/v1/files/%00/contents"),
            ("GET", "/v1/file_links/link_%00"),
            ("POST", "/v1/file_links/link_%00"),
            ("GET", "/links/%00"),
        ],
    )
    def test_in_an_id(self, client: TestClient, method: str, path: str) -> None:
        stripe_error(client.request(method, path), 404)


# --- long ids and keys, metacharacters, traversal --------------------------------------------

HOSTILE_IDS = [
    "file_" + "a" * 10_000,
    "link_" + "b" * 300,
    "' OR '1'='1",
    "file_x'; DROP TABLE files; --",
    '"; DROP TABLE file_links; --',
    "$(touch /tmp/filelinks-pwned)",
    "`id`",
    "file_x | cat /etc/passwd",
    "%",
    "_",
    "*",
    "file_%",
    "../../etc/passwd",
    "..\\..\\windows\\win.ini",
    "/etc/passwd",
    "..",
    "filelinks.db",
    "\ufffd\ufffe",
    "𝔣𝔦𝔩𝔢",
    " ",
    "\r\nSet-Cookie: pwned=1",
]


def _endpoints(hostile: str) -> list[tuple[str, str, dict[str, str] | None]]:
    """Every place an id or token goes, with `hostile` in it (percent-encoded, %2F included)."""
    q = quote(hostile, safe="")
    return [
        ("GET", f"/v1/files/{q}", None),
        ("GET", f"/v1/files/{q}/contents", None),
        ("GET", f"/v1/file_links/{q}", None),
        ("POST", f"/v1/file_links/{q}", {"metadata[a]": "b"}),
        ("GET", f"/links/{q}", None),
        ("GET", f"/v1/files?starting_after={q}", None),
        ("GET", f"/v1/file_links?ending_before={q}", None),
        ("POST", "/v1/file_links", {"file": hostile}),
    ]


class TestHostileIds:
    @pytest.mark.parametrize("endpoint", range(len(_endpoints("x"))))
    def test_are_not_found(self, client: TestClient, endpoint: int) -> None:
        for hostile in HOSTILE_IDS:
            method, path, data = _endpoints(hostile)[endpoint]
            got = client.request(method, path, data=data)
            error = stripe_error(got)
            assert got.status_code in (400, 404), (method, path, got.text[:300])
            routable = "/" not in hostile and hostile != ".."  # else: no route matches
            if path.startswith("/v1/") and "?" not in path and method == "GET" and routable:
                if endpoint == 0 and len(hostile) > 5000:  # the spec's maxLength on {file}
                    assert error["param"] == "id", (path, error)
                    assert error["message"].endswith("; must be at most 5000 characters")
                else:
                    assert error.get("code") == "resource_missing", (path, error)

    def test_as_a_list_filter_match_nothing(self, client: TestClient) -> None:
        for hostile in HOSTILE_IDS:
            got = client.get("/v1/file_links", params={"file": hostile})
            if len(hostile) > 5000:  # the spec's maxLength on `file`: Stripe's 400
                assert stripe_error(got, 400)["param"] == "file"
                continue
            assert got.status_code == 200, (hostile, got.text)
            assert got.json()["data"] == [], hostile

    def test_a_real_id_with_traversal_around_it_is_not_found(
        self, client: TestClient, existing: dict[str, Any]
    ) -> None:
        file_id, token = existing["file"]["id"], existing["link"]["url"].rsplit("/", 1)[1]
        for path in [
            f"/v1/files/{file_id}%2F..%2F{file_id}/contents",
            f"/v1/files/..%2F{file_id}/contents",
            f"/v1/files/{file_id}%2F/contents",
            f"/v1/files/{file_id[:-2]}%2F{file_id}/contents",
            f"/links/..%2F{token}",
            f"/links/{token}%2F..",
            f"/links/{token}%00",
            f"/links/{token.upper()}",
        ]:
            stripe_error(client.get(path), 404)

    def test_long_idempotency_key_is_refused(self, client: TestClient) -> None:
        got = client.post(
            "/v1/file_links", data={"file": "file_x"}, headers={"Idempotency-Key": "k" * 10_000}
        )
        error = stripe_error(got, 400)
        assert error["type"] == "idempotency_error"
        assert error["message"].startswith("Idempotent key length is 10000 characters long")

    def test_idempotency_key_with_metacharacters_replays(
        self, client: TestClient, existing: dict[str, Any]
    ) -> None:
        key = "'; DROP TABLE idempotency_keys; -- $(id) %_*"
        data = {"file": existing["file"]["id"]}
        first = client.post("/v1/file_links", data=data, headers={"Idempotency-Key": key})
        again = client.post("/v1/file_links", data=data, headers={"Idempotency-Key": key})
        assert first.status_code == again.status_code == 200, first.text
        assert again.json()["id"] == first.json()["id"]
        assert again.headers["idempotent-replayed"] == "true"
        assert len(client.get("/v1/file_links").json()["data"]) == 2

    def test_metadata_with_metacharacters_is_stored_exactly(
        self, client: TestClient, existing: dict[str, Any]
    ) -> None:
        metadata = {
            "sql": "'; DROP TABLE file_links; --",
            "sh": "$(rm -rf /) `id` | tee /etc/passwd",
            "k'\"; --": "quoted key",
            "like": "%_*?",
            "path": "../../etc/passwd",
            "backslash": "\\x00\\",
            "json": '{"a": [1, "\\u0000"]}',
            "unicode": "𝔣𝔦𝔩𝔢 ☃ \u202e",
            "newline": "a\r\nSet-Cookie: x=1",
        }
        created = client.post(
            "/v1/file_links",
            data={
                "file": existing["file"]["id"],
                **{f"metadata[{k}]": v for k, v in metadata.items()},
            },
        )
        assert created.status_code == 200, created.text
        link_id = created.json()["id"]
        assert client.get(f"/v1/file_links/{link_id}").json()["metadata"] == metadata
        updated = client.post(f"/v1/file_links/{link_id}", data={"metadata[sql]": ""})
        assert updated.json()["metadata"] == {k: v for k, v in metadata.items() if k != "sql"}


TRAVERSAL_FILENAMES = [
    b"../../../../etc/passwd",
    b"/etc/passwd",
    b"..\\..\\windows\\win.ini",
    b"C:\\Windows\\System32\\drivers\\etc\\hosts",
    b"....//....//passwd",
    b"%2e%2e%2fpasswd",
    b"..",
    b"./",
    b"/",
    b"a/../../b.pdf",
    b"$(id).pdf",
    b"`reboot`;.pdf",
    b"\r\nX-Injected: 1.pdf",
    b"x" * 4000 + b".pdf",  # python-multipart refuses part headers over 4 KiB
]


def test_filenames_never_become_a_path(client: TestClient, settings: Settings) -> None:
    for number, filename in enumerate(TRAVERSAL_FILENAMES):
        content = samples.pdf(f"traversal {number}")
        got = upload(client, multipart(PURPOSE, pdf_part(content, filename=filename)))
        assert got.status_code == 200, got.text
        file = got.json()
        name = file["filename"]
        assert "/" not in name
        assert "\\" not in name
        assert not name.startswith(".")
        assert "\r" not in name
        assert "\n" not in name
        assert len(name) <= 255
        assert (
            settings.files_dir / "objects" / file["id"][-2:] / file["id"]
        ).read_bytes() == content
        # every stored byte is under objects/<2 chars>/<file id>, nowhere else
        written = [p for p in settings.data_dir.rglob("*") if p.is_file()]
        for path in written:
            relative = path.relative_to(settings.data_dir)
            assert relative.parts[:2] == ("files", "objects") or relative.parent == Path("."), path
        downloaded = client.get(f"/v1/files/{file['id']}/contents")
        assert downloaded.content == content
        disposition = downloaded.headers["content-disposition"]
        assert "\r" not in disposition
        assert "\n" not in disposition
        assert "../" not in disposition


# --- content types and broken multipart ------------------------------------------------------


class TestContentTypes:
    def test_wrong_content_type_for_a_form_post(self, client: TestClient) -> None:
        for content_type in [
            b"application/json",
            b"text/plain",
            b"application/xml",
            b"multipart/form-data",
            b"multipart/form-data; boundary=",
            b"application/octet-stream",
            b"\xff/\xfe",
        ]:
            got = client.post(
                "/v1/file_links", content=b"file=file_x", headers={"Content-Type": content_type}
            )
            assert stripe_error(got, 400).get("param") != "file", content_type

    def test_missing_content_type_is_read_as_a_form(self, client: TestClient) -> None:
        got = client.post("/v1/file_links", content=b"file=file_missing")
        assert stripe_error(got, 400)["param"] == "file"  # parsed: the file does not exist

    def test_wrong_content_type_for_an_upload(self, client: TestClient, files_dir: Path) -> None:
        body = multipart(PURPOSE, pdf_part())
        for content_type in [
            None,
            "application/x-www-form-urlencoded",
            "application/json",
            "application/pdf",
            "multipart/mixed; boundary=9051914041544843365",
            "multipart/form-data",
            "multipart/form-data; boundary=wrong",
        ]:
            headers = {} if content_type is None else {"Content-Type": content_type}
            stripe_error(client.post("/v1/files", content=body, headers=headers), 400)
            assert staged_files(files_dir) == [], content_type
        assert len(client.get("/v1/files").json()["data"]) == 1


def _cut(body: bytes, marker: bytes, offset: int = 0) -> bytes:
    return body[: body.index(marker) + offset]


FULL = multipart(PURPOSE, pdf_part(samples.pdf(pad=200_000)))
TRUNCATED = {
    "empty": b"",
    "after-first-boundary": _cut(FULL, b"\r\n", 2),
    "inside-part-headers": _cut(FULL, b"form-data; name=", 5),
    "inside-the-file": FULL[: len(FULL) // 2],
    "before-closing-boundary": _cut(FULL, b"--" + b"9051914041544843365" + b"--"),
    "closing-boundary-without-dashes": FULL.replace(b"365--\r\n", b"365\r\n"),
    "garbage": b"\x00\xff" * 1000,
}


class TestBrokenMultipart:
    def test_truncated_or_garbled_body_stores_nothing(
        self, client: TestClient, files_dir: Path
    ) -> None:
        before = stored_files(files_dir)
        for name, body in TRUNCATED.items():
            stripe_error(upload(client, body), 400)
            assert staged_files(files_dir) == [], name
        assert stored_files(files_dir) == before

    def test_duplicate_file_part_is_refused_and_stores_nothing(
        self, client: TestClient, files_dir: Path
    ) -> None:
        before = stored_files(files_dir)
        body = multipart(PURPOSE, pdf_part(samples.pdf("one")), pdf_part(samples.pdf("two")))
        error = stripe_error(upload(client, body), 400)
        assert error["param"] == "file"
        assert staged_files(files_dir) == []
        assert stored_files(files_dir) == before
        assert len(client.get("/v1/files").json()["data"]) == 1

    def test_malformed_part_is_refused(self, client: TestClient, files_dir: Path) -> None:
        for bad_part in [
            b"\r\n\r\nno headers at all",
            b"Content-Type: text/plain\r\n\r\nno disposition",
            b'Content-Disposition: form-data; filename="a.pdf"\r\n\r\nno name',
            b"Content-Disposition: attachment\r\n\r\nnot form-data",
            b"not-a-header-line\r\n\r\nx",
            b"".join(b"X-H%d: v\r\n" % i for i in range(20)) + pdf_part(),
            part(b"upload", samples.pdf(), b"a.pdf"),
        ]:
            got = upload(client, multipart(PURPOSE, bad_part, pdf_part()))
            stripe_error(got, 400)
            assert staged_files(files_dir) == [], bad_part[:60]
        assert len(client.get("/v1/files").json()["data"]) == 1

    def test_repeated_purpose_field_keeps_the_last(self, client: TestClient) -> None:
        body = multipart(part(b"purpose", b"identity_document"), PURPOSE, pdf_part())
        got = upload(client, body)
        assert got.status_code == 200, got.text
        assert got.json()["purpose"] == "dispute_evidence"


def test_every_hostile_request_leaves_the_service_answering(client: TestClient) -> None:
    """A burst of all of the above kinds, in one session, then an ordinary upload."""
    for method, path, data in _endpoints(HOSTILE_IDS[3]) + _endpoints(HOSTILE_IDS[0]):
        answered(client.request(method, path, data=data))
    for body in TRUNCATED.values():
        answered(upload(client, body))
    answered(client.get(f"/v1/file_links?{quote(DEEP)}=v"))
    got = upload(client, multipart(PURPOSE, pdf_part()))
    assert got.status_code == 200, got.text
    assert len(client.get("/v1/files").json()["data"]) == 2
