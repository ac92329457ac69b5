"""Stripe's bracket notation: flat pairs (or a query string) to nested dicts and lists."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any
from urllib.parse import urlencode

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from filelinks_api.errors import StripeError
from filelinks_api.wire.form import (
    MAX_DEPTH,
    MAX_KEY_LENGTH,
    MAX_PARAMS,
    IndexedList,
    decode_pairs,
    decode_query,
)

FUZZ = settings(
    max_examples=150,
    derandomize=True,
    database=None,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)


def assert_bad_request(exc: pytest.ExceptionInfo[StripeError]) -> None:
    assert exc.value.status == 400
    assert exc.value.type == "invalid_request_error"
    assert exc.value.message


class TestDecodePairs:
    @pytest.mark.parametrize(
        ("pairs", "want"),
        [
            pytest.param([("a[b]", "1")], {"a": {"b": "1"}}, id="hash"),
            pytest.param(
                [("a[]", "x"), ("a[]", "y")], {"a": ["x", "y"]}, id="empty-brackets-array"
            ),
            pytest.param([("a[0]", "x"), ("a[1]", "y")], {"a": ["x", "y"]}, id="indexed-array"),
            pytest.param([("a[1]", "y"), ("a[0]", "x")], {"a": ["x", "y"]}, id="indices-any-order"),
            pytest.param([("a[b][c]", "1")], {"a": {"b": {"c": "1"}}}, id="nested-hash"),
            pytest.param(
                [("created[gte]", "1680000000"), ("created[lt]", "1690000000")],
                {"created": {"gte": "1680000000", "lt": "1690000000"}},
                id="created-range",
            ),
            pytest.param(
                [("file_link_data[create]", "true"), ("file_link_data[metadata][k]", "v")],
                {"file_link_data": {"create": "true", "metadata": {"k": "v"}}},
                id="file-link-data",
            ),
            pytest.param(
                [("a[0][b]", "1"), ("a[1][b]", "2")],
                {"a": [{"b": "1"}, {"b": "2"}]},
                id="array-of-hashes",
            ),
            pytest.param(
                [("metadata[0]", "a"), ("metadata[b]", "c")],
                {"metadata": {"0": "a", "b": "c"}},
                id="index-then-key-is-hash",
            ),
            pytest.param(
                [("metadata[b]", "c"), ("metadata[0]", "a")],
                {"metadata": {"b": "c", "0": "a"}},
                id="key-then-index-is-hash",
            ),
            pytest.param(
                [("a[0]", "x"), ("a[2]", "y")], {"a": {"0": "x", "2": "y"}}, id="gap-is-hash"
            ),
            pytest.param([("a[1]", "x")], {"a": {"1": "x"}}, id="not-from-zero-is-hash"),
            pytest.param([("a[00]", "x")], {"a": {"00": "x"}}, id="leading-zero-is-a-key"),
            pytest.param([("a[²]", "x")], {"a": {"²": "x"}}, id="unicode-digit-is-a-key"),
            pytest.param(
                [("a[0]", "x"), ("a[12345678901]", "y")],
                {"a": {"0": "x", "12345678901": "y"}},
                id="huge-index-is-a-key",
            ),
            pytest.param(
                [("a[" + "1" * 4400 + "]", "x")],
                {"a": {"1" * 4400: "x"}},
                id="index-too-long-for-int-is-a-key",
            ),
            pytest.param([("a", "1"), ("a", "2")], {"a": "2"}, id="repeated-scalar-last-wins"),
            pytest.param(
                [("a[b]", "1"), ("a[b]", "2")], {"a": {"b": "2"}}, id="repeated-nested-last-wins"
            ),
            pytest.param([("a", "")], {"a": ""}, id="empty-value"),
            pytest.param([("metadata", "")], {"metadata": ""}, id="empty-metadata-unsets"),
            pytest.param([("metadata[k]", "")], {"metadata": {"k": ""}}, id="empty-nested-value"),
            pytest.param([("a[ b ]", "1")], {"a": {" b ": "1"}}, id="spaces-kept-in-keys"),
            pytest.param([("a[b", "1")], {"a[b": "1"}, id="unclosed-bracket-is-literal"),
            pytest.param([("a[b]c", "1")], {"a[b]c": "1"}, id="text-after-bracket-is-literal"),
            pytest.param([("[a]", "1")], {"[a]": "1"}, id="no-head-is-literal"),
            pytest.param([], {}, id="nothing"),
        ],
    )
    def test_decodes(self, pairs: list[tuple[str, str]], want: dict[str, Any]) -> None:
        assert decode_pairs(pairs) == want

    def test_indexed_array_is_an_indexed_list(self) -> None:
        got = decode_pairs([("expand[0]", "file"), ("expand[1]", "links")])
        assert isinstance(got["expand"], IndexedList)

    def test_empty_brackets_array_is_a_plain_list(self) -> None:
        got = decode_pairs([("expand[]", "file")])
        assert type(got["expand"]) is list

    def test_indexed_metadata_stays_usable_as_a_hash(self) -> None:
        got = decode_pairs([("metadata[0]", "a"), ("metadata[1]", "b")])
        assert got["metadata"] == ["a", "b"]
        assert got["metadata"].as_dict() == {"0": "a", "1": "b"}

    def test_nested_indexed_lists_are_indexed_lists(self) -> None:
        got = decode_pairs([("a[0][0]", "x"), ("a[0][1]", "y")])
        assert got == {"a": [["x", "y"]]}
        assert isinstance(got["a"][0], IndexedList)

    def test_accepts_exactly_max_params(self) -> None:
        got = decode_pairs((f"k{i}", "v") for i in range(MAX_PARAMS))
        assert len(got) == MAX_PARAMS

    def test_refuses_more_than_max_params(self) -> None:
        with pytest.raises(StripeError) as exc:
            decode_pairs((f"k{i}", "v") for i in range(MAX_PARAMS + 1))
        assert_bad_request(exc)
        assert "Too many parameters" in exc.value.message

    def test_accepts_max_depth(self) -> None:
        key = "a" + "[b]" * (MAX_DEPTH - 1)
        got: Any = decode_pairs([(key, "1")])
        for _ in range(MAX_DEPTH - 1):
            got = got.get("a", got.get("b"))
        assert got == {"b": "1"}

    def test_refuses_nesting_deeper_than_max_depth(self) -> None:
        key = "a" + "[b]" * MAX_DEPTH
        with pytest.raises(StripeError) as exc:
            decode_pairs([(key, "1")])
        assert_bad_request(exc)
        assert exc.value.param == "a"

    def test_refuses_a_name_longer_than_max_key_length(self) -> None:
        with pytest.raises(StripeError) as exc:
            decode_pairs([("k" * (MAX_KEY_LENGTH + 1), "v")])
        assert_bad_request(exc)

    @pytest.mark.parametrize(
        "pair", [("a\x00", "1"), ("a", "1\x00"), ("a[\x00]", "1")], ids=["key", "value", "nested"]
    )
    def test_refuses_nul_bytes(self, pair: tuple[str, str]) -> None:
        with pytest.raises(StripeError) as exc:
            decode_pairs([pair])
        assert_bad_request(exc)
        assert "NUL" in exc.value.message

    @pytest.mark.parametrize(
        "pairs",
        [
            pytest.param([("a", "1"), ("a[b]", "2")], id="value-then-hash"),
            pytest.param([("a[b]", "2"), ("a", "1")], id="hash-then-value"),
            pytest.param([("a[]", "x"), ("a[b]", "y")], id="array-then-hash"),
            pytest.param([("a[b]", "y"), ("a[]", "x")], id="hash-then-array"),
            pytest.param([("a[0]", "x"), ("a[]", "y")], id="indexed-then-brackets"),
            pytest.param([("a[]", "x"), ("a[0]", "y")], id="brackets-then-indexed"),
            pytest.param([("a[]", "x"), ("a", "y")], id="array-then-value"),
            pytest.param([("a[][b]", "1")], id="hash-inside-empty-brackets"),
            pytest.param([("a[0]", "x"), ("a[0][b]", "y")], id="element-then-hash"),
            pytest.param([("a[0][b]", "y"), ("a[0]", "x")], id="hash-then-element"),
        ],
    )
    def test_conflicting_shapes_are_a_400(self, pairs: list[tuple[str, str]]) -> None:
        with pytest.raises(StripeError) as exc:
            decode_pairs(pairs)
        assert_bad_request(exc)


class TestDecodeQuery:
    @pytest.mark.parametrize(
        ("raw", "want"),
        [
            pytest.param("expand%5B0%5D=file", {"expand": ["file"]}, id="encoded-brackets"),
            pytest.param("expand%5b%5d=file", {"expand": ["file"]}, id="lowercase-encoding"),
            pytest.param(
                # what stripe-python 15.3.1 sent for a file_links.list (reference §3.2)
                "created%5Bgte%5D=1&expired=false&limit=3&expand%5B0%5D=data.file",
                {
                    "created": {"gte": "1"},
                    "expired": "false",
                    "limit": "3",
                    "expand": ["data.file"],
                },
                id="stripe-python-list-query",
            ),
            pytest.param(
                "file=file_x&metadata[a]=b&expand[0]=file",
                {"file": "file_x", "metadata": {"a": "b"}, "expand": ["file"]},
                id="stripe-python-create-body",
            ),
            pytest.param("a+b=c+d", {"a b": "c d"}, id="plus-is-space"),
            pytest.param("a=%20x%20", {"a": " x "}, id="percent-20-is-space"),
            pytest.param("a=%2B", {"a": "+"}, id="encoded-plus-stays-plus"),
            pytest.param(
                "metadata%5Bk%5D=%5Bv%5D", {"metadata": {"k": "[v]"}}, id="brackets-in-value"
            ),
            pytest.param("a=%E2%9C%93", {"a": "\u2713"}, id="utf8"),
            pytest.param("a&b=", {"a": "", "b": ""}, id="blank-values-kept"),
            pytest.param("a=1&&b=2", {"a": "1", "b": "2"}, id="empty-segment-skipped"),
            pytest.param("a=x=y", {"a": "x=y"}, id="equals-in-value"),
            pytest.param("", {}, id="empty"),
            pytest.param(b"metadata[k]=v", {"metadata": {"k": "v"}}, id="bytes"),
            pytest.param(b"", {}, id="empty-bytes"),
        ],
    )
    def test_decodes(self, raw: str | bytes, want: dict[str, Any]) -> None:
        assert decode_query(raw) == want

    @pytest.mark.parametrize(
        "raw",
        [
            pytest.param(b"a=\xff", id="raw-bytes"),
            pytest.param("a=%ff", id="encoded-value"),
            pytest.param("%C3=1", id="encoded-key-truncated-sequence"),
            pytest.param("a=%ED%A0%80", id="encoded-surrogate"),
        ],
    )
    def test_invalid_utf8_is_a_400(self, raw: str | bytes) -> None:
        with pytest.raises(StripeError) as exc:
            decode_query(raw)
        assert_bad_request(exc)
        assert "UTF-8" in exc.value.message

    @pytest.mark.parametrize("raw", ["a=%00", "a%00=1", "a[%00]=1"])
    def test_encoded_nul_is_a_400(self, raw: str) -> None:
        with pytest.raises(StripeError) as exc:
            decode_query(raw)
        assert_bad_request(exc)

    def test_refuses_more_than_max_params(self) -> None:
        with pytest.raises(StripeError) as exc:
            decode_query("&".join(f"k{i}=v" for i in range(MAX_PARAMS + 1)))
        assert_bad_request(exc)
        assert "Too many parameters" in exc.value.message

    def test_accepts_exactly_max_params(self) -> None:
        got = decode_query("&".join(f"k{i}=v" for i in range(MAX_PARAMS)))
        assert len(got) == MAX_PARAMS

    def test_refuses_deep_nesting(self) -> None:
        with pytest.raises(StripeError) as exc:
            decode_query("a" + "%5Bb%5D" * MAX_DEPTH + "=1")
        assert_bad_request(exc)

    def test_conflicting_shapes_are_a_400(self) -> None:
        with pytest.raises(StripeError) as exc:
            decode_query("a=1&a%5Bb%5D=2")
        assert_bad_request(exc)


# --- properties -------------------------------------------------------------------------------

# Text that exercises the decoder's interesting paths far more often than arbitrary text does.
_WIRE_ALPHABET = "ab0129[]=&%+5BDdfF;\x00 é²"


def outcome(decode: Callable[[Any], dict[str, Any]], raw: Any) -> dict[str, Any] | StripeError:
    try:
        return decode(raw)
    except StripeError as exc:
        return exc


@FUZZ
@given(st.one_of(st.text(), st.text(alphabet=_WIRE_ALPHABET), st.binary()))
def test_decode_query_raises_nothing_but_stripe_errors(raw: str | bytes) -> None:
    got = outcome(decode_query, raw)
    assert isinstance(got, dict) or (isinstance(got, StripeError) and got.status == 400)


# Bracketed names built from segments that each hit a different branch of the decoder.
_bracket_names = st.builds(
    lambda head, segments: head + "".join(f"[{s}]" for s in segments),
    st.sampled_from(["a", "b", ""]),
    st.lists(
        st.sampled_from(["", "0", "1", "2", "00", "\u00b2", "\u0661", "b", "x[", "1" * 4400]),
        max_size=4,
    ),
)


@FUZZ
@given(
    st.lists(
        st.tuples(st.one_of(st.text(alphabet=_WIRE_ALPHABET), _bracket_names), st.text(max_size=5)),
        max_size=12,
    )
)
def test_decode_pairs_raises_nothing_but_stripe_errors(pairs: list[tuple[str, str]]) -> None:
    got = outcome(decode_pairs, pairs)
    assert isinstance(got, dict) or (isinstance(got, StripeError) and got.status == 400)


def api_encode(params: dict[str, Any], prefix: str | None = None) -> list[tuple[str, str]]:
    """stripe-python's `_api_encode`: dicts as key[sub], lists always as indexed key[i]."""
    pairs: list[tuple[str, str]] = []
    for key, value in params.items():
        name = f"{prefix}[{key}]" if prefix else key
        if isinstance(value, dict):
            pairs += api_encode(value, name)
        elif isinstance(value, list):
            pairs += api_encode({str(i): item for i, item in enumerate(value)}, name)
        else:
            pairs.append((name, value))
    return pairs


def to_wire(pairs: list[tuple[str, str]]) -> str:
    """stripe-python's body: urlencode, then brackets back to literal."""
    return urlencode(pairs).replace("%5B", "[").replace("%5D", "]")


def matches(decoded: Any, sent: Any) -> bool:
    """Equal, allowing a hash whose keys were 0..n-1 to come back as an IndexedList."""
    if isinstance(sent, dict):
        if isinstance(decoded, IndexedList):
            decoded = decoded.as_dict()
        return (
            isinstance(decoded, dict)
            and decoded.keys() == sent.keys()
            and all(matches(decoded[k], v) for k, v in sent.items())
        )
    if isinstance(sent, list):
        return (
            isinstance(decoded, IndexedList)
            and len(decoded) == len(sent)
            and all(matches(d, s) for d, s in zip(decoded, sent, strict=True))
        )
    return decoded == sent


_keys = st.one_of(
    st.text(
        alphabet=st.characters(exclude_characters="[]\x00", exclude_categories=["Cs"]),
        min_size=1,
        max_size=6,
    ),
    st.sampled_from(["0", "1", "2", "00", "10"]),
)
_values = st.text(
    alphabet=st.characters(exclude_characters="\x00", exclude_categories=["Cs"]), max_size=6
)


def _nested(depth: int) -> st.SearchStrategy[Any]:
    if depth == 0:
        return _values
    inner = _nested(depth - 1)
    return st.one_of(
        _values,
        st.dictionaries(_keys, inner, min_size=1, max_size=3),
        st.lists(inner, min_size=1, max_size=3),
    )


_params = st.dictionaries(_keys, _nested(3), max_size=4)


@FUZZ
@given(_params)
def test_stripe_python_encoding_round_trips_through_decode_pairs(params: dict[str, Any]) -> None:
    assert matches(decode_pairs(api_encode(params)), params)


@FUZZ
@given(_params)
def test_stripe_python_encoding_round_trips_through_decode_query(params: dict[str, Any]) -> None:
    assert matches(decode_query(to_wire(api_encode(params))), params)
