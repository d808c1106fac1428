"""The vocabulary of merchant history, defined once and free of Django so features, the engine, the
importer and the simulator use the same definitions: a transaction's direction and kind (stored as
these small integers, docs/data-format.md) and a credit record's status. The Django choices in
underwriting/history/models.py are derived from these; the stored values never change.
"""

from enum import IntEnum, StrEnum


class Direction(IntEnum):
    IN = 1
    OUT = 2

    @property
    def label(self) -> str:
        return self.name.lower()


class TransactionKind(IntEnum):
    SALE = 1
    REFUND = 2
    CHARGEBACK = 3
    PAYOUT = 4
    FEE = 5
    SUPPLIER_PAYMENT = 6
    PAYROLL = 7
    RENT = 8
    TAX = 9
    TRANSFER = 10
    CASH_DEPOSIT = 11
    CASH_WITHDRAWAL = 12
    CARD_PAYMENT = 13
    INTEREST = 14
    LOAN_DISBURSEMENT = 15
    LOAN_REPAYMENT = 16
    OTHER = 17

    @property
    def label(self) -> str:
        """The name in files and APIs ("supplier_payment")."""
        return self.name.lower()


class CreditStatus(StrEnum):
    """A credit record's loan as of a day: still running, repaid, or defaulted."""

    CURRENT = "current"
    REPAID = "repaid"
    DEFAULTED = "defaulted"


# Code by name, in the order of the codes.
DIRECTION_CODES: dict[str, int] = {d.label: d.value for d in Direction}
KIND_CODES: dict[str, int] = {k.label: k.value for k in TransactionKind}
KIND_NAMES: tuple[str, ...] = tuple(k.label for k in TransactionKind)
CREDIT_STATUSES: tuple[str, ...] = tuple(s.value for s in CreditStatus)
