from django.core.management.base import BaseCommand
from django.db import transaction

from accounts.models import Business, PartnerBank
from accounts.roles import APPLICANT, LOAN_OFFICER, RISK_OPERATOR, ROLE_LABELS
from accounts.services import DemoLogin, roles_sync, user_create_with_role

# Demo logins for a laptop or a demo server only; the run script prints them.
DEMO_LOGINS = [
    DemoLogin(APPLICANT, "owner@demo.example.com", "demo-owner-310"),
    DemoLogin(LOAN_OFFICER, "officer@demo.example.com", "demo-officer-310"),
    DemoLogin(RISK_OPERATOR, "risk@demo.example.com", "demo-risk-310"),
]


class Command(BaseCommand):
    help = "Create one demo login per role and give the demo owner a simulated merchant."

    def add_arguments(self, parser):
        parser.add_argument("--partner", default="demo", help="Partner whose merchant the demo owner gets.")

    @transaction.atomic
    def handle(self, *args, partner, **options):
        roles_sync()
        users = {login.role: user_create_with_role(email=login.email, password=login.password, role=login.role)
                 for login in DEMO_LOGINS}
        owner = users[APPLICANT]
        tenant = PartnerBank.objects.filter(slug=partner).first()
        if tenant and not Business.objects.filter(owner=owner).exists():
            # The merchant with the longest history makes the best demo.
            business = Business.objects.filter(partner=tenant, owner__isnull=True).order_by("onboarded_on", "pk").first()
            if business:
                business.owner = owner
                business.save(update_fields=["owner", "updated_at"])
        for login in DEMO_LOGINS:
            self.stdout.write(f"  {ROLE_LABELS[login.role]:<28} {login.email:<28} password: {login.password}")
