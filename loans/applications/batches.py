"""The decision worker's main path: it decides what is waiting, several applications at a time
(docs/adr/0009-decisions-in-batches.md). Anything a batch cannot decide goes to the one-application path
of services.py (`application_decide` and its task), whose guarantees are unchanged."""

from __future__ import annotations

import logging
import time

from django.db import transaction

from config import clock
from loans.applications.draining import FLAG_SECONDS, drainer_clear, drainer_mark, drainer_wait
from loans.applications.exposure import exposure_read, parties_lock
from loans.applications.models import Application
from loans.applications.services import (
    PICK_UP_REASON,
    application_decision_apply,
    application_decision_enqueue,
)
from loans.applications.transitions import Passed, S, application_events_emit
from loans.background import DECIDE_WAITING, task_queue_or_log
from underwriting.decisions.batching import DecisionRequest, decisions_make
from underwriting.policies.services import policy_active

logger = logging.getLogger(__name__)

# Applications decided together: enough to share the history reads and the features' matrix, few enough
# that the first of a batch does not wait long for the last.
DRAIN_BATCH = 8
# How long a worker with nothing to do waits for a submission's nudge before it stops: under a steady
# flow of applications it never stops, and no submission needs a message of its own.
DRAIN_LINGER_SECONDS = 1.0
# Under load (the last batch had more than one), how long the worker lets applications gather after a
# nudge before it claims the next batch.
DRAIN_GATHER_SECONDS = 0.02
# A run hands over to a fresh message after this long, well inside the broker's visibility timeout.
DRAIN_BUDGET_SECONDS = 10.0


def applications_decide_waiting(
    *, batch_size: int = DRAIN_BATCH, budget_seconds: float = DRAIN_BUDGET_SECONDS,
    linger_seconds: float = DRAIN_LINGER_SECONDS, gather_seconds: float = DRAIN_GATHER_SECONDS,
) -> int:
    """The decision worker's main path: decides the applications waiting in `submitted`, several at a
    time (`applications_decide_batch`), until none has come for `linger_seconds` (each new submission
    wakes it meanwhile), then stops by the protocol of loans/applications/draining.py. Returns how many
    it decided.

    Safe to run twice and concurrently: batches are claimed with SKIP LOCKED, and each application is
    decided under its row lock exactly as `application_decide` would. A batch that fails is handed to
    the one-application path (`application_decide`'s task, with its retries and backoff), one message
    per application, so one bad application cannot hold up the others."""
    started = time.monotonic()
    decided = 0
    recruited = False
    while True:
        if time.monotonic() - started > budget_seconds:
            # The flag stays set: the fresh message's run takes over the waiting applications.
            _enqueue_waiting()
            return decided
        drainer_mark()
        try:
            claimed = applications_decide_batch(batch_size=batch_size)
        except Exception:
            # Its applications went to their own tasks. Stop, so submissions ask for a worker again.
            _stop_draining()
            raise
        decided += claimed
        if claimed == batch_size:
            if not recruited:
                # A backlog: ask another worker to share it while it lasts.
                recruited = True
                _enqueue_waiting()
            continue
        # Whatever was submitted while this batch ran has nudged already: the wait returns at once.
        if drainer_wait(linger_seconds):
            if claimed > 1:
                # Applications are arriving faster than one at a time: let a few more arrive, so the next
                # batch shares its fixed cost wider (a few milliseconds of latency for less CPU under load).
                time.sleep(gather_seconds)
            continue
        cleared = drainer_clear()
        try:
            claimed = applications_decide_batch(batch_size=batch_size)  # the last look
        except Exception:
            _stop_draining(cleared=cleared)
            raise
        decided += claimed
        if not claimed:
            _stop_draining(cleared=cleared)
            return decided


def applications_hand_out_waiting() -> int:
    """Gives each application waiting in `submitted` its own task (`application_decide`'s), instead of a
    batch: what the waiting-applications task does when its message comes back from a worker that died
    running it, in case one of the applications is what killed it. Returns how many were handed out."""
    _stop_draining()
    waiting = list(Application.objects.filter(status=S.SUBMITTED, attempts=0)
                   .order_by("updated_at", "pk").values_list("pk", flat=True)[:1000])
    for pk in waiting:
        application_decision_enqueue(pk)
    return len(waiting)


def _stop_draining(*, cleared: bool | None = None) -> None:
    """Clears the flag (unless the caller did: `cleared`). When it cannot be cleared, submissions may
    queue nothing until it expires: a look for waiting applications is queued for after that."""
    if cleared is None:
        cleared = drainer_clear()
    if not cleared:
        _enqueue_waiting(countdown=FLAG_SECONDS + 1)


def _enqueue_waiting(countdown: float | None = None) -> None:
    task_queue_or_log(DECIDE_WAITING, countdown=countdown)


def applications_decide_batch(*, batch_size: int = DRAIN_BATCH) -> int:
    """Decides up to `batch_size` applications waiting in `submitted` (first attempts only: one that
    failed before is retried by its own task) in one transaction: the same decisions `application_decide`
    makes one by one, with the engine's shared work done once (`decisions_make`). An application whose
    related parties overlap an earlier one's in the batch waits for the next batch, so its exposure
    includes that one's offer. Returns how many were decided; on any error, hands each claimed
    application to the one-application path and re-raises."""
    if not Application.objects.filter(status=S.SUBMITTED, attempts=0).exists():
        return 0
    # Read before any lock is taken, as application_decide does.
    policy = policy_active()
    claimed: list[int] = []
    try:
        with transaction.atomic():
            applications = list(
                Application.objects.select_for_update(of=("self",), skip_locked=True)
                .select_related("business__partner")
                .filter(status=S.SUBMITTED, attempts=0)
                .order_by("updated_at", "pk")[:batch_size]
            )
            claimed = [a.pk for a in applications]
            now = clock.now()
            taken, requests, seen = [], [], set()
            for application in applications:
                parties = parties_lock(business=application.business)
                ids = set(parties.all_ids())
                if ids & seen:
                    continue  # decided in a later batch, after this one's offers are visible
                seen |= ids
                taken.append(application)
                requests.append(DecisionRequest(
                    business=application.business, amount=application.amount,
                    term_months=application.term_months, as_of=application.as_of,
                    application_ref=application.public_id,
                    exposure=exposure_read(parties=parties, now=now, exclude_application_id=application.pk),
                ))
            # Claimed in `submitted` under their row locks: none has a decision (it commits with the move).
            decisions = decisions_make(requests=requests, policy=policy, undecided=True)
            moved = [
                application_decision_apply(application, decision, emit=False,
                                           picked_up=Passed(status=S.DECIDING, at=now, reason=PICK_UP_REASON))
                for application, decision in zip(taken, decisions, strict=True)
            ]
            # Decided this instant, so no loans yet.
            application_events_emit(event_type="application.decided", applications=moved, loan=None)
    except Exception:
        logger.warning("a batch of %s applications failed; each goes to its own task", len(claimed), exc_info=True)
        for pk in claimed:
            application_decision_enqueue(pk)
        raise
    return len(taken)
