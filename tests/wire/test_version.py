"""The Stripe-Version rules, without a server: which values pass, the error, the echo."""

from __future__ import annotations

from datetime import date

import pytest

from filelinks_api.errors import InvalidRequestError
from filelinks_api.wire.version import (
    DEFAULT_STRIPE_VERSION,
    check_version,
    is_valid_version,
    version_in_effect,
)

TODAY = date(2026, 11, 30)


@pytest.mark.parametrize(
    "value",
    [
        "2011-06-21",  # the first version in Stripe's changelog
        "2018-09-24",  # FileUpload became File; File Links came with it
        "2020-08-27",
        "2024-06-20",  # the last version without a codename
        "2024-09-30.acacia",
        "2025-03-31.basil",
        "2025-09-30.clover",
        "2026-03-25.dahlia",
        "2026-10-28.endive",  # what stripe-python 16.1.0 sends
        "2022-08-02",  # well-formed but never released: accepted (Stripe refuses it)
        "2026-12-02",  # today plus the margin
        "2026-12-01.preview",
    ],
)
def test_accepts_a_plausible_version(value: str) -> None:
    assert is_valid_version(value, TODAY)
    assert check_version([value], TODAY) == value
    assert version_in_effect([value], TODAY) == value


@pytest.mark.parametrize(
    "value",
    [
        "2019-2-19",  # stripe-java#682
        "2018-11-21 accounts_upgrade=true",  # stripe-connect-rocketrides#22
        "2019-05-16, 2019-12-03",  # two headers, as Stripe joins them (stripity-stripe#613)
        "2011-06-20",  # before the first version
        "2026-12-03",  # beyond today plus the margin
        "2024-02-30",  # no such day
        "2024-13-01",
        "2024-09-30.",
        "2024-09-30.Acacia",
        "2024-09-30.acacia2",
        "2024-09-30.acacia.basil",
        " 2024-09-30",
        "2024-09-30\n",
        "latest",
        "20240930",
        "２０２４-09-30",  # non-ASCII digits
    ],
)
def test_refuses_anything_else(value: str) -> None:
    assert not is_valid_version(value, TODAY)
    with pytest.raises(InvalidRequestError) as refused:
        check_version([value], TODAY)
    assert refused.value.to_dict() == {
        "message": f"Invalid Stripe API version: {value}",
        "type": "invalid_request_error",
    }
    assert refused.value.status == 400
    assert version_in_effect([value], TODAY) == DEFAULT_STRIPE_VERSION


def test_repeated_headers_are_joined_and_refused() -> None:
    with pytest.raises(
        InvalidRequestError, match="^Invalid Stripe API version: 2019-05-16, 2019-12-03$"
    ):
        check_version(["2019-05-16", "2019-12-03"], TODAY)


@pytest.mark.parametrize("values", [[], [""]])
def test_no_version_means_the_default(values: list[str]) -> None:
    assert check_version(values, TODAY) is None
    assert version_in_effect(values, TODAY) == DEFAULT_STRIPE_VERSION


def test_the_default_is_itself_valid() -> None:
    assert is_valid_version(DEFAULT_STRIPE_VERSION, TODAY)
