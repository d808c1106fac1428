"""The pipeline through a real Redis broker and a real Celery worker process."""

import time
from decimal import Decimal
from pathlib import Path

import pytest
from django.db import transaction

from loans.applications import services
from loans.applications.models import Application, ApplicationStatus
from loans.applications.tasks import decide_application
from tests.clock import pinned_dates
from tests.conftest import wait_for
from tests.loans.conftest import approvable_in
from underwriting.decisions.models import Decision
from underwriting.modeling.models import ModelVersion
from underwriting.modeling.registry import clear_active_model_cache

pytestmark = [pytest.mark.services]
S = ApplicationStatus


def _status(application_id):
    return Application.objects.values_list("status", "attempts").get(pk=application_id)


@pinned_dates
def test_a_submitted_application_is_decided_by_the_worker_once(committed_world, celery_worker_process):
    # given a merchant the model approves, and a worker on the Redis broker
    business, amount = approvable_in(committed_world)

    # when the owner submits (the task is queued when the transaction commits)
    with transaction.atomic():
        application = services.application_submit(
            business=business, amount=amount, term_months=12, purpose="inventory", channel="web",
            actor="owner:test@example.com",
        )

    # then the worker decides it
    wait_for(lambda: _status(application.pk)[0] == S.APPROVED, timeout=30)
    application.refresh_from_db()
    assert application.decision.offered_amount == amount

    # and a redelivered message (or a sweeper re-queue) decides nothing twice
    decide_application.delay(application.pk)
    decide_application.delay(application.pk)
    services.applications_requeue_stuck(older_than_seconds=0)
    wait_for(lambda: not _pending_messages(), timeout=10)
    assert Decision.objects.filter(application_ref=application.public_id).count() == 1
    assert application.transitions.count() == 3


def _pending_messages() -> int:
    import redis
    from django.conf import settings

    return redis.Redis.from_url(settings.CELERY_BROKER_URL).llen("celery")


def test_without_an_active_model_the_worker_retries_until_one_is_active(committed_world, celery_worker_process):
    business, amount = approvable_in(committed_world)
    active = ModelVersion.objects.get(is_active=True)
    ModelVersion.objects.update(is_active=False)
    clear_active_model_cache()
    # The worker asks the registry which model is active at most every MODEL_REGISTRY_CHECK_SECONDS
    # (2 s); until then it may still hold the model it had (documented in underwriting.modeling.registry).
    time.sleep(2.5)

    with transaction.atomic():
        application = services.application_submit(
            business=business, amount=amount, term_months=12, purpose="inventory", channel="web",
            actor="owner:test@example.com",
        )

    # the worker tries, fails, and leaves it deciding (never approved by default)
    wait_for(lambda: _status(application.pk) >= (S.DECIDING, 1) and _status(application.pk)[0] == S.DECIDING,
             timeout=30)
    assert not Decision.objects.filter(application_ref=application.public_id).exists()

    # once a model is active, a retry decides it
    ModelVersion.objects.filter(pk=active.pk).update(is_active=True)
    wait_for(lambda: _status(application.pk)[0] == S.APPROVED, timeout=60)
    assert Decision.objects.filter(application_ref=application.public_id).count() == 1
    assert Decimal(application.amount) == amount


def test_a_worker_holding_the_model_stops_deciding_when_its_artifact_is_modified(
        committed_world, celery_worker_process, loans_model_artifact):
    # given a worker that has decided with the active model (so holds it in memory)
    business, amount = approvable_in(committed_world)

    def submit():
        with transaction.atomic():
            return services.application_submit(
                business=business, amount=amount, term_months=12, purpose="inventory", channel="web",
                actor="owner:test@example.com",
            )

    first = submit()
    wait_for(lambda: _status(first.pk)[0] == S.APPROVED, timeout=30)
    services.offer_reject(application=Application.objects.get(pk=first.pk), actor="owner:test@example.com",
                          reason="the test applies again")

    # when the artifact's model file is modified on disk
    _store, path = loans_model_artifact
    model_file = Path(path) / "model.txt"
    original = model_file.read_bytes()
    try:
        model_file.write_bytes(original + b"\n")
        # then the worker refuses to decide with it (at its next registry check, within 2 s)
        time.sleep(2.5)
        second = submit()
        wait_for(lambda: _status(second.pk)[0] == S.DECIDING and _status(second.pk)[1] >= 1, timeout=30)
        second.refresh_from_db()
        assert second.status == S.DECIDING
        assert "does not match its checksum" in second.last_error
        assert not Decision.objects.filter(application_ref=second.public_id).exists()
    finally:
        model_file.write_bytes(original)

    # and once the file is the registered one again, the retry decides
    wait_for(lambda: _status(second.pk)[0] == S.APPROVED, timeout=60)
