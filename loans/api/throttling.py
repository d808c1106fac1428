"""Per-key rate limit, and a limit on failed authentications per client address, in the shared cache
(fixed windows, atomic INCR on Redis).

When the store is unreachable (Redis restarting) both limits fail open: requests are served unlimited and
a warning is logged, rather than every API call failing with the store (docs/api.md, "Rate limit")."""

import hashlib
import logging

from django.conf import settings
from django.core.cache import caches
from django.db import DatabaseError
from redis.exceptions import RedisError
from rest_framework.throttling import BaseThrottle

from config import clock

logger = logging.getLogger(__name__)

_PERIODS = {"second": 1, "minute": 60, "hour": 3600, "day": 86400}


def parse_rate(rate: str) -> tuple[int, int]:
    count, _, period = rate.partition("/")
    period = period.strip().lower()
    if period not in _PERIODS and period.endswith("s"):
        period = period[:-1]
    return int(count), _PERIODS[period]


class ApiKeyRateThrottle(BaseThrottle):
    """At most N requests per key per window. Counters live in the `api` cache, shared by every web
    process (Redis, or a database table on the embedded default); the rate is read per request so it
    can be changed in settings without a code change."""

    def allow_request(self, request, view):
        api_key = getattr(request, "auth", None)
        if api_key is None:
            return True  # authentication already refused the request
        limit, period = parse_rate(settings.API_RATE_LIMIT)
        # The project clock, so a pinned test process and the servers it starts agree on the window.
        now = clock.now().timestamp()
        window = int(now // period)
        key = f"throttle:{api_key.prefix}:{period}:{window}"
        self._wait = (window + 1) * period - now
        count = _count_or_none(key, period)
        return count is None or count <= limit

    def wait(self):
        return max(1.0, self._wait)


def client_address(request) -> str:
    """REMOTE_ADDR, or the address a trusted proxy put in X-Forwarded-For when settings say there are
    proxies (REST_FRAMEWORK["NUM_PROXIES"], API_NUM_PROXIES; 0 by default: a client could write any
    X-Forwarded-For and dodge a limit keyed on it). DRF's own rule, the one its throttles use."""
    return BaseThrottle().get_ident(request) or "unknown"


def auth_failure_wait(request) -> float | None:
    """Counts one failed authentication of the request's client address; the seconds to the end of the
    window when the address is over API_AUTH_FAILURE_RATE, else None (and None when the store is down:
    it fails open like the per-key limit)."""
    limit, period = parse_rate(settings.API_AUTH_FAILURE_RATE)
    now = clock.now().timestamp()
    window = int(now // period)
    # Hashed: a proxy's header may carry any text, and a cache key must be short and plain.
    address = hashlib.sha256(client_address(request).encode()).hexdigest()[:32]
    count = _count_or_none(f"authfail:{address}:{period}:{window}", period)
    if count is None or count <= limit:
        return None
    return max(1.0, (window + 1) * period - now)


def _count_or_none(key: str, period: int) -> int | None:
    try:
        return _count(key, period)
    except (RedisError, DatabaseError) as exc:
        logger.warning("rate-limit store unreachable, serving without a limit: %s", exc)
        return None


def _count(key: str, period: int) -> int:
    cache = caches["api"]
    cache.add(key, 0, timeout=period + 1)
    try:
        return cache.incr(key)
    except ValueError:  # expired between add and incr
        cache.add(key, 1, timeout=period + 1)
        return 1
