"""The `money` and `percent` template filters (loans/templatetags/money.py): exact text."""

from decimal import Decimal

import pytest

from loans.templatetags.money import money, percent


@pytest.mark.parametrize(
    ("value", "currency", "expected"),
    [
        (Decimal("12345.6"), "CNY", "12,345.60 CNY"),
        (Decimal("10.005"), "CNY", "10.01 CNY"),
        (Decimal("0.004"), "", "0.00"),
        (Decimal("-2.675"), "EUR", "-2.68 EUR"),
        (2.675, "", "2.68"),
        ("1234567.891", "CNY", "1,234,567.89 CNY"),
        (None, "CNY", "—"),
        ("", "CNY", "—"),
        ("not a number", "CNY", "not a number"),
    ],
)
def test_money_filter(value, currency, expected):
    assert money(value, currency) == expected


def test_percent_filter():
    assert percent(Decimal("18")) == "18.00%"
    assert percent(None) == "—"
