"""Request-Id: every answer carries one (API, problems, 404, 500, throttled, the site's pages), a problem's
body repeats it and every log line of the request names it; a client's own id is used only if it is a
safe token."""

import logging
import re

import pytest
from django.test import Client, override_settings
from django.urls import path

from config.urls import handler400, handler403, handler404, handler500  # noqa: F401
from config.urls import urlpatterns as site_urlpatterns
from tests.loans.api.conftest import make_caller

pytestmark = pytest.mark.django_db

GENERATED = re.compile(r"[0-9a-f]{32}")


def _boom(request):
    logging.getLogger("tests.boom").info("about to fail")
    raise RuntimeError("a fault on purpose outside DRF")


# This module's URLs: the site's plus an /api/ view that fails before DRF sees the request (Django's
# handler500 answers it).
urlpatterns = [path("api/v1/__test__/500", _boom), *site_urlpatterns]


def _records_of(caplog, request_id: str) -> list[logging.LogRecord]:
    return [r for r in caplog.records if getattr(r, "request_id", None) == request_id]


def test_a_500_problem_its_header_and_its_log_record_carry_the_same_id(monkeypatch, caplog):
    from loans.api import selectors

    def boom(**kwargs):
        raise RuntimeError("secret internals")

    monkeypatch.setattr(selectors, "merchant_list_for_partner", boom)
    caller = make_caller("alpha")

    with caplog.at_level(logging.INFO):
        response = caller.get("/api/v1/merchants")

    assert response.status_code == 500
    request_id = response["Request-Id"]
    assert GENERATED.fullmatch(request_id)
    assert response.json()["request_id"] == request_id
    errors = [r for r in caplog.records if r.getMessage() == "unhandled error in API view"]
    assert [r.request_id for r in errors] == [request_id]


@override_settings(ROOT_URLCONF=__name__)
def test_a_500_outside_drf_is_a_problem_with_the_id_in_body_header_and_every_log_line(caplog):
    client = Client(raise_request_exception=False)

    with caplog.at_level(logging.INFO):
        response = client.get("/api/v1/__test__/500", HTTP_X_REQUEST_ID="partner-call.42_a")

    assert response.status_code == 500
    assert response["Content-Type"] == "application/problem+json"
    assert response["Request-Id"] == "partner-call.42_a"
    assert response.json()["request_id"] == "partner-call.42_a"
    lines = {(r.name, r.getMessage().split(":")[0]) for r in _records_of(caplog, "partner-call.42_a")}
    assert {("tests.boom", "about to fail"), ("django.request", "Internal Server Error")} <= lines


@override_settings(ROOT_URLCONF=__name__)
def test_the_sites_own_pages_carry_one_too():
    client = Client(raise_request_exception=False)

    assert GENERATED.fullmatch(client.get("/no/such/page/")["Request-Id"])
    assert GENERATED.fullmatch(client.get("/login/")["Request-Id"])


def test_success_not_found_and_throttled_answers_carry_it(settings):
    caller = make_caller("alpha")
    settings.API_RATE_LIMIT = "1/minute"

    ok = caller.get("/api/v1/merchants")
    limited = caller.get("/api/v1/merchants")
    missing = caller.get("/api/v1/no-such-route")

    assert ok.status_code == 200 and GENERATED.fullmatch(ok["Request-Id"])
    assert limited.status_code == 429 and limited.json()["request_id"] == limited["Request-Id"]
    assert missing.status_code == 404 and missing.json()["request_id"] == missing["Request-Id"]
    assert len({ok["Request-Id"], limited["Request-Id"], missing["Request-Id"]}) == 3


@pytest.mark.parametrize(("header", "value"), [("HTTP_REQUEST_ID", "req_7f3a-2026.12"), ("HTTP_X_REQUEST_ID", "A" * 64)])
def test_a_safe_client_id_is_kept(client, header, value):
    response = client.get("/api/v1/merchants", **{header: value})

    assert response.status_code == 401
    assert response["Request-Id"] == value
    assert response.json()["request_id"] == value


@pytest.mark.parametrize("value", ["A" * 65, "two words", "id\r\nSet-Cookie: x=1", "<script>", "", "caf\u00e9"])
def test_an_unsafe_client_id_is_replaced_by_a_generated_one(client, value):
    response = client.get("/api/v1/merchants", HTTP_X_REQUEST_ID=value)

    assert GENERATED.fullmatch(response["Request-Id"])
    assert response.json()["request_id"] == response["Request-Id"]


def test_log_lines_outside_a_request_read_a_dash(settings):
    from config.request_id import RequestIdFilter

    record = logging.LogRecord("x", logging.INFO, __file__, 1, "outside", None, None)
    RequestIdFilter().filter(record)

    assert record.request_id == "-"
    assert "[%(request_id)s]" in settings.LOGGING["formatters"]["plain"]["format"]
