"""Per-key rate limit in the shared cache (fixed window, atomic INCR on Redis).

When the store is unreachable (Redis restarting) the limit fails open: requests are served unlimited and
a warning is logged, rather than every API call failing with the store (docs/api.md, "Rate limit")."""

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
        try:
            count = _count(key, period)
        except (RedisError, DatabaseError) as exc:
            logger.warning("rate-limit store unreachable, serving without a limit: %s", exc)
            return True
        return count <= limit

    def wait(self):
        return max(1.0, self._wait)


def _count(key: str, period: int) -> int:
    cache = caches["api"]
    cache.add(key, 0, timeout=period + 1)
    try:
        return cache.incr(key)
    except ValueError:  # expired between add and incr
        cache.add(key, 1, timeout=period + 1)
        return 1
