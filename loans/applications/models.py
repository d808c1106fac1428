"""Applications and their state machine, and the platform's loans with their repayment schedules.

Writes happen only in loans/applications/services.py (the transition map lives there); these models hold data and
the database constraints that keep it consistent even if a service has a bug: one decision per
application, one loan per application, positive money, one instalment per number.
"""

import uuid
from decimal import Decimal

from django.conf import settings
from django.db import models

from accounts.models import Business, PartnerBank
from config.clock import ClockDateTimeField


class ApplicationStatus(models.TextChoices):
    SUBMITTED = "submitted", "Submitted"
    DECIDING = "deciding", "Deciding"
    APPROVED = "approved", "Approved"
    COUNTER_OFFERED = "counter_offered", "Counter-offer"
    DECLINED = "declined", "Declined"
    ACCEPTED = "accepted", "Accepted"
    REJECTED = "rejected", "Rejected"
    EXPIRED = "expired", "Offer expired"
    DISBURSED = "disbursed", "Disbursed"
    WITHDRAWN = "withdrawn", "Withdrawn"


# The statuses an application holds before (or without) a decision; every other one has its decision.
UNDECIDED_STATUSES = ["submitted", "deciding", "withdrawn"]


class Channel(models.TextChoices):
    WEB = "web", "Web (owner)"
    API = "api", "Partner API"


class Purpose(models.TextChoices):
    WORKING_CAPITAL = "working_capital", "Working capital"
    INVENTORY = "inventory", "Stock and inventory"
    EQUIPMENT = "equipment", "Equipment"
    EXPANSION = "expansion", "Expansion or new premises"
    SEASONAL = "seasonal", "Seasonal peak"
    REFINANCE = "refinance", "Refinancing other debt"
    OTHER = "other", "Something else"


class Application(models.Model):
    """A request for a loan by (or for) one business. Its `as_of` is fixed at submission: retries
    and replays decide as of that moment, never as of the retry."""

    public_id = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    partner = models.ForeignKey(PartnerBank, on_delete=models.PROTECT, related_name="applications")
    business = models.ForeignKey(Business, on_delete=models.PROTECT, related_name="applications")
    # NULL for partner API applications: the merchant has no login on the platform.
    applicant = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="loan_applications",
    )
    channel = models.CharField(max_length=8, choices=Channel.choices)
    amount = models.DecimalField(max_digits=14, decimal_places=2)
    term_months = models.PositiveSmallIntegerField()
    purpose = models.CharField(max_length=32, choices=Purpose.choices)
    status = models.CharField(
        max_length=16, choices=ApplicationStatus.choices, default=ApplicationStatus.SUBMITTED
    )
    as_of = models.DateTimeField(help_text="The moment the decision is taken as of (fixed at submission).")
    decision = models.OneToOneField(
        "underwriting.Decision",
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="application",
    )
    decided_at = models.DateTimeField(null=True, blank=True)
    offer_expires_at = models.DateTimeField(null=True, blank=True)
    attempts = models.PositiveIntegerField(default=0, help_text="Decision attempts that failed so far.")
    last_error = models.TextField(blank=True, default="")
    last_attempt_at = models.DateTimeField(null=True, blank=True)
    created_at = ClockDateTimeField(auto_now_add=True)
    updated_at = ClockDateTimeField(auto_now=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        constraints = [
            models.CheckConstraint(condition=models.Q(amount__gt=0), name="application_amount_positive"),
            models.CheckConstraint(
                condition=models.Q(term_months__gte=1, term_months__lte=60), name="application_term_sane"
            ),
            models.CheckConstraint(
                condition=models.Q(status__in=ApplicationStatus.values), name="application_status_known"
            ),
            # A decided status without its decision (or the reverse) would be a lie on the owner's page.
            models.CheckConstraint(
                condition=models.Q(status__in=UNDECIDED_STATUSES)
                | models.Q(decision__isnull=False),
                name="application_decided_has_decision",
            ),
        ]
        indexes = [
            models.Index(fields=["status", "updated_at"], name="application_status_updated"),
            models.Index(fields=["business", "created_at"], name="application_business_created"),
            models.Index(fields=["partner", "created_at"], name="application_partner_created"),
            models.Index(fields=["applicant", "created_at"], name="application_applicant_created"),
        ]

    def __str__(self) -> str:
        return f"application {self.public_id} ({self.status})"

    @property
    def is_pending(self) -> bool:
        return self.status in (ApplicationStatus.SUBMITTED, ApplicationStatus.DECIDING)

    @property
    def has_open_offer(self) -> bool:
        return self.status in (ApplicationStatus.APPROVED, ApplicationStatus.COUNTER_OFFERED)


class ApplicationTransition(models.Model):
    """One move of an application's state machine: who, when, why. Append-only."""

    application = models.ForeignKey(Application, on_delete=models.CASCADE, related_name="transitions")
    from_status = models.CharField(max_length=16, choices=ApplicationStatus.choices, blank=True)
    to_status = models.CharField(max_length=16, choices=ApplicationStatus.choices)
    at = models.DateTimeField()
    actor_user = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    actor = models.CharField(
        max_length=160, help_text='Who moved it: "owner:<email>", "partner:<slug>", "system:worker", ...'
    )
    reason = models.TextField(blank=True, default="")

    class Meta:
        ordering = ["at", "id"]
        indexes = [models.Index(fields=["application", "at"], name="transition_application_at")]

    def __str__(self) -> str:
        return f"{self.from_status or '-'} -> {self.to_status} by {self.actor}"


def _about(field: str, expression) -> models.Q:
    """`field` equals `expression` to within a tenth of a cent. PostgreSQL's numeric makes it exact;
    SQLite (the embedded default) stores decimals as binary floats, where 1149.79 + 245.38 is not
    1395.17, so an exact equality would refuse correct rows there."""
    tolerance = Decimal("0.001")
    return models.Q(**{f"{field}__gte": expression - tolerance, f"{field}__lte": expression + tolerance})


class LoanStatus(models.TextChoices):
    AWAITING_DISBURSEMENT = "awaiting_disbursement", "Awaiting disbursement"
    DISBURSED = "disbursed", "Disbursed"


class Loan(models.Model):
    """The loan that follows an accepted offer: the decision's terms, frozen, and its schedule."""

    public_id = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    application = models.OneToOneField(Application, on_delete=models.PROTECT, related_name="loan")
    partner = models.ForeignKey(PartnerBank, on_delete=models.PROTECT, related_name="loans")
    business = models.ForeignKey(Business, on_delete=models.PROTECT, related_name="loans")
    currency = models.CharField(max_length=3)
    principal = models.DecimalField(max_digits=14, decimal_places=2)
    origination_fee = models.DecimalField(max_digits=14, decimal_places=2)
    disbursed_amount = models.DecimalField(
        max_digits=14, decimal_places=2, help_text="Principal less the origination fee."
    )
    apr = models.DecimalField("nominal APR (%)", max_digits=6, decimal_places=2)
    effective_apr = models.DecimalField("APR incl. fees (%)", max_digits=6, decimal_places=2)
    term_months = models.PositiveSmallIntegerField()
    instalment = models.DecimalField(max_digits=14, decimal_places=2)
    total_interest = models.DecimalField(max_digits=14, decimal_places=2)
    total_repayable = models.DecimalField(max_digits=14, decimal_places=2)
    status = models.CharField(
        max_length=24, choices=LoanStatus.choices, default=LoanStatus.AWAITING_DISBURSEMENT
    )
    disbursed_at = models.DateTimeField(null=True, blank=True)
    created_at = ClockDateTimeField(auto_now_add=True)
    updated_at = ClockDateTimeField(auto_now=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        constraints = [
            models.CheckConstraint(condition=models.Q(principal__gt=0), name="loan_principal_positive"),
            models.CheckConstraint(
                condition=_about(
                    "disbursed_amount", models.F("principal") - models.F("origination_fee")
                ),
                name="loan_disbursed_is_principal_less_fee_v2",
            ),
            models.CheckConstraint(
                condition=_about("total_repayable", models.F("principal") + models.F("total_interest")),
                name="loan_total_is_principal_plus_interest_v2",
            ),
        ]
        indexes = [models.Index(fields=["business", "created_at"], name="loan_business_created")]
        permissions = [("confirm_disbursement", "Can confirm that a loan was paid out")]

    def __str__(self) -> str:
        return f"loan {self.public_id} ({self.status})"


class LoanInstalment(models.Model):
    """One row of a loan's repayment schedule (money exact to the cent; rows sum to the totals)."""

    loan = models.ForeignKey(Loan, on_delete=models.CASCADE, related_name="instalments")
    number = models.PositiveSmallIntegerField()
    due_on = models.DateField()
    amount = models.DecimalField(max_digits=14, decimal_places=2)
    principal = models.DecimalField(max_digits=14, decimal_places=2)
    interest = models.DecimalField(max_digits=14, decimal_places=2)
    balance_after = models.DecimalField(max_digits=14, decimal_places=2)

    class Meta:
        ordering = ["loan_id", "number"]
        constraints = [
            models.UniqueConstraint(fields=["loan", "number"], name="instalment_unique_number"),
            models.CheckConstraint(
                condition=_about("amount", models.F("principal") + models.F("interest")),
                name="instalment_amount_is_principal_plus_interest_v2",
            ),
        ]

    def __str__(self) -> str:
        return f"instalment {self.number} of loan {self.loan_id}"


