"""From a request to (caller, params): API keys, accounts, and one params dict."""

from __future__ import annotations

import asyncio
import base64
from collections.abc import Iterator
from typing import Any

import pytest
from fastapi import FastAPI, Request
from fastapi.testclient import TestClient
from starlette.requests import ClientDisconnect
from starlette.responses import Response

from filelinks_api.errors import StripeError
from filelinks_api.wire.envelope import StripeJSON, install_handlers
from filelinks_api.wire.request import (
    Caller,
    Upload,
    authenticate,
    base_url,
    extract_key,
    mask_key,
    read_body,
    read_params,
)

E1 = (
    "You did not provide an API key. You need to provide your API key in the Authorization"
    " header, using Bearer auth (e.g. 'Authorization: Bearer YOUR_SECRET_KEY'). See"
    " https://stripe.com/docs/api#authentication for details, or we can help at"
    " https://support.stripe.com/."
)
E3 = (
    "This API call cannot be made with a publishable API key. Please use a secret API key. You"
    " can find a list of your API keys at https://dashboard.stripe.com/account/apikeys."
)
KEY = "sk_test_4eC39HqLyjWDarjtT1zdp7dc"


def basic(text: str) -> str:
    return "Basic " + base64.b64encode(text.encode()).decode()


def auth_error(authorization: str | None, **kwargs: Any) -> StripeError:
    with pytest.raises(StripeError) as exc:
        authenticate(
            authorization, kwargs.pop("stripe_account", None), kwargs.pop("keys", None), **kwargs
        )
    return exc.value


class TestExtractKey:
    @pytest.mark.parametrize(
        ("header", "want"),
        [
            pytest.param(f"Bearer {KEY}", KEY, id="bearer"),
            pytest.param(f"bearer {KEY}", KEY, id="bearer-lowercase"),
            pytest.param(f"Bearer   {KEY}  ", KEY, id="bearer-extra-spaces"),
            pytest.param(basic(f"{KEY}:"), KEY, id="basic-base64-key-colon"),
            pytest.param(basic(KEY), KEY, id="basic-base64-key"),
            pytest.param(f"Basic {KEY}", KEY, id="basic-raw-key"),
            pytest.param(KEY, KEY, id="no-scheme"),
            pytest.param(None, None, id="absent"),
            pytest.param("", None, id="empty"),
            pytest.param("Bearer", None, id="bearer-without-key"),
            pytest.param("Bearer   ", None, id="bearer-blank"),
            pytest.param("Basic ", None, id="basic-without-key"),
            pytest.param(basic(":"), None, id="basic-empty-user"),
        ],
    )
    def test_finds_the_key(self, header: str | None, want: str | None) -> None:
        assert extract_key(header) == want


class TestMaskKey:
    @pytest.mark.parametrize(
        ("key", "masked"),
        [
            # every example in reference §10.2, "API-key masking in E2"
            ("sk_test_" + "x" * 22 + "Aso0", "sk_test_**********************Aso0"),
            ("sk_test_your_stripe_secret_key_here", "sk_test_***********************here"),
            ("tok_" + "x" * 20 + "rPGQ", "tok_********************rPGQ"),
            ("pi_1PiXF" + "x" * 48 + "zlzo", "pi_1PiXF" + "*" * 48 + "zlzo"),
            ("false", "*alse"),
            ("undefined", "*****ined"),
        ],
    )
    def test_matches_stripe(self, key: str, masked: str) -> None:
        assert mask_key(key) == masked

    def test_keeps_the_length(self) -> None:
        assert all(len(mask_key("k" * n)) == n for n in range(60))


class TestAuthenticate:
    def test_no_key(self) -> None:
        error = auth_error(None)
        assert (error.status, error.to_dict()) == (
            401,
            {"message": E1, "type": "invalid_request_error"},
        )

    def test_blank_bearer_is_no_key(self) -> None:
        assert auth_error("Bearer ").message == E1

    @pytest.mark.parametrize(
        ("key", "masked"),
        [
            ("false", "*alse"),
            ("undefined", "*****ined"),
            ("sk_test_", "****est_"),
            ("xk_test_" + "x" * 22 + "Aso0", "xk_test_**********************Aso0"),
            ("sk_prod_" + "x" * 22 + "Aso0", "sk_prod_**********************Aso0"),
            ("sk_test_abc-def", "***********-def"),
        ],
    )
    def test_malformed_key(self, key: str, masked: str) -> None:
        error = auth_error(f"Bearer {key}")
        assert (error.status, error.to_dict()) == (
            401,
            {"message": f"Invalid API Key provided: {masked}", "type": "invalid_request_error"},
        )

    def test_key_with_a_trailing_newline_is_malformed(self) -> None:
        error = auth_error(basic(f"{KEY}\n:"))
        assert error.status == 401
        assert error.message.startswith("Invalid API Key provided: ")

    def test_key_with_a_space(self) -> None:
        error = auth_error("Bearer sk_test_abc def")
        assert error.status == 401
        assert error.message.startswith(
            "Invalid API Key provided: nil. This key contains at least one space."
        )

    def test_publishable_key_on_a_secret_endpoint(self) -> None:
        error = auth_error("Bearer pk_test_abc")
        # A permission error since at least 2023 (docs/stripe-behavior.md §8)
        assert (error.status, error.to_dict()) == (
            403,
            {
                "code": "secret_key_required",
                "doc_url": "https://stripe.com/docs/error-codes/secret-key-required",
                "message": E3,
                "type": "invalid_request_error",
            },
        )

    def test_publishable_key_where_allowed(self) -> None:
        caller = authenticate("Bearer pk_test_abc", None, None, allow_publishable=True)
        assert (caller.publishable, caller.livemode) == (True, False)

    @pytest.mark.parametrize(
        ("key", "livemode"),
        [
            ("sk_test_abc", False),
            ("sk_live_abc", True),
            ("rk_test_abc", False),
            ("rk_live_abc", True),
        ],
    )
    def test_the_key_decides_the_mode(self, key: str, livemode: bool) -> None:
        caller = authenticate(f"Bearer {key}", None, None)
        assert (caller.livemode, caller.publishable) == (livemode, False)

    def test_each_key_is_its_own_stable_account(self) -> None:
        first = authenticate(f"Bearer {KEY}", None, None)
        assert authenticate(basic(f"{KEY}:"), None, None) == first
        assert authenticate("Bearer sk_test_other", None, None).account != first.account
        assert first.account.startswith("acct_")

    def test_test_and_live_keys_are_separate_accounts(self) -> None:
        test = authenticate("Bearer sk_test_same", None, None)
        live = authenticate("Bearer sk_live_same", None, None)
        assert test.account != live.account

    def test_configured_keys_map_to_their_accounts(self) -> None:
        keys = {"sk_test_known": "acct_123", "sk_live_known": "acct_123"}
        assert authenticate("Bearer sk_test_known", None, keys) == Caller("acct_123", False)
        assert authenticate("Bearer sk_live_known", None, keys) == Caller("acct_123", True)

    def test_configured_keys_refuse_every_other_key(self) -> None:
        error = auth_error("Bearer sk_test_unknown1234", keys={"sk_test_known": "acct_123"})
        assert (error.status, error.message) == (
            401,
            "Invalid API Key provided: ***************1234",
        )
        assert error.code is None

    def test_configured_publishable_key_is_still_not_a_secret_key(self) -> None:
        error = auth_error("Bearer pk_test_known", keys={"pk_test_known": "acct_123"})
        assert (error.status, error.code) == (403, "secret_key_required")

    def test_stripe_account_is_a_separate_namespace(self) -> None:
        own = authenticate(f"Bearer {KEY}", None, None).account
        first = authenticate(f"Bearer {KEY}", "acct_1M2JTkLkdIwHu7ix", None).account
        second = authenticate(f"Bearer {KEY}", "acct_1PgafTB7WZ01zgkW", None).account
        assert len({own, first, second}) == 3
        assert authenticate(f"Bearer {KEY}", " acct_1M2JTkLkdIwHu7ix ", None).account == first

    def test_stripe_account_under_a_configured_key(self) -> None:
        caller = authenticate("Bearer sk_test_known", "acct_sub", {"sk_test_known": "acct_123"})
        assert caller.account not in ("acct_123", "acct_sub")
        assert caller.account.startswith("acct_123")

    @pytest.mark.parametrize("account", ["nope", "acct_", "acct_a/b", "acct_a b"])
    def test_malformed_stripe_account_is_refused(self, account: str) -> None:
        error = auth_error(f"Bearer {KEY}", stripe_account=account)
        assert (error.status, error.type, error.code) == (
            403,
            "invalid_request_error",
            "account_invalid",
        )


# --- reading parameters through a real ASGI request --------------------------------------------

BODY_LIMIT = 1024
FILE_LIMIT = 2048


class MemorySink:
    def __init__(self) -> None:
        self.data = b""
        self.discarded = False

    def write(self, chunk: bytes) -> None:
        self.data += chunk

    def discard(self) -> None:
        self.discarded = True


@pytest.fixture
def sinks() -> list[MemorySink]:
    return []


@pytest.fixture
def wire_client(sinks: list[MemorySink]) -> Iterator[TestClient]:
    app = FastAPI()
    install_handlers(app)

    @app.api_route("/params", methods=["GET", "POST", "DELETE"])
    async def params(request: Request) -> Response:
        return StripeJSON((await read_params(request, BODY_LIMIT)).data)

    @app.post("/upload")
    async def upload(request: Request) -> Response:
        def open_sink() -> MemorySink:
            sinks.append(MemorySink())
            return sinks[-1]

        form = await read_params(request, BODY_LIMIT, Upload(open_sink, FILE_LIMIT))
        file = None
        if form.file is not None:
            assert isinstance(form.file.sink, MemorySink)
            file = {
                "filename": form.file.filename,
                "size": form.file.size,
                "data": form.file.sink.data.decode(),
            }
        return StripeJSON({"fields": form.data, "file": file})

    with TestClient(app) as client:
        yield client


FORM = "application/x-www-form-urlencoded"


def multipart(*parts: bytes, boundary: str = "9051914041544843365") -> tuple[bytes, dict[str, str]]:
    """A body the way stripe-python builds it (decimal boundary, quoted names)."""
    body = b"".join(b"--" + boundary.encode() + b"\r\n" + part + b"\r\n" for part in parts)
    body += b"--" + boundary.encode() + b"--\r\n"
    return body, {"Content-Type": f"multipart/form-data; boundary={boundary}"}


def field(name: str, value: str) -> bytes:
    return f'Content-Disposition: form-data; name="{name}"\r\n\r\n{value}'.encode()


def file_part(content: bytes, name: str = "file", filename: str = "/tmp/dir/a.pdf") -> bytes:
    return (
        f'Content-Disposition: form-data; name="{name}"; filename="{filename}"\r\n'
        "Content-Type: application/octet-stream\r\n\r\n"
    ).encode() + content


def error_body(response: Any, status: int) -> dict[str, Any]:
    assert response.status_code == status, response.text
    error: dict[str, Any] = response.json()["error"]
    return error


def _body_of(messages: list[dict[str, Any]], limit: int = 100) -> bytes:
    """read_body over these ASGI messages (taken from the list as they are read), sent with
    no Content-Length (chunked)."""

    async def receive() -> dict[str, Any]:
        return messages.pop(0) if messages else {"type": "http.disconnect"}

    scope = {"type": "http", "method": "POST", "headers": [], "path": "/", "query_string": b""}
    return asyncio.run(read_body(Request(scope, receive), limit))


class TestReadBody:
    """The form body, read from the ASGI messages themselves."""

    def test_a_body_in_several_messages_is_joined(self) -> None:
        pieces = [b"a=1", b"", b"&b=2"]
        messages = [
            {"type": "http.request", "body": piece, "more_body": n < len(pieces) - 1}
            for n, piece in enumerate(pieces)
        ]
        assert _body_of(messages) == b"a=1&b=2"

    def test_a_client_gone_before_the_end_is_a_disconnect(self) -> None:
        with pytest.raises(ClientDisconnect):
            _body_of([{"type": "http.request", "body": b"a=1", "more_body": True}])

    def test_a_body_past_the_limit_stops_being_read_at_once(self) -> None:
        messages = [{"type": "http.request", "body": b"x" * 60, "more_body": True}] * 3
        with pytest.raises(StripeError) as refused:
            _body_of(messages, limit=100)
        assert refused.value.status == 413
        assert len(messages) == 1  # the third message was never asked for


class TestReadParams:
    def test_get_reads_the_query_string(self, wire_client: TestClient) -> None:
        got = wire_client.get("/params?created%5Bgte%5D=1&expand%5B0%5D=data.file")
        assert got.json() == {"created": {"gte": "1"}, "expand": ["data.file"]}

    def test_get_ignores_a_body(self, wire_client: TestClient) -> None:
        got = wire_client.request(
            "GET", "/params?a=1", content=b"b=2", headers={"Content-Type": FORM}
        )
        assert got.json() == {"a": "1"}

    def test_post_reads_the_form_body(self, wire_client: TestClient) -> None:
        got = wire_client.post(
            "/params",
            content=b"file=file_x&metadata[a]=b&expand[0]=file",
            headers={"Content-Type": FORM},
        )
        assert got.json() == {"file": "file_x", "metadata": {"a": "b"}, "expand": ["file"]}

    def test_post_merges_the_query_with_the_body_winning(self, wire_client: TestClient) -> None:
        got = wire_client.post(
            "/params?a=query&q=1", content=b"a=body&b=2", headers={"Content-Type": FORM}
        )
        assert got.json() == {"a": "body", "q": "1", "b": "2"}

    def test_post_merges_a_bracket_key_split_between_query_and_body(
        self, wire_client: TestClient
    ) -> None:
        got = wire_client.post(
            "/params?metadata[a]=1&metadata[c]=query",
            content=b"file=file_x&metadata[b]=2&metadata[c]=body",
            headers={"Content-Type": FORM},
        )
        assert got.json() == {"metadata": {"a": "1", "b": "2", "c": "body"}, "file": "file_x"}

    def test_post_accepts_a_charset(self, wire_client: TestClient) -> None:
        got = wire_client.post(
            "/params", content=b"a=1", headers={"Content-Type": f"{FORM}; charset=UTF-8"}
        )
        assert got.json() == {"a": "1"}

    def test_post_without_a_body(self, wire_client: TestClient) -> None:
        assert wire_client.post("/params").json() == {}

    def test_post_reads_a_multipart_body(self, wire_client: TestClient) -> None:
        body, headers = multipart(field("metadata[k]", "v"), field("expand[0]", "file"))
        got = wire_client.post("/params", content=body, headers=headers)
        assert got.json() == {"metadata": {"k": "v"}, "expand": ["file"]}

    def test_post_refuses_a_file_part(self, wire_client: TestClient) -> None:
        body, headers = multipart(file_part(b"data"))
        error = error_body(wire_client.post("/params", content=body, headers=headers), 400)
        assert (error["code"], error["param"]) == ("parameter_unknown", "file")

    def test_json_body_is_refused(self, wire_client: TestClient) -> None:
        got = wire_client.post("/params", json={"a": "1"})
        assert error_body(got, 400) == {
            "message": "Invalid request (check that your POST content type is"
            " application/x-www-form-urlencoded). If you have any questions, we can help at"
            " https://support.stripe.com/.",
            "type": "invalid_request_error",
        }

    def test_json_content_type_without_a_body_is_no_body(self, wire_client: TestClient) -> None:
        got = wire_client.post("/params", headers={"Content-Type": "application/json"})
        assert got.json() == {}

    def test_declared_body_over_the_limit_is_a_413(self, wire_client: TestClient) -> None:
        got = wire_client.post(
            "/params", content=b"a=" + b"x" * BODY_LIMIT, headers={"Content-Type": FORM}
        )
        assert error_body(got, 413)["type"] == "invalid_request_error"

    def test_streamed_body_over_the_limit_is_a_413(self, wire_client: TestClient) -> None:
        def chunks() -> Iterator[bytes]:
            yield b"a="
            for _ in range(BODY_LIMIT):
                yield b"x"

        got = wire_client.post("/params", content=chunks(), headers={"Content-Type": FORM})
        assert "content-length" not in got.request.headers
        error_body(got, 413)

    def test_body_at_the_limit_is_read(self, wire_client: TestClient) -> None:
        body = b"a=" + b"x" * (BODY_LIMIT - 2)
        got = wire_client.post("/params", content=body, headers={"Content-Type": FORM})
        assert got.json() == {"a": "x" * (BODY_LIMIT - 2)}

    def test_invalid_utf8_body_is_a_400(self, wire_client: TestClient) -> None:
        got = wire_client.post("/params", content=b"a=\xff", headers={"Content-Type": FORM})
        assert "UTF-8" in error_body(got, 400)["message"]


class TestReadMultipart:
    def test_fields_and_file(self, wire_client: TestClient, sinks: list[MemorySink]) -> None:
        body, headers = multipart(
            field("purpose", "dispute_evidence"),
            field("file_link_data[create]", "true"),
            field("file_link_data[metadata][k]", "v"),
            file_part(b"%PDF-1.4 tiny"),
        )
        got = wire_client.post("/upload", content=body, headers=headers)
        assert got.json() == {
            "fields": {
                "purpose": "dispute_evidence",
                "file_link_data": {"create": "true", "metadata": {"k": "v"}},
            },
            "file": {"filename": "/tmp/dir/a.pdf", "size": 13, "data": "%PDF-1.4 tiny"},
        }
        assert not sinks[0].discarded

    def test_query_and_fields_merge_deeply(self, wire_client: TestClient) -> None:
        body, headers = multipart(
            field("file_link_data[metadata][b]", "2"), file_part(b"%PDF-1.4 tiny")
        )
        got = wire_client.post(
            "/upload?purpose=dispute_evidence&file_link_data[metadata][a]=1",
            content=body,
            headers=headers,
        )
        assert got.json()["fields"] == {
            "purpose": "dispute_evidence",
            "file_link_data": {"metadata": {"a": "1", "b": "2"}},
        }

    def test_an_upload_must_be_multipart(self, wire_client: TestClient) -> None:
        got = wire_client.post("/upload", content=b"purpose=x", headers={"Content-Type": FORM})
        assert error_body(got, 400)["message"].startswith("Invalid request")

    def test_fields_without_a_file(self, wire_client: TestClient) -> None:
        body, headers = multipart(field("purpose", "dispute_evidence"))
        got = wire_client.post("/upload", content=body, headers=headers)
        assert got.json() == {"fields": {"purpose": "dispute_evidence"}, "file": None}

    def test_file_over_its_limit_is_refused_and_discarded(
        self, wire_client: TestClient, sinks: list[MemorySink]
    ) -> None:
        body, headers = multipart(file_part(b"x" * (FILE_LIMIT + 1)))
        error = error_body(wire_client.post("/upload", content=body, headers=headers), 400)
        assert error["param"] == "file"
        assert sinks[0].discarded

    def test_file_may_exceed_the_body_limit(self, wire_client: TestClient) -> None:
        # file_limit alone bounds the file part: its bytes do not use the fields' budget
        size = BODY_LIMIT + 500
        body, headers = multipart(field("purpose", "p"), file_part(b"x" * size))
        got = wire_client.post("/upload", content=body, headers=headers)
        assert got.json()["file"]["size"] == size

    def test_two_files_are_refused_and_discarded(
        self, wire_client: TestClient, sinks: list[MemorySink]
    ) -> None:
        body, headers = multipart(file_part(b"a"), file_part(b"b"))
        error = error_body(wire_client.post("/upload", content=body, headers=headers), 400)
        assert error["param"] == "file"
        assert sinks[0].discarded

    def test_a_file_under_another_name_is_an_unknown_parameter(
        self, wire_client: TestClient
    ) -> None:
        body, headers = multipart(file_part(b"a", name="document"))
        error = error_body(wire_client.post("/upload", content=body, headers=headers), 400)
        assert (error["code"], error["param"]) == ("parameter_unknown", "document")

    def test_fields_over_the_body_limit_are_a_413(self, wire_client: TestClient) -> None:
        body, headers = multipart(*(field(f"f{i}", "v" * 40) for i in range(30)))
        error_body(wire_client.post("/upload", content=body, headers=headers), 413)

    def test_oversized_part_headers_are_a_413(
        self, wire_client: TestClient, sinks: list[MemorySink]
    ) -> None:
        huge = b"X-Padding: " + b"p" * (BODY_LIMIT * 4) + b"\r\n"
        body, headers = multipart(huge + file_part(b"data"))
        error_body(wire_client.post("/upload", content=body, headers=headers), 413)
        assert sinks == []

    def test_missing_boundary_is_a_400(self, wire_client: TestClient) -> None:
        got = wire_client.post(
            "/upload", content=b"--x--\r\n", headers={"Content-Type": "multipart/form-data"}
        )
        assert error_body(got, 400)["message"].startswith("Invalid request (check your POST")

    def test_truncated_body_is_a_400_and_discards_the_file(
        self, wire_client: TestClient, sinks: list[MemorySink]
    ) -> None:
        body, headers = multipart(file_part(b"data"))
        got = wire_client.post("/upload", content=body[:-30], headers=headers)
        error_body(got, 400)
        assert sinks[0].discarded

    def test_part_without_a_name_is_a_400(self, wire_client: TestClient) -> None:
        body, headers = multipart(b"Content-Disposition: form-data\r\n\r\nvalue")
        error_body(wire_client.post("/upload", content=body, headers=headers), 400)

    def test_conflicting_field_shapes_are_a_400(
        self, wire_client: TestClient, sinks: list[MemorySink]
    ) -> None:
        body, headers = multipart(field("a", "1"), field("a[b]", "2"), file_part(b"data"))
        error_body(wire_client.post("/upload", content=body, headers=headers), 400)
        assert sinks[0].discarded


class TestBaseUrl:
    @pytest.mark.parametrize(
        ("scope", "want"),
        [
            ({"headers": [(b"host", b"127.0.0.1:12111")]}, "http://127.0.0.1:12111"),
            (
                {"headers": [(b"host", b"files.example.test")], "scheme": "https"},
                "https://files.example.test",
            ),
            ({"headers": [], "server": ("10.0.0.5", 80)}, "http://10.0.0.5"),
            ({"headers": [], "server": ("10.0.0.5", 8080)}, "http://10.0.0.5:8080"),
            ({"headers": [(b"host", b"h:1")], "root_path": "/stripe"}, "http://h:1/stripe"),
        ],
    )
    def test_matches_the_request_base_url(self, scope: dict[str, Any], want: str) -> None:
        full = {
            "type": "http",
            "scheme": "http",
            "server": ("127.0.0.1", 8000),
            "path": "/v1/x",
            "query_string": b"",
            "root_path": "",
            **scope,
        }
        request = Request(full)

        assert base_url(request) == want == str(Request(full).base_url).rstrip("/")

    def test_each_host_gets_its_own_answer(self) -> None:
        def request(host: bytes) -> Request:
            return Request(
                {
                    "type": "http",
                    "scheme": "http",
                    "server": None,
                    "path": "/",
                    "query_string": b"",
                    "root_path": "",
                    "headers": [(b"host", host)],
                }
            )

        assert base_url(request(b"a.test")) == "http://a.test"
        assert base_url(request(b"b.test:81")) == "http://b.test:81"
