"""Reads for officer reviews: the review queue and a decision's reviews (docs/adr/0006).

The queue is every unreviewed decision that is either
* in the day's random sample: a decision's HMAC is uniformly random and fixed, so "the first eight hex
  digits of the HMAC below rate x 16^8" is a sample of each day's decisions at that rate, the same
  whenever it is asked (deterministic), and a plain indexed SQL comparison; or
* close to the approval threshold: a scored decision whose score is within
  REVIEW_THRESHOLD_POINTS of the score at which its policy version stops approving a request of its
  term (underwriting.engine.pricing.approval_cutoff: the lower of max_pd and the PD priced at max_apr).

Settings (both optional): REVIEW_SAMPLE_RATE (default 0.05), REVIEW_THRESHOLD_POINTS (default 10).
"""

from __future__ import annotations

from django.conf import settings
from django.db.models import Exists, OuterRef, Q, QuerySet

from loans.reviews.models import Review
from underwriting.decisions.audit import csv_text
from underwriting.decisions.models import Decision
from underwriting.engine.policy import PRODUCT_MAX_TERM, PRODUCT_MIN_TERM
from underwriting.engine.pricing import approval_cutoff
from underwriting.policies.models import PolicyVersion

DEFAULT_SAMPLE_RATE = 0.05
DEFAULT_THRESHOLD_POINTS = 10


def queue_settings() -> tuple[float, int]:
    rate = float(getattr(settings, "REVIEW_SAMPLE_RATE", DEFAULT_SAMPLE_RATE))
    points = int(getattr(settings, "REVIEW_THRESHOLD_POINTS", DEFAULT_THRESHOLD_POINTS))
    return min(max(rate, 0.0), 1.0), max(points, 0)


def sample_prefix(rate: float) -> str:
    """The HMAC prefix below which a decision is in the sample (8 hex digits)."""
    return f"{min(int(rate * 16**8), 16**8 - 1):08x}" if rate < 1 else "g"


def sampled_q(rate: float) -> Q:
    if rate <= 0:
        return Q(pk__in=[])
    return Q(hmac__lt=sample_prefix(rate))


def near_threshold_q(points: int, policy_versions: list[PolicyVersion] | None = None) -> Q:
    """Scored decisions within `points` of their policy's approval cut-off score for their term."""
    q = Q(pk__in=[])
    for pv in policy_versions if policy_versions is not None else PolicyVersion.objects.all():
        policy = pv.policy
        for term in range(PRODUCT_MIN_TERM, PRODUCT_MAX_TERM + 1):
            _, cut = approval_cutoff(policy, term)
            q |= Q(policy_version=pv, requested_term_months=term, score__isnull=False,
                   score__gte=cut - points, score__lte=cut + points)
    return q


def reviewed_q() -> Exists:
    return Exists(Review.objects.filter(decision=OuterRef("pk")))


def review_queue(*, rate: float | None = None, points: int | None = None) -> QuerySet[Decision]:
    """Unreviewed decisions in the sample or near the threshold, newest first."""
    default_rate, default_points = queue_settings()
    rate = default_rate if rate is None else rate
    points = default_points if points is None else points
    return (Decision.objects.filter(sampled_q(rate) | near_threshold_q(points))
            .exclude(reviewed_q()).order_by("-created_at", "-id"))


QUEUE_COUNT_CAP = 1000


def review_queue_count(*, cap: int = QUEUE_COUNT_CAP) -> tuple[int, bool]:
    """(count, capped): at most `cap` (a LIMITed count walking the newest-first index stops there;
    an exact count of a large backlog scans the decision table on every admin page view)."""
    n = review_queue()[: cap + 1].count()
    return min(n, cap), n > cap


def queue_reasons(decision: Decision) -> list[str]:
    """Why a decision is (or would be) in the queue, in words."""
    rate, points = queue_settings()
    reasons = []
    if rate > 0 and decision.hmac < sample_prefix(rate):
        reasons.append(f"in the day's {100 * rate:g}% random sample")
    if decision.score is not None:
        _, cut = approval_cutoff(decision.policy_version.policy, decision.requested_term_months)
        if abs(decision.score - cut) <= points:
            reasons.append(f"score {decision.score} is within {points} points of the approval cut-off ({cut})")
    return reasons


def decision_reviews(decision: Decision) -> QuerySet[Review]:
    return Review.objects.filter(decision=decision).select_related("reviewer").order_by("created_at", "id")


# ---- export --------------------------------------------------------------------------------------------

REVIEW_COLUMNS = ["review_id", "created_at", "reviewer", "verdict", "note", "decision_id", "decision_outcome",
                  "decision_created_at", "application_id", "business_external_id", "business_name", "partner"]


def review_csv_rows(reviews):
    yield REVIEW_COLUMNS
    for r in reviews:
        d = r.decision
        yield [str(r.public_id), r.created_at.isoformat(), r.reviewer.email, r.verdict, csv_text(r.note),
               str(d.public_id), d.outcome, d.created_at.isoformat(),
               str(r.application.public_id) if r.application_id else "", csv_text(d.business.external_id),
               csv_text(d.business.legal_name), d.partner.slug]


def reviews_missing_their_decision() -> QuerySet[Review]:
    """Reviews of a decision row that is not there (deleted in SQL behind the foreign key's back)."""
    return Review.objects.filter(~Exists(Decision.objects.filter(pk=OuterRef("decision_id")))).order_by("pk")
