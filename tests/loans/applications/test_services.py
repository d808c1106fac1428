"""The apply flow's services: submission, the decision pipeline, offers, loans and the sweepers."""

import datetime as dt
import uuid
from decimal import Decimal

import pytest
import time_machine
from django.core.exceptions import ValidationError
from django.db import transaction
from django.test import override_settings

from accounts.models import Business
from config import clock
from loans.applications import booking as applications_booking
from loans.applications import services as applications_services
from loans.applications import transitions as applications_transitions
from loans.applications.models import (
    Application,
    ApplicationStatus,
    ApplicationTransition,
    Loan,
    LoanInstalment,
    LoanStatus,
)
from loans.webhooks.models import WebhookEvent
from tests.clock import pinned_dates
from tests.factories import BusinessFactory, PartnerFactory
from underwriting.decisions.models import Decision
from underwriting.engine.product import due_date
from underwriting.history.models import LoanRecord, LoanRecordSource
from underwriting.modeling.models import ModelVersion
from underwriting.modeling.registry import clear_active_model_cache
from underwriting.policies.services import policy_active

S = ApplicationStatus
ACTOR = "owner:owner@example.com"


def _submit(business, amount, term=12, purpose="working_capital", **kwargs):
    return applications_services.application_submit(
        business=business, amount=Decimal(amount), term_months=term, purpose=purpose,
        channel="web", actor=ACTOR, **kwargs,
    )


def _history(application):
    return list(
        ApplicationTransition.objects.filter(application=application)
        .order_by("at", "id")
        .values_list("from_status", "to_status", "actor")
    )


# ---- submission ------------------------------------------------------------------------------------


@pytest.mark.django_db
def test_submit_stores_the_application_with_its_as_of_and_queues_the_decision_after_commit(
    django_capture_on_commit_callbacks,
):
    # given a business of the demo channel
    business = BusinessFactory(partner=PartnerFactory(slug="demo"))
    before = clock.now()

    # when it applies
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        application = _submit(business, "12000.00", 12)

    # then it is stored, submitted, with as_of fixed now, its first transition recorded, one task queued
    application.refresh_from_db()
    assert (application.status, application.amount, application.term_months) == (S.SUBMITTED, Decimal("12000.00"), 12)
    assert application.partner_id == business.partner_id
    assert before <= application.as_of <= clock.now()
    assert _history(application) == [("", S.SUBMITTED, ACTOR)]
    assert len(callbacks) == 1


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("amount", "term", "purpose", "field", "message"),
    [
        ("999.99", 12, "inventory", "amount", "The smallest loan is 1,000.00 CNY."),
        ("500000.01", 12, "inventory", "amount", "The largest loan is 500,000.00 CNY."),
        ("1200.005", 12, "inventory", "amount", "Enter the amount with at most 2 decimal places."),
        ("5000", 2, "inventory", "term_months", "Choose a term from 3 to 24 months."),
        ("5000", 25, "inventory", "term_months", "Choose a term from 3 to 24 months."),
        ("5000", 12, "yacht", "purpose", "Choose what the money is for."),
    ],
)
def test_submit_refuses_requests_outside_the_product_with_a_message_per_field_and_stores_nothing(
    amount, term, purpose, field, message, django_capture_on_commit_callbacks
):
    business = BusinessFactory()

    with django_capture_on_commit_callbacks(execute=False) as callbacks, pytest.raises(ValidationError) as err:
        _submit(business, amount, term, purpose)

    assert err.value.message_dict == {field: [message]}
    assert Application.objects.count() == 0
    assert callbacks == []


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("amount", "message"),
    [
        ("1e5", "Write the amount out in full, for example 100000 rather than 1e5."),
        ("1E+05", "Write the amount out in full, for example 100000 rather than 1e5."),
        ("inf", "Enter the amount as a number, for example 12000 or 12000.50."),
        ("-Infinity", "Enter the amount as a number, for example 12000 or 12000.50."),
        ("nan", "Enter the amount as a number, for example 12000 or 12000.50."),
        ("-5000", "Enter the amount without a sign, for example 12000."),
        ("+5000", "Enter the amount without a sign, for example 12000."),
        ("5,00", "Use commas only between groups of three digits, for example 12,000.50."),
        ("5 000", "Enter the amount without spaces, for example 12000 or 12,000.50."),
        ("5000.505", "Enter the amount with at most 2 decimal places."),
        ("0x1388", "Enter the amount as a number, for example 12000 or 12000.50."),
        (5000.0, "Enter the amount as a number, for example 12000 or 12000.50."),
        (Decimal("NaN"), "Enter the amount as a number, for example 12000 or 12000.50."),
        ("9" * 40, "The amount is too large."),
    ],
)
def test_only_plain_decimal_amounts_are_accepted_and_anything_else_stores_nothing(amount, message):
    """`1e5` is not 100,000: the services take an amount only as digits, thousands commas and at most
    two decimals (the owner's form and the partner API apply the same rule, loans.applications.amounts)."""
    business = BusinessFactory()

    with pytest.raises(ValidationError) as err:
        applications_services.application_submit(business=business, amount=amount, term_months=12, purpose="inventory",
                                    channel="web", actor=ACTOR)

    assert err.value.message_dict == {"amount": [message]}
    assert Application.objects.count() == 0


@pytest.mark.django_db
@pytest.mark.parametrize(("amount", "stored"), [("5000", "5000.00"), (" 12,000.50 ", "12000.50"),
                                                 ("123,456.5", "123456.50"), (5000, "5000.00")])
def test_plain_amounts_with_thousands_commas_are_accepted_as_written(amount, stored, django_capture_on_commit_callbacks):
    business = BusinessFactory()

    with django_capture_on_commit_callbacks(execute=False):
        application = applications_services.application_submit(business=business, amount=amount, term_months=12,
                                                  purpose="inventory", channel="web", actor=ACTOR)

    assert str(Application.objects.get(pk=application.pk).amount) == stored


# ---- deciding ----------------------------------------------------------------------------------------


@pinned_dates
def test_decide_moves_submitted_to_deciding_to_approved_and_records_each_step(approvable):
    business, amount = approvable
    application = _submit(business, amount)

    decided = applications_services.application_decide(application_id=application.pk)

    decision = decided.decision
    assert decided.status == S.APPROVED
    assert decision.application_ref == application.public_id
    assert decision.as_of == application.as_of
    assert decision.offered_amount == amount
    assert decided.offer_expires_at == decision.created_at + dt.timedelta(days=30)
    assert _history(decided) == [
        ("", S.SUBMITTED, ACTOR),
        (S.SUBMITTED, S.DECIDING, "system:worker"),
        (S.DECIDING, S.APPROVED, "system:worker"),
    ]
    assert list(WebhookEvent.objects.values_list("event_type", flat=True)) == ["application.decided"]


def test_deciding_twice_gives_one_decision_and_changes_nothing_the_second_time(approvable):
    business, amount = approvable
    application = _submit(business, amount)

    first = applications_services.application_decide(application_id=application.pk)
    second = applications_services.application_decide(application_id=application.pk)

    assert first.decision_id == second.decision_id
    assert Decision.objects.filter(application_ref=application.public_id).count() == 1
    assert ApplicationTransition.objects.filter(application=application).count() == 3
    assert WebhookEvent.objects.count() == 1


def test_without_an_active_model_the_application_waits_in_deciding_and_is_decided_once_one_is_active(approvable):
    business, amount = approvable
    application = _submit(business, amount)
    active = ModelVersion.objects.get(is_active=True)
    ModelVersion.objects.update(is_active=False)
    clear_active_model_cache()

    with pytest.raises(applications_services.DecisionDeferred):
        applications_services.application_decide(application_id=application.pk)

    application.refresh_from_db()
    assert application.status == S.DECIDING
    assert application.decision_id is None
    assert application.attempts == 1
    assert application.last_error.startswith("NoActiveModel:")
    assert not Decision.objects.filter(application_ref=application.public_id).exists()

    # when a model is active again, the retry decides it from the stored as_of
    ModelVersion.objects.filter(pk=active.pk).update(is_active=True)
    clear_active_model_cache()
    decided = applications_services.application_decide(application_id=application.pk)

    assert decided.status == S.APPROVED
    assert decided.decision.as_of == application.as_of
    assert decided.last_error == ""


def test_an_engine_failure_keeps_the_application_deciding_and_never_approves_it(approvable):
    # given an engine that cannot sign decisions (its key is missing)
    business, amount = approvable
    application = _submit(business, amount)

    with override_settings(DECISION_HMAC_KEY=None):
        for attempt in (1, 2):
            with pytest.raises(applications_services.DecisionDeferred):
                applications_services.application_decide(application_id=application.pk)
            application.refresh_from_db()
            assert (application.status, application.attempts) == (S.DECIDING, attempt)

    assert application.decision_id is None
    assert "DECISION_HMAC_KEY" in application.last_error
    assert not Decision.objects.filter(application_ref=application.public_id).exists()
    assert WebhookEvent.objects.count() == 0


def test_a_request_above_the_limit_gets_a_counter_offer_of_a_smaller_amount(approvable):
    business, amount = approvable
    application = _submit(business, amount * 3)

    decided = applications_services.application_decide(application_id=application.pk)

    assert decided.status == S.COUNTER_OFFERED
    assert Decimal("1000.00") <= decided.decision.offered_amount < amount * 3
    assert decided.decision.reasons[0]["family"] == "limit"


def test_a_knocked_out_application_is_declined_with_its_rule_and_cannot_be_accepted(approvable):
    business, amount = approvable
    Business.objects.filter(pk=business.pk).update(is_blocked=True)
    business.refresh_from_db()
    application = _submit(business, amount)

    decided = applications_services.application_decide(application_id=application.pk)

    assert decided.status == S.DECLINED
    assert [r["feature"] for r in decided.decision.reasons] == ["KO_BLOCKED"]
    assert decided.offer_expires_at is None
    transitions = ApplicationTransition.objects.count()
    with pytest.raises(applications_transitions.IllegalTransition):
        applications_booking.offer_accept(application=decided, actor=ACTOR)
    decided.refresh_from_db()
    assert decided.status == S.DECLINED
    assert Loan.objects.count() == 0
    assert ApplicationTransition.objects.count() == transitions


# ---- the applicant's moves ---------------------------------------------------------------------------


@pinned_dates
def test_accepting_an_offer_creates_the_loan_with_the_offered_terms_and_pays_out_on_the_demo_channel(approvable):
    business, amount = approvable
    application = applications_services.application_decide(application_id=_submit(business, amount).pk)
    decision = application.decision
    today = clock.today()

    loan = applications_booking.offer_accept(application=application, actor=ACTOR)

    loan.refresh_from_db()
    application.refresh_from_db()
    assert application.status == S.DISBURSED
    assert loan.status == LoanStatus.DISBURSED and loan.disbursed_at is not None
    assert (loan.principal, loan.apr, loan.term_months) == (decision.offered_amount, decision.apr, decision.term_months)
    assert (loan.instalment, loan.total_repayable) == (decision.instalment, decision.total_repayable)
    assert loan.disbursed_amount == loan.principal - loan.origination_fee
    rows = list(loan.instalments.order_by("number"))
    assert [r.number for r in rows] == list(range(1, decision.term_months + 1))
    assert sum(r.amount for r in rows) == loan.total_repayable
    assert sum(r.principal for r in rows) == loan.principal
    assert rows[-1].balance_after == Decimal("0.00")
    assert [r.amount for r in rows] == [Decimal(r["payment"]) for r in decision.schedule["rows"]]
    assert [r.due_on for r in rows] == [due_date(today, n) for n in range(1, decision.term_months + 1)]
    assert _history(application)[-2:] == [
        (S.COUNTER_OFFERED if decision.outcome == "counter_offer" else S.APPROVED, S.ACCEPTED, ACTOR),
        (S.ACCEPTED, S.DISBURSED, "system:simulated-disbursement"),
    ]
    record = LoanRecord.objects.get(business=business, source=LoanRecordSource.PLATFORM)
    assert (record.amount, record.term_months, record.originated_on) == (loan.principal, loan.term_months, today)
    assert list(WebhookEvent.objects.order_by("id").values_list("event_type", flat=True)) == [
        "application.decided", "offer.accepted", "loan.disbursed",
    ]


def test_an_offer_cannot_be_accepted_twice(approvable):
    business, amount = approvable
    application = applications_services.application_decide(application_id=_submit(business, amount).pk)
    applications_booking.offer_accept(application=application, actor=ACTOR)

    with pytest.raises(applications_transitions.IllegalTransition):
        applications_booking.offer_accept(application=application, actor=ACTOR)

    assert Loan.objects.count() == 1


def test_rejecting_an_offer_ends_it(approvable):
    business, amount = approvable
    application = applications_services.application_decide(application_id=_submit(business, amount).pk)

    applications_services.offer_reject(application=application, actor=ACTOR, reason="Found cheaper money")

    application.refresh_from_db()
    assert application.status == S.REJECTED
    assert _history(application)[-1] == (S.APPROVED, S.REJECTED, ACTOR)
    assert ApplicationTransition.objects.filter(application=application).last().reason == "Found cheaper money"
    with pytest.raises(applications_transitions.IllegalTransition):
        applications_booking.offer_accept(application=application, actor=ACTOR)
    assert Loan.objects.count() == 0


@pytest.mark.django_db
def test_a_pending_application_can_be_withdrawn_and_is_then_never_decided():
    business = BusinessFactory()
    application = _submit(business, "5000")

    applications_services.application_withdraw(application=application, actor=ACTOR)
    after = applications_services.application_decide(application_id=application.pk)

    assert after.status == S.WITHDRAWN
    assert after.decision_id is None
    assert _history(application) == [("", S.SUBMITTED, ACTOR), (S.SUBMITTED, S.WITHDRAWN, ACTOR)]


def test_a_decided_application_cannot_be_withdrawn_and_nothing_changes(approvable):
    business, amount = approvable
    application = applications_services.application_decide(application_id=_submit(business, amount).pk)
    updated_at = application.updated_at

    with pytest.raises(applications_transitions.IllegalTransition) as err:
        applications_services.application_withdraw(application=application, actor=ACTOR)

    assert str(err.value) == "An application that is approved cannot become withdrawn."
    application.refresh_from_db()
    assert (application.status, application.updated_at) == (S.APPROVED, updated_at)
    assert ApplicationTransition.objects.filter(application=application).count() == 3


def test_the_transition_map_refuses_moves_it_does_not_list(approvable):
    business, amount = approvable
    application = applications_services.application_decide(application_id=_submit(business, amount).pk)

    for target in (S.SUBMITTED, S.DECIDING, S.DECLINED, S.DISBURSED, S.WITHDRAWN):
        with pytest.raises(applications_transitions.IllegalTransition):
            applications_transitions.application_transition(application=application, to_status=target, actor="test")

    application.refresh_from_db()
    assert application.status == S.APPROVED


def test_a_move_under_the_callers_lock_is_written_in_its_transaction_and_rolls_back_with_it(approvable):
    # given a submitted application, locked by the caller's transaction
    business, amount = approvable
    application = _submit(business, amount)

    # when the caller moves it (locked=True) and then fails
    with pytest.raises(RuntimeError, match="the caller failed"), transaction.atomic():
        locked = Application.objects.select_for_update().get(pk=application.pk)
        moved = applications_transitions.application_transition(
            application=locked, to_status=S.DECIDING, actor="test", reason="picked up", locked=True)
        assert moved is locked and locked.status == S.DECIDING
        assert ApplicationTransition.objects.filter(application=application, to_status=S.DECIDING).count() == 1
        raise RuntimeError("the caller failed")

    # then nothing of the move is left
    application.refresh_from_db()
    assert application.status == S.SUBMITTED
    assert list(ApplicationTransition.objects.filter(application=application).values_list("to_status", flat=True)) == [
        S.SUBMITTED]


@pytest.mark.django_db(transaction=True)
def test_a_move_under_the_callers_lock_is_refused_outside_a_transaction():
    # given no open transaction (so no row lock can be held)
    application = Application(pk=1, status=S.SUBMITTED)

    # when a move claims the caller holds the lock, then it is refused before anything is read or written
    with pytest.raises(RuntimeError, match="needs the caller's transaction"):
        applications_transitions.application_transition(
            application=application, to_status=S.DECIDING, actor="test", locked=True)
    assert application.status == S.SUBMITTED
    assert not ApplicationTransition.objects.exists()


def test_a_move_under_the_callers_lock_still_follows_the_map(approvable):
    # given a submitted application
    business, amount = approvable
    application = _submit(business, amount)
    updated_at = Application.objects.get(pk=application.pk).updated_at

    # when a move under the caller's lock breaks the map
    with transaction.atomic():
        locked = Application.objects.select_for_update().get(pk=application.pk)
        with pytest.raises(applications_transitions.IllegalTransition):
            applications_transitions.application_transition(
                application=locked, to_status=S.APPROVED, actor="test", locked=True)

    # then it is refused and nothing changed
    application.refresh_from_db()
    assert (application.status, application.updated_at) == (S.SUBMITTED, updated_at)
    assert ApplicationTransition.objects.filter(application=application).count() == 1


# ---- the loan's money, exactly ---------------------------------------------------------------------


def _stored_offer(*, partner_slug: str, amount: str, apr: str, term: int) -> Application:
    """An application holding an approved offer (a decision record written directly, as the engine
    would store it), so the loan's arithmetic is checked on round numbers."""
    from underwriting.engine.product import amortisation_schedule

    business = BusinessFactory(partner=PartnerFactory(slug=partner_slug))
    schedule = amortisation_schedule(
        principal=Decimal(amount), apr=Decimal(apr) / 100, term_months=term, disbursed_on=dt.date(2027, 1, 1)
    )
    ref = uuid.uuid4()
    decision = Decision.objects.create(
        partner=business.partner, business=business, application_ref=ref,
        as_of=clock.now(), requested_amount=Decimal(amount), requested_term_months=term,
        outcome="approved", decided_by="model", offered_amount=Decimal(amount), term_months=term,
        apr=Decimal(apr), effective_apr=Decimal(apr), origination_fee=Decimal("0.00"),
        instalment=schedule.instalment, total_repayable=schedule.total_repayable, schedule=schedule.as_dict(),
        policy_version=policy_active()[0], created_at=clock.now(), previous_hmac="0" * 64, hmac=ref.hex * 2,
        sequence=Decision.objects.count() + 1, content_version=2,
    )
    return Application.objects.create(
        public_id=ref, partner=business.partner, business=business, channel="api", amount=Decimal(amount),
        term_months=term, purpose="inventory", status=S.APPROVED, as_of=decision.as_of, decision=decision,
        offer_expires_at=clock.now() + dt.timedelta(days=30),
    )


@pytest.mark.django_db
def test_a_loan_of_10000_at_18_percent_over_12_months_repays_916_80_a_month_and_exactly_its_total():
    # given an offer of 10,000.00 at 18% over 12 months from a partner that disburses itself
    application = _stored_offer(partner_slug="north-bank", amount="10000.00", apr="18.00", term=12)

    # when it is accepted, and the partner pays out on 31 January (reporting it that afternoon)
    loan = applications_booking.offer_accept(application=application, actor="partner:north-bank")
    assert loan.status == LoanStatus.AWAITING_DISBURSEMENT
    with time_machine.travel(dt.datetime(2027, 1, 31, 15, tzinfo=dt.UTC), tick=False):
        loan = applications_booking.loan_disburse(
            loan=loan, actor="partner:north-bank", disbursed_at=dt.datetime(2027, 1, 31, 10, tzinfo=dt.UTC)
        )

    # then the money is exact and the due dates fall on the 31st, clamped to each month's end
    assert (loan.instalment, loan.total_interest, loan.total_repayable) == (
        Decimal("916.80"), Decimal("1001.61"), Decimal("11001.61"),
    )
    rows = list(LoanInstalment.objects.filter(loan=loan).order_by("number"))
    assert [r.amount for r in rows] == [Decimal("916.80")] * 11 + [Decimal("916.81")]
    assert sum(r.amount for r in rows) == Decimal("11001.61")
    assert (rows[0].principal, rows[0].interest, rows[0].balance_after) == (
        Decimal("766.80"), Decimal("150.00"), Decimal("9233.20"),
    )
    assert (rows[-1].principal, rows[-1].interest, rows[-1].balance_after) == (
        Decimal("903.26"), Decimal("13.55"), Decimal("0.00"),
    )
    assert [r.due_on for r in rows[:4]] == [
        dt.date(2027, 2, 28), dt.date(2027, 3, 31), dt.date(2027, 4, 30), dt.date(2027, 5, 31),
    ]
    assert rows[-1].due_on == dt.date(2028, 1, 31)
    application.refresh_from_db()
    assert application.status == S.DISBURSED


@pytest.mark.django_db
@pinned_dates
def test_a_loan_cannot_be_disbursed_twice():
    application = _stored_offer(partner_slug="north-bank", amount="10000.00", apr="18.00", term=12)
    loan = applications_booking.offer_accept(application=application, actor="partner:north-bank")
    applications_booking.loan_disburse(loan=loan, actor="partner:north-bank")

    with pytest.raises(applications_transitions.IllegalTransition):
        applications_booking.loan_disburse(loan=loan, actor="partner:north-bank")

    assert LoanRecord.objects.filter(source=LoanRecordSource.PLATFORM).count() == 1


# ---- expiry and the sweeper ------------------------------------------------------------------------


@pinned_dates
@pytest.mark.django_db
def test_offers_expire_at_the_end_of_their_validity_and_can_no_longer_be_accepted():
    # given an offer made now (30 days' validity) and another made a day later
    made = clock.now().replace(microsecond=0)
    with time_machine.travel(made, tick=False):
        expiring = _stored_offer(partner_slug="north-bank", amount="5000.00", apr="20.00", term=6)
    with time_machine.travel(made + dt.timedelta(days=1), tick=False):
        fresh = _stored_offer(partner_slug="south-bank", amount="5000.00", apr="20.00", term=6)
    assert expiring.offer_expires_at == made + dt.timedelta(days=30)

    # a second before the end of its validity nothing expires
    with time_machine.travel(made + dt.timedelta(days=30, seconds=-1), tick=False):
        assert applications_services.offers_expire() == 0

    with time_machine.travel(made + dt.timedelta(days=30), tick=False):
        # an owner racing the sweeper is refused, with nothing changed
        with pytest.raises(applications_transitions.OfferExpired, match="expired on"):
            applications_booking.offer_accept(application=expiring, actor=ACTOR)
        assert Loan.objects.count() == 0

        assert applications_services.offers_expire() == 1

        expiring.refresh_from_db()
        fresh.refresh_from_db()
        assert (expiring.status, fresh.status) == (S.EXPIRED, S.APPROVED)
        assert _history(expiring)[-1] == (S.APPROVED, S.EXPIRED, "system:sweeper")
        assert applications_services.offers_expire() == 0


# A loan paid out on each pinned day falls due on the same day of the following months, clamped to the
# month's end (docs/pricing.md).
FIRST_DUE_DATES = {
    dt.date(2027, 1, 31): [dt.date(2027, 2, 28), dt.date(2027, 3, 31), dt.date(2027, 4, 30)],
    dt.date(2028, 2, 29): [dt.date(2028, 3, 29), dt.date(2028, 4, 29), dt.date(2028, 5, 29)],
    dt.date(2027, 12, 31): [dt.date(2028, 1, 31), dt.date(2028, 2, 29), dt.date(2028, 3, 31)],
}


@pinned_dates
@pytest.mark.django_db
def test_a_loan_paid_out_today_falls_due_on_the_same_day_each_month_with_exact_money():
    # given an offer of 3,000.00 at 24% over 3 months from a partner that disburses itself
    application = _stored_offer(partner_slug="north-bank", amount="3000.00", apr="24.00", term=3)
    loan = applications_booking.offer_accept(application=application, actor="partner:north-bank")

    # when the partner pays it out today
    loan = applications_booking.loan_disburse(loan=loan, actor="partner:north-bank")

    # then the instalments are exact to the cent and fall due on this day of each month, clamped
    rows = list(LoanInstalment.objects.filter(loan=loan).order_by("number"))
    assert [r.due_on for r in rows] == FIRST_DUE_DATES[clock.today()]
    assert [r.amount for r in rows] == [Decimal("1040.26"), Decimal("1040.26"), Decimal("1040.27")]
    assert [r.interest for r in rows] == [Decimal("60.00"), Decimal("40.39"), Decimal("20.40")]
    assert (loan.total_interest, loan.total_repayable) == (Decimal("120.79"), Decimal("3120.79"))
    assert loan.disbursed_at.date() == clock.today()


@pytest.mark.django_db
@pinned_dates
def test_the_sweeper_requeues_applications_stuck_in_submitted_or_deciding(django_capture_on_commit_callbacks):
    partner = PartnerFactory()
    stuck_submitted, stuck_deciding, recent, withdrawn = (
        _submit(BusinessFactory(partner=partner), amount) for amount in ("5000", "6000", "7000", "8000")
    )
    applications_transitions.application_transition(application=stuck_deciding, to_status=S.DECIDING, actor="system:worker")
    applications_services.application_withdraw(application=withdrawn, actor=ACTOR)
    long_ago = clock.now() - dt.timedelta(minutes=5)
    Application.objects.exclude(pk=recent.pk).update(updated_at=long_ago)

    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        requeued = applications_services.applications_requeue_stuck(older_than_seconds=60)

    assert requeued == 2
    assert len(callbacks) == 1
    touched = set(Application.objects.filter(updated_at__gt=long_ago).values_list("pk", flat=True))
    assert touched == {stuck_submitted.pk, stuck_deciding.pk, recent.pk}
    # touched: the next sweep leaves them alone for another interval
    assert applications_services.applications_requeue_stuck(older_than_seconds=60) == 0


@pytest.mark.django_db
def test_a_payout_in_the_future_or_before_the_acceptance_is_refused_and_changes_nothing():
    application = _stored_offer(partner_slug="north-bank", amount="10000.00", apr="18.00", term=12)
    loan = applications_booking.offer_accept(application=application, actor="partner:north-bank")

    for when, message in [(clock.now() + dt.timedelta(minutes=5), "cannot be in the future"),
                          (clock.now() - dt.timedelta(days=2), "cannot be before the offer was accepted")]:
        with pytest.raises(ValidationError, match=message):
            applications_booking.loan_disburse(loan=loan, actor="partner:north-bank", disbursed_at=when)

    loan.refresh_from_db()
    application.refresh_from_db()
    assert (loan.status, loan.disbursed_at, application.status) == (LoanStatus.AWAITING_DISBURSEMENT, None, S.ACCEPTED)
    assert not LoanRecord.objects.filter(source=LoanRecordSource.PLATFORM).exists()
