"""Trust by provenance (docs/provenance.md): an owner's own upload is recorded as such, checked for the
patterns of fabricated files, lent on with a tenth of the product, three points more, and never paid
out before the lender confirms it."""

from datetime import date
from decimal import ROUND_CEILING, Decimal
from pathlib import Path

from django.core.files.uploadedfile import SimpleUploadedFile
from django.core.management import call_command
from django.test import Client

from accounts.roles import LOAN_OFFICER, RISK_OPERATOR
from accounts.services import api_key_create, roles_sync, user_create_with_role
from loans.applications import booking as applications_booking
from loans.applications import services as applications_services
from loans.applications.models import ApplicationStatus, Loan, LoanStatus
from loans.businesses import services as businesses_services
from tests.factories import UserFactory
from tests.loans.api.conftest import Caller
from underwriting.history.models import Direction, HistorySource, ImportRun, Transaction, TransactionKind
from underwriting.history.services import history_import

S = ApplicationStatus
UPLOADS = Path(__file__).resolve().parents[3] / "fixtures" / "uploads"
ACTOR = "owner:owner@example.com"


def _owned_business(owner, name="Corner Grocery"):
    return businesses_services.business_create_for_owner(owner=owner, legal_name=name, sector="grocery", region="east",
                                              established_on=date(2019, 3, 1))


def _upload(business, fixture: str):
    text = (UPLOADS / fixture).read_text().replace("W000000000001", business.external_id)
    text = text.replace("W000000000002", business.external_id)
    upload = SimpleUploadedFile(fixture, text.encode(), content_type="text/csv")
    return businesses_services.business_history_upload(business=business, upload=upload, actor=ACTOR)


def _history_csv(business, merchant_id: str, prefix: str = "") -> str:
    """A simulated merchant's own transactions, as the interchange format writes them."""
    lines = ["merchant_id,transaction_id,occurred_at,amount,currency,direction,kind,counterparty,balance_after"]
    for t in Transaction.objects.filter(business=business).order_by("occurred_at", "transaction_id"):
        balance = "" if t.balance_after_minor is None else f"{Decimal(t.balance_after_minor) / 100:.2f}"
        lines.append(",".join([merchant_id, prefix + t.transaction_id, t.occurred_at.isoformat(),
                               f"{Decimal(t.amount_minor) / 100:.2f}", business.partner.currency,
                               Direction(t.direction).label, TransactionKind(t.kind).label, t.counterparty or "",
                               balance]))
    return "\n".join(lines) + "\n"


def _twins(approvable):
    """One approvable simulated merchant's history twice: uploaded by an owner, and fed by the partner."""
    source, _ = approvable
    uploaded = _owned_business(UserFactory())
    uploaded.established_on = source.established_on
    uploaded.save(update_fields=["established_on"])
    upload = SimpleUploadedFile("mine.csv", _history_csv(source, uploaded.external_id).encode(), "text/csv")
    businesses_services.business_history_upload(business=uploaded, upload=upload, actor=ACTOR)
    return uploaded, source


def _decide(business, amount, term=12):
    application = applications_services.application_submit(business=business, amount=Decimal(amount), term_months=term,
                                              purpose="inventory", channel="web", actor=ACTOR)
    return applications_services.application_decide(application_id=application.pk)


def test_an_owner_upload_is_recorded_as_such_with_its_checks(world):
    business = _owned_business(UserFactory())

    result = _upload(business, "genuine-simulated.csv")

    run = ImportRun.objects.get(public_id=result.run_id)
    source = HistorySource.objects.get(import_run=run)
    assert (run.source, run.provenance) == ("web", "owner_upload")
    assert (source.business_id, source.provenance, source.transactions) == (business.pk, "owner_upload", 449)
    assert (source.first_day, source.last_day) == (date(2025, 11, 1), date(2026, 10, 31))
    assert [c["code"] for c in source.checks] == ["DC_BALANCE_MISMATCH", "DC_DUPLICATED_DAYS", "DC_CALENDAR_PATTERN",
                                                  "DC_ROUND_AMOUNTS", "DC_REPEATED_AMOUNTS", "DC_FUTURE_DATES"]
    assert not any(c["tripped"] for c in source.checks)


def test_a_partner_feed_and_the_simulator_record_theirs(world, tmp_path):
    # the world fixture's history came from the simulator
    simulated = HistorySource.objects.filter(business=world[0]).get()
    assert (simulated.provenance, simulated.import_run.provenance) == ("simulated", "simulated")

    path = tmp_path / "t.csv"
    path.write_text((UPLOADS / "genuine-simulated.csv").read_text().replace("W000000000002", world[1].external_id)
                    .replace(",T1", ",P1"))
    result = history_import(partner=world[1].partner, transactions=path, source="cli")

    assert ImportRun.objects.get(public_id=result.run_id).provenance == "partner_feed"
    assert set(HistorySource.objects.filter(business=world[1]).values_list("provenance", flat=True)) == {
        "simulated", "partner_feed"}


def test_a_fabricated_upload_trips_two_checks_and_is_declined_with_their_codes(world):
    # given an owner who uploads a fabricated nine months of trading
    business = _owned_business(UserFactory())
    _upload(business, "fabricated-nine-months.csv")

    # when the business applies
    decided = _decide(business, "20000.00")

    # then the checks decline it, naming each tripped code, and the decision carries the provenance
    decision = decided.decision
    assert decided.status == S.DECLINED
    assert decision.decided_by == "knockout"
    assert [r["feature"] for r in decision.reasons] == ["KO_HISTORY_CHECKS"]
    assert "DC_BALANCE_MISMATCH" in decision.reasons[0]["text"] and "DC_ROUND_AMOUNTS" in decision.reasons[0]["text"]
    assert decision.context["provenance"] == "owner_upload"
    assert [c["code"] for c in decision.context["history_checks"]] == ["DC_BALANCE_MISMATCH", "DC_ROUND_AMOUNTS"]

    # and the officer sees where the history came from and which checks it tripped
    roles_sync()
    officer = Client()
    officer.force_login(user_create_with_role(email="officer@example.com", password="pw-310-officer",
                                              role=LOAN_OFFICER))
    page = officer.get(f"/admin/underwriting/decision/{decision.pk}/change/").content.decode()
    assert "Uploaded by the owner (unverified)" in page
    assert "<code>DC_BALANCE_MISMATCH</code>" in page and "<code>DC_ROUND_AMOUNTS</code>" in page
    run = ImportRun.objects.get(sources__business=business)
    batch = officer.get(f"/admin/underwriting/importrun/{run.pk}/change/").content.decode()
    assert "DC_BALANCE_MISMATCH, DC_ROUND_AMOUNTS" in batch


def test_an_owner_upload_lends_a_tenth_of_the_product_at_three_points_more(approvable):
    # given an approvable merchant's history, once as the partner fed it and once uploaded by an owner
    uploaded, fed = _twins(approvable)

    # when each asks for 100,000 over 12 months
    owner_decision = _decide(uploaded, "100000.00").decision

    # then the upload's offer is capped at a tenth of the product maximum, with its own reason
    assert owner_decision.context["provenance"] == "owner_upload"
    assert owner_decision.context["history_checks"] == []
    assert owner_decision.limit["caps"]["product_max"] == "50000.00"
    assert owner_decision.outcome in ("counter_offer", "approved") and owner_decision.offered_amount <= Decimal("50000")
    assert owner_decision.limit["price"]["provenance_premium"] == "0.03"
    # and its rate is the risk-based rate of its own PD plus exactly three points, where the partner's
    # feed of the same history pays none
    price, policy = owner_decision.limit["price"], owner_decision.policy_version.policy
    risk_based = sum(Decimal(price[k]) for k in ("cost_of_funds", "expected_loss", "operating_cost", "margin"))
    assert Decimal(price["unrounded"]) == risk_based + Decimal("0.03")
    stepped = (risk_based / policy.rate_step).to_integral_value(rounding=ROUND_CEILING) * policy.rate_step
    assert owner_decision.apr == (stepped + Decimal("0.03")) * 100
    fed_decision = _decide(fed, str(owner_decision.offered_amount)).decision
    assert fed_decision.context["provenance"] == "simulated"
    assert "provenance_premium" not in fed_decision.limit["price"]


def _decide_again(business, amount):
    """The decision for `amount` once the business's open offer is turned down."""
    from loans.applications.models import Application

    for open_offer in Application.objects.filter(business=business, status__in=[S.APPROVED, S.COUNTER_OFFERED]):
        applications_services.offer_reject(application=open_offer, actor=ACTOR)
    return _decide(business, amount).decision


def test_an_accepted_loan_on_an_owner_upload_waits_for_the_lender_to_confirm_the_payout(approvable):
    # given an owner's offer on an uploaded history, on the demo channel (whose payouts are simulated)
    business, _ = _twins(approvable)
    owner = business.owner
    offer = _decide(business, "5000.00")
    assert offer.status in (S.APPROVED, S.COUNTER_OFFERED)

    # when the owner accepts
    loan = applications_booking.offer_accept(application=offer, actor=ACTOR)

    # then nothing is paid out: the loan waits, visibly, for the lender
    offer.refresh_from_db()
    assert (offer.status, loan.status, loan.disbursed_at) == (S.ACCEPTED, LoanStatus.AWAITING_DISBURSEMENT, None)
    client = Client()
    client.force_login(owner)
    page = client.get(f"/loans/{loan.public_id}/").content.decode()
    assert "Waiting for the lender to confirm the payout" in page
    assert "The money is not sent yet" in client.get(f"/applications/{offer.public_id}/").content.decode()

    # and a risk operator's confirmation in the admin pays it out
    roles_sync()
    operator = user_create_with_role(email="risk@example.com", password="pw-310-risk", role=RISK_OPERATOR)
    admin = Client()
    admin.force_login(operator)
    response = admin.post("/admin/loans/loan/", {"action": "confirm_disbursement", "_selected_action": [loan.pk]})
    assert response.status_code == 302
    loan.refresh_from_db()
    offer.refresh_from_db()
    assert (loan.status, offer.status) == (LoanStatus.DISBURSED, S.DISBURSED)
    assert offer.transitions.last().actor == "staff:risk@example.com"


def test_a_partner_confirms_a_payout_through_the_api_and_not_twice(approvable):
    business, _ = _twins(approvable)
    loan = applications_booking.offer_accept(application=_decide(business, "5000.00"), actor=ACTOR)
    created = api_key_create(partner=business.partner, name="payouts", scopes=["write"])
    partner = Caller(business.partner, created.raw_key, created.api_key)

    future = partner.post(f"/api/v1/loans/{loan.public_id}/disbursement", {"disbursed_at": "2099-01-01T00:00:00Z"})
    assert future.status_code == 400
    assert Loan.objects.get(pk=loan.pk).status == LoanStatus.AWAITING_DISBURSEMENT

    confirmed = partner.post(f"/api/v1/loans/{loan.public_id}/disbursement")
    assert confirmed.status_code == 200, confirmed.content
    assert confirmed.json()["status"] == "disbursed"
    again = partner.post(f"/api/v1/loans/{loan.public_id}/disbursement")
    assert again.status_code == 409
    assert again.json()["type"].endswith("/invalid-state")


def test_the_command_confirms_a_payout(approvable, capsys):
    business, _ = _twins(approvable)
    loan = applications_booking.offer_accept(application=_decide(business, "5000.00"), actor=ACTOR)

    call_command("confirm_disbursement", str(loan.public_id), "--by", "ops@example.com")

    loan.refresh_from_db()
    assert loan.status == LoanStatus.DISBURSED
    assert f"Loan {loan.public_id}: {loan.disbursed_amount} CNY paid out on" in capsys.readouterr().out
