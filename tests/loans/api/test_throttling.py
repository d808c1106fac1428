"""The rate limit's store down: the API keeps answering (the limit fails open), never a 500."""

import pytest
from django.test import override_settings

from tests.loans.api.conftest import make_caller

pytestmark = [pytest.mark.django_db, pytest.mark.faults]

# A Redis nobody listens on: the store "stopped", without touching the machine's own Redis.
STOPPED_REDIS = {
    "default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"},
    "api": {"BACKEND": "django.core.cache.backends.redis.RedisCache", "LOCATION": "redis://127.0.0.1:9/0",
            "OPTIONS": {"socket_connect_timeout": 0.5, "socket_timeout": 0.5}},
}


def test_with_the_rate_limit_store_down_requests_are_served_without_a_limit(caplog):
    caller = make_caller("storeless")

    with override_settings(CACHES=STOPPED_REDIS, API_RATE_LIMIT="1/minute"):
        first = caller.get("/api/v1/merchants")
        second = caller.get("/api/v1/merchants")

    assert first.status_code == second.status_code == 200
    assert first.json()["results"] == []
    assert "rate-limit store unreachable" in caplog.text
