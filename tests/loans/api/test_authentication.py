"""Failed authentications are limited per client address (API_AUTH_FAILURE_RATE): a bad, revoked or
expired key from one address gets 429 with Retry-After once the address has failed N times in the
window; other addresses, and valid keys from the same address, are not affected."""

import http.client
import time
from urllib.parse import urlsplit

import pytest
from django.core.cache import caches
from django.test import override_settings

from accounts.services import api_key_revoke
from config import clock
from tests.loans.api.conftest import make_caller

PROBLEM = "application/problem+json"


def _inside_one_window(margin: float = 10.0) -> None:
    while clock.now().timestamp() % 60 > 60 - margin:  # the window is a fixed minute: do not straddle its end
        time.sleep(0.5)


def _bad(client, address="192.0.2.10", key="p310_deadbeef_not-a-key", **extra):
    return client.get("/api/v1/merchants", HTTP_AUTHORIZATION=f"Bearer {key}", REMOTE_ADDR=address, **extra)


@pytest.mark.django_db
@override_settings(API_AUTH_FAILURE_RATE="3/minute")
def test_an_address_past_its_failures_gets_a_429_problem_others_and_valid_keys_do_not(client):
    alpha = make_caller("alpha")
    _inside_one_window()

    statuses = [_bad(client).status_code for _ in range(3)]
    limited = _bad(client)
    valid = alpha.client.get("/api/v1/merchants", REMOTE_ADDR="192.0.2.10")
    elsewhere = _bad(client, address="198.51.100.7")

    assert statuses == [401, 401, 401]
    assert limited.status_code == 429
    assert limited["Content-Type"] == PROBLEM
    body = limited.json()
    assert body["type"] == "https://docs.lending310.dev/problems/rate-limited"
    assert body["detail"].startswith("Too many failed authentications from this address; retry after ")
    assert 1 <= int(limited["Retry-After"]) <= 60
    assert valid.status_code == 200
    assert elsewhere.status_code == 401


@pytest.mark.django_db
@override_settings(API_AUTH_FAILURE_RATE="2/minute")
def test_revoked_keys_and_wrong_schemes_count_as_failures(client):
    alpha = make_caller("alpha")
    api_key_revoke(api_key=alpha.api_key)
    _inside_one_window()

    revoked = _bad(client, key=alpha.raw_key)
    basic = client.get("/api/v1/merchants", HTTP_AUTHORIZATION="Basic dXNlcjpwYXNz", REMOTE_ADDR="192.0.2.10")
    third = _bad(client, key=alpha.raw_key)

    assert [revoked.status_code, basic.status_code, third.status_code] == [401, 401, 429]


@pytest.mark.django_db
@override_settings(API_AUTH_FAILURE_RATE="2/minute")
def test_a_forwarded_for_header_is_not_trusted_unless_a_proxy_is_configured(client):
    _inside_one_window()

    spoofed = [_bad(client, HTTP_X_FORWARDED_FOR=f"203.0.113.{i}").status_code for i in range(4)]

    assert spoofed == [401, 401, 429, 429]  # all from REMOTE_ADDR 192.0.2.10


@pytest.mark.django_db
def test_behind_a_trusted_proxy_the_forwarded_client_address_is_counted(client, settings):
    settings.API_AUTH_FAILURE_RATE = "2/minute"
    settings.REST_FRAMEWORK = {**settings.REST_FRAMEWORK, "NUM_PROXIES": 1}
    _inside_one_window()
    proxy = "10.0.0.5"  # every request arrives from the proxy; it appends the client's address

    first = [_bad(client, address=proxy, HTTP_X_FORWARDED_FOR="203.0.113.1").status_code for _ in range(3)]
    other = _bad(client, address=proxy, HTTP_X_FORWARDED_FOR="spoof, 203.0.113.2")

    assert first == [401, 401, 429]
    assert other.status_code == 401


# --- through a real server: two web workers share the count -------------------------------------------
def _get(url: str, source: str, key: str, forwarded: str | None = None) -> http.client.HTTPResponse:
    # A new connection from the given loopback address each time (127.0.0.0/8 is all this machine), so
    # both workers take requests and REMOTE_ADDR is really that address.
    parts = urlsplit(url)
    connection = http.client.HTTPConnection(parts.hostname, parts.port, timeout=30, source_address=(source, 0))
    headers = {"Authorization": f"Bearer {key}", "Connection": "close"}
    if forwarded:
        headers["X-Forwarded-For"] = forwarded
    connection.request("GET", "/api/v1/merchants", headers=headers)
    response = connection.getresponse()
    response.read()
    connection.close()
    return response


def test_a_live_server_limits_failures_per_address_across_its_workers(auth_limited_server, transactional_db):
    caches["api"].clear()  # counters of earlier live tests from this machine's address
    valid = make_caller("live").raw_key
    _inside_one_window(margin=20)

    failures = [_get(auth_limited_server, "127.0.0.1", "p310_00000000_guess", forwarded=f"203.0.113.{i}")
                for i in range(8)]
    still_valid = _get(auth_limited_server, "127.0.0.1", valid)
    other_address = _get(auth_limited_server, "127.0.0.2", "p310_00000000_guess")

    assert [r.status for r in failures] == [401] * 5 + [429] * 3  # a per-process count would let 10 through
    assert failures[-1].getheader("Content-Type") == PROBLEM
    assert 1 <= int(failures[-1].getheader("Retry-After")) <= 60
    assert failures[-1].getheader("Request-Id")
    assert still_valid.status == 200
    assert other_address.status == 401
