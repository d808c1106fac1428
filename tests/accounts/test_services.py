import pytest
from django.contrib.auth.models import Group
from django.core.exceptions import ValidationError
from django.core.management import call_command
from django.core.management.base import CommandError

from accounts.models import Business, PartnerBank
from accounts.roles import APPLICANT, LOAN_OFFICER, RISK_OPERATOR
from accounts.services import partner_create, roles_sync, user_create_with_role
from tests.factories import BusinessFactory, PartnerFactory, UserFactory

pytestmark = pytest.mark.django_db


def test_roles_sync_gives_each_role_exactly_its_permissions():
    roles_sync()

    officer = set(Group.objects.get(name=LOAN_OFFICER).permissions.values_list("codename", flat=True))
    risk = set(Group.objects.get(name=RISK_OPERATOR).permissions.values_list("codename", flat=True))
    assert officer == {"view_partnerbank", "view_business", "view_loanrecord", "view_importrun", "view_historysource",
                       # the audit console (issue 6): read decisions and what they cite, write reviews
                       "view_decision", "view_modelversion", "view_policyversion", "view_modelactivation",
                       "view_application", "view_applicationtransition", "view_loan", "view_review", "add_review"}
    assert risk == officer | {"add_partnerbank", "change_partnerbank", "change_business",
                              "add_modelactivation", "add_policyversion", "confirm_disbursement"}
    assert not Group.objects.get(name=APPLICANT).permissions.exists()


def test_roles_sync_is_idempotent():
    roles_sync()
    roles_sync()

    assert Group.objects.filter(name__in=[APPLICANT, LOAN_OFFICER, RISK_OPERATOR]).count() == 3


def test_staff_roles_reach_the_admin_and_applicants_do_not():
    roles_sync()

    officer = user_create_with_role(email="Officer@Bank.test", password="pw-officer-123", role=LOAN_OFFICER)
    owner = user_create_with_role(email="owner@shop.test", password="pw-owner-123", role=APPLICANT)

    assert officer.email == "officer@bank.test"
    assert officer.is_staff and not officer.is_superuser
    assert officer.has_perm("accounts.view_business")
    assert not officer.has_perm("accounts.change_business")
    assert not owner.is_staff


def test_user_logs_in_with_email(client):
    UserFactory(email="owner@shop.test")

    response = client.post("/login/", {"username": "owner@shop.test", "password": "a-long-test-password"})

    assert response.status_code == 302
    assert response.wsgi_request.user.is_authenticated


def test_partner_create_normalises_currency():
    partner = partner_create(slug="acme-bank", name="Acme Bank", currency="usd")

    assert partner.currency == "USD"


@pytest.mark.parametrize("currency", ["US", "usd1", "€€€"])
def test_partner_create_rejects_a_bad_currency_and_creates_nothing(currency):
    with pytest.raises(ValidationError):
        partner_create(slug="acme-bank", name="Acme Bank", currency=currency)

    assert not PartnerBank.objects.exists()


def test_create_partner_command(capsys):
    call_command("create_partner", "north-bank", "North Bank", "--currency", "EUR")

    partner = PartnerBank.objects.get(slug="north-bank")
    assert (partner.name, partner.currency) == ("North Bank", "EUR")
    assert "Created partner north-bank" in capsys.readouterr().out


def test_create_partner_command_refuses_a_duplicate_slug():
    PartnerFactory(slug="north-bank")

    with pytest.raises(CommandError, match="north-bank"):
        call_command("create_partner", "north-bank", "Another")

    assert PartnerBank.objects.filter(slug="north-bank").count() == 1


def test_merchant_id_is_unique_per_partner_not_globally():
    a, b = PartnerFactory(), PartnerFactory()
    BusinessFactory(partner=a, external_id="M1")
    BusinessFactory(partner=b, external_id="M1")

    assert Business.objects.filter(external_id="M1").count() == 2
