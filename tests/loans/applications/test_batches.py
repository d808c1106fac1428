"""The decision worker's main path (loans/applications/batches.py): what is waiting, decided in batches,
each decision the one made alone; failures and dead workers handed to the one-application task."""

from decimal import Decimal

import pytest
from django.db import transaction

from accounts.models import Business
from loans import background
from loans.applications import batches
from loans.applications import services as applications_services
from loans.applications.models import Application, ApplicationStatus, ApplicationTransition
from loans.webhooks.models import WebhookEvent
from tests.loans.conftest import approvable_in
from underwriting.decisions.models import Decision

S = ApplicationStatus
ACTOR = "owner:owner@example.com"


def _submit(business, amount, term=12, purpose="working_capital"):
    return applications_services.application_submit(
        business=business, amount=Decimal(amount), term_months=term, purpose=purpose, channel="web", actor=ACTOR,
    )


def _history(application):
    return list(
        ApplicationTransition.objects.filter(application=application)
        .order_by("at", "id")
        .values_list("from_status", "to_status", "actor")
    )


_DECIDED_FIELDS = ("outcome", "decided_by", "offered_amount", "term_months", "apr", "effective_apr", "origination_fee",
                   "instalment", "total_repayable", "schedule", "pd", "score", "score_band", "raw_margin",
                   "model_version_id", "policy_version_id", "feature_names", "feature_values", "context",
                   "shap_values", "shap_base", "knockouts", "limit", "reasons", "as_of")


def _decided(application) -> dict:
    """The decision's content, but for the instant its exposure was read (a batch reads at its own)."""
    decision = Decision.objects.get(application_ref=application.public_id)
    decided = {name: getattr(decision, name) for name in _DECIDED_FIELDS}
    decided["context"]["exposure"].pop("read_at")
    return decided


class _Undo(Exception):
    pass


@pytest.fixture
def queued(monkeypatch):
    """The tasks the services queue (name, args, countdown), recorded instead of sent."""
    sent = []
    monkeypatch.setattr(background, "task_queue", lambda name, *args, countdown=None: sent.append((name, args, countdown)))
    return sent


@pytest.mark.django_db
def test_a_batch_decides_each_waiting_application_exactly_as_one_at_a_time(world):
    # given five waiting applications of unrelated merchants, and what deciding each alone gives
    applications = [_submit(business, "6000.00", 12) for business in world[:5]]
    alone = {}
    try:
        with transaction.atomic():
            for application in applications:
                applications_services.application_decide(application_id=application.pk)
                alone[application.pk] = _decided(application)
            raise _Undo
    except _Undo:
        pass
    assert Decision.objects.count() == 0

    # when they are decided in one batch
    decided = batches.applications_decide_batch(batch_size=8)

    # then each decision is the one it got alone (history, features, model, SHAP, rules, money), each
    # application moved as one at a time would, and the chain is whole
    assert decided == 5
    for application in applications:
        application.refresh_from_db()
        assert _decided(application) == alone[application.pk]
        assert application.status in (S.APPROVED, S.COUNTER_OFFERED, S.DECLINED)
        assert [step[:2] for step in _history(application)] == [
            ("", S.SUBMITTED), (S.SUBMITTED, S.DECIDING), (S.DECIDING, application.status)]
        assert WebhookEvent.objects.filter(event_type="application.decided",
                                           payload__data__application__id=str(application.public_id)).count() == 1
    assert sorted(Decision.objects.values_list("sequence", flat=True)) == [1, 2, 3, 4, 5]
    assert {d.timings["batch"] for d in Decision.objects.all()} == {5}


@pytest.mark.django_db
def test_a_related_partys_application_waits_for_the_next_batch_and_sees_the_first_ones_offer(world, owner):
    # given two merchants of one owner, the first approvable, both applying
    first, amount = approvable_in(world)
    second = next(b for b in world if b.pk != first.pk)
    Business.objects.filter(pk__in=[first.pk, second.pk]).update(owner=owner)
    first.refresh_from_db()
    second.refresh_from_db()
    a = _submit(first, amount, 12)
    b = _submit(second, "5000.00", 12)

    # when a batch runs, then only the first is decided: the second waits for that offer to be counted
    assert batches.applications_decide_batch(batch_size=8) == 1
    a.refresh_from_db()
    b.refresh_from_db()
    assert a.status == S.APPROVED and b.status == S.SUBMITTED

    # and the next batch decides the second with the owner's open offer in its exposure
    assert batches.applications_decide_batch(batch_size=8) == 1
    b.refresh_from_db()
    owner_scope = next(p for p in b.decision.context["exposure"]["parties"] if p["scope"] == "owner")
    assert Decimal(owner_scope["open_offers"]) == a.decision.offered_amount


@pytest.mark.django_db
def test_a_failing_batch_stores_nothing_and_gives_each_application_its_own_task(world, queued, monkeypatch):
    # given two waiting applications and an engine that fails
    applications = [_submit(business, "6000.00", 12) for business in world[:2]]

    def broken(**_kwargs):
        raise RuntimeError("engine down")

    monkeypatch.setattr(batches, "decisions_make", broken)

    # when a batch runs, then it fails, nothing is stored, and each application goes to its own task
    with pytest.raises(RuntimeError):
        batches.applications_decide_batch(batch_size=8)
    assert Decision.objects.count() == 0
    assert [Application.objects.get(pk=a.pk).status for a in applications] == [S.SUBMITTED, S.SUBMITTED]
    assert queued == [("loans.applications.tasks.decide_application", (a.pk,), None) for a in applications]


@pytest.mark.django_db
def test_the_worker_decides_everything_waiting_then_stops_and_submissions_ask_for_a_worker_again(
    world, queued, django_capture_on_commit_callbacks,
):
    from loans.applications import draining

    # given three waiting applications
    applications = [_submit(business, "6000.00", 12) for business in world[:3]]

    # when the worker runs, two at a time, then all three are decided and it stops with the flag down
    assert batches.applications_decide_waiting(batch_size=2, linger_seconds=0) == 3
    assert all(Application.objects.get(pk=a.pk).status != S.SUBMITTED for a in applications)
    assert not draining.drainer_nudge()
    # (a full batch asked another worker to share the backlog)
    assert queued == [("loans.applications.tasks.decide_waiting_applications", (), None)]

    # and while a worker is at it, a submission queues nothing; once it stopped, one task
    queued.clear()
    draining.drainer_mark()
    try:
        with django_capture_on_commit_callbacks(execute=True):
            _submit(world[3], "6000.00", 12)
    finally:
        draining.drainer_clear()
    assert queued == []
    with django_capture_on_commit_callbacks(execute=True):
        _submit(world[4], "6000.00", 12)
    assert queued == [("loans.applications.tasks.decide_waiting_applications", (), None)]


@pytest.mark.django_db
def test_a_message_back_from_a_dead_worker_hands_each_waiting_application_its_own_task(world, queued):
    from loans.applications import draining

    # given a worker that died mid-batch (its flag still up) and two applications waiting
    draining.drainer_mark()
    applications = [_submit(business, "6000.00", 12) for business in world[:2]]

    # when the message comes back, then each application gets its own task, and the flag is down
    assert batches.applications_hand_out_waiting() == 2
    assert queued == [("loans.applications.tasks.decide_application", (a.pk,), None) for a in applications]
    assert not draining.drainer_nudge()
    assert Decision.objects.count() == 0
