"""Per-key rate limit in the shared cache (fixed window, atomic INCR on Redis)."""

from django.conf import settings
from django.core.cache import caches
from rest_framework.throttling import BaseThrottle

from config import clock

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
        cache = caches["api"]
        cache.add(key, 0, timeout=period + 1)
        try:
            count = cache.incr(key)
        except ValueError:  # expired between add and incr
            cache.add(key, 1, timeout=period + 1)
            count = 1
        self._wait = (window + 1) * period - now
        return count <= limit

    def wait(self):
        return max(1.0, self._wait)
