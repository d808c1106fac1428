"""`Idempotency-Key` on every POST, with Stripe's promise: a retry after any failure never makes a
second object.

The key's record and everything the operation writes commit in one transaction: the wrapper inserts
the record, runs the operation and stores its answer before the commit. So a request that dies at any
point (an exception, a 500, its process killed) has either committed the object *and* its key, and a
retry replays the stored answer (`Idempotent-Replayed: true`), or committed nothing, and a retry runs
the operation as if for the first time, at once (no "in flight" record survives a dead process: the
database drops the dead transaction and its locks when the connection goes). A concurrent duplicate
waits on the key's unique index for the first to finish (at most API_IDEMPOTENCY_WAIT_SECONDS, then 409),
then replays its answer. A retry with a different body or path gets 422. Work that must see the commit
(waiting for the decision) runs after it, outside the key's transaction (`after_commit`).
Records are kept API_IDEMPOTENCY_TTL_HOURS (24) and then purged.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import logging
import re
from functools import wraps

from django.conf import settings
from django.db import IntegrityError, OperationalError, connection, transaction
from rest_framework.response import Response
from rest_framework.utils.encoders import JSONEncoder

from config import clock
from loans.api.errors import ApiProblem
from loans.idempotency.models import IdempotencyRecord, IdempotencyStatus

logger = logging.getLogger(__name__)

HEADER = "Idempotency-Key"
KEY_RE = re.compile(r"[!-~]{1,255}")
MAX_KEY_LENGTH = 255
STALE_IN_FLIGHT = dt.timedelta(minutes=10)  # unanswered records of an earlier version (see _answer_of)

KEPT_HEADERS = ("Location",)


def _missing() -> ApiProblem:
    return ApiProblem(
        f"Every POST needs an {HEADER} header (any unique string up to {MAX_KEY_LENGTH} characters, e.g. a UUID).",
        status_code=400, slug="idempotency-key-missing", title="Idempotency-Key required",
    )


def _fingerprint(request) -> str:
    canonical = json.dumps(
        {"method": request.method, "path": request.path, "body": request.data},
        sort_keys=True, separators=(",", ":"), cls=JSONEncoder,
    )
    return hashlib.sha256(canonical.encode()).hexdigest()


def _replay(record: IdempotencyRecord, view=None, request=None) -> Response:
    headers = {**record.response_headers, "Idempotent-Replayed": "true"}
    response = Response(record.response_body, status=record.response_status, headers=headers)
    fill = getattr(view, "replay_unstored", None)
    if fill is not None and record.response_status < 300:
        response = fill(request, response)
        response["Idempotent-Replayed"] = "true"
    return response


def _stored_body(view, response) -> dict | list | None:
    """The answer as kept: JSON, without the fields the view never stores (a signing secret: the record
    would be a second copy of it; `replay_unstored` reads it afresh for a replay)."""
    if response.data is None:
        return None
    body = json.loads(json.dumps(response.data, cls=JSONEncoder))
    for field in getattr(view, "idempotency_unstored", ()):
        if isinstance(body, dict):
            body.pop(field, None)
    return body


class _Discard(Exception):
    """The operation's answer is not to be kept (a 5xx, 409 or 429): roll its writes back with it."""

    def __init__(self, response):
        self.response = response


def _in_flight() -> ApiProblem:
    return ApiProblem(
        f"A request with this {HEADER} is still being processed; retry after it finishes.",
        status_code=409, slug="idempotency-request-in-flight", title="Request in flight",
        retry_after=1,
    )


def _answer_of(*, partner, key: str, fingerprint: str, view=None, request=None) -> Response | None:
    """The stored answer to this key (a replay), None if the key is unused; 422 if it was used for
    another request."""
    existing = IdempotencyRecord.objects.filter(partner=partner, key=key).first()
    if existing is None:
        return None
    if existing.fingerprint != fingerprint:
        raise ApiProblem(
            f"This {HEADER} was used with a different request (method, path or body). Use a new key"
            " for a new request.",
            status_code=422, slug="idempotency-key-reused", title="Idempotency-Key reused",
        )
    if existing.status != IdempotencyStatus.COMPLETED:
        # Written only by an earlier version, which committed the key before the operation; its process
        # died. Nothing of this version's commits an unanswered key, so it is safe to forget.
        IdempotencyRecord.objects.filter(pk=existing.pk, status=existing.status).delete()
        return None
    return _replay(existing, view, request)


def _wait_limit(*, reset: bool = False) -> None:
    """A duplicate blocks on the key's uncommitted row; bound how long (PostgreSQL; SQLite has one writer)."""
    if connection.vendor != "postgresql":
        return
    with connection.cursor() as cursor:
        if reset:
            cursor.execute("SET LOCAL lock_timeout TO DEFAULT")
        else:
            cursor.execute("SELECT set_config('lock_timeout', %s, true)",
                           [f"{int(settings.API_IDEMPOTENCY_WAIT_SECONDS * 1000)}ms"])


# Deadlock and serialization failures: the database rolled the whole transaction back, so running it
# again is safe (and is what PostgreSQL's documentation asks of the client).
RETRIED_SQLSTATES = {"40P01", "40001"}
ATTEMPTS = 3


def _run_once(handler, view, request, args, kwargs, *, partner, key: str, fingerprint: str) -> Response:
    """Inserts the key, runs the operation and stores its answer, all in one transaction; runs it again
    if the database gave up on it (a deadlock with a concurrent request)."""
    for attempt in range(1, ATTEMPTS + 1):
        try:
            return _attempt(handler, view, request, args, kwargs, partner=partner, key=key, fingerprint=fingerprint)
        except OperationalError as exc:
            if getattr(exc.__cause__, "sqlstate", None) not in RETRIED_SQLSTATES or attempt == ATTEMPTS:
                raise
            logger.warning("idempotent request rolled back by the database (%s); running it again", exc)
    raise AssertionError("unreachable")


def _attempt(handler, view, request, args, kwargs, *, partner, key: str, fingerprint: str) -> Response:
    try:
        with transaction.atomic():
            _wait_limit()
            try:
                with transaction.atomic():
                    record = IdempotencyRecord.objects.create(
                        partner=partner, key=key, method=request.method, path=request.path[:512],
                        fingerprint=fingerprint,
                    )
            except OperationalError:
                raise _in_flight() from None  # the first request is still running
            _wait_limit(reset=True)  # the bound is for the key alone; the operation's own locks wait as usual
            response = handler(view, request, *args, **kwargs)
            if response.status_code >= 500 or response.status_code in (409, 429):
                raise _Discard(response)
            body = _stored_body(view, response)
            IdempotencyRecord.objects.filter(pk=record.pk).update(
                status=IdempotencyStatus.COMPLETED, response_status=response.status_code, response_body=body,
                response_headers={h: response[h] for h in KEPT_HEADERS if response.has_header(h)},
                completed_at=clock.now(),
            )
    except _Discard as discarded:
        return discarded.response
    except IntegrityError:
        # Another request with this key committed while this one waited on it: answer as it did.
        replay = _answer_of(partner=partner, key=key, fingerprint=fingerprint, view=view, request=request)
        if replay is None:
            raise _in_flight() from None
        return replay
    return response


def idempotent(handler):
    """Wraps a view's `post`. Runs after authentication, scope checks and throttling (DRF's initial()).
    If the view has `after_commit(request, response)`, it runs once the key's transaction committed and
    may answer instead (a replay is the stored answer, as it was)."""

    @wraps(handler)
    def wrapper(self, request, *args, **kwargs):
        key = request.headers.get(HEADER, "")
        if not key.strip():
            raise _missing()
        if not KEY_RE.fullmatch(key):
            raise ApiProblem(
                f"{HEADER} must be 1 to {MAX_KEY_LENGTH} visible ASCII characters (no spaces), e.g. a UUID.",
                status_code=400, slug="idempotency-key-invalid", title="Idempotency-Key invalid",
            )
        fingerprint = _fingerprint(request)  # parses the body: a malformed one is a 400 with no record
        partner = request.auth.partner
        replay = _answer_of(partner=partner, key=key, fingerprint=fingerprint, view=self, request=request)
        if replay is not None:
            return replay
        response = _run_once(handler, self, request, args, kwargs, partner=partner, key=key, fingerprint=fingerprint)
        after = getattr(self, "after_commit", None)
        if after is not None and response.status_code < 300 and not response.has_header("Idempotent-Replayed"):
            response = after(request, response)
        return response

    return wrapper


def idempotency_records_purge(*, now: dt.datetime | None = None) -> int:
    """Deletes records past their retention, and unanswered ones an earlier version left behind."""
    now = now or clock.now()
    kept = dt.timedelta(hours=settings.API_IDEMPOTENCY_TTL_HOURS)
    done, _ = IdempotencyRecord.objects.filter(created_at__lt=now - kept).delete()
    stale, _ = IdempotencyRecord.objects.filter(
        status=IdempotencyStatus.IN_FLIGHT, created_at__lt=now - STALE_IN_FLIGHT
    ).delete()
    return done + stale
