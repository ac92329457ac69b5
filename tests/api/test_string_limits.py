"""Stripe's `maxLength: 5000`, on the parameters where its spec states it, and only there."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient

from tests.api.helpers import create_link, error_of, invalid_request, upload, uploaded

LONG = "file_" + "x" * 4991 + "_tail"  # 5001 characters


def too_long(param: str, value: str = LONG) -> dict[str, str]:
    return {
        "message": f"Invalid string: {value[:4]}...{value[-4:]}; must be at most 5000 characters",
        "param": param,
        "type": "invalid_request_error",
    }


@pytest.fixture
def file_id(client: TestClient) -> str:
    return str(uploaded(client)["id"])


class TestRefused:
    def test_create_link_file(self, client: TestClient) -> None:
        response = client.post("/v1/file_links", data={"file": LONG})
        assert error_of(response) == too_long("file")

    def test_list_links_file(self, client: TestClient) -> None:
        response = client.get("/v1/file_links", params={"file": LONG})
        assert error_of(response) == too_long("file")

    @pytest.mark.parametrize("cursor", ["starting_after", "ending_before"])
    def test_list_files_cursors(self, client: TestClient, cursor: str) -> None:
        response = client.get("/v1/files", params={cursor: LONG})
        assert error_of(response) == too_long(cursor)

    def test_list_files_purpose(self, client: TestClient) -> None:
        value = "dispute_evidence" * 313  # 5008 characters
        response = client.get("/v1/files", params={"purpose": value})
        assert error_of(response) == too_long("purpose", value)

    def test_retrieve_file_path_id(self, client: TestClient) -> None:
        response = client.get(f"/v1/files/{LONG}")
        assert error_of(response) == too_long("id")

    def test_update_link_expires_at_string(self, client: TestClient, file_id: str) -> None:
        link = create_link(client, file_id)
        value = "now" * 1667  # 5001 characters
        response = client.post(f"/v1/file_links/{link['id']}", data={"expires_at": value})
        assert error_of(response) == too_long("expires_at", value)

    @pytest.mark.parametrize(
        ("method", "path"),
        [
            ("GET", "/v1/files"),
            ("GET", "/v1/file_links"),
            ("GET", "/v1/file_links/link_x"),
            ("POST", "/v1/file_links"),
        ],
    )
    def test_an_expand_item_anywhere(self, client: TestClient, method: str, path: str) -> None:
        pairs = [("expand[]", "data.file"), ("expand[]", LONG)]
        if method == "GET":
            response = client.get(path, params=pairs)
        else:
            response = client.post(
                path, data={"file": "file_x", "expand[0]": "file", "expand[1]": LONG}
            )
        assert error_of(response) == too_long("expand[1]")

    def test_an_expand_item_on_upload(self, client: TestClient) -> None:
        response = upload(client, fields={"expand[]": LONG})
        assert error_of(response) == too_long("expand[0]")
        assert client.get("/v1/files").json()["data"] == []  # nothing was kept

    def test_not_kept_for_its_idempotency_key(self, client: TestClient, file_id: str) -> None:
        headers = {"Idempotency-Key": "too-long-then-fine"}
        first = client.post("/v1/file_links", data={"file": LONG}, headers=headers)
        second = client.post("/v1/file_links", data={"file": file_id}, headers=headers)
        assert error_of(first) == too_long("file")
        assert second.status_code == 200


class TestAcceptedUpToTheLimit:
    def test_5000_characters_are_a_missing_file(self, client: TestClient) -> None:
        value = LONG[:5000]
        error = invalid_request(client.post("/v1/file_links", data={"file": value}))
        assert (error["code"], error["param"]) == ("resource_missing", "file")

    def test_retrieve_file_path_id_of_5000(self, client: TestClient) -> None:
        error = invalid_request(client.get(f"/v1/files/{LONG[:5000]}"), 404)
        assert (error["code"], error["param"]) == ("resource_missing", "id")


class TestWhereTheSpecStatesNoLimit:
    """GET/POST /v1/file_links/{link} and the /v1/file_links cursors have no maxLength."""

    def test_link_path_id(self, client: TestClient) -> None:
        error = invalid_request(client.get(f"/v1/file_links/link_{'x' * 6000}"), 404)
        assert error["code"] == "resource_missing"

    def test_update_link_path_id(self, client: TestClient) -> None:
        error = invalid_request(client.post(f"/v1/file_links/link_{'x' * 6000}"), 404)
        assert error["code"] == "resource_missing"

    def test_list_links_cursor(self, client: TestClient) -> None:
        response = client.get("/v1/file_links", params={"starting_after": "link_" + "x" * 6000})
        error = invalid_request(response)
        assert (error["code"], error["param"]) == ("resource_missing", "starting_after")

    def test_upload_purpose_is_an_enum_only(self, client: TestClient) -> None:
        error = invalid_request(upload(client, purpose="p" * 5001))
        assert error["message"].startswith("Invalid purpose: must be one of ")
