"""Where a merchant's history came from, and how far the platform trusts it (docs/provenance.md).

Plain Python (no Django): the engine, the import and the policy share this one definition; the
models derive their choices from it.
"""

from __future__ import annotations

from collections.abc import Iterable
from enum import StrEnum


class Provenance(StrEnum):
    PARTNER_FEED = "partner_feed"  # a partner's verified data: its API feed or its own import
    OWNER_UPLOAD = "owner_upload"  # a file the business owner gave us: unverified
    SIMULATED = "simulated"  # the demo marketplace


LABELS = {
    Provenance.PARTNER_FEED: "Partner feed (verified by the partner)",
    Provenance.OWNER_UPLOAD: "Uploaded by the owner (unverified)",
    Provenance.SIMULATED: "Simulated (demo marketplace)",
}
CHOICES = [(p.value, LABELS[p]) for p in Provenance]

# Least trusted first: a history is as trustworthy as the least trusted batch that built it.
TRUST_ORDER = (Provenance.OWNER_UPLOAD, Provenance.SIMULATED, Provenance.PARTNER_FEED)


def least_trusted(provenances: Iterable[str]) -> Provenance | None:
    """The least trusted of `provenances` (None when there are none)."""
    seen = {Provenance(p) for p in provenances}
    return next((p for p in TRUST_ORDER if p in seen), None)
