"""How a requested loan amount may be written, one rule for the owner's form, the services and the
partner API: digits, optionally grouped in thousands with commas ("12,000"), optionally a point and
one or two decimals ("12000.50"). Nothing else: no exponent ("1e5" is not 100,000), no sign, no
"inf" or "nan", no spaces inside, no other separators. Surrounding spaces are ignored.

Money is never a float: the result is a Decimal, exactly what was written."""

from __future__ import annotations

import re
from decimal import Decimal, InvalidOperation

AMOUNT_NOT_A_NUMBER = "Enter the amount as a number, for example 12000 or 12000.50."
AMOUNT_TOO_PRECISE = "Enter the amount with at most 2 decimal places."
AMOUNT_EXPONENT = "Write the amount out in full, for example 100000 rather than 1e5."
AMOUNT_SIGN = "Enter the amount without a sign, for example 12000."
AMOUNT_SPACES = "Enter the amount without spaces, for example 12000 or 12,000.50."
AMOUNT_GROUPING = "Use commas only between groups of three digits, for example 12,000.50."

# The accepted form, decimals of any length (more than two get their own message). ASCII digits only.
_PLAIN = re.compile(r"(?:[0-9]{1,3}(?:,[0-9]{3})+|[0-9]+)(?:\.([0-9]+))?")
# The OpenAPI pattern of the same rule (two decimals at most).
AMOUNT_PATTERN = r"^(?:[0-9]{1,3}(?:,[0-9]{3})+|[0-9]+)(?:\.[0-9]{1,2})?$"
_DIGITS_AND_SEPARATORS = re.compile(r"[0-9.,]+")
_EXPONENT = re.compile(r"[0-9.,]*[0-9][0-9.,]*[eE][+-]?[0-9]+")


class AmountSyntaxError(ValueError):
    """The text is not a plain decimal amount; the message says what to write instead."""


def amount_from_text(text: str) -> Decimal:
    """The amount `text` denotes, or AmountSyntaxError with a message for the person who typed it."""
    value = text.strip()
    match = _PLAIN.fullmatch(value)
    if match is not None:
        if match.group(1) is not None and len(match.group(1)) > 2:
            raise AmountSyntaxError(AMOUNT_TOO_PRECISE)
        return Decimal(value.replace(",", ""))
    raise AmountSyntaxError(_why_not(value))


def _why_not(value: str) -> str:
    if value[:1] in ("+", "-", "\u2212") and len(value) > 1 and _plain_or_exponent(value[1:]):
        return AMOUNT_SIGN
    if _EXPONENT.fullmatch(value):
        return AMOUNT_EXPONENT
    if any(ch.isspace() for ch in value) and _PLAIN.fullmatch(re.sub(r"\s+", "", value)):
        return AMOUNT_SPACES
    if "," in value and _DIGITS_AND_SEPARATORS.fullmatch(value) and _is_number(value.replace(",", "")):
        return AMOUNT_GROUPING
    return AMOUNT_NOT_A_NUMBER


def _plain_or_exponent(value: str) -> bool:
    return bool(_PLAIN.fullmatch(value) or _EXPONENT.fullmatch(value))


def _is_number(value: str) -> bool:
    try:
        return Decimal(value).is_finite()
    except InvalidOperation:
        return False
