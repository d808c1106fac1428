"""What a business already owes or has on offer at an instant, as plain data (docs/exposure.md).

Exposure is read by the lending workflow (it owns applications, offers and the platform's loans)
under a row lock on the businesses concerned, at the instant of a decision and again when an offer is
accepted, and handed down to the engine as an `Exposure`. The engine never reads the workflow's
tables; the decision stores this value in its context, so a replay needs no database.

Three scopes, each within one partner, so that a second business of the same owner or of the same
company registration cannot double the limit: the business itself, every business of its owner, and
every business with its registration number. Caps apply to each scope.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal

from underwriting.money import ZERO

__all__ = ["SCOPES", "ZERO", "Exposure", "PartyExposure"]

BUSINESS, OWNER, REGISTRATION = "business", "owner", "registration"
SCOPES = (BUSINESS, OWNER, REGISTRATION)
SCOPE_WORDS = {
    BUSINESS: "this business",
    OWNER: "the businesses of the same owner",
    REGISTRATION: "the businesses with the same company registration number",
}


@dataclass(frozen=True)
class PartyExposure:
    """One scope's exposure: money in the partner's currency (2 decimals), counts of loans."""

    scope: str
    businesses: int
    open_platform_loans: int
    platform_outstanding: Decimal
    open_offers: Decimal
    imported_outstanding: Decimal
    imported_current_loans: int = 0

    @property
    def total(self) -> Decimal:
        return self.platform_outstanding + self.open_offers + self.imported_outstanding

    def as_dict(self) -> dict:
        return {
            "scope": self.scope,
            "businesses": self.businesses,
            "open_platform_loans": self.open_platform_loans,
            "platform_outstanding": str(self.platform_outstanding),
            "open_offers": str(self.open_offers),
            "imported_outstanding": str(self.imported_outstanding),
            "imported_current_loans": self.imported_current_loans,
            "total": str(self.total),
        }

    @classmethod
    def from_dict(cls, data: dict) -> PartyExposure:
        return cls(
            scope=data["scope"],
            businesses=int(data["businesses"]),
            open_platform_loans=int(data["open_platform_loans"]),
            platform_outstanding=Decimal(data["platform_outstanding"]),
            open_offers=Decimal(data["open_offers"]),
            imported_outstanding=Decimal(data["imported_outstanding"]),
            imported_current_loans=int(data.get("imported_current_loans", 0)),
        )


@dataclass(frozen=True)
class Exposure:
    """The exposure of a business and its related parties at one instant (`read_at`, ISO 8601)."""

    parties: tuple[PartyExposure, ...] = field(default_factory=tuple)
    read_at: str = ""

    @property
    def total(self) -> Decimal:
        """The largest exposure of any scope: the one a cap binds on."""
        return max((p.total for p in self.parties), default=ZERO)

    @property
    def open_platform_loans(self) -> int:
        return max((p.open_platform_loans for p in self.parties), default=0)

    def binding(self, *, amount: Decimal = ZERO) -> PartyExposure | None:
        """The scope with the most exposure (after adding `amount` to every scope), None if none."""
        if not self.parties:
            return None
        return max(self.parties, key=lambda p: (p.total + amount, -SCOPES.index(p.scope)))

    def as_dict(self) -> dict:
        return {"read_at": self.read_at, "parties": [p.as_dict() for p in self.parties]}

    @classmethod
    def from_dict(cls, data: dict) -> Exposure:
        return cls(parties=tuple(PartyExposure.from_dict(p) for p in data.get("parties", [])),
                   read_at=data.get("read_at", ""))
