"""Whether a worker is deciding waiting applications right now (docs/adr/0009-decisions-in-batches.md).

While one is, a new submission needs no message of its own: the worker takes every application that
is waiting before it stops. The flag lives in the broker's Redis with a short expiry, refreshed by the
worker before each batch. The protocol that keeps a submission from being missed:

- a submission commits, then reads the flag, and queues the waiting-applications task unless it is set;
- a worker about to stop clears the flag, then looks for waiting applications once more.

If the submission read the flag while it was still set, it read it before the worker cleared it, so
it had committed before the worker's last look, and that look finds it. Otherwise it queues a task.

Any doubt reads as "no worker": without a Redis broker (the laptop's filesystem broker), with Redis
unreachable, or a flag past its expiry (a worker killed mid-batch) every submission queues its own
task, as it would with no flag at all. The flag can only save messages, never lose an application.
"""

from __future__ import annotations

import logging

from django.conf import settings

logger = logging.getLogger(__name__)

FLAG_KEY = "lending310:decisions:draining"
NUDGE_KEY = "lending310:decisions:nudge"
# Longer than a batch takes, shorter than anyone would wait: a worker refreshes it before each batch,
# and a killed worker's flag stops suppressing messages this long after its last batch.
FLAG_SECONDS = 10

_clients: dict[str, object] = {}


def _client():
    url = settings.CELERY_BROKER_URL
    if not url.startswith(("redis://", "rediss://")):
        return None
    client = _clients.get(url)
    if client is None:
        import redis

        # A short connect timeout: the flag is an optimisation, never worth a slow submission. Reads may
        # take longer: the worker's wait for a nudge blocks up to its linger (a second).
        client = _clients[url] = redis.Redis.from_url(url, socket_timeout=5, socket_connect_timeout=0.5)
    return client


def drainer_nudge() -> bool:
    """Wakes a worker deciding waiting applications (`drainer_wait`); True when one is at it and will
    take a just-committed application before it stops. Flag and nudge in one round trip."""
    client = _client()
    if client is None:
        return False
    try:
        active, _, _ = (client.pipeline(transaction=False).exists(FLAG_KEY).rpush(NUDGE_KEY, 1)
                        .expire(NUDGE_KEY, FLAG_SECONDS).execute())
        return bool(active)
    except Exception:  # Redis down or slow: queue the task (which the sweeper backs up)
        logger.warning("could not read the draining flag; queueing the decision", exc_info=True)
        return False


def drainer_wait(seconds: float) -> bool:
    """The worker with nothing to do waits up to `seconds` for a submission's nudge instead of polling
    the database. True when woken (the nudges waiting are then cleared: one look covers them all,
    since each was pushed after its application committed); False at once without a Redis broker."""
    client = _client()
    if client is None:
        return False
    try:
        # (BLPOP's timeout 0 would mean forever: no wait is a plain LPOP.)
        woken = (client.blpop([NUDGE_KEY], timeout=seconds) if seconds > 0 else client.lpop(NUDGE_KEY)) is not None
        if woken:
            client.delete(NUDGE_KEY)
        return woken
    except Exception:
        logger.warning("could not wait for a nudge; stopping", exc_info=True)
        return False


def drainer_mark() -> None:
    client = _client()
    if client is not None:
        try:
            client.set(FLAG_KEY, "1", ex=FLAG_SECONDS)
        except Exception:
            logger.warning("could not set the draining flag", exc_info=True)


def drainer_clear() -> bool:
    """Called before the worker's last look. False when the flag could not be cleared: it then expires on
    its own within FLAG_SECONDS, and submissions until then may have queued nothing (the caller queues a
    look for after that)."""
    client = _client()
    if client is None:
        return True
    try:
        client.delete(FLAG_KEY)
    except Exception:
        logger.warning("could not clear the draining flag", exc_info=True)
        return False
    return True
