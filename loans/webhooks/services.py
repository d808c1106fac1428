"""Webhooks: events written in the caller's transaction (outbox), deliveries sent by a beat-run task.

Signing follows Standard Webhooks (https://www.standardwebhooks.com): the signed content is
`{webhook-id}.{webhook-timestamp}.{body}`, HMAC-SHA256 with the base64-decoded part of a `whsec_` secret,
sent as `webhook-signature: v1,<base64>`. A delivery is retried with exponential backoff and jitter for
up to 3 days after the event; a 410 Gone, or 3 days of nothing but failures, disables the endpoint.
Every function that reads the time takes `now`, so tests walk the whole schedule in seconds.
"""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import hmac
import json
import logging
import random
import time
from collections import Counter
from collections.abc import Callable, Mapping
from concurrent import futures
from dataclasses import dataclass

from django.conf import settings
from django.db import transaction
from django.db.models import F, Window
from django.db.models.functions import RowNumber

from accounts.models import PartnerBank
from config import clock
from loans.background import SEND_WEBHOOK_DELIVERIES, task_queue_or_log
from loans.webhooks.models import (
    DeliveryStatus,
    WebhookAttempt,
    WebhookDelivery,
    WebhookEndpoint,
    WebhookEvent,
    WebhookEventType,
    new_webhook_secret,
)
from loans.webhooks.transport import (
    HostUnresolvable,
    HttpResult,
    WebhookUrlRefused,
    addresses_check,
    post,
    target_parse,
)

logger = logging.getLogger(__name__)

RETRY_WINDOW = dt.timedelta(days=3)
BACKOFF_BASE_SECONDS = 5.0
BACKOFF_FACTOR = 3.0
BACKOFF_CAP_SECONDS = 6 * 3600.0
JITTER = 0.2  # each delay is scaled by a random factor in [1 - JITTER, 1 + JITTER]
# A claimed delivery is invisible to other senders for this long: a sender that dies mid-request leaves
# it to be sent again after the lease (at least once, never lost).
CLAIM_LEASE = dt.timedelta(minutes=2)
REQUEST_TIMEOUT_SECONDS = 10.0
# A sender claims more while its requests are in flight at least this often, and stops claiming after
# SENDER_RUN_SECONDS (the next beat tick or kick carries on once its last requests are answered, at most
# a request timeout later), so a run normally ends inside the broker's visibility timeout (30 s). One
# that does not (an endpoint trickling its answer) is delivered again and runs beside it: two senders
# at once are safe (SKIP LOCKED claims and the lease; loans/webhooks/tasks.py).
POLL_SECONDS = 0.2
SENDER_RUN_SECONDS = 10.0
RESPONSE_BODY_KEPT = 2048
TIMESTAMP_TOLERANCE_SECONDS = 5 * 60
# After a rotation the replaced secret still signs every delivery (beside the new one) this long, so a
# partner can deploy the new secret without rejecting a message in between (docs/api.md).
SECRET_ROTATION_OVERLAP = dt.timedelta(hours=24)
URL_NOT_PUBLIC = "the host must resolve to public internet addresses only"


class WebhookVerificationError(Exception):
    pass


# --- signing -----------------------------------------------------------------------------------
def _secret_bytes(secret: str) -> bytes:
    return base64.b64decode(secret.removeprefix("whsec_"))


def webhook_sign(*, secret: str, msg_id: str, timestamp: int, body: str) -> str:
    """The `webhook-signature` header value for one message: `v1,<base64 HMAC-SHA256>`."""
    content = f"{msg_id}.{timestamp}.{body}".encode()
    digest = hmac.new(_secret_bytes(secret), content, hashlib.sha256).digest()
    return "v1," + base64.b64encode(digest).decode()


def webhook_verify(*, secret: str, headers: dict[str, str], body: str, now: dt.datetime | None = None) -> None:
    """What a receiver does (docs/api.md): raises WebhookVerificationError unless one of the header's
    space-separated signatures matches and the timestamp is within five minutes."""
    lowered = {k.lower(): v for k, v in headers.items()}
    try:
        msg_id, ts, sigs = lowered["webhook-id"], int(lowered["webhook-timestamp"]), lowered["webhook-signature"]
    except (KeyError, ValueError) as exc:
        raise WebhookVerificationError("missing or malformed webhook headers") from exc
    now_ts = (now or clock.now()).timestamp()
    if abs(now_ts - ts) > TIMESTAMP_TOLERANCE_SECONDS:
        raise WebhookVerificationError("timestamp outside the tolerance")
    expected = webhook_sign(secret=secret, msg_id=msg_id, timestamp=ts, body=body).split(",", 1)[1]
    for sig in sigs.split(" "):
        version, _, value = sig.partition(",")
        if version == "v1" and hmac.compare_digest(value, expected):
            return
    raise WebhookVerificationError("no matching signature")


# --- events (outbox) ---------------------------------------------------------------------------
def _event_payload(*, event_type: str, data: dict, created_at: dt.datetime) -> dict:
    return {"type": event_type, "timestamp": created_at.isoformat().replace("+00:00", "Z"), "data": data}


def webhook_event_emit(*, event_type: str, partner_id: int, data: dict, now: dt.datetime | None = None) -> WebhookEvent:
    """Writes the event and one pending delivery per enabled endpoint of the partner that wants this type,
    in the caller's transaction: the event exists exactly when the change committed. `data` is what the
    event announces, built by its domain (loans.applications.representations.application_event_data): the outbox
    knows nothing of applications."""
    return webhook_events_emit(event_type=event_type, items=[(partner_id, data)], now=now)[0]


def webhook_events_emit(
    *, event_type: str, items: list[tuple[int, dict]], now: dt.datetime | None = None
) -> list[WebhookEvent]:
    """`webhook_event_emit` for several events of one type at once, `items` being (partner id, data):
    the events in one statement, the partners' endpoints read once, the deliveries in one statement."""
    if event_type not in WebhookEventType.values:
        raise ValueError(f"unknown webhook event type {event_type!r}")
    now = now or clock.now()
    # No savepoint inside the caller's transaction (every state change emits): a failure here fails the
    # caller's change with it, which is what "the event exists exactly when the change committed" needs.
    with transaction.atomic(savepoint=False):
        events = WebhookEvent.objects.bulk_create([
            WebhookEvent(
                partner_id=partner_id, event_type=event_type, created_at=now,
                payload=json.loads(json.dumps(_event_payload(event_type=event_type, data=data, created_at=now),
                                              default=_json_default)),
            )
            for partner_id, data in items
        ])
        endpoints: dict[int, list[WebhookEndpoint]] = {}
        for endpoint in WebhookEndpoint.objects.filter(partner_id__in={e.partner_id for e in events}, is_enabled=True):
            endpoints.setdefault(endpoint.partner_id, []).append(endpoint)
        deliveries = WebhookDelivery.objects.bulk_create(
            [
                WebhookDelivery(event=event, endpoint=ep, created_at=now, next_attempt_at=now)
                for event in events
                for ep in endpoints.get(event.partner_id, [])
                if ep.wants(event_type)
            ]
        )
    if deliveries:
        # Deliver soon rather than at the next beat tick; the beat task still covers a lost message.
        transaction.on_commit(_kick_sender)
    return events


def _kick_sender() -> None:
    # The broker being down must not fail the request; beat sends the delivery anyway.
    task_queue_or_log(SEND_WEBHOOK_DELIVERIES)


def _json_default(value):
    from decimal import Decimal
    from uuid import UUID

    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, UUID):
        return str(value)
    if isinstance(value, (dt.datetime, dt.date)):
        return value.isoformat().replace("+00:00", "Z")
    raise TypeError(f"not JSON serialisable: {type(value).__name__}")


# --- endpoints -----------------------------------------------------------------------------------
def webhook_url_check(url: str) -> None:
    """At registration: refuses a URL that is not one unambiguous http(s) URL (always), and, with
    settings.WEBHOOK_ALLOW_PRIVATE_URLS off (production), one whose host does not resolve or resolves to
    any non-public address. Each attempt checks again, on the addresses it connects to
    (loans/webhooks/transport.py). An unresolvable name and a private one get the same answer: the
    platform's resolver must not tell a partner which internal names exist."""
    target = target_parse(url)
    if settings.WEBHOOK_ALLOW_PRIVATE_URLS:
        return
    try:
        addresses_check(target, allow_private=False)
    except (HostUnresolvable, WebhookUrlRefused):
        raise WebhookUrlRefused(URL_NOT_PUBLIC) from None


@transaction.atomic
def webhook_endpoint_create(
    *, partner: PartnerBank, url: str, description: str = "", event_types: list[str] | None = None
) -> WebhookEndpoint:
    unknown = sorted(set(event_types or []) - set(WebhookEventType.values))
    if unknown:
        raise ValueError(f"unknown event types: {', '.join(unknown)}")
    webhook_url_check(url)
    return WebhookEndpoint.objects.create(
        partner=partner, url=url, description=description, event_types=sorted(set(event_types or []))
    )


@transaction.atomic
def webhook_endpoint_delete(*, endpoint: WebhookEndpoint) -> None:
    """Removes the endpoint with its deliveries; events stay (other endpoints may still receive them)."""
    endpoint.delete()


@transaction.atomic
def webhook_endpoint_rotate_secret(*, endpoint: WebhookEndpoint, now: dt.datetime | None = None) -> WebhookEndpoint:
    """A new secret, effective for the next attempt (pending deliveries are signed when sent). The
    replaced one signs too until `previous_secret_expires_at` (SECRET_ROTATION_OVERLAP); a second
    rotation inside the window ends the first secret's overlap at once: only the secret just replaced
    stays valid beside the new one."""
    now = now or clock.now()
    endpoint = WebhookEndpoint.objects.select_for_update().get(pk=endpoint.pk)
    endpoint.previous_secret = endpoint.secret
    endpoint.previous_secret_expires_at = now + SECRET_ROTATION_OVERLAP
    endpoint.secret = new_webhook_secret()
    endpoint.save(update_fields=["secret", "previous_secret", "previous_secret_expires_at", "updated_at"])
    return endpoint


# --- delivery ---------------------------------------------------------------------------------------
def backoff_delay(attempt: int, rng: random.Random | None = None) -> dt.timedelta:
    """Delay before retry number `attempt` (1 = after the first failure): 5 s x 3^(n-1), capped at 6 h,
    times a random factor in [0.8, 1.2] so endpoints recovering together are not hit in lockstep."""
    rng = rng or random
    base = min(BACKOFF_BASE_SECONDS * BACKOFF_FACTOR ** (attempt - 1), BACKOFF_CAP_SECONDS)
    return dt.timedelta(seconds=base * rng.uniform(1 - JITTER, 1 + JITTER))


Sender = Callable[[str, bytes, dict[str, str]], HttpResult]


def http_post(url: str, body: bytes, headers: dict[str, str]) -> HttpResult:
    """The default sender: one POST, its URL and every resolved address checked at send time and the
    connection made to a checked address (loans/webhooks/transport.py)."""
    return post(url, body, headers, allow_private=settings.WEBHOOK_ALLOW_PRIVATE_URLS,
                timeout=REQUEST_TIMEOUT_SECONDS, body_limit=RESPONSE_BODY_KEPT)


@dataclass(frozen=True)
class Claim:
    delivery_id: int
    endpoint_id: int


def _claim_due(
    *, now: dt.datetime, limit: int, per_endpoint: int | None = None, busy: Mapping[int, int] | None = None
) -> list[Claim]:
    """Leases up to `limit` due deliveries, oldest first, and returns them. With `per_endpoint`, an
    endpoint gets no more than that many counting `busy` (what the caller already has in flight there),
    and only its oldest ones are candidates, so that a backlog at one never hides another's due deliveries.
    SKIP LOCKED: concurrent senders take different rows; the lease then keeps a claimed row from every
    sender until its attempt is recorded (or the lease runs out: its sender died)."""
    busy = busy or {}
    due = WebhookDelivery.objects.filter(status=DeliveryStatus.PENDING, next_attempt_at__lte=now)
    oldest_first = ("next_attempt_at", "id")
    with transaction.atomic():
        if per_endpoint is None:
            rows = list(due.select_for_update(skip_locked=True).order_by(*oldest_first)
                        .values_list("id", "endpoint_id")[:limit])
        else:
            # One query: each endpoint's oldest `per_endpoint` due rows (a window rank), oldest first;
            # then the caps counting what is in flight, and the rows locked (a window cannot be FOR UPDATE).
            full = [endpoint_id for endpoint_id, n in busy.items() if n >= per_endpoint]
            capped = per_endpoint * sum(1 for n in busy.values() if n > 0)  # rows the caps may skip
            ranked = (due.exclude(endpoint_id__in=full)
                      .annotate(rank=Window(RowNumber(), partition_by=[F("endpoint_id")],
                                            order_by=[F("next_attempt_at").asc(), F("id").asc()]))
                      .filter(rank__lte=per_endpoint).order_by(*oldest_first)
                      .values_list("id", "endpoint_id")[:limit + capped])
            taken: Counter[int] = Counter()
            chosen = []
            for delivery_id, endpoint_id in ranked:
                if taken[endpoint_id] + busy.get(endpoint_id, 0) < per_endpoint:
                    taken[endpoint_id] += 1
                    chosen.append(delivery_id)
                    if len(chosen) >= limit:
                        break
            rows = list(due.filter(id__in=chosen).select_for_update(skip_locked=True).order_by(*oldest_first)
                        .values_list("id", "endpoint_id"))
        WebhookDelivery.objects.filter(id__in=[row[0] for row in rows]).update(next_attempt_at=now + CLAIM_LEASE)
    return [Claim(*row) for row in rows]


def webhook_deliveries_send(
    *, now: dt.datetime | None = None, limit: int = 100, sender: Sender | None = None,
    rng: random.Random | None = None,
) -> int:
    """Sends due deliveries (one attempt each) and schedules the next; returns the attempts made.

    The requests run on up to WEBHOOK_SENDER_THREADS threads, at most WEBHOOK_ENDPOINT_CONCURRENCY at a
    time to any one endpoint, so a slow or failing endpoint holds back only its own deliveries. Claims
    and answers are written on this thread (short transactions on its one connection). While requests
    are in flight it claims again as each one ends, or every POLL_SECONDS, so a delivery falling due
    meanwhile (a new event for a fast endpoint) goes out at once rather than after the slowest request.
    Each claim takes at most `limit` deliveries; it stops claiming after SENDER_RUN_SECONDS, or when a
    claim finds nothing and nothing is in flight, and returns once every request it made is recorded.
    Without `now`, each claim and attempt reads the clock."""
    sender = sender or http_post
    per_endpoint, threads = settings.WEBHOOK_ENDPOINT_CONCURRENCY, settings.WEBHOOK_SENDER_THREADS
    claiming_until = time.monotonic() + SENDER_RUN_SECONDS
    in_flight: dict[futures.Future, _Attempt] = {}
    busy: Counter[int] = Counter()
    made = 0
    with futures.ThreadPoolExecutor(max_workers=threads, thread_name_prefix="webhook-sender") as pool:
        while True:
            room = min(limit, threads - len(in_flight))
            if room > 0 and time.monotonic() < claiming_until:
                for claim in _claim_due(now=now or clock.now(), limit=room, per_endpoint=per_endpoint, busy=busy):
                    attempt = _attempt_start(delivery_id=claim.delivery_id, now=now or clock.now())
                    if attempt is None:  # settled meanwhile, or closed without a request
                        made += 1
                        continue
                    in_flight[pool.submit(_attempt_send, attempt, sender)] = attempt
                    busy[claim.endpoint_id] += 1
            if not in_flight:
                return made
            done, _ = futures.wait(in_flight, timeout=POLL_SECONDS, return_when=futures.FIRST_COMPLETED)
            for future in done:
                attempt = in_flight.pop(future)
                busy[attempt.endpoint_id] -= 1
                _attempt_record(attempt, *future.result(), rng=rng)
                made += 1


def webhook_delivery_attempt(
    *, delivery_id: int, now: dt.datetime, sender: Sender, rng: random.Random | None = None
) -> WebhookDelivery:
    """One attempt of one delivery, on this thread."""
    attempt = _attempt_start(delivery_id=delivery_id, now=now)
    if attempt is None:
        return WebhookDelivery.objects.get(pk=delivery_id)
    return _attempt_record(attempt, *_attempt_send(attempt, sender), rng=rng)


@dataclass(frozen=True)
class _Attempt:
    delivery_id: int
    endpoint_id: int
    event: WebhookEvent
    url: str
    body: bytes
    headers: dict[str, str]
    now: dt.datetime


def _attempt_start(*, delivery_id: int, now: dt.datetime) -> _Attempt | None:
    """The signed request of a pending delivery; None (and nothing to send) if it is settled, or if its
    endpoint is disabled, which fails it."""
    delivery = WebhookDelivery.objects.select_related("event", "endpoint").get(pk=delivery_id)
    endpoint, event = delivery.endpoint, delivery.event
    if delivery.status != DeliveryStatus.PENDING:
        return None
    if not endpoint.is_enabled:
        WebhookDelivery.objects.filter(pk=delivery.pk).update(
            status=DeliveryStatus.FAILED, completed_at=now, next_attempt_at=None
        )
        return None
    body, headers = _signed_request(event=event, endpoint=endpoint, now=now)
    return _Attempt(delivery.pk, endpoint.pk, event, endpoint.url, body.encode(), headers, now)


def _attempt_send(attempt: _Attempt, sender: Sender) -> tuple[HttpResult, int]:
    """The request (on a sender thread when sent concurrently) and its duration in ms. A sender that
    raises counts as a failed attempt: one bad delivery must not stop the others' answers being recorded."""
    started = time.monotonic()
    try:
        result = sender(attempt.url, attempt.body, attempt.headers)
    except Exception as exc:
        logger.exception("webhook sender failed on delivery %s", attempt.delivery_id)
        result = HttpResult(None, error=f"{type(exc).__name__}: {exc}"[:500])
    return result, int((time.monotonic() - started) * 1000)


def _attempt_record(
    attempt: _Attempt, result: HttpResult, duration_ms: int, *, rng: random.Random | None
) -> WebhookDelivery | None:
    """Records the answer under row locks, outside which the (slow) request ran. None if the endpoint
    was deleted meanwhile (its deliveries with it)."""
    now, event = attempt.now, attempt.event
    with transaction.atomic():
        delivery = WebhookDelivery.objects.select_for_update().filter(pk=attempt.delivery_id).first()
        endpoint = WebhookEndpoint.objects.select_for_update().filter(pk=attempt.endpoint_id).first()
        if delivery is None or endpoint is None:
            return None
        WebhookAttempt.objects.create(
            delivery=delivery, attempted_at=now, status_code=result.status_code,
            response_body=result.body[:RESPONSE_BODY_KEPT], error=result.error[:500], duration_ms=duration_ms,
        )
        delivery.attempt_count += 1
        delivery.last_attempt_at = now
        delivery.last_status_code = result.status_code
        if result.status_code is not None and 200 <= result.status_code < 300:
            _record_success(delivery, endpoint, now=now)
        else:
            _record_failure(delivery, endpoint, event, status_code=result.status_code, now=now, rng=rng)
        delivery.save()
    return delivery


def _signed_request(*, event: WebhookEvent, endpoint: WebhookEndpoint, now: dt.datetime) -> tuple[str, dict]:
    body = json.dumps(event.payload, separators=(",", ":"), ensure_ascii=False)
    timestamp = int(now.timestamp())
    headers = {
        "content-type": "application/json",
        "user-agent": "lending310-webhooks/1",
        "webhook-id": event.event_id,
        "webhook-timestamp": str(timestamp),
        "webhook-signature": " ".join(
            webhook_sign(secret=secret, msg_id=event.event_id, timestamp=timestamp, body=body)
            for secret in _signing_secrets(endpoint, now=now)
        ),
    }
    return body, headers


def _signing_secrets(endpoint: WebhookEndpoint, *, now: dt.datetime) -> list[str]:
    """The current secret, then the replaced one while its overlap lasts (Standard Webhooks receivers
    accept any one of several space-separated signatures)."""
    expires = endpoint.previous_secret_expires_at
    if endpoint.previous_secret and expires is not None and now < expires:
        return [endpoint.secret, endpoint.previous_secret]
    return [endpoint.secret]


def _record_success(delivery: WebhookDelivery, endpoint: WebhookEndpoint, *, now: dt.datetime) -> None:
    delivery.status = DeliveryStatus.SUCCEEDED
    delivery.completed_at = now
    delivery.next_attempt_at = None
    if endpoint.failing_since is not None:
        endpoint.failing_since = None
        endpoint.save(update_fields=["failing_since", "updated_at"])


def _record_failure(delivery: WebhookDelivery, endpoint: WebhookEndpoint, event: WebhookEvent, *,
                    status_code: int | None, now: dt.datetime, rng: random.Random | None) -> None:
    """The next attempt by backoff, within the event's retry window; a 410 Gone or three days of
    failures disable the endpoint, which fails what it had pending."""
    if endpoint.failing_since is None:
        endpoint.failing_since = now
        endpoint.save(update_fields=["failing_since", "updated_at"])
    if status_code == 410:
        _disable(endpoint, now=now, reason="the endpoint answered 410 Gone")
    elif now - endpoint.failing_since >= RETRY_WINDOW:
        _disable(endpoint, now=now, reason="every attempt failed for 3 days")
    next_at = now + backoff_delay(delivery.attempt_count, rng)
    deadline = event.created_at + RETRY_WINDOW
    if next_at > deadline and now < deadline:
        next_at = deadline  # one last attempt as the window closes
    if not endpoint.is_enabled or next_at > deadline:
        delivery.status = DeliveryStatus.FAILED
        delivery.completed_at = now
        delivery.next_attempt_at = None
    else:
        delivery.next_attempt_at = next_at


def _disable(endpoint: WebhookEndpoint, *, now: dt.datetime, reason: str) -> None:
    endpoint.is_enabled = False
    endpoint.disabled_at = now
    endpoint.disabled_reason = reason
    endpoint.save(update_fields=["is_enabled", "disabled_at", "disabled_reason", "updated_at"])
    # Nothing more will be sent there: its other pending deliveries are closed as failed.
    WebhookDelivery.objects.filter(endpoint=endpoint, status=DeliveryStatus.PENDING).update(status=DeliveryStatus.FAILED, completed_at=now, next_attempt_at=None)
