"""What a consistency check reports, and the phrasing its details share (see consistency.py)."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

import numpy as np

CHECKS: dict[str, str] = {
    "DC_BALANCE_MISMATCH": "Balances do not add up",
    "DC_DUPLICATED_DAYS": "Whole days repeated",
    "DC_CALENDAR_PATTERN": "Mechanical calendar pattern",
    "DC_ROUND_AMOUNTS": "Takings in round figures",
    "DC_REPEATED_AMOUNTS": "The same takings again and again",
    "DC_FUTURE_DATES": "Transactions dated in the future",
}


@dataclass(frozen=True)
class CheckResult:
    code: str  # e.g. "DC_BALANCE_MISMATCH"
    tripped: bool
    applicable: bool  # False when the data cannot be checked (e.g. no balances reported) -> never tripped
    detail: str  # one plain-English sentence with the measured figures, for a loan officer
    # The statistics behind the decision, as (name, value) pairs: for the record and for calibration.
    measures: tuple[tuple[str, float], ...] = ()

    @property
    def title(self) -> str:
        return CHECKS.get(self.code, self.code)

    def as_dict(self) -> dict:
        return {"code": self.code, "title": self.title, "tripped": self.tripped, "applicable": self.applicable,
                "detail": self.detail, "measures": dict(self.measures)}


def tripped_codes(results: Iterable[CheckResult]) -> list[str]:
    """The codes that tripped, in evaluation order."""
    return [r.code for r in results if r.tripped]


def day_text(day: int) -> str:
    return str(np.datetime64(int(day), "D"))


def pct(part: float, whole: float) -> str:
    return f"{100 * part / whole:.0f}%" if whole else "0%"


def units(minor: int) -> str:
    sign = "-" if minor < 0 else ""
    minor = abs(int(minor))
    return f"{sign}{minor // 100:,}.{minor % 100:02d}"
