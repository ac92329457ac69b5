"""Every failure leaves as Stripe's error envelope, with Stripe's status and headers."""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from starlette.responses import Response

from filelinks_api.config import Settings
from filelinks_api.errors import (
    ApiError,
    InvalidRequestError,
    LockTimeout,
    ResourceMissing,
    RouteNotFound,
    StripeError,
)
from filelinks_api.wire.envelope import error_response
from tests.api.helpers import bearer, check_request_log_url, upload

REQUEST_ID = re.compile(r"^req_[A-Za-z0-9]{14}$")
SUPPORT = "Please see https://stripe.com/docs or we can help at https://support.stripe.com/."
DEFAULT_VERSION = "2026-06-24.dahlia"
# What Stripe sends on api.stripe.com (docs/stripe-behavior.md), but for its
# `Access-Control-Allow-Credentials: true`: beside `Allow-Origin: *` it is an invalid pair
# (browsers refuse such a credentialed response), so it is left out.
CORS = {
    "access-control-allow-methods": "GET, HEAD, PUT, PATCH, POST, DELETE",
    "access-control-allow-origin": "*",
    "access-control-expose-headers": "Request-Id, Stripe-Manage-Version, Stripe-Should-Retry,"
    " X-Stripe-External-Auth-Required, X-Stripe-Privileged-Session-Required",
    "access-control-max-age": "300",
    "cache-control": "no-cache, no-store",
    "vary": "Origin",
}
ERROR_KEYS = {"code", "doc_url", "message", "param", "request_log_url", "type"}


def envelope(response: httpx.Response, status: int) -> dict[str, Any]:
    """Check Stripe's error envelope and headers; return the `error` object."""
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == "application/json"
    assert REQUEST_ID.match(response.headers["request-id"])
    body = response.json()
    assert list(body) == ["error"]
    error: dict[str, Any] = body["error"]
    assert set(error) <= ERROR_KEYS
    assert ("code" in error) == ("doc_url" in error)
    check_request_log_url(response, error)
    return error


class TestUnknownRoutes:
    def test_unknown_path(self, client: TestClient) -> None:
        assert envelope(client.get("/v1/nope"), 404) == {
            "message": f"Unrecognized request URL (GET: /v1/nope). {SUPPORT}",
            "type": "invalid_request_error",
        }

    def test_query_string_is_not_part_of_the_message(self, client: TestClient) -> None:
        error = envelope(client.get("/v1/nope?limit=3"), 404)
        assert error["message"] == f"Unrecognized request URL (GET: /v1/nope). {SUPPORT}"

    def test_unknown_path_without_a_key(self, anonymous: TestClient) -> None:
        assert envelope(anonymous.post("/v1/nope"), 404)["message"].startswith(
            "Unrecognized request URL (POST: /v1/nope)."
        )

    @pytest.mark.parametrize(
        ("method", "path"),
        [
            ("DELETE", "/v1/file_links/link_x"),
            ("PUT", "/v1/files"),
            ("DELETE", "/v1/files/file_x"),
            ("PATCH", "/v1/file_links"),
        ],
    )
    def test_wrong_method_on_a_known_path(self, client: TestClient, method: str, path: str) -> None:
        assert envelope(client.request(method, path), 404) == {
            "message": f"Unrecognized request URL ({method}: {path}). {SUPPORT}",
            "type": "invalid_request_error",
        }

    @pytest.mark.parametrize("method", ["GET", "POST"])
    def test_trailing_slash(self, client: TestClient, method: str) -> None:
        assert envelope(client.request(method, "/v1/file_links/"), 404) == {
            "message": f"Unrecognized request URL ({method}: /v1/file_links/). If you are trying"
            " to list objects, remove the trailing slash. If you are trying to retrieve an"
            " object, make sure you passed a valid (non-empty) identifier in your code."
            f" {SUPPORT}",
            "type": "invalid_request_error",
        }


E1 = (
    "You did not provide an API key. You need to provide your API key in the Authorization"
    " header, using Bearer auth (e.g. 'Authorization: Bearer YOUR_SECRET_KEY'). See"
    " https://stripe.com/docs/api#authentication for details, or we can help at"
    " https://support.stripe.com/."
)


class TestAuthentication:
    @pytest.mark.parametrize("path", ["/v1/file_links", "/v1/files", "/v1/files/file_x"])
    def test_no_key(self, anonymous: TestClient, path: str) -> None:
        assert envelope(anonymous.get(path), 401) == {
            "message": E1,
            "type": "invalid_request_error",
        }

    def test_no_key_on_upload(self, anonymous: TestClient) -> None:
        got = upload(anonymous)
        assert envelope(got, 401)["message"] == E1

    def test_bad_key(self, anonymous: TestClient) -> None:
        got = anonymous.get("/v1/file_links", headers={"Authorization": "Bearer false"})
        assert envelope(got, 401) == {
            "message": "Invalid API Key provided: *alse",
            "type": "invalid_request_error",
        }

    def test_basic_auth_like_curl(self, anonymous: TestClient, api_key: str) -> None:
        got = anonymous.get("/v1/file_links", auth=(api_key, ""))
        assert got.status_code == 200, got.text

    def test_publishable_key_on_a_secret_endpoint(self, anonymous: TestClient) -> None:
        got = anonymous.get("/v1/file_links", headers={"Authorization": "Bearer pk_test_abc"})
        error = envelope(got, 403)
        assert (error["code"], error["doc_url"]) == (
            "secret_key_required",
            "https://stripe.com/docs/error-codes/secret-key-required",
        )

    def test_publishable_key_may_upload(self, anonymous: TestClient) -> None:
        got = upload(anonymous, headers=bearer("pk_test_abc"))
        assert got.status_code == 200, got.text
        assert got.json()["object"] == "file"

    def test_malformed_stripe_account(self, client: TestClient) -> None:
        got = client.get("/v1/file_links", headers={"Stripe-Account": "not-an-account"})
        assert envelope(got, 403)["code"] == "account_invalid"

    def test_stripe_account_sees_its_own_objects_only(self, client: TestClient) -> None:
        uploaded = upload(client, headers={"Stripe-Account": "acct_connected1"})
        assert uploaded.status_code == 200, uploaded.text
        path = f"/v1/files/{uploaded.json()['id']}"
        assert client.get(path, headers={"Stripe-Account": "acct_connected1"}).status_code == 200
        assert envelope(client.get(path), 404)["code"] == "resource_missing"


class TestParameters:
    def test_unknown_parameter(self, client: TestClient) -> None:
        assert envelope(client.get("/v1/file_links?foo=1"), 400) == {
            "code": "parameter_unknown",
            "doc_url": "https://stripe.com/docs/error-codes/parameter-unknown",
            "message": "Received unknown parameter: foo",
            "param": "foo",
            "type": "invalid_request_error",
        }

    def test_unknown_nested_parameter(self, client: TestClient) -> None:
        error = envelope(client.get("/v1/file_links?created%5Bfoo%5D=1"), 400)
        assert error["param"] == "created[foo]"

    def test_unknown_parameter_in_a_post_body(self, client: TestClient) -> None:
        error = envelope(client.post("/v1/file_links", data={"file": "file_x", "foo": "1"}), 400)
        assert (error["code"], error["param"]) == ("parameter_unknown", "foo")

    def test_stripe_python_query_shape_is_understood(self, client: TestClient) -> None:
        got = client.get(
            "/v1/file_links?created%5Bgte%5D=1&expired=false&limit=3&expand%5B0%5D=data.file"
        )
        assert got.status_code == 200, got.text
        assert got.json()["object"] == "list"

    def test_invalid_boolean(self, client: TestClient) -> None:
        assert envelope(client.get("/v1/file_links?expired=True"), 400) == {
            "message": "Invalid boolean: True",
            "param": "expired",
            "type": "invalid_request_error",
        }

    def test_invalid_integer(self, client: TestClient) -> None:
        error = envelope(client.get("/v1/file_links?limit=10.0"), 400)
        assert (error["message"], error["code"]) == (
            "Invalid integer: 10.0",
            "parameter_invalid_integer",
        )

    def test_scalar_where_an_array_is_expected(self, client: TestClient) -> None:
        error = envelope(client.get("/v1/file_links?expand=latest_invoice"), 400)
        assert (error["message"], error["param"]) == ("Invalid array", "expand")

    def test_expansion_on_a_list_needs_data(self, client: TestClient) -> None:
        error = envelope(client.get("/v1/file_links?expand[]=file"), 400)
        assert error["message"] == (
            "This property cannot be expanded (file). You may want to try expanding"
            " 'data.file' instead."
        )

    def test_both_cursors(self, client: TestClient) -> None:
        got = client.get("/v1/file_links?starting_after=link_a&ending_before=link_b")
        assert envelope(got, 400) == {
            "message": "Received both starting_after and ending_before parameters. Please pass"
            " in only one.",
            "type": "invalid_request_error",
        }

    def test_conflicting_shapes(self, client: TestClient) -> None:
        envelope(client.get("/v1/file_links?file=a&file%5Bb%5D=c"), 400)

    def test_invalid_utf8(self, client: TestClient) -> None:
        envelope(client.get("/v1/file_links?file=%ff"), 400)


INVALID_BODY = (
    "Invalid request (check your POST parameters): For assistance, contact support at"
    " https://support.stripe.com/contact/."
)


class TestBodies:
    def test_json_body(self, client: TestClient) -> None:
        got = client.post("/v1/file_links", json={"file": "file_x"})
        assert envelope(got, 400) == {
            "message": "Invalid request (check that your POST content type is"
            " application/x-www-form-urlencoded). If you have any questions, we can help at"
            " https://support.stripe.com/.",
            "type": "invalid_request_error",
        }

    def test_unsupported_content_type(self, client: TestClient) -> None:
        got = client.post(
            "/v1/file_links",
            content=b"file=file_x",
            headers={"Content-Type": "text/plain; charset=utf-8"},
        )
        assert envelope(got, 400) == {
            "message": "Invalid request: unsupported Content-Type text/plain; charset=utf-8. If"
            " error persists and you need assistance, please contact support@stripe.com.",
            "type": "invalid_request_error",
        }

    def test_urlencoded_upload(self, client: TestClient) -> None:
        got = client.post("/v1/files", data={"purpose": "dispute_evidence"})
        assert envelope(got, 400) == {"message": INVALID_BODY, "type": "invalid_request_error"}

    def test_body_over_the_limit(self, client: TestClient, settings: Settings) -> None:
        body = b"file=" + b"x" * settings.max_body_bytes
        got = client.post(
            "/v1/file_links",
            content=body,
            headers={"Content-Type": "application/x-www-form-urlencoded"},
        )
        assert envelope(got, 413)["type"] == "invalid_request_error"

    @pytest.mark.parametrize(
        ("declared", "status"), [("9" * 5000, 413), ("\u00b2", 404)], ids=["huge", "superscript"]
    )
    def test_an_odd_content_length_is_never_a_500(
        self, client: TestClient, declared: str, status: int
    ) -> None:
        # what the app sees when a proxy passes the header through (a server checks it first)
        got = client.post(
            "/v1/file_links/link_x",
            content=b"metadata[a]=b",
            headers={
                "Content-Type": "application/x-www-form-urlencoded",
                "Content-Length": declared.encode("latin-1"),
            },
        )
        assert got.status_code == status, got.text


@pytest.mark.expect_error_log
class TestUnexpectedException:
    @pytest.fixture
    def crashing(self, app: FastAPI, api_key: str) -> Iterator[TestClient]:
        async def boom() -> None:
            raise RuntimeError("database password is hunter2")

        app.add_api_route("/v1/boom", boom, methods=["GET"])
        with TestClient(
            app, raise_server_exceptions=False, headers={"Authorization": f"Bearer {api_key}"}
        ) as test_client:
            yield test_client

    def test_is_a_500_api_error(self, crashing: TestClient) -> None:
        got = crashing.get("/v1/boom", headers={"Stripe-Version": "2020-08-27"})
        error = envelope(got, 500)
        assert error["type"] == "api_error"
        assert got.headers["request-id"] in error["message"]
        assert got.headers["stripe-version"] == "2020-08-27"
        assert got.headers["access-control-allow-origin"] == "*"

    def test_leaks_nothing(self, crashing: TestClient) -> None:
        text = crashing.get("/v1/boom").text
        for secret in ("hunter2", "RuntimeError", "Traceback", 'File "'):
            assert secret not in text

    def test_the_server_keeps_serving(self, crashing: TestClient) -> None:
        envelope(crashing.get("/v1/boom"), 500)
        assert crashing.get("/v1/file_links").status_code == 200


def sample_requests(client: TestClient) -> list[httpx.Response]:
    return [
        client.get("/v1/file_links"),  # 200
        client.get("/v1/nope"),  # 404 route
        client.get("/v1/file_links/link_missing"),  # 404 resource
        client.get("/v1/file_links?foo=1"),  # 400
        client.get("/v1/file_links", headers={"Authorization": "Bearer pk_test_x"}),  # 403
    ]


class TestHeaders:
    def test_every_response_carries_stripe_headers(self, client: TestClient) -> None:
        for response in sample_requests(client):
            assert REQUEST_ID.match(response.headers["request-id"]), response.request.url
            assert response.headers["content-type"] == "application/json"
            assert response.headers["stripe-version"] == DEFAULT_VERSION
            for name, value in CORS.items():
                assert response.headers.get_list(name) == [value], name
            assert "access-control-allow-credentials" not in response.headers
            assert len(response.headers.get_list("request-id")) == 1

    def test_stripe_version_is_echoed(self, client: TestClient) -> None:
        client.headers["Stripe-Version"] = "2022-11-15"
        for response in sample_requests(client):
            assert response.headers.get_list("stripe-version") == ["2022-11-15"]

    def test_request_ids_are_unique(self, client: TestClient) -> None:
        ids = {client.get("/v1/file_links").headers["request-id"] for _ in range(5)}
        assert len(ids) == 5

    def test_a_header_the_response_sets_is_not_doubled(
        self, app: FastAPI, client: TestClient
    ) -> None:
        async def cached() -> Response:
            return Response(b"x", headers={"Cache-Control": "private, max-age=60"})

        app.add_api_route("/v1/cached", cached, methods=["GET"])
        got = client.get("/v1/cached")
        assert got.headers.get_list("cache-control") == ["private, max-age=60"]
        assert got.headers["access-control-allow-origin"] == "*"


class TestPreflight:
    def test_answers_200_with_cors_headers(self, anonymous: TestClient) -> None:
        got = anonymous.options(
            "/v1/file_links",
            headers={
                "Origin": "https://example.com",
                "Access-Control-Request-Method": "POST",
                "Access-Control-Request-Headers": "authorization, stripe-version, idempotency-key",
            },
        )
        assert got.status_code == 200
        assert (
            got.headers["access-control-allow-headers"]
            == "authorization, stripe-version, idempotency-key"
        )
        for name, value in CORS.items():
            assert got.headers[name] == value
        assert REQUEST_ID.match(got.headers["request-id"])

    def test_on_any_path_without_a_key(self, anonymous: TestClient) -> None:
        got = anonymous.options("/v1/files/file_x/contents")
        assert got.status_code == 200
        assert "access-control-allow-headers" not in got.headers
        assert got.headers["access-control-allow-origin"] == "*"


NOT_STRIPE = ["/_emulator/clock", "/_emulator/requests", "/metrics", "/dashboard", "/healthz"]


class TestNoCorsGrantOutsideStripesPaths:
    @pytest.mark.parametrize("path", NOT_STRIPE)
    def test_a_response(self, client: TestClient, path: str) -> None:
        got = client.get(path, headers={"Origin": "https://evil.example"})
        assert got.status_code < 500
        assert not [name for name in got.headers if name.startswith("access-control-")]

    @pytest.mark.parametrize("path", [*NOT_STRIPE, "/dashboard/signin", "/_emulator/data"])
    def test_a_preflight(self, anonymous: TestClient, path: str) -> None:
        got = anonymous.options(
            path,
            headers={
                "Origin": "https://evil.example",
                "Access-Control-Request-Method": "POST",
                "Access-Control-Request-Headers": "authorization",
            },
        )
        assert got.status_code >= 400  # no route answers OPTIONS there
        assert not [name for name in got.headers if name.startswith("access-control-")]

    def test_a_public_link_keeps_the_files_hosts_grant(self, anonymous: TestClient) -> None:
        got = anonymous.get("/links/unknown")
        assert got.headers["access-control-allow-origin"] == "*"
        assert "access-control-allow-credentials" not in got.headers


class TestErrorValues:
    @pytest.mark.parametrize(
        ("error", "doc_url"),
        [
            (InvalidRequestError("m", code="parameter_unknown", param="p"), "parameter-unknown"),
            (InvalidRequestError("m", code="lock_timeout"), "lock-timeout"),
            (InvalidRequestError("m", param="p"), None),
            (InvalidRequestError("m"), None),
        ],
    )
    def test_doc_url_present_iff_code(self, error: StripeError, doc_url: str | None) -> None:
        body = error.to_dict()
        if doc_url is None:
            assert "code" not in body
            assert "doc_url" not in body
        else:
            assert body["doc_url"] == f"https://stripe.com/docs/error-codes/{doc_url}"
        assert ("param" in body) == (error.param is not None)

    def test_resource_missing_in_the_path_is_a_404(self) -> None:
        error = ResourceMissing.for_object("file", "file_x", param="id")
        assert (error.status, error.to_dict()) == (
            404,
            {
                "code": "resource_missing",
                "doc_url": "https://stripe.com/docs/error-codes/resource-missing",
                "message": "No such file upload: 'file_x'",
                "param": "id",
                "type": "invalid_request_error",
            },
        )

    def test_resource_missing_in_the_parameters_is_a_400(self) -> None:
        error = ResourceMissing.for_object("file_link", "link_x", param="starting_after")
        assert (error.status, error.message, error.param) == (
            400,
            "No such file link: 'link_x'",
            "starting_after",
        )

    def test_root_path_has_no_trailing_slash_hint(self) -> None:
        assert RouteNotFound.for_request("GET", "/").message == (
            f"Unrecognized request URL (GET: /). {SUPPORT}"
        )

    def test_lock_timeout_is_a_retryable_429(self) -> None:
        error = LockTimeout()
        assert (error.status, error.code) == (429, "lock_timeout")
        assert error_response(error).headers["Stripe-Should-Retry"] == "true"

    def test_api_error_is_final(self) -> None:
        # a 500 is replayed for its key, so a retry would only get it again
        assert error_response(ApiError("req_x")).headers["Stripe-Should-Retry"] == "false"

    def test_api_error_names_the_request(self) -> None:
        error = ApiError("req_abcdefghijklmn")
        assert (error.status, error.type) == (500, "api_error")
        assert "req_abcdefghijklmn" in error.message
