"""Amounts are integer minor units; every odd way to write one is handled on purpose."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from domain.errors import DomainError
from domain.money import amount_minor_max, format_amount, parse_amount


@pytest.mark.parametrize(
    ("text", "currency", "expected"),
    [
        ("500.00", "CNY", 50000),
        ("0.01", "CNY", 1),
        ("500", "CNY", 50000),
        ("500.5", "CNY", 50050),
        ("10000000000000.00", "CNY", 10**15),
        ("1200", "JPY", 1200),
        ("1.234", "KWD", 1234),
        ("007.10", "CNY", 710),
    ],
)
def test_a_plain_decimal_string_becomes_minor_units(text: str, currency: str, expected: int) -> None:
    assert expected == parse_amount(text, currency)


@pytest.mark.parametrize(
    "text",
    [
        "1e3",
        "NaN",
        "Infinity",
        "-0",
        "-5.00",
        "+5.00",
        "1,000.00",
        "１０．００",
        "５",
        " 5.00",
        "5.00 ",
        ".5",
        "5.",
        "0",
        "0.00",
        "10.001",
        "1000000000000000.01",
        "",
        "٣",
    ],
)
def test_every_other_way_of_writing_an_amount_is_refused_as_invalid_amount(text: str) -> None:
    with pytest.raises(DomainError) as refused:
        parse_amount(text, "CNY")
    assert "invalid_amount" == refused.value.code


def test_a_yen_amount_with_decimals_is_refused() -> None:
    with pytest.raises(DomainError) as refused:
        parse_amount("5.5", "JPY")
    assert "invalid_amount" == refused.value.code


def test_an_unknown_currency_is_refused_as_invalid_command() -> None:
    with pytest.raises(DomainError) as refused:
        parse_amount("5.00", "XXX")
    assert "invalid_command" == refused.value.code


@pytest.mark.parametrize(
    ("amount_minor", "currency", "expected"),
    [
        (110000, "CNY", "1100.00"),
        (5, "CNY", "0.05"),
        (0, "CNY", "0.00"),
        (-300, "CNY", "-3.00"),
        (1200, "JPY", "1200"),
        (1, "KWD", "0.001"),
    ],
)
def test_minor_units_are_written_with_the_currencys_places(amount_minor: int, currency: str, expected: str) -> None:
    assert expected == format_amount(amount_minor, currency)


@given(st.integers(min_value=1, max_value=amount_minor_max), st.sampled_from(["CNY", "JPY", "KWD"]))
def test_writing_then_reading_an_amount_gives_it_back(amount_minor: int, currency: str) -> None:
    assert amount_minor == parse_amount(format_amount(amount_minor, currency), currency)
