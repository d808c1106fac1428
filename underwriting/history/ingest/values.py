"""Reference parsers for the interchange format's values.

Each takes a field already stripped of surrounding whitespace and non-empty, and returns the form the
staging table stores, or raises ValueError with a sentence for the person fixing the file. The
transactions hot loop has inline fast paths; they must accept nothing these reject and produce the
same values (tests/underwriting/history/test_services.py checks a sample of shapes against both).
"""

import re
from datetime import UTC, date, datetime
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation

from underwriting.kinds import CREDIT_STATUSES, DIRECTION_CODES, KIND_CODES
from underwriting.money import to_cents

_DECIMAL = re.compile(r"[+-]?(?:\d+(?:\.\d*)?|\.\d+)", re.ASCII)
MICRO = Decimal("0.000001")
# Amounts stay below a trillion currency units: far above any small-business payment, and far enough
# below the bigint limit that a day's sums cannot overflow.
MAX_MINOR = 10**14
MAX_METRIC = Decimal(10) ** 14  # numeric(20, 6)
MAX_LOAN = Decimal(10) ** 12  # numeric(14, 2)

DIRECTIONS = DIRECTION_CODES
KINDS = KIND_CODES
LOAN_STATUSES = CREDIT_STATUSES


def parse_date(s: str) -> str:
    """A calendar date, YYYY-MM-DD; returned in the same form (both backends store dates so)."""
    if len(s) != 10 or s[4] != "-" or s[7] != "-" or not s[:4].isdigit():
        raise ValueError(f"{s!r} is not a date of the form YYYY-MM-DD")
    try:
        return date.fromisoformat(s).isoformat()
    except ValueError:
        raise ValueError(f"{s!r} is not a valid calendar date") from None


def parse_datetime(s: str) -> str:
    """An ISO 8601 date or date-time, UTC when it has no offset, converted to UTC when it has one.

    Returns naive UTC as 'YYYY-MM-DD HH:MM:SS[.ffffff]', the text Django's SQLite backend stores and a
    literal PostgreSQL reads as UTC in the session time zone the import sets.
    """
    if len(s) == 10 and s[4] == "-" and s[7] == "-":
        try:
            return date.fromisoformat(s).isoformat() + " 00:00:00"
        except ValueError:
            raise ValueError(f"{s!r} is not a valid calendar date") from None
    if len(s) < 13 or s[4] != "-" or s[7] != "-" or s[10] not in "Tt " or not s[:4].isdigit():
        raise ValueError(f"{s!r} is not an ISO 8601 date-time (e.g. 2024-03-31T14:05:00Z)")
    try:
        value = datetime.fromisoformat(s)
        if value.tzinfo is not None:
            value = value.astimezone(UTC).replace(tzinfo=None)
    except (ValueError, OverflowError):
        raise ValueError(f"{s!r} is not a valid ISO 8601 date-time (e.g. 2024-03-31T14:05:00Z)") from None
    return value.isoformat(" ")


def _decimal(s: str) -> Decimal:
    if not _DECIMAL.fullmatch(s):
        raise ValueError(f"{s!r} is not a number (expected a plain decimal such as 1234.50)")
    try:
        return Decimal(s)
    except InvalidOperation:  # pragma: no cover - the pattern admits only valid literals
        raise ValueError(f"{s!r} is not a number") from None


def parse_amount_minor(s: str) -> int:
    """A positive amount in currency units, rounded half-up to the cent; returned in cents."""
    value = _decimal(s)
    if value < 0:
        raise ValueError(f"{s} is negative; amounts are positive and the direction column says in or out")
    cents = to_cents(value)
    if cents == 0:
        raise ValueError(f"{s} is zero at cent precision; amounts must be greater than 0.00")
    minor = int(cents * 100)
    if minor >= MAX_MINOR:
        raise ValueError(f"{s} is too large (the limit is 999999999999.99)")
    return minor


def parse_signed_minor(s: str) -> int:
    """A balance in currency units (may be negative), rounded half-up to the cent; returned in cents."""
    minor = int(to_cents(_decimal(s)) * 100)
    if abs(minor) >= MAX_MINOR:
        raise ValueError(f"{s} is too large (the limit is 999999999999.99 either side of zero)")
    return minor


def parse_loan_amount(s: str) -> str:
    value = _decimal(s)
    if value <= 0:
        raise ValueError(f"{s} is not a positive amount")
    cents = to_cents(value)
    if cents == 0:
        raise ValueError(f"{s} is zero at cent precision; amounts must be greater than 0.00")
    if cents >= MAX_LOAN:
        raise ValueError(f"{s} is too large (the limit is 999999999999.99)")
    return str(cents)


def parse_metric_value(s: str) -> str:
    value = _decimal(s).quantize(MICRO, rounding=ROUND_HALF_UP)
    if abs(value) >= MAX_METRIC:
        raise ValueError(f"{s} is too large (at most 14 digits before the decimal point)")
    return str(value)


def parse_term_months(s: str) -> int:
    if not (s.isascii() and s.isdigit()):
        raise ValueError(f"{s!r} is not a whole number of months")
    months = int(s)
    if not 3 <= months <= 60:
        raise ValueError(f"{months} is outside the accepted range of 3 to 60 months")
    return months


def parse_direction(s: str) -> int:
    try:
        return DIRECTIONS[s.lower()]
    except KeyError:
        raise ValueError(f"{s!r} is not a direction (expected in or out)") from None


def parse_kind(s: str) -> int:
    try:
        return KINDS[s.lower()]
    except KeyError:
        raise ValueError(f"{s!r} is not a known kind (expected one of {', '.join(KINDS)})") from None


def parse_loan_status(s: str) -> str:
    status = s.lower()
    if status not in LOAN_STATUSES:
        raise ValueError(f"{s!r} is not a loan status (expected repaid, defaulted or current)")
    return status


def text_parser(max_length: int):
    def parse(s: str) -> str:
        if len(s) > max_length:
            raise ValueError(f"is {len(s)} characters long; at most {max_length} are allowed")
        if "\x00" in s:
            # csv reads NUL since Python 3.11; PostgreSQL text cannot store it.
            raise ValueError("contains a NUL character")
        return s

    return parse


def has_undecodable_text(value: str) -> bool:
    """True when the field holds bytes that were not UTF-8 (decoded as lone surrogates)."""
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        return True
    return False
