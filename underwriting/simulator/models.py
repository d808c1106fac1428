"""What the simulator knows and the platform must not: each simulated merchant's true
probability of default, kept apart so it is read only to evaluate (never by features)."""

from django.db import models

from underwriting.history.models import LoanRecord


class SimulationTruth(models.Model):
    """The simulator's ground truth for one loan. Evaluation reads it; feature code never does."""

    loan = models.OneToOneField(LoanRecord, on_delete=models.CASCADE, related_name="truth")
    true_pd = models.FloatField()
    details = models.JSONField(default=dict, blank=True)

    def __str__(self) -> str:
        return f"truth of loan {self.loan_id}: PD {self.true_pd:.4f}"
