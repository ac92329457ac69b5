"""dashboard/forms.py: from what a person types to the API's parameters."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from filelinks_api.dashboard.forms import metadata_lines, metadata_text
from filelinks_api.errors import InvalidRequestError

# What the API lets metadata hold: no NUL (refused on the wire), no brackets in a key.
_text = st.text(st.characters(exclude_categories=("Cs",), exclude_characters="\x00"), max_size=20)
_key = st.text(
    st.characters(exclude_categories=("Cs",), exclude_characters="\x00[]"), min_size=1, max_size=12
)


@given(st.dictionaries(_key, _text, max_size=6))
def test_the_text_a_page_shows_reads_back_as_the_metadata(metadata: dict[str, str]) -> None:
    shown = metadata_text(metadata)
    # as a browser sends it back: line breaks as CRLF
    assert metadata_lines(shown.replace("\n", "\r\n")) == metadata


@pytest.mark.parametrize(
    ("typed", "metadata"),
    [
        ("order = 6735\n\n  note=hello world  ", {"order": "6735", "note": "hello world"}),
        ("a=b=c", {"a": "b=c"}),
        ("a\\=b=c", {"a=b": "c"}),
        ("note=one\\ntwo", {"note": "one\ntwo"}),
        ("path=C:\\data\\\\x", {"path": "C:\\data\\x"}),  # an unknown escape stays as typed
        ("nul=\\x00\\ud800", {"nul": "\\x00\\ud800"}),  # so does one no metadata may hold
        ("pad=\\x20x\\x20", {"pad": " x "}),
        ("end=\\", {"end": "\\"}),
    ],
)
def test_what_a_person_types(typed: str, metadata: dict[str, str]) -> None:
    assert metadata_lines(typed) == metadata


def test_a_line_without_an_equals_sign_is_refused() -> None:
    with pytest.raises(InvalidRequestError, match="line 2"):
        metadata_lines("a=1\nb")
