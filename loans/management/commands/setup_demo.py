from django.core.management.base import BaseCommand
from django.db import transaction
from django.db.models import Max, Min

from accounts.models import Business, PartnerBank
from accounts.roles import APPLICANT, LOAN_OFFICER, RISK_OPERATOR, ROLE_LABELS
from accounts.services import DemoLogin, roles_sync, user_create_with_role
from loans.businesses.selectors import business_suggested_amount
from underwriting.history.models import DailyRollup, LoanRecord, LoanRecordStatus
from underwriting.modeling.registry import active_model

# Demo logins for a laptop or a demo server only; the run script prints them.
DEMO_LOGINS = [
    DemoLogin(APPLICANT, "owner@demo.example.com", "demo-owner-310"),
    DemoLogin(LOAN_OFFICER, "officer@demo.example.com", "demo-officer-310"),
    DemoLogin(RISK_OPERATOR, "risk@demo.example.com", "demo-risk-310"),
]


def _candidates(partner: PartnerBank):
    """Unowned merchants still trading that never defaulted, longest-trading first."""
    defaulted = LoanRecord.objects.filter(partner=partner, status=LoanRecordStatus.DEFAULTED).values("business_id")
    return (
        DailyRollup.objects.filter(business__partner=partner, business__owner__isnull=True)
        .exclude(business_id__in=defaulted)
        .values("business_id")
        .annotate(first=Min("day"), last=Max("day"))
        .order_by("-last", "first", "business_id")
    )


def _approvable(partner: PartnerBank, *, limit: int, scan: int = 400) -> list[tuple[Business, object]]:
    """Up to `limit` candidates the active model would approve today at their suggested amount
    (the engine used read-only: nothing is stored). Empty when no model is active."""

    if active_model() is None:
        return []
    found = []
    for row in _candidates(partner)[:scan]:
        business = Business.objects.select_related("partner").get(pk=row["business_id"])
        suggestion = business_suggested_amount(business=business)
        if suggestion.basis == "model":
            found.append((business, suggestion.amount))
            if len(found) == limit:
                break
    return found


def _demo_merchant(partner: PartnerBank) -> Business | None:
    """The merchant the demo owner gets: one the active model approves at the suggested amount (so
    the run command shows an approval), else the longest-trading healthy merchant."""
    approvable = _approvable(partner, limit=1)
    if approvable:
        return approvable[0][0]
    best = _candidates(partner).first()
    return Business.objects.get(pk=best["business_id"]) if best else None


class Command(BaseCommand):
    help = "Create one demo login per role and give the demo owner a simulated merchant."

    def add_arguments(self, parser):
        parser.add_argument("--partner", default="demo", help="Partner whose merchant the demo owner gets.")
        parser.add_argument("--logins-only", action="store_true",
                            help="Only the logins (the run command links the merchant once the demo is prepared).")

    @transaction.atomic
    def handle(self, *args, partner, logins_only=False, **options):
        roles_sync()
        users = {
            login.role: user_create_with_role(email=login.email, password=login.password, role=login.role)
            for login in DEMO_LOGINS
        }
        owner = users[APPLICANT]
        if logins_only:
            for login in DEMO_LOGINS:
                self.stdout.write(f"  {ROLE_LABELS[login.role]:<28} {login.email:<28} password: {login.password}")
            return
        tenant = PartnerBank.objects.filter(slug=partner).first()
        if tenant and not Business.objects.filter(owner=owner).exists():
            business = _demo_merchant(tenant)
            if business:
                business.owner = owner
                business.save(update_fields=["owner", "updated_at"])
        for login in DEMO_LOGINS:
            self.stdout.write(f"  {ROLE_LABELS[login.role]:<28} {login.email:<28} password: {login.password}")
        if tenant:
            for business in Business.objects.filter(owner=owner, partner=tenant):
                self.stdout.write(f"  The demo owner's merchant: {business.external_id} ({business.legal_name})")
            claimable = _approvable(tenant, limit=3)
            if claimable:
                ids = ", ".join(f"{b.external_id} (about {amount:,.0f} {b.partner.currency})" for b, amount in claimable)
                self.stdout.write(f"  Demo merchants a new sign-up can claim and get approved: {ids}")
