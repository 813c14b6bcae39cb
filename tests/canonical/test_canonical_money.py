from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st
from pydantic import ValidationError

from canonical.errors import MoneyError, TransformError
from canonical.money import (
    EXPONENTS,
    PEGGED_PER_USD,
    Money,
    convert,
    convert_minor,
    exchange_rate,
    exponent,
    format_amount,
    minor_to_decimal,
    parse_money,
    parse_text_amount,
    round_half_even,
    to_decimal,
    to_minor,
)

PEGGED = ("QAR", "AED", "SAR")


def test_exponents_come_from_iso4217():
    assert exponent("USD") == 2
    assert exponent("QAR") == 2
    assert exponent("JPY") == 0
    assert exponent("KWD") == 3
    assert "XAU" not in EXPONENTS  # no minor unit: not money we book
    with pytest.raises(MoneyError):
        exponent("XYZ")


@pytest.mark.parametrize(
    ("text", "minor"),
    [
        ("1700000.00", 170000000),
        ("250.0", 25000),
        ("0.0", 0),
        ("0", 0),
        ("7398073.85", 739807385),
        ("12.340", 1234),
        ("-987654.32", -98765432),
        ("3250000.5", 325000050),
    ],
)
def test_parses_procore_decimal_strings_of_any_precision(text, minor):
    assert to_minor(text, "USD") == minor


@pytest.mark.parametrize(
    ("value", "minor"),
    [(1500, 150000), (Decimal("172.94"), 17294), (172.94, 17294), (0.1, 10), (Decimal("1E+2"), 10000), (-5, -500)],
)
def test_parses_json_numbers_exactly(value, minor):
    assert to_minor(value, "QAR") == minor


def test_float_is_read_through_its_repr_not_float_arithmetic():
    # 0.1 + 0.2 is 0.30000000000000004: its repr has too many decimals, which is an error, not a rounding.
    with pytest.raises(MoneyError):
        to_minor(0.1 + 0.2, "USD")


@pytest.mark.parametrize("value", ["12.345", "0.001", Decimal("1.005"), 1.005])
def test_rejects_more_decimals_than_the_currency_allows(value):
    with pytest.raises(MoneyError, match="decimal places"):
        to_minor(value, "USD")


def test_currency_exponent_decides_what_is_too_precise():
    assert to_minor("12.345", "KWD") == 12345
    assert to_minor("1500", "JPY") == 1500
    with pytest.raises(MoneyError):
        to_minor("1500.5", "JPY")


@pytest.mark.parametrize(
    "value", ["", "abc", "1e3", "NaN", "Infinity", " 5", "5 ", "1_000", "+5", "5.", ".5", "١٢", None, True, [], {}]
)
def test_rejects_what_is_not_a_plain_number(value):
    with pytest.raises(MoneyError):
        to_minor(value, "USD")


def test_money_error_is_a_transform_error_with_a_path():
    error = MoneyError("bad")
    assert isinstance(error, TransformError)
    located = error.at("data.amount")
    assert isinstance(located, MoneyError)
    assert located.path == "data.amount"
    assert str(located) == "data.amount: bad"


@pytest.mark.parametrize(
    ("text", "standard"),
    [("1700000.00", True), ("250.0", False), ("0.00", True), ("-0.00", False), ("007.00", False), ("5", False)],
)
def test_parse_text_amount_says_whether_the_text_is_in_standard_form(text, standard):
    minor, is_standard = parse_text_amount(text, 2, "USD")
    assert is_standard is standard
    assert (format_amount(minor, "USD") == text) is standard


def test_formats_back_for_each_platform():
    assert format_amount(170000000, "USD") == "1700000.00"
    assert format_amount(-5, "USD") == "-0.05"
    assert format_amount(1500, "JPY") == "1500"
    assert format_amount(12345, "KWD") == "12.345"
    assert minor_to_decimal(618800000, "QAR") == Decimal("6188000.00")
    assert str(minor_to_decimal(618800000, "QAR")) == "6188000.00"
    assert to_decimal("8.0") == Decimal("8.0")


def test_pegged_rates():
    assert PEGGED_PER_USD["QAR"] == Decimal("3.64")
    assert PEGGED_PER_USD["AED"] == Decimal("3.6725")
    assert PEGGED_PER_USD["SAR"] == Decimal("3.75")
    assert exchange_rate("USD", "QAR") == Decimal("3.64")
    with pytest.raises(MoneyError):
        convert(Money.of(100, "USD"), "EUR")


def test_conversion_rounds_half_to_even_on_the_target_minor_unit():
    # 654,122.00 USD x 3.6725 = 2,402,263.045 AED: the half cent goes to the even cent.
    assert convert(Money.of(65412200, "USD"), "AED") == Money.of(240226304, "AED")
    assert convert(Money.of(170000000, "USD"), "QAR") == Money.of(618800000, "QAR")
    assert convert(Money.of(618800000, "QAR"), "USD") == Money.of(170000000, "USD")
    same = Money.of(5, "USD")
    assert convert(same, "USD") is same
    assert round_half_even(5, 2) == 2 and round_half_even(7, 2) == 4 and round_half_even(-5, 2) == -2


@given(st.integers(min_value=-(10**15), max_value=10**15), st.sampled_from(PEGGED))
def test_usd_to_pegged_and_back_drifts_at_most_one_minor_unit(cents, currency):
    there = convert_minor(cents, "USD", currency)
    back = convert_minor(there, currency, "USD")
    assert abs(back - cents) <= 1


@given(st.integers(min_value=-(10**15), max_value=10**15), st.sampled_from(PEGGED), st.sampled_from(PEGGED))
def test_conversion_between_pegged_currencies_is_one_exact_rounding(minor, source, target):
    exact = Decimal(minor) * PEGGED_PER_USD[target] / PEGGED_PER_USD[source]
    assert abs(Decimal(convert_minor(minor, source, target)) - exact) <= Decimal("0.5")


@given(st.integers(min_value=-(10**18), max_value=10**18), st.sampled_from(["USD", "QAR", "JPY", "KWD"]))
def test_format_and_parse_are_inverse(minor, currency):
    assert to_minor(format_amount(minor, currency), currency) == minor
    assert to_minor(minor_to_decimal(minor, currency), currency) == minor
    assert to_minor(float(minor_to_decimal(minor, currency)), currency) == minor if abs(minor) < 10**15 else True


@given(st.decimals(allow_nan=False, allow_infinity=False, places=2, min_value=-(10**12), max_value=10**12))
def test_any_two_place_decimal_parses_from_text_decimal_and_float(value):
    minor = int(value * 100)
    assert to_minor(str(value), "USD") == minor
    assert to_minor(value, "USD") == minor
    assert to_minor(float(value), "USD") == minor


def test_money_model_validates_untrusted_input_and_dumps_as_an_object():
    money = Money.model_validate({"amount": 170000000, "currency": "USD"})
    assert money == Money.of(170000000, "USD") == parse_money("1700000.00", "USD")
    assert money.model_dump(mode="json") == {"amount": 170000000, "currency": "USD"}
    assert Money.of(1, "USD").model_dump_json() == '{"amount":1,"currency":"USD"}'
    assert str(money) == "1700000.00 USD"
    for bad in (
        {"amount": 1.5, "currency": "USD"},
        {"amount": "1", "currency": "USD"},
        {"amount": 1, "currency": "XYZ"},
    ):
        with pytest.raises(ValidationError):
            Money.model_validate(bad)
    with pytest.raises(ValidationError):
        money.amount = 5  # type: ignore[misc]
