"""Money: the one place where amounts are rounded, capped and written out.

docs/domain.md ("Money and the loan product"): money is `Decimal` with two places in the currency's
units, rounded half up wherever an amount is stored; JSON carries amounts as strings ("1234.50").
Floats never carry money; when a float does arrive (a feature value, SQLite's numerics) it is read
through its shortest text, so 0.1 is 0.10 and not 0.1000000000000000055...

Pure Python, no Django: the decision engine (which must import no Django) and the loans app (which
may import underwriting, never the other way round) both use it, so it lives here in underwriting.

Rounding takes the precision of the active decimal context, as the code it replaced did: callers that
compute under `localcontext(...)` keep their precision.
"""

from __future__ import annotations

from decimal import ROUND_DOWN, ROUND_HALF_EVEN, ROUND_HALF_UP, Decimal

__all__ = [
    "CENT",
    "ZERO",
    "amount_text",
    "as_decimal",
    "cap_to_cent",
    "cap_to_step",
    "cents_text",
    "has_whole_cents",
    "money_text",
    "to_cents",
    "to_cents_half_even",
]

CENT = Decimal("0.01")
ZERO = Decimal("0.00")


def as_decimal(value: Decimal | int | str | float) -> Decimal:
    """`value` as a Decimal; a float through its shortest text (never its binary expansion)."""
    return value if isinstance(value, Decimal) else Decimal(str(value))


def to_cents(value: Decimal | int | str | float) -> Decimal:
    """An amount rounded half up to the cent: the rounding of every stored amount.

    10.005 -> 10.01, 2.675 -> 2.68, 0.004 -> 0.00, -10.005 -> -10.01 (half up is away from zero).
    Also the rounding of a percentage shown to two decimals (APR).
    """
    return as_decimal(value).quantize(CENT, rounding=ROUND_HALF_UP)


def to_cents_half_even(value: Decimal | int | str | float) -> Decimal:
    """Rounded to the cent half to even (banker's rounding: 10.005 -> 10.00, 10.015 -> 10.02).

    Not the money rounding of docs/domain.md: kept, named, only where the code has always rounded
    this way and the value is shown or compared (monitoring averages, amounts read back from SQLite),
    so that no figure changes.
    """
    return as_decimal(value).quantize(CENT, rounding=ROUND_HALF_EVEN)


def cap_to_cent(value: Decimal) -> Decimal:
    """The amount in cents that does not exceed `value` (rounded toward zero: 12.349 -> 12.34).

    For a ceiling that must not be crossed, such as the instalment a business can afford.
    """
    return value.quantize(CENT, rounding=ROUND_DOWN)


def cap_to_step(amount: Decimal, step: Decimal = CENT) -> Decimal:
    """The largest multiple of `step` that does not exceed `amount` (toward zero), in cents.

    For an offer that must stay within a limit: cap_to_step(12_345.67, 100) -> 12300.00.
    """
    return ((amount / step).to_integral_value(rounding=ROUND_DOWN) * step).quantize(CENT)


def has_whole_cents(value: Decimal) -> bool:
    """Whether `value` has at most two decimals (12.50 yes, 12.505 no).

    Raises decimal.InvalidOperation when `value` has more digits than the context holds.
    """
    return value == value.quantize(CENT)


def amount_text(value: Decimal) -> str:
    """The JSON and form text of an amount: "1234.50" (no grouping, two decimals)."""
    return f"{value:.2f}"


def cents_text(cents: int) -> str:
    """An integer number of cents as amount text: 123456 -> "1234.56", -5 -> "-0.05" (no Decimal, fast)."""
    return f"{cents // 100}.{cents % 100:02d}" if cents >= 0 else f"-{-cents // 100}.{-cents % 100:02d}"


def money_text(amount: Decimal, currency: str = "") -> str:
    """An amount as people read it: "12,345.60 CNY" (or "12,345.60" without a currency).

    Formats, does not round first: pass an amount already in cents (to_cents) when it may not be.
    """
    return f"{amount:,.2f} {currency}".rstrip()
