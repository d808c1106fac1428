"""The demo's audit seed decides its applications through the real engine, within the lending rules."""

from io import StringIO

from django.core.management import call_command
from django.db.models import Count

from loans.applications.models import Application, Loan


def test_the_audit_seed_decides_one_application_per_business_and_stacks_no_loans(world):
    out = StringIO()

    call_command("seed_audit_demo", partner="demo", applications=30, stdout=out)

    assert out.getvalue().startswith("30 application(s) decided (")
    assert Application.objects.count() == 30
    assert not Application.objects.values("business").annotate(n=Count("id")).filter(n__gt=1).exists()
    assert not Loan.objects.values("business").annotate(n=Count("id")).filter(n__gt=1).exists()
    assert Application.objects.filter(decision__isnull=True).count() == 0
