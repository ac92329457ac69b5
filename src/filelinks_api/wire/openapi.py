"""OpenAPI for Stripe's encoding: params models as deepObject query parameters and
form-encoded (or multipart) bodies, the way Stripe's own OpenAPI document describes them.

Routes read their parameters through one decoder, not FastAPI's Form/Query, so without this
the document would show no parameters at all.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel

from filelinks_api.wire.params import StripeParams


def _inline(schema: Any, defs: dict[str, Any]) -> Any:
    if isinstance(schema, dict):
        if "$ref" in schema:
            return _inline(defs[schema["$ref"].rsplit("/", 1)[-1]], defs)
        return {k: _inline(v, defs) for k, v in schema.items() if k != "$defs"}
    if isinstance(schema, list):
        return [_inline(item, defs) for item in schema]
    return schema


def _properties(model: type[BaseModel]) -> tuple[dict[str, Any], list[str]]:
    schema = model.model_json_schema(mode="validation")
    defs = schema.get("$defs", {})
    properties = {
        name: _clean(_inline(prop, defs)) for name, prop in schema.get("properties", {}).items()
    }
    return properties, list(schema.get("required", []))


def _clean(prop: Any) -> Any:
    """`X | None` with a None default reads better as X (absent means unset); drop titles."""
    if isinstance(prop, list):
        return [_clean(item) for item in prop]
    if not isinstance(prop, dict):
        return prop
    prop = {k: _clean(v) for k, v in prop.items() if k != "title"}
    options = prop.get("anyOf")
    if options and {"type": "null"} in options:
        rest = [o for o in options if o != {"type": "null"}]
        merged = {k: v for k, v in prop.items() if k != "anyOf"}
        if len(rest) == 1:
            merged.update(rest[0])
        else:
            merged["anyOf"] = rest
        merged.pop("default", None)
        return merged
    return prop


def _is_nested(prop: dict[str, Any]) -> bool:
    kinds = [prop.get("type")] + [o.get("type") for o in prop.get("anyOf", [])]
    return "object" in kinds or "array" in kinds


def query_parameters(model: type[StripeParams]) -> dict[str, Any]:
    """`openapi_extra` for a GET: each field a query parameter, nested ones as deepObject."""
    properties, required = _properties(model)
    parameters = []
    for name, prop in properties.items():
        parameter: dict[str, Any] = {
            "name": name,
            "in": "query",
            "required": name in required,
            "schema": prop,
        }
        if _is_nested(prop):
            parameter.update(style="deepObject", explode=True)
        parameters.append(parameter)
    return {"parameters": parameters}


def form_body(
    model: type[StripeParams], *, multipart: bool = False, exclude: tuple[str, ...] = ()
) -> dict[str, Any]:
    """`openapi_extra` for a POST body in Stripe's bracket encoding."""
    properties, required = _properties(model)
    for name in exclude:
        properties.pop(name, None)
    required = [name for name in required if name not in exclude]
    if multipart:
        properties = {
            "file": {
                "type": "string",
                "format": "binary",
                "description": "The file: a file part with a filename.",
            },
            **properties,
        }
        required = ["file", *required]
    encoding = {
        name: {"style": "deepObject", "explode": True}
        for name, prop in properties.items()
        if _is_nested(prop)
    }
    media = "multipart/form-data" if multipart else "application/x-www-form-urlencoded"
    schema: dict[str, Any] = {"type": "object", "properties": properties}
    if required:
        schema["required"] = required
    return {
        "requestBody": {
            "required": bool(required),
            "content": {media: {"schema": schema, "encoding": encoding}},
        }
    }


# The bytes routes: whole file, a byte range, or nothing left to serve.
FILE_BYTES: dict[int | str, dict[str, Any]] = {
    200: {
        "description": "The file's bytes, with its Content-Type, Content-Length and a"
        " Content-Disposition carrying its filename. HEAD sends the headers only.",
        "content": {"application/octet-stream": {"schema": {"type": "string", "format": "binary"}}},
    },
    206: {"description": "The single byte range asked for with a `Range: bytes=a-b` header."},
    416: {"description": "The byte range asked for lies outside the file."},
    503: {
        "description": "The S3-compatible store holding the contents (`FILELINKS_STORAGE_URL`)"
        " did not answer: Stripe's error envelope, `api_error`; retry later.",
        "content": {"application/json": {"schema": {"$ref": "#/components/schemas/ErrorEnvelope"}}},
    },
}

SECURITY_SCHEMES = {
    "bearerAuth": {
        "type": "http",
        "scheme": "bearer",
        "description": "`Authorization: Bearer sk_test_...` (any secret or restricted key).",
    },
    "basicAuth": {
        "type": "http",
        "scheme": "basic",
        "description": "The key as the user name, no password (`curl -u sk_test_...:`).",
    },
}
