"""The money helpers (underwriting/money.py): exact values, since stored amounts must never move."""

from decimal import Decimal, InvalidOperation, localcontext

import pytest

from underwriting.money import (
    CENT,
    ZERO,
    amount_text,
    as_decimal,
    cap_to_cent,
    cap_to_step,
    cents_text,
    has_whole_cents,
    money_text,
    to_cents,
    to_cents_half_even,
)

D = Decimal


def test_constants():
    assert D("0.01") == CENT and str(CENT) == "0.01"
    assert ZERO == 0 and str(ZERO) == "0.00"


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (D("10.005"), "10.01"),
        (D("0.004"), "0.00"),
        (D("0.005"), "0.01"),
        (D("2.675"), "2.68"),
        (D("2.665"), "2.67"),
        (D("10.015"), "10.02"),
        (D("-10.005"), "-10.01"),
        (D("-0.004"), "-0.00"),
        (D("-2.665"), "-2.67"),
        (D("12345.6"), "12345.60"),
        (D("7"), "7.00"),
        (7, "7.00"),
        ("10.005", "10.01"),
        (2.675, "2.68"),  # a float through its shortest text, not its binary 2.67499999...
        (0.1, "0.10"),
    ],
)
def test_to_cents_rounds_half_up(value, expected):
    result = to_cents(value)
    assert isinstance(result, Decimal)
    assert str(result) == expected


@pytest.mark.parametrize(
    ("value", "expected"),
    [(D("10.005"), "10.00"), (D("10.015"), "10.02"), (D("2.665"), "2.66"), (D("2.675"), "2.68"),
     (D("-10.005"), "-10.00"), (D("0.004"), "0.00"), (1.005, "1.00"), ("3.3333", "3.33")],
)
def test_to_cents_half_even_is_bankers_rounding(value, expected):
    assert str(to_cents_half_even(value)) == expected


def test_as_decimal():
    d = D("1.50")
    assert as_decimal(d) is d
    assert str(as_decimal(0.1)) == "0.1"
    assert str(as_decimal(3)) == "3"
    assert str(as_decimal("12.345")) == "12.345"


@pytest.mark.parametrize(
    ("value", "expected"),
    [(D("12.349"), "12.34"), (D("12.3499999"), "12.34"), (D("12.34"), "12.34"), (D("0.009"), "0.00"),
     (D("10.005"), "10.00"), (D("-12.349"), "-12.34"), (D("5"), "5.00")],
)
def test_cap_to_cent_never_exceeds_the_value(value, expected):
    assert str(cap_to_cent(value)) == expected
    if value >= 0:
        assert cap_to_cent(value) <= value


@pytest.mark.parametrize(
    ("amount", "step", "expected"),
    [(D("12345.67"), D("100"), "12300.00"), (D("12345.67"), D("100.00"), "12300.00"),
     (D("12300.00"), D("100"), "12300.00"), (D("99.99"), D("100"), "0.00"),
     (D("12.349"), CENT, "12.34"), (D("1000.999"), D("0.50"), "1000.50"),
     (D("-12345.67"), D("100"), "-12300.00")],
)
def test_cap_to_step_is_the_largest_multiple_not_above(amount, step, expected):
    assert str(cap_to_step(amount, step)) == expected


def test_cap_to_step_defaults_to_the_cent():
    assert str(cap_to_step(D("0.019"))) == "0.01"


def test_rounding_uses_the_active_context_precision():
    with localcontext() as ctx:
        ctx.prec = 40
        assert str(to_cents(D("123456789012345678901234567890.005"))) == "123456789012345678901234567890.01"
    with pytest.raises(InvalidOperation):
        to_cents(D("123456789012345678901234567890.005"))


def test_has_whole_cents():
    assert has_whole_cents(D("12.50"))
    assert has_whole_cents(D("12"))
    assert has_whole_cents(D("12.500"))
    assert not has_whole_cents(D("12.505"))
    assert not has_whole_cents(D("0.001"))


@pytest.mark.parametrize(
    ("cents", "expected"),
    [(0, "0.00"), (5, "0.05"), (123456, "1234.56"), (100, "1.00"), (-5, "-0.05"), (-123456, "-1234.56"),
     (-100, "-1.00")],
)
def test_cents_text(cents, expected):
    assert cents_text(cents) == expected
    assert cents_text(cents) == amount_text(Decimal(cents).scaleb(-2))


def test_amount_text_is_the_json_form():
    assert amount_text(D("1234.5")) == "1234.50"
    assert amount_text(D("1234567.89")) == "1234567.89"
    assert amount_text(D("0")) == "0.00"


def test_money_text_groups_thousands_and_adds_the_currency():
    assert money_text(D("12345.6"), "CNY") == "12,345.60 CNY"
    assert money_text(D("12345.6")) == "12,345.60"
    assert money_text(D("-1234.5"), "EUR") == "-1,234.50 EUR"
    assert money_text(D("0.00"), "") == "0.00"
