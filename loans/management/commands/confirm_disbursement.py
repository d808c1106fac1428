from datetime import datetime

from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError

from loans.applications import booking as applications_booking
from loans.applications import transitions as applications_transitions
from loans.applications.models import Loan


def _instant(text: str) -> datetime:
    value = datetime.fromisoformat(text.replace("Z", "+00:00"))
    if value.tzinfo is None:
        raise ValueError("give the offset, e.g. 2027-01-31T10:00:00Z")
    return value


class Command(BaseCommand):
    help = (
        "Confirm that a loan was paid out (docs/provenance.md): loans on an owner's own uploaded history wait "
        "for this, on every channel. Partners confirm through POST /api/v1/loans/{id}/disbursement."
    )

    def add_arguments(self, parser):
        parser.add_argument("loan_id", help="The loan's id (a UUID).")
        parser.add_argument("--at", type=_instant, default=None, help="When the funds left (ISO 8601); default now.")
        parser.add_argument("--by", default="cli", help="Who confirms (recorded on the application's history).")

    def handle(self, *args, loan_id, at, by, **options):
        try:
            loan = Loan.objects.get(public_id=loan_id)
        except (Loan.DoesNotExist, ValidationError, ValueError):
            raise CommandError(f"There is no loan {loan_id!r}.") from None
        try:
            loan = applications_booking.loan_disburse(loan=loan, actor=f"staff:{by}", disbursed_at=at)
        except applications_transitions.IllegalTransition as exc:
            raise CommandError(str(exc)) from None
        except ValidationError as exc:
            raise CommandError("; ".join(exc.messages)) from None
        self.stdout.write(f"Loan {loan.public_id}: {loan.disbursed_amount} {loan.currency} paid out on "
                          f"{loan.disbursed_at:%Y-%m-%d}; first instalment due {loan.instalments.first().due_on}.")
