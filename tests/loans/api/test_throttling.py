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


def test_with_the_store_down_failed_authentications_are_answered_401_not_limited_nor_500(client, caplog):
    with override_settings(CACHES=STOPPED_REDIS, API_AUTH_FAILURE_RATE="1/minute"):
        statuses = [client.get("/api/v1/merchants", HTTP_AUTHORIZATION="Bearer p310_x_y").status_code
                    for _ in range(3)]

    assert statuses == [401, 401, 401]
    assert "rate-limit store unreachable" in caplog.text
