"""Params models that speak Stripe: every validation failure becomes Stripe's own error."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Annotated, Any

import pytest

from filelinks_api.errors import StripeError
from filelinks_api.wire.form import IndexedList, decode_pairs, decode_query
from filelinks_api.wire.params import (
    Bool,
    CreatedFilter,
    Expand,
    Int,
    LimitedStr,
    ListParams,
    Metadata,
    RetrieveParams,
    Str,
    StripeParams,
    expansions,
    one_of,
    parse,
    path_id,
    too_long_message,
)

DOCS = "https://stripe.com/docs/error-codes/"


class LinkData(StripeParams):
    create: Bool
    expires_at: Int | None = None
    metadata: Metadata = None


class Sample(StripeParams):
    name: Str
    count: Int | None = None
    flag: Bool | None = None
    purpose: Annotated[str, one_of("a", "b", "c")] | None = None
    metadata: Metadata = None
    expand: Expand = []
    file_link_data: LinkData | None = None
    created: CreatedFilter | None = None


def error_of(model: type[StripeParams], data: Mapping[str, Any]) -> dict[str, str]:
    """The error envelope's body that parse() raises for `data`."""
    with pytest.raises(StripeError) as exc:
        parse(model, data)
    assert exc.value.status == 400
    return exc.value.to_dict()


def sample_error(**data: Any) -> dict[str, str]:
    return error_of(Sample, {"name": "n", **data})


def invalid(message: str, param: str | None = None, code: str | None = None) -> dict[str, str]:
    """The body Stripe sends for an invalid_request_error, doc_url derived from the code."""
    body = {"message": message, "type": "invalid_request_error"}
    if param is not None:
        body["param"] = param
    if code is not None:
        body["code"] = code
        body["doc_url"] = DOCS + code.replace("_", "-")
    return body


class TestUnknownParameter:
    @pytest.mark.parametrize(
        ("data", "param"),
        [
            pytest.param({"foo": "1"}, "foo", id="top-level"),
            pytest.param({"metadata": {"foo": {"bar": "1"}}}, "metadata[foo][bar]", id="metadata"),
            pytest.param(
                {"file_link_data": {"create": "true", "foo": "1"}},
                "file_link_data[foo]",
                id="nested-model",
            ),
            pytest.param({"created": {"foo": "1"}}, "created[foo]", id="created-range"),
        ],
    )
    def test_names_the_parameter_in_bracket_form(self, data: dict[str, Any], param: str) -> None:
        assert sample_error(**data) == invalid(
            f"Received unknown parameter: {param}", param, "parameter_unknown"
        )

    def test_from_the_wire_shape(self) -> None:
        data = decode_query("name=n&metadata%5Bfoo%5D%5Bbar%5D=1")
        assert sample_error(**data)["param"] == "metadata[foo][bar]"

    def test_wins_over_a_missing_parameter(self) -> None:
        assert error_of(Sample, {"foo": "1"})["code"] == "parameter_unknown"


class TestMissingParameter:
    def test_message_ends_with_a_period(self) -> None:
        assert error_of(Sample, {}) == invalid(
            "Missing required param: name.", "name", "parameter_missing"
        )

    def test_nested_parameter_in_bracket_form(self) -> None:
        assert sample_error(file_link_data={"expires_at": "1"}) == invalid(
            "Missing required param: file_link_data[create].",
            "file_link_data[create]",
            "parameter_missing",
        )


class TestInteger:
    @pytest.mark.parametrize(
        "raw",
        ["10.0", "", "abc", "1e3", "0x10", " 10", "10 ", "10\n", "+10", "99999999999999999999"],
    )
    def test_refuses_anything_but_a_decimal_integer(self, raw: str) -> None:
        assert sample_error(count=raw) == invalid(
            f"Invalid integer: {raw}", "count", "parameter_invalid_integer"
        )

    @pytest.mark.parametrize(("raw", "want"), [("10", 10), ("-5", -5), ("0", 0)])
    def test_accepts_a_decimal_integer(self, raw: str, want: int) -> None:
        assert parse(Sample, {"name": "n", "count": raw}).count == want

    def test_refuses_a_hash(self) -> None:
        got = sample_error(count={"a": "1"})
        assert (got["code"], got["param"]) == ("parameter_invalid_integer", "count")

    def test_created_accepts_a_timestamp_or_a_range(self) -> None:
        assert parse(Sample, {"name": "n", "created": "5"}).created == 5
        data = decode_query("name=n&created%5Bgte%5D=1&created%5Blt%5D=9")
        assert parse(Sample, data).created == {"gte": 1, "lt": 9}

    def test_created_bound_error_names_the_bound(self) -> None:
        assert sample_error(created={"gte": "soon"}) == invalid(
            "Invalid integer: soon", "created[gte]", "parameter_invalid_integer"
        )


class TestBoolean:
    @pytest.mark.parametrize("raw", ["True", "1", "yes", ""])
    def test_only_true_and_false_are_booleans_and_the_error_has_no_code(self, raw: str) -> None:
        assert sample_error(flag=raw) == invalid(f"Invalid boolean: {raw}", "flag")

    @pytest.mark.parametrize(("raw", "want"), [("true", True), ("false", False)])
    def test_accepts_true_and_false(self, raw: str, want: bool) -> None:
        assert parse(Sample, {"name": "n", "flag": raw}).flag is want


class TestEmptyString:
    def test_a_parameter_that_cannot_be_unset(self) -> None:
        assert error_of(Sample, {"name": ""}) == invalid(
            "You passed an empty string for 'name'. We assume empty values are an attempt to"
            " unset a parameter; however 'name' cannot be unset. You should remove 'name' from"
            " your request or supply a non-empty value.",
            "name",
            "parameter_invalid_empty",
        )

    def test_an_enum_that_cannot_be_unset(self) -> None:
        assert sample_error(purpose="")["code"] == "parameter_invalid_empty"


class TestEnum:
    def test_lists_the_choices(self) -> None:
        assert sample_error(purpose="z") == invalid(
            "Invalid purpose: must be one of a, b, or c", "purpose"
        )

    def test_accepts_a_choice(self) -> None:
        assert parse(Sample, {"name": "n", "purpose": "b"}).purpose == "b"


class TestShapes:
    @pytest.mark.parametrize(
        ("data", "param"),
        [
            pytest.param({"metadata": "abc"}, "metadata", id="metadata-scalar"),
            pytest.param({"file_link_data": "x"}, "file_link_data", id="nested-model-scalar"),
            pytest.param(
                {"file_link_data": IndexedList(["x"])}, "file_link_data", id="nested-model-array"
            ),
            pytest.param({"metadata": ["x"]}, "metadata", id="metadata-brackets-array"),
        ],
    )
    def test_hash_expected(self, data: dict[str, Any], param: str) -> None:
        assert sample_error(**data) == invalid("Invalid hash", param)

    @pytest.mark.parametrize(
        "value",
        [
            pytest.param("latest_invoice", id="scalar"),
            pytest.param({"a": "b"}, id="hash"),
            pytest.param(IndexedList([{"a": "b"}]), id="array-of-hashes"),
        ],
    )
    def test_array_expected(self, value: Any) -> None:
        assert sample_error(expand=value) == invalid("Invalid array", "expand")

    @pytest.mark.parametrize(
        "raw", ["expand[]=file&expand[]=links", "expand[0]=file&expand[1]=links"]
    )
    def test_expand_accepts_both_array_forms(self, raw: str) -> None:
        assert parse(Sample, decode_query("name=n&" + raw)).expand == ["file", "links"]


class TestMetadata:
    def test_indexed_keys_stay_hash_keys(self) -> None:
        data = decode_pairs([("name", "n"), ("metadata[0]", "a"), ("metadata[1]", "b")])
        assert parse(Sample, data).metadata == {"0": "a", "1": "b"}

    def test_empty_string_unsets_all(self) -> None:
        parsed = parse(Sample, {"name": "n", "metadata": ""})
        assert parsed.metadata is None
        assert "metadata" in parsed.model_fields_set

    def test_empty_value_is_kept_to_unset_that_key(self) -> None:
        assert parse(Sample, {"name": "n", "metadata": {"k": ""}}).metadata == {"k": ""}

    def test_accepts_the_limits(self) -> None:
        metadata = {f"k{i}": "v" for i in range(49)} | {"k" * 40: "v" * 500}
        assert parse(Sample, {"name": "n", "metadata": metadata}).metadata == metadata

    def test_refuses_51_keys(self) -> None:
        assert sample_error(metadata={f"k{i}": "v" for i in range(51)}) == invalid(
            "Metadata can have up to 50 keys, but you've set 51. Email us at"
            " support+metadata@stripe.com for more information.",
            "metadata",
        )

    def test_refuses_a_41_character_key(self) -> None:
        key = "k" * 41
        assert sample_error(metadata={key: "v"}) == invalid(
            "Metadata keys can have up to 40 characters, but you passed in a key that is 41"
            f" characters. Invalid key: {key}",
            "metadata",
        )

    def test_refuses_a_501_character_value(self) -> None:
        value = "v" * 501
        assert sample_error(metadata={"k": value}) == invalid(
            "Metadata values can have up to 500 characters, but you passed in a value that is"
            f" 501 characters. Invalid value: {value}",
            "metadata",
        )

    @pytest.mark.parametrize("key", ["a[b", "a]", "[x]"])
    def test_refuses_square_brackets_in_a_key(self, key: str) -> None:
        got = sample_error(metadata={key: "v"})
        assert (got["param"], got["type"]) == ("metadata", "invalid_request_error")
        assert got["message"].endswith(f"Invalid key: {key}")
        assert "code" not in got

    def test_bracket_key_from_the_wire(self) -> None:
        got = sample_error(**decode_pairs([("metadata[a[]", "v")]))
        assert got["message"].endswith("Invalid key: a[")

    def test_refuses_an_array_value(self) -> None:
        data = decode_pairs([("name", "n"), ("metadata[k][0]", "x")])
        assert error_of(Sample, data) == invalid(
            'Invalid value type: ["x"] must be a string', "metadata"
        )

    def test_nested_metadata_in_a_nested_model(self) -> None:
        data = decode_query("name=n&file_link_data[create]=true&file_link_data[metadata][k]=v")
        assert parse(Sample, data).file_link_data == LinkData(create=True, metadata={"k": "v"})


class Limited(StripeParams):
    id: LimitedStr | None = None
    free: Str | None = None
    kind: Annotated[str, one_of("a", "b", max_length=5000)] | None = None
    expand: Expand = []


def too_long(value: str, param: str) -> dict[str, str]:
    return invalid(
        f"Invalid string: {value[:4]}...{value[-4:]}; must be at most 5000 characters", param
    )


class TestStringLimits:
    """Stripe's `maxLength: 5000`, where the spec states it, with Stripe's message."""

    def test_the_message_cuts_the_value_as_stripe_does(self) -> None:
        # two messages seen from Stripe: "Invalid string: P1_e...Gvxg; must be at most 5000
        # characters" and "Invalid string: oai-...alue; ..."
        value = "P1_e" + "x" * 4993 + "Gvxg"
        assert too_long_message(value) == (
            "Invalid string: P1_e...Gvxg; must be at most 5000 characters"
        )

    def test_5000_characters_pass(self) -> None:
        value = "é" * 5000  # characters, not bytes
        assert parse(Limited, {"id": value, "expand": [value]}).id == value

    def test_5001_characters_are_refused(self) -> None:
        value = "file_" + "a" * 4996
        assert error_of(Limited, {"id": value}) == too_long(value, "id")

    def test_from_the_wire(self) -> None:
        value = "c" * 6000
        data = decode_query(f"id={value}")
        assert error_of(Limited, data) == too_long(value, "id")

    def test_an_expand_item_is_named_by_its_index(self) -> None:
        value = "data." + "x" * 5000
        data = decode_pairs([("expand[]", "file"), ("expand[]", value)])
        assert error_of(Limited, data) == too_long(value, "expand[1]")

    def test_an_enum_is_held_to_its_length_before_its_choices(self) -> None:
        value = "a" * 5001
        assert error_of(Limited, {"kind": value}) == too_long(value, "kind")
        assert error_of(Limited, {"kind": "z"})["message"] == "Invalid kind: must be one of a or b"

    def test_a_field_without_a_limit_has_none(self) -> None:
        value = "x" * 70_000
        assert parse(Limited, {"free": value}).free == value

    def test_a_path_id(self) -> None:
        assert path_id("file_" + "a" * 4995) == "file_" + "a" * 4995
        with pytest.raises(StripeError) as exc:
            path_id("file_" + "a" * 4996)
        assert exc.value.to_dict() == too_long("file_" + "a" * 4996, "id")


class TestListParams:
    def test_defaults(self) -> None:
        parsed = parse(ListParams, {})
        assert (parsed.limit, parsed.starting_after, parsed.ending_before) == (10, None, None)
        assert (parsed.expand, parsed.created) == ([], None)

    @pytest.mark.parametrize("limit", ["1", "100"])
    def test_accepts_limit_bounds(self, limit: str) -> None:
        assert parse(ListParams, {"limit": limit}).limit == int(limit)

    @pytest.mark.parametrize("limit", ["0", "101", "-1"])
    def test_refuses_limit_out_of_range(self, limit: str) -> None:
        got = error_of(ListParams, {"limit": limit})
        assert (got["param"], got["type"]) == ("limit", "invalid_request_error")

    def test_refuses_a_non_integer_limit(self) -> None:
        assert error_of(ListParams, {"limit": "ten"}) == invalid(
            "Invalid integer: ten", "limit", "parameter_invalid_integer"
        )

    def test_refuses_both_cursors(self) -> None:
        assert error_of(ListParams, {"starting_after": "a", "ending_before": "b"}) == invalid(
            "Received both starting_after and ending_before parameters. Please pass in only one."
        )

    @pytest.mark.parametrize("cursor", ["starting_after", "ending_before"])
    def test_accepts_one_cursor(self, cursor: str) -> None:
        assert getattr(parse(ListParams, {cursor: "link_x"}), cursor) == "link_x"

    def test_refuses_an_empty_cursor(self) -> None:
        assert error_of(ListParams, {"starting_after": ""})["code"] == "parameter_invalid_empty"

    def test_refuses_unknown_parameters(self) -> None:
        assert error_of(ListParams, {"foo": "1"})["code"] == "parameter_unknown"


class TestRetrieveParams:
    def test_accepts_expand(self) -> None:
        assert parse(RetrieveParams, decode_query("expand[]=file")).expand == ["file"]

    def test_refuses_anything_else(self) -> None:
        assert error_of(RetrieveParams, {"limit": "1"})["param"] == "limit"


LINK_TREE = {"file": {"links": {}}}


class TestExpansions:
    @pytest.mark.parametrize(
        ("paths", "on_list", "want"),
        [
            pytest.param([], False, set(), id="none"),
            pytest.param(["file"], False, {"file"}, id="field"),
            pytest.param(["file.links"], False, {"file"}, id="nested"),
            pytest.param(["data.file"], True, {"file"}, id="list"),
            pytest.param(["data.file.links"], True, {"file"}, id="list-nested"),
        ],
    )
    def test_returns_the_top_level_fields(
        self, paths: list[str], on_list: bool, want: set[str]
    ) -> None:
        assert expansions(paths, LINK_TREE, on_list=on_list) == want

    @pytest.mark.parametrize(
        ("paths", "on_list", "message"),
        [
            pytest.param(
                ["metadata"], False, "This property cannot be expanded (metadata).", id="field"
            ),
            pytest.param(
                ["file.nope"], False, "This property cannot be expanded (nope).", id="nested"
            ),
            pytest.param(
                ["file"],
                True,
                "This property cannot be expanded (file). You may want to try expanding"
                " 'data.file' instead.",
                id="list-without-data",
            ),
            pytest.param(
                ["data.file"], False, "This property cannot be expanded (data).", id="data-on-one"
            ),
            pytest.param(["data"], True, "This property cannot be expanded (data).", id="data"),
            pytest.param(
                ["file.links.a.b.c"],
                False,
                "You cannot expand more than 4 levels of a property. Property: file.links.a.b.c",
                id="too-deep",
            ),
        ],
    )
    def test_refuses_what_cannot_be_expanded(
        self, paths: list[str], on_list: bool, message: str
    ) -> None:
        with pytest.raises(StripeError) as exc:
            expansions(paths, LINK_TREE, on_list=on_list)
        assert exc.value.status == 400
        assert exc.value.to_dict() == invalid(message)
