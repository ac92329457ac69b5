"""Pydantic params models that speak Stripe: strict field types and Stripe's error messages.

Decoded parameters are only strings, dicts and lists, so every field type here parses from
those and raises a `PydanticCustomError` whose type names the Stripe error; `parse()` turns
the first error into the `StripeError` Stripe would send, with `param` in bracket form.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Annotated, Any, Literal, TypeVar

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    ValidationError,
    WithJsonSchema,
    model_validator,
)
from pydantic_core import PydanticCustomError
from typing_extensions import TypedDict  # pydantic needs it on Python < 3.12

from filelinks_api.errors import InvalidRequestError, StripeError
from filelinks_api.wire.form import IndexedList

INT64_MAX = 2**63 - 1
_INTEGER = re.compile(r"-?[0-9]{1,19}")


class StripeParams(BaseModel):
    """Base of every params model: unknown keys are refused, nothing is coerced silently."""

    model_config = ConfigDict(extra="forbid", frozen=True, hide_input_in_errors=False)


def param_error(kind: str, **context: Any) -> PydanticCustomError:
    return PydanticCustomError(kind, kind, context)


def to_int(value: Any) -> int:
    if isinstance(value, bool):
        raise param_error("parameter_invalid_integer")
    if isinstance(value, int):
        return value
    if isinstance(value, str) and _INTEGER.fullmatch(value):
        number = int(value)
        if -INT64_MAX <= number <= INT64_MAX:
            return number
    raise param_error("parameter_invalid_integer")


def to_bool(value: Any) -> bool:
    if isinstance(value, bool):
        return value
    if value == "true":
        return True
    if value == "false":
        return False
    raise param_error("invalid_boolean")


def to_str(value: Any) -> str:
    if isinstance(value, str):
        if value == "":
            raise param_error("parameter_invalid_empty")
        return value
    raise param_error("invalid_string")


def to_list(value: Any) -> list[Any]:
    if isinstance(value, list):
        return list(value)
    raise param_error("invalid_array")


def to_hash(value: Any) -> dict[str, Any]:
    if isinstance(value, IndexedList):
        return value.as_dict()
    if isinstance(value, dict):
        return value
    raise param_error("invalid_hash")


# Stripe's spec gives many string parameters `maxLength: 5000` (ids, cursors, `expand[]`
# items, the list filter `purpose`); others, none (a link id, the file links cursors). Each
# field states its own: `Str` has no limit, `LimitedStr` has the spec's.
MAX_STRING_LENGTH = 5000


def check_length(text: str, limit: int = MAX_STRING_LENGTH) -> str:
    if len(text) > limit:
        raise param_error("string_too_long", raw=text, limit=limit)
    return text


def too_long_message(text: str, limit: int = MAX_STRING_LENGTH) -> str:
    """Stripe's wording, the value cut to its first and last four characters."""
    return f"Invalid string: {text[:4]}...{text[-4:]}; must be at most {limit} characters"


def path_id(value: str, *, param: str = "id") -> str:
    """An object id taken from the path, where the spec bounds it (`GET /v1/files/{file}`);
    `param` is `id`, as Stripe names a path id in its errors (resource_missing)."""
    if len(value) > MAX_STRING_LENGTH:
        raise InvalidRequestError(too_long_message(value), param=param)
    return value


def one_of(*choices: str, max_length: int | None = None) -> BeforeValidator:
    allowed = frozenset(choices)

    def check(value: Any) -> str:
        text = to_str(value)
        if max_length is not None:
            check_length(text, max_length)
        if text not in allowed:
            raise param_error("invalid_enum", choices=choices)
        return text

    # The document lists the choices; validation stays ours, for Stripe's message.
    return BeforeValidator(check, json_schema_input_type=Literal[choices])


def _to_limited_str(value: Any) -> str:
    return check_length(to_str(value))


Int = Annotated[int, BeforeValidator(to_int)]
Bool = Annotated[bool, BeforeValidator(to_bool)]
Str = Annotated[str, BeforeValidator(to_str)]
LimitedStr = Annotated[
    str,
    BeforeValidator(_to_limited_str),
    WithJsonSchema({"type": "string", "maxLength": MAX_STRING_LENGTH}),
]


def _expand_list(value: Any) -> list[str]:
    items = to_list(value)
    for index, item in enumerate(items):
        if not isinstance(item, str):
            raise param_error("invalid_array")
        if len(item) > MAX_STRING_LENGTH:
            raise param_error("string_too_long", sub=(index,), raw=item, limit=MAX_STRING_LENGTH)
    return items


Expand = Annotated[
    list[str],
    BeforeValidator(_expand_list),
    WithJsonSchema(
        {
            "type": "array",
            "items": {"type": "string", "maxLength": MAX_STRING_LENGTH},
            "default": [],
        }
    ),
]
# A field's default: a fresh list from a factory (a `[]` default is deep-copied by pydantic for
# each model, 1 µs of the 2 a retrieve's params took to validate).
NO_EXPANSIONS: Any = Field(default_factory=list)


# Metadata: Stripe's limits (reference §9). Metadata may be "" (unset all) or a hash whose
# values are strings, "" unsetting that key.
METADATA_MAX_KEYS = 50
METADATA_MAX_KEY_LENGTH = 40
METADATA_MAX_VALUE_LENGTH = 500


def check_metadata(value: Any) -> dict[str, str] | None:
    """None means "unset all"; a dict may hold "" values, meaning "unset this key"."""
    if value == "":
        return None
    items = to_hash(value)
    for key, item in items.items():
        if isinstance(item, dict):
            raise param_error("extra_forbidden", sub=(key, next(iter(item), "")))
        if not isinstance(item, str):
            shown = (
                "[" + ", ".join(f'"{v}"' for v in item) + "]" if isinstance(item, list) else item
            )
            raise param_error("stripe", message=f"Invalid value type: {shown} must be a string")
        if "[" in key or "]" in key:
            raise param_error(
                "stripe", message=f"Metadata keys can't contain square brackets. Invalid key: {key}"
            )
        if key == "":
            raise param_error("stripe", message="Metadata keys must be non-empty strings.")
        if len(key) > METADATA_MAX_KEY_LENGTH:
            raise param_error(
                "stripe",
                message=(
                    f"Metadata keys can have up to {METADATA_MAX_KEY_LENGTH} characters, but you"
                    f" passed in a key that is {len(key)} characters. Invalid key: {key}"
                ),
            )
        if len(item) > METADATA_MAX_VALUE_LENGTH:
            raise param_error(
                "stripe",
                message=(
                    f"Metadata values can have up to {METADATA_MAX_VALUE_LENGTH} characters, but"
                    f" you passed in a value that is {len(item)} characters. Invalid value: {item}"
                ),
            )
    if len(items) > METADATA_MAX_KEYS:
        raise param_error("stripe", message=too_many_metadata_keys(len(items)))
    return items


def too_many_metadata_keys(count: int) -> str:
    return (
        f"Metadata can have up to {METADATA_MAX_KEYS} keys, but you've set {count}. Email us at"
        " support+metadata@stripe.com for more information."
    )


Metadata = Annotated[
    dict[str, str] | None,
    BeforeValidator(check_metadata, json_schema_input_type=dict[str, str] | Literal[""]),
]


RANGE_KEYS = ("gt", "gte", "lt", "lte")


def _int_or_range(value: Any) -> int | dict[str, int]:
    """`created=123` or `created[gte]=1&created[lt]=2`."""
    if not isinstance(value, dict):
        return to_int(value)
    bounds: dict[str, int] = {}
    for key, item in value.items():
        if key not in RANGE_KEYS:
            raise param_error("extra_forbidden", sub=(key,))
        try:
            bounds[key] = to_int(item)
        except PydanticCustomError:
            raise param_error("parameter_invalid_integer", sub=(key,), raw=item) from None
    return bounds


class _Range(TypedDict, total=False):
    gt: int
    gte: int
    lt: int
    lte: int


CreatedFilter = Annotated[
    int | dict[str, int], BeforeValidator(_int_or_range, json_schema_input_type=int | _Range)
]


class ListParams(StripeParams):
    limit: Int = Field(10, json_schema_extra={"minimum": 1, "maximum": 100})
    starting_after: Str | None = None
    ending_before: Str | None = None
    expand: Expand = NO_EXPANSIONS
    created: CreatedFilter | None = None

    @model_validator(mode="after")
    def _pager_rules(self) -> ListParams:
        if not 1 <= self.limit <= 100:
            # Below 1: Stripe's integer-minimum words (captured for another parameter); above
            # 100 no capture was found (docs/stripe-behavior.md §13).
            message = (
                "This value must be greater than or equal to 1."
                if self.limit < 1
                else f"Invalid limit: must be between 1 and 100 (you passed {self.limit})."
            )
            raise param_error(
                "stripe", message=message, param="limit", code="parameter_invalid_integer"
            )
        if self.starting_after is not None and self.ending_before is not None:
            raise param_error(
                "stripe",
                message=(
                    "Received both starting_after and ending_before parameters. Please pass in"
                    " only one."
                ),
                param=None,
            )
        return self


class NoParams(StripeParams):
    """A route that takes no parameters (any sent is refused as unknown)."""


class RetrieveParams(StripeParams):
    expand: Expand = NO_EXPANSIONS


def expansions(
    expand: list[str], expandable: Mapping[str, Any], *, on_list: bool
) -> frozenset[str]:
    """Check `expand[]` paths against a tree of expandable fields; return the top-level ones.

    On a list every path starts with `data.`, as Stripe requires.
    """
    wanted: set[str] = set()
    for path in expand:
        parts = path.split(".")
        if on_list:
            if parts[0] != "data" or len(parts) == 1:
                hint = (
                    ""
                    if parts[0] == "data"
                    else f" You may want to try expanding 'data.{path}' instead."
                )
                raise InvalidRequestError(f"This property cannot be expanded ({parts[0]}).{hint}")
            parts = parts[1:]
        if len(parts) > 4:
            raise InvalidRequestError(
                f"You cannot expand more than 4 levels of a property. Property: {path}"
            )
        node = expandable
        for part in parts:
            if part not in node:
                raise InvalidRequestError(f"This property cannot be expanded ({part}).")
            node = node[part]
        wanted.add(parts[0])
    return frozenset(wanted)


def param_name(loc: tuple[int | str, ...]) -> str:
    """("metadata", "foo", "bar") -> "metadata[foo][bar]"."""
    parts = [str(p) for p in loc]
    if not parts:
        return ""
    return parts[0] + "".join(f"[{p}]" for p in parts[1:])


_PRIORITY = {"extra_forbidden": 0, "missing": 1}


def parse(model: type[_M], data: Mapping[str, Any]) -> _M:
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        errors = exc.errors(include_url=False)
        first = min(errors, key=lambda e: _PRIORITY.get(e["type"], 2))
        raise stripe_error_for(first) from None


def stripe_error_for(error: Any) -> StripeError:
    ctx = error.get("ctx") or {}
    # Custom errors raised deep inside a value name the rest of the path and the raw input.
    param = param_name(tuple(error["loc"]) + tuple(ctx.get("sub", ())))
    kind = error["type"]
    raw = ctx.get("raw", error.get("input"))
    if kind == "extra_forbidden":
        return InvalidRequestError(
            f"Received unknown parameter: {param}", code="parameter_unknown", param=param
        )
    if kind == "missing":
        return InvalidRequestError(
            f"Missing required param: {param}.", code="parameter_missing", param=param
        )
    if kind == "parameter_invalid_integer":
        return InvalidRequestError(
            f"Invalid integer: {_show(raw)}", code="parameter_invalid_integer", param=param
        )
    if kind == "invalid_boolean":
        return InvalidRequestError(f"Invalid boolean: {_show(raw)}", param=param)
    # A nested params model (file_link_data) given a scalar or an array is a hash error too.
    if kind in ("invalid_hash", "model_type", "model_attributes_type", "dict_type"):
        return InvalidRequestError("Invalid hash", param=param)
    if kind in ("invalid_array", "list_type"):
        return InvalidRequestError("Invalid array", param=param)
    if kind == "invalid_string":
        return InvalidRequestError(f"Invalid string: {_show(raw)}", param=param)
    if kind == "string_too_long":
        return InvalidRequestError(too_long_message(raw, ctx["limit"]), param=param)
    if kind == "parameter_invalid_empty":
        return InvalidRequestError(
            f"You passed an empty string for '{param}'. We assume empty values are an attempt to"
            f" unset a parameter; however '{param}' cannot be unset. You should remove '{param}'"
            " from your request or supply a non-empty value.",
            code="parameter_invalid_empty",
            param=param,
        )
    if kind == "invalid_enum":
        return InvalidRequestError(
            f"Invalid {param}: must be one of {_join_or(ctx['choices'])}", param=param
        )
    if kind == "stripe":
        return InvalidRequestError(
            ctx["message"], param=ctx.get("param", param) or None, code=ctx.get("code")
        )
    return InvalidRequestError(f"Invalid value for {param}.", param=param or None)


def _show(raw: Any) -> str:
    if isinstance(raw, str):
        return raw
    if isinstance(raw, dict):
        return "{" + ", ".join(f"{k}: {_show(v)}" for k, v in raw.items()) + "}"
    if isinstance(raw, list):
        return "[" + ", ".join(_show(v) for v in raw) + "]"
    return str(raw)


def _join_or(choices: tuple[str, ...]) -> str:
    if len(choices) <= 2:
        return " or ".join(choices)
    return ", ".join(choices[:-1]) + ", or " + choices[-1]


_M = TypeVar("_M", bound=BaseModel)
