"""Properties of Stripe's metadata rules: what `check_metadata` accepts survives the form
encoding unchanged, what breaks a limit is refused with Stripe's 400, and `merge_metadata`
is Stripe's merge (set, '' unsets, '' for the whole hash clears) within 50 keys."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlencode

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from filelinks_api.errors import InvalidRequestError
from filelinks_api.services.file_links import merge_metadata
from filelinks_api.wire.form import decode_query
from filelinks_api.wire.params import (
    METADATA_MAX_KEY_LENGTH,
    METADATA_MAX_KEYS,
    METADATA_MAX_VALUE_LENGTH,
    Metadata,
    StripeParams,
    parse,
)

PROPERTIES = settings(derandomize=True, max_examples=150, deadline=None)

# Any character a form can carry (no NUL, no lone surrogate); keys without square brackets.
_chars = st.characters(blacklist_categories=("Cs",), blacklist_characters="\x00")
_key_chars = st.characters(blacklist_categories=("Cs",), blacklist_characters="\x00[]")
keys = st.text(_key_chars, min_size=1, max_size=METADATA_MAX_KEY_LENGTH)
values = st.text(_chars, min_size=1, max_size=METADATA_MAX_VALUE_LENGTH)
metadata = st.dictionaries(keys, values, max_size=METADATA_MAX_KEYS)
# An update: values, or '' to unset a key.
updates = st.dictionaries(keys, st.one_of(st.just(""), values), max_size=METADATA_MAX_KEYS)


class WithMetadata(StripeParams):
    metadata: Metadata = None


def checked(value: Any) -> dict[str, str] | None:
    return parse(WithMetadata, {"metadata": value}).metadata


def refusal(value: Any) -> InvalidRequestError:
    with pytest.raises(InvalidRequestError) as exc:
        checked(value)
    assert exc.value.status == 400
    assert exc.value.param == "metadata"
    return exc.value


@PROPERTIES
@given(metadata)
def test_valid_metadata_survives_the_form_encoding_unchanged(sent: dict[str, str]) -> None:
    body = urlencode({f"metadata[{key}]": value for key, value in sent.items()})
    decoded = decode_query(body)
    assert checked(decoded.get("metadata", {})) == sent


@PROPERTIES
@given(updates)
def test_empty_values_are_kept_as_unset_markers(sent: dict[str, str]) -> None:
    assert checked(sent) == sent


@PROPERTIES
@given(metadata, st.text(_key_chars, min_size=METADATA_MAX_KEY_LENGTH + 1, max_size=120))
def test_a_key_over_40_characters_is_refused(sent: dict[str, str], key: str) -> None:
    error = refusal({**dict(list(sent.items())[:49]), key: "v"})
    assert error.message.startswith("Metadata keys can have up to 40 characters")
    assert f"a key that is {len(key)} characters" in error.message


@PROPERTIES
@given(metadata, keys, st.text(_chars, min_size=METADATA_MAX_VALUE_LENGTH + 1, max_size=900))
def test_a_value_over_500_characters_is_refused(sent: dict[str, str], key: str, value: str) -> None:
    error = refusal({**dict(list(sent.items())[:49]), key: value})
    assert error.message.startswith("Metadata values can have up to 500 characters")
    assert f"a value that is {len(value)} characters" in error.message


@PROPERTIES
@given(metadata, keys, st.sampled_from("[]"), st.integers(0, 40))
def test_a_key_with_a_square_bracket_is_refused(
    sent: dict[str, str], key: str, bracket: str, at: int
) -> None:
    bad = key[:at] + bracket + key[at:]
    error = refusal({**dict(list(sent.items())[:49]), bad: "v"})
    assert "square brackets" in error.message


@PROPERTIES
@given(st.dictionaries(keys, values, min_size=METADATA_MAX_KEYS + 1, max_size=80))
def test_more_than_50_keys_are_refused(sent: dict[str, str]) -> None:
    assert f"you've set {len(sent)}" in refusal(sent).message


@PROPERTIES
@given(metadata)
def test_an_empty_string_clears_and_a_non_hash_is_refused(sent: dict[str, str]) -> None:
    assert checked("") is None
    assert refusal(list(sent.values()) or ["x"]).message == "Invalid hash"
    assert refusal("not a hash").message == "Invalid hash"


# --- merge_metadata ---------------------------------------------------------------------------


FULL = {f"k{i}": "v" for i in range(METADATA_MAX_KEYS)}


@PROPERTIES
@given(metadata, updates)
@example(FULL, {"one_more": "v"})  # the 51st key, after the merge
@example(FULL, {"k0": "", "one_more": "v"})  # 50 after the merge: fine
def test_merge_sets_unsets_and_keeps_the_rest(
    current: dict[str, str], update: dict[str, str]
) -> None:
    before = dict(current)
    expected = {k: v for k, v in current.items() if k not in update}
    expected.update({k: v for k, v in update.items() if v != ""})
    if len(expected) > METADATA_MAX_KEYS:
        with pytest.raises(InvalidRequestError) as exc:
            merge_metadata(current, update)
        assert f"you've set {len(expected)}" in exc.value.message
        assert exc.value.param == "metadata"
    else:
        merged = merge_metadata(current, update)
        assert merged == expected
        assert "" not in merged.values()
        assert merge_metadata(merged, update) == merged  # applying it twice changes nothing
    assert current == before  # the stored metadata is not modified in place


@PROPERTIES
@given(metadata)
def test_merge_with_none_clears_and_with_nothing_keeps(current: dict[str, str]) -> None:
    assert merge_metadata(current, None) == {}
    assert merge_metadata(current, {}) == current
    assert merge_metadata(current, {key: "" for key in current}) == {}
