from django.core.management.base import BaseCommand
from django.db import transaction
from django.db.models import Max, Min

from accounts.models import Business, PartnerBank
from accounts.roles import APPLICANT, LOAN_OFFICER, RISK_OPERATOR, ROLE_LABELS
from accounts.services import DemoLogin, roles_sync, user_create_with_role
from underwriting.models import DailyRollup, LoanRecord, LoanRecordStatus

# Demo logins for a laptop or a demo server only; the run script prints them.
DEMO_LOGINS = [
    DemoLogin(APPLICANT, "owner@demo.example.com", "demo-owner-310"),
    DemoLogin(LOAN_OFFICER, "officer@demo.example.com", "demo-officer-310"),
    DemoLogin(RISK_OPERATOR, "risk@demo.example.com", "demo-risk-310"),
]


def _demo_merchant(partner: PartnerBank) -> Business | None:
    """The unowned merchant with the longest history that is still trading and never defaulted:
    the owner a newcomer should see first."""
    defaulted = LoanRecord.objects.filter(partner=partner, status=LoanRecordStatus.DEFAULTED).values("business_id")
    spans = (
        DailyRollup.objects.filter(business__partner=partner, business__owner__isnull=True)
        .exclude(business_id__in=defaulted)
        .values("business_id")
        .annotate(first=Min("day"), last=Max("day"))
        .order_by("-last", "first", "business_id")
    )
    best = spans.first()
    return Business.objects.get(pk=best["business_id"]) if best else None


class Command(BaseCommand):
    help = "Create one demo login per role and give the demo owner a simulated merchant."

    def add_arguments(self, parser):
        parser.add_argument("--partner", default="demo", help="Partner whose merchant the demo owner gets.")

    @transaction.atomic
    def handle(self, *args, partner, **options):
        roles_sync()
        users = {
            login.role: user_create_with_role(email=login.email, password=login.password, role=login.role)
            for login in DEMO_LOGINS
        }
        owner = users[APPLICANT]
        tenant = PartnerBank.objects.filter(slug=partner).first()
        if tenant and not Business.objects.filter(owner=owner).exists():
            business = _demo_merchant(tenant)
            if business:
                business.owner = owner
                business.save(update_fields=["owner", "updated_at"])
        for login in DEMO_LOGINS:
            self.stdout.write(f"  {ROLE_LABELS[login.role]:<28} {login.email:<28} password: {login.password}")
