"""`?wait=N` on an application: hold the answer until the decision exists or N seconds pass.

Polls the committed row's status; runs outside any transaction (after the submission's commit, which
queues the decision), and at most API_MAX_WAITING_REQUESTS requests of a process wait at once, since each
holds a web thread for up to MAX_WAIT_SECONDS."""

import threading
import time

from django.conf import settings
from drf_spectacular.utils import OpenApiParameter
from rest_framework import serializers

from loans.api import selectors
from loans.applications.models import ApplicationStatus

MAX_WAIT_SECONDS = 10
WAIT_POLL_SECONDS = 0.02
WAIT_POLL_MAX_SECONDS = 0.1
PENDING = (ApplicationStatus.SUBMITTED, ApplicationStatus.DECIDING)

WAIT_PARAMETER = OpenApiParameter(
    "wait", {"type": "integer", "minimum": 0, "maximum": MAX_WAIT_SECONDS}, OpenApiParameter.QUERY, required=False,
    description=f"Seconds (0 to {MAX_WAIT_SECONDS}) to wait for the decision before answering.",
)


# A waiting request holds a web thread: at most this many per process wait at once (API_MAX_WAITING_REQUESTS).
_WAITING = threading.BoundedSemaphore(settings.API_MAX_WAITING_REQUESTS)


class WaitIn(serializers.Serializer):
    wait = serializers.IntegerField(min_value=0, max_value=MAX_WAIT_SECONDS, required=False, default=0)


def wait_for_decision(*, partner, public_id, seconds: int):
    """Polls the committed row's status (one indexed column, backing off from 20 to 100 ms) until it
    leaves submitted/deciding or `seconds` pass, then reads the application once. The request holds no
    transaction while it waits, so the worker's commit is visible."""
    application = selectors.application_get_for_partner(partner=partner, public_id=public_id)
    if application.status not in PENDING or seconds <= 0:
        return application
    if not _WAITING.acquire(blocking=False):
        return application  # every waiting slot of this process is taken: answer now, the client polls
    try:
        return _poll(partner=partner, application=application, public_id=public_id, seconds=seconds)
    finally:
        _WAITING.release()


def _poll(*, partner, application, public_id, seconds: int):
    deadline = time.monotonic() + seconds
    pause = WAIT_POLL_SECONDS
    status = selectors.application_list_for_partner(partner=partner).filter(pk=application.pk)
    while time.monotonic() < deadline:
        time.sleep(min(pause, max(0.0, deadline - time.monotonic())))
        pause = min(pause * 1.5, WAIT_POLL_MAX_SECONDS)
        if status.values_list("status", flat=True).first() not in PENDING:
            break
    return selectors.application_get_for_partner(partner=partner, public_id=public_id)
