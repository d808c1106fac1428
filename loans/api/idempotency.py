"""`Idempotency-Key` on every POST, with Stripe's semantics, enforced by a database unique constraint.

The first request with a key inserts an in-flight record (committed at once, outside any request
transaction); a concurrent duplicate's insert then fails on the (partner, key) constraint and it gets
409. When the operation finishes its response is stored; a retry with the same key and body replays it
(with `Idempotent-Replayed: true`), a retry with a different body or path gets 422. A request that
failed before changing anything (validation, a refused transition, a server error) leaves no record,
so the same key can be retried. Records are kept API_IDEMPOTENCY_TTL_HOURS (24) and then purged.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import re
from functools import wraps

from django.conf import settings
from django.db import IntegrityError, transaction
from rest_framework.response import Response
from rest_framework.utils.encoders import JSONEncoder

from config import clock
from loans.api.errors import ApiProblem
from loans.idempotency.models import IdempotencyRecord, IdempotencyStatus

HEADER = "Idempotency-Key"
KEY_RE = re.compile(r"[!-~]{1,255}")
MAX_KEY_LENGTH = 255
STALE_IN_FLIGHT = dt.timedelta(minutes=10)  # a process that died mid-request leaves this behind
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


def _replay(record: IdempotencyRecord) -> Response:
    headers = {**record.response_headers, "Idempotent-Replayed": "true"}
    return Response(record.response_body, status=record.response_status, headers=headers)


def _claim(*, partner, key: str, request, fingerprint: str) -> IdempotencyRecord | Response:
    for _ in range(2):
        try:
            with transaction.atomic():
                return IdempotencyRecord.objects.create(
                    partner=partner, key=key, method=request.method, path=request.path[:512],
                    fingerprint=fingerprint,
                )
        except IntegrityError:
            existing = IdempotencyRecord.objects.filter(partner=partner, key=key).first()
            if existing is None:
                continue  # purged or released between our insert and this read: try again
            if existing.fingerprint != fingerprint:
                raise ApiProblem(
                    f"This {HEADER} was used with a different request (method, path or body). Use a new key"
                    " for a new request.",
                    status_code=422, slug="idempotency-key-reused", title="Idempotency-Key reused",
                ) from None
            if existing.status == IdempotencyStatus.IN_FLIGHT:
                raise ApiProblem(
                    f"A request with this {HEADER} is still being processed; retry after it finishes.",
                    status_code=409, slug="idempotency-request-in-flight", title="Request in flight",
                ) from None
            return _replay(existing)
    raise ApiProblem(
        f"A request with this {HEADER} is still being processed; retry after it finishes.",
        status_code=409, slug="idempotency-request-in-flight", title="Request in flight",
    )


def idempotent(handler):
    """Wraps a view's `post`. Runs after authentication, scope checks and throttling (DRF's initial())."""

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
        claimed = _claim(partner=request.auth.partner, key=key, request=request, fingerprint=fingerprint)
        if isinstance(claimed, Response):
            return claimed
        record = claimed
        try:
            response = handler(self, request, *args, **kwargs)
        except BaseException:
            IdempotencyRecord.objects.filter(pk=record.pk).delete()
            raise
        if response.status_code >= 500 or response.status_code in (409, 429):
            IdempotencyRecord.objects.filter(pk=record.pk).delete()
            return response
        body = json.loads(json.dumps(response.data, cls=JSONEncoder)) if response.data is not None else None
        IdempotencyRecord.objects.filter(pk=record.pk).update(
            status=IdempotencyStatus.COMPLETED, response_status=response.status_code, response_body=body,
            response_headers={h: response[h] for h in KEPT_HEADERS if response.has_header(h)},
            completed_at=clock.now(),
        )
        return response

    return wrapper


def idempotency_records_purge(*, now: dt.datetime | None = None) -> int:
    """Deletes records past their retention, and in-flight ones whose process evidently died."""
    now = now or clock.now()
    kept = dt.timedelta(hours=settings.API_IDEMPOTENCY_TTL_HOURS)
    done, _ = IdempotencyRecord.objects.filter(created_at__lt=now - kept).delete()
    stale, _ = IdempotencyRecord.objects.filter(
        status=IdempotencyStatus.IN_FLIGHT, created_at__lt=now - STALE_IN_FLIGHT
    ).delete()
    return done + stale
