"""The OpenAPI document the service serves describes the real parameters, named as Stripe
names them (reference §5), so it is useful to people and to a fuzzer."""

from __future__ import annotations

from typing import Any

import pytest
from fastapi.testclient import TestClient

from filelinks_api.app import create_app
from filelinks_api.config import Settings
from filelinks_api.purposes import ALL_PURPOSES, UPLOAD_PURPOSES


@pytest.fixture(scope="module")
def document(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    settings = Settings(data_dir=tmp_path_factory.mktemp("openapi"), _env_file=None)  # type: ignore[call-arg]
    with TestClient(create_app(settings)) as client:
        response = client.get("/openapi.json")
    assert response.status_code == 200
    return response.json()


def query_names(document: dict[str, Any], path: str) -> set[str]:
    return {
        p["name"]
        for p in document["paths"][path]["get"].get("parameters", [])
        if p["in"] == "query"
    }


def body_schema(document: dict[str, Any], path: str, media: str) -> dict[str, Any]:
    return document["paths"][path]["post"]["requestBody"]["content"][media]["schema"]


def test_list_file_links_takes_stripes_query_parameters(document):
    assert query_names(document, "/v1/file_links") == {
        "limit",
        "starting_after",
        "ending_before",
        "created",
        "expired",
        "file",
        "expand",
    }


def test_list_files_takes_stripes_query_parameters(document):
    names = query_names(document, "/v1/files")
    assert names == {"limit", "starting_after", "ending_before", "created", "purpose", "expand"}
    purpose = next(
        p for p in document["paths"]["/v1/files"]["get"]["parameters"] if p["name"] == "purpose"
    )
    assert sorted(purpose["schema"]["enum"]) == sorted(ALL_PURPOSES)


def test_nested_query_parameters_use_stripes_bracket_encoding(document):
    parameters = {p["name"]: p for p in document["paths"]["/v1/file_links"]["get"]["parameters"]}
    for name in ("created", "expand"):
        assert parameters[name]["style"] == "deepObject"
        assert parameters[name]["explode"] is True
    created_range = parameters["created"]["schema"]["anyOf"][1]
    assert set(created_range["properties"]) == {"gt", "gte", "lt", "lte"}
    assert parameters["limit"]["schema"]["minimum"] == 1
    assert parameters["limit"]["schema"]["maximum"] == 100


def test_create_file_link_is_a_form_encoded_body(document):
    schema = body_schema(document, "/v1/file_links", "application/x-www-form-urlencoded")
    assert set(schema["properties"]) == {"file", "expires_at", "metadata", "expand"}
    assert schema["required"] == ["file"]
    encoding = document["paths"]["/v1/file_links"]["post"]["requestBody"]["content"][
        "application/x-www-form-urlencoded"
    ]["encoding"]
    assert encoding["metadata"] == {"style": "deepObject", "explode": True}


def test_update_file_link_accepts_now_and_empty_expiry(document):
    schema = body_schema(document, "/v1/file_links/{link_id}", "application/x-www-form-urlencoded")
    assert set(schema["properties"]) == {"expires_at", "metadata", "expand"}
    choices = schema["properties"]["expires_at"]["anyOf"]
    assert {"type": "integer"} in choices
    assert any(set(c.get("enum", [])) == {"now", ""} for c in choices)


def test_upload_is_multipart_with_a_binary_file_part(document):
    schema = body_schema(document, "/v1/files", "multipart/form-data")
    assert set(schema["properties"]) == {"file", "purpose", "file_link_data", "expand"}
    assert schema["properties"]["file"] == {
        "type": "string",
        "format": "binary",
        "description": "The file: a file part with a filename.",
    }
    assert set(schema["required"]) == {"file", "purpose"}
    assert sorted(schema["properties"]["purpose"]["enum"]) == sorted(UPLOAD_PURPOSES)
    link_data = schema["properties"]["file_link_data"]
    assert set(link_data["properties"]) == {"create", "expires_at", "metadata"}


def test_errors_are_documented_as_stripes_envelope(document):
    default = document["paths"]["/v1/file_links"]["get"]["responses"]["default"]
    reference = default["content"]["application/json"]["schema"]["$ref"]
    envelope = document["components"]["schemas"][reference.rsplit("/", 1)[-1]]
    assert envelope["required"] == ["error"]


def test_the_public_link_and_health_need_no_key_and_the_rest_do(document):
    assert document["security"] == [{"bearerAuth": []}, {"basicAuth": []}]
    assert document["paths"]["/links/{token}"]["get"]["security"] == []
    assert document["paths"]["/healthz"]["get"]["security"] == []
    assert (
        "application/octet-stream"
        in document["paths"]["/links/{token}"]["get"]["responses"]["200"]["content"]
    )


def test_every_route_is_documented(document):
    assert set(document["paths"]) == {
        "/v1/files",
        "/v1/files/{file_id}",
        "/v1/files/{file_id}/contents",
        "/v1/file_links",
        "/v1/file_links/{link_id}",
        "/links/{token}",
        "/_emulator/requests",
        "/_emulator/requests/{request_id}",
        "/healthz",
        "/metrics",
        "/_emulator/clock",
        "/_emulator/data",
        "/_emulator/files",
        "/_emulator/faults",
        "/_emulator/faults/{fault_id}",
    }


def test_the_fault_routes_are_described(document):
    paths = document["paths"]
    assert set(paths["/_emulator/faults"]) == {"post", "get", "delete"}
    assert set(paths["/_emulator/faults/{fault_id}"]) == {"delete"}
    body = body_schema(document, "/_emulator/faults", "application/x-www-form-urlencoded")
    properties = body["properties"]
    assert set(properties) == {
        "action",
        "method",
        "path",
        "times",
        "status",
        "type",
        "code",
        "message",
        "delay_ms",
        "when",
    }
    assert body["required"] == ["action"]
    assert "Stripe-Should-Retry" in paths["/_emulator/faults"]["post"]["description"]
    fault = paths["/_emulator/faults"]["post"]["responses"]["200"]["content"]["application/json"]
    schema = document["components"]["schemas"][fault["schema"]["$ref"].rsplit("/", 1)[1]]
    assert schema["properties"]["object"]["const"] == "emulator.fault"
    assert "remaining" in schema["required"]
