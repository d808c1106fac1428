"""The site's own error pages (templates/400.html, 403.html, 403_csrf.html, 404.html, 500.html): the
site's layout and stylesheet, a way back, and no technical detail. The API keeps problem+json."""

import re
from pathlib import Path

import pytest
from django.contrib.staticfiles import finders
from django.test import Client, RequestFactory, override_settings

from config.errors import handler500
from tests.factories import UserFactory


def _text(response) -> str:
    return re.sub(r"\s+", " ", response.content.decode())


def _is_the_sites_page(html: str) -> None:
    assert '<link rel="stylesheet" href="/static/css/site.css">' in html
    assert '<link rel="icon" href="/static/favicon.svg" type="image/svg+xml">' in html
    assert '<a class="brand" href="/">310 <span>Lending</span></a>' in html
    for technical in ("Traceback", "Django", "DEBUG", "urlpatterns", "Request Method", "SECRET-DETAIL-310",
                      "exception"):
        assert technical not in html, technical


@pytest.mark.django_db
def test_an_unknown_address_is_the_sites_own_404_with_a_way_back():
    owner = UserFactory()
    client = Client()
    client.force_login(owner)

    response = client.get("/no/such/page/")

    html = _text(response)
    assert response.status_code == 404
    assert "<h1>Page not found</h1>" in html
    assert '<a class="button" href="/">Back to your dashboard</a>' in html
    _is_the_sites_page(html)


@pytest.mark.django_db
def test_an_owner_opening_the_risk_dashboard_gets_the_sites_own_403():
    owner = UserFactory()
    client = Client()
    client.force_login(owner)

    response = client.get("/risk/dashboard/")

    html = _text(response)
    assert response.status_code == 403
    assert "<h1>This page is not open to your account</h1>" in html
    assert '<a class="button" href="/">Back to your dashboard</a>' in html
    assert owner.email in html  # the site's navigation, signed in
    _is_the_sites_page(html)


@pytest.mark.django_db
def test_a_form_refused_for_its_missing_csrf_token_is_the_sites_own_403():
    client = Client(enforce_csrf_checks=True)

    response = client.post("/login/", {"username": "a@example.com", "password": "x"})

    html = _text(response)
    assert response.status_code == 403
    assert "<h1>Please send the form again</h1>" in html
    assert "Nothing was changed." in html
    _is_the_sites_page(html)
    assert "CSRF" not in html


@pytest.mark.django_db
@override_settings(ROOT_URLCONF="tests.error_urls")
def test_a_server_error_is_the_sites_own_500_and_reads_nothing_from_the_database(django_assert_num_queries):
    client = Client(raise_request_exception=False)

    with django_assert_num_queries(0):
        response = client.get("/__test__/500/")

    html = _text(response)
    assert response.status_code == 500
    assert "<h1>Something went wrong on our side</h1>" in html
    assert '<a class="button" href="/">Back to the start</a>' in html
    assert "Log in" not in html  # nobody's session is read to draw the page
    _is_the_sites_page(html)


def test_the_500_page_renders_with_the_database_out_of_reach():
    # No database fixture: any query here fails the test (pytest-django blocks it).
    response = handler500(RequestFactory().get("/anything/"))

    assert response.status_code == 500
    _is_the_sites_page(_text(response))


@pytest.mark.django_db
@override_settings(ROOT_URLCONF="tests.error_urls")
def test_the_api_keeps_problem_json_for_its_errors():
    client = Client(raise_request_exception=False)

    missing = client.get("/api/v1/no-such-route")

    assert missing.status_code == 404
    assert missing["Content-Type"] == "application/problem+json"
    assert missing.json()["type"].endswith("/not-found")


@pytest.mark.django_db
def test_the_favicon_is_an_svg_in_static_and_favicon_ico_does_not_404():
    response = Client().get("/favicon.ico")

    assert response.status_code == 302 and response["Location"] == "/static/favicon.svg"
    path = finders.find("favicon.svg")
    assert path and Path(path).read_text().startswith("<svg")
