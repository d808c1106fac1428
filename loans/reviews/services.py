"""Writes of officer reviews: `review_record` is the one (docs/adr/0006)."""

from __future__ import annotations

from django.core.exceptions import PermissionDenied
from django.db import transaction

from accounts.models import User
from config import clock
from loans.applications.models import Application
from loans.reviews.models import Review, ReviewVerdict
from underwriting.decisions.models import Decision

REVIEW_PERMISSION = "loans.add_review"
MAX_NOTE = 4000


class ReviewError(ValueError):
    """The review cannot be recorded as given; nothing was written."""


@transaction.atomic
def review_record(*, decision: Decision, reviewer: User, verdict: str, note: str = "") -> Review:
    """Records `reviewer`'s verdict on `decision` (agree, disagree, escalate or a note), attributed and
    timestamped. Reviews are never edited: a second opinion, even the same officer's, is a new one."""
    if not (reviewer.is_active and reviewer.has_perm(REVIEW_PERMISSION)):
        raise PermissionDenied("Only loan officers and risk operators record reviews.")
    if verdict not in ReviewVerdict.values:
        raise ReviewError(f"Unknown verdict {verdict!r}: choose one of {', '.join(ReviewVerdict.values)}.")
    note = (note or "").strip()
    if verdict != ReviewVerdict.AGREE and not note:
        raise ReviewError(f"A review that says '{ReviewVerdict(verdict).label}' needs a note saying why.")
    if len(note) > MAX_NOTE:
        raise ReviewError(f"The note is {len(note)} characters long; at most {MAX_NOTE}.")
    application = Application.objects.filter(decision=decision).first()
    if application is None and decision.application_ref is not None:
        application = Application.objects.filter(public_id=decision.application_ref).first()
    return Review.objects.create(
        decision=decision,
        application=application,
        reviewer=reviewer,
        verdict=verdict,
        note=note,
        created_at=clock.now(),
    )
