"""Officer reviews of automated decisions: the loan officers' only write (docs/adr/0006).

A review is a verdict on one decision, attributed and timestamped, and never edited: a change of
mind is a new review, so the history of who thought what, when, stays readable.
"""

import uuid

from django.conf import settings
from django.db import models

__all__ = ["Review", "ReviewVerdict"]


class ReviewVerdict(models.TextChoices):
    AGREE = "agree", "Agree"
    DISAGREE = "disagree", "Disagree"
    ESCALATE = "escalate", "Escalate"
    NOTE = "note", "Note only"


class Review(models.Model):
    public_id = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    decision = models.ForeignKey("underwriting.Decision", on_delete=models.PROTECT, related_name="reviews")
    application = models.ForeignKey(
        "loans.Application", null=True, blank=True, on_delete=models.PROTECT, related_name="reviews"
    )
    reviewer = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="decision_reviews")
    verdict = models.CharField(max_length=16, choices=ReviewVerdict.choices)
    note = models.TextField(blank=True, default="")
    created_at = models.DateTimeField()

    class Meta:
        ordering = ["-created_at", "-id"]
        constraints = [
            models.CheckConstraint(condition=models.Q(verdict__in=ReviewVerdict.values), name="review_verdict_known"),
            # Disagreeing, escalating or noting without saying why helps nobody who reads it later.
            models.CheckConstraint(
                condition=models.Q(verdict="agree") | ~models.Q(note=""), name="review_note_unless_agree"
            ),
        ]
        indexes = [models.Index(fields=["decision", "created_at"], name="review_decision_created")]

    def __str__(self) -> str:
        return f"{self.get_verdict_display()} on decision {self.decision_id} by {self.reviewer_id}"
