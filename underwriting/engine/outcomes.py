"""The words a decision is made of, each defined once and Django-free: the engine decides with them,
the models store their values (choices derived in underwriting/models.py), the lending workflow shows
them. Stored values are these strings; a decision record's HMAC covers them, so they never change
(docs/domain.md, "Decisions")."""

from enum import StrEnum


class Outcome(StrEnum):
    APPROVED = "approved"
    COUNTER_OFFER = "counter_offer"
    DECLINED = "declined"


OUTCOME_LABELS = {Outcome.APPROVED: "approved", Outcome.COUNTER_OFFER: "counter-offer", Outcome.DECLINED: "declined"}


class KnockOut(StrEnum):
    """The policy rules whose failure declines without the model; each cited as a decline's reason."""

    REQUEST_BOUNDS = "KO_REQUEST_BOUNDS"
    HISTORY_SHORT = "KO_HISTORY_SHORT"
    TOO_YOUNG = "KO_TOO_YOUNG"
    BLOCKED = "KO_BLOCKED"
    ARREARS = "KO_ARREARS"
    FRAUD_SIGNAL = "KO_FRAUD_SIGNAL"
    OPEN_LOANS = "KO_OPEN_LOANS"
    HISTORY_CHECKS = "KO_HISTORY_CHECKS"
