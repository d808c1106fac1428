"""Keyset pagination: every row reached exactly once however many share a timestamp, `has_more` says
when the list ends, `previous` goes back, and a cursor that is not ours is a 400, never a 500."""

import base64
import json
from datetime import UTC, datetime

import pytest

from accounts.models import Business
from tests.factories import BusinessFactory

pytestmark = pytest.mark.django_db

SAME_INSTANT = datetime(2026, 3, 1, 9, 30, tzinfo=UTC)


@pytest.fixture
def crowd(alpha):
    """1,500 merchants created in one instant (one import call)."""
    Business.objects.bulk_create(
        [BusinessFactory.build(partner=alpha.partner, external_id=f"M{n:05d}") for n in range(1500)]
    )
    Business.objects.filter(partner=alpha.partner).update(created_at=SAME_INSTANT)
    return alpha


def _pages(caller, first_url):
    url, pages = first_url, []
    while url:
        page = caller.client.get(url).json()
        pages.append(page)
        url = page["next"]
        assert len(pages) < 20, "next never ends"
    return pages


def test_every_row_sharing_one_timestamp_is_reached_once_and_the_list_ends(crowd):
    pages = _pages(crowd, "/api/v1/merchants?limit=200")

    ids = [m["id"] for page in pages for m in page["results"]]
    assert len(ids) == len(set(ids)) == 1500
    assert [len(p["results"]) for p in pages] == [200] * 7 + [100]
    assert [p["has_more"] for p in pages] == [True] * 7 + [False]
    assert pages[0]["previous"] is None


def test_previous_goes_back_to_the_same_rows(crowd):
    first = crowd.get("/api/v1/merchants", limit=100).json()
    second = crowd.client.get(first["next"]).json()

    back = crowd.client.get(second["previous"]).json()

    assert [m["id"] for m in back["results"]] == [m["id"] for m in first["results"]]
    assert back["previous"] is None and back["has_more"] is True


def _cursor(payload) -> str:
    return base64.urlsafe_b64encode(json.dumps(payload).encode()).decode().rstrip("=")


@pytest.mark.parametrize("cursor", [
    "not-base64-at-all!",
    _cursor({"d": "n", "v": ["yesterday", 5]}),
    _cursor({"d": "n", "v": ["2026-03-01T09:30:00", 5]}),  # no time zone
    _cursor({"d": "n", "v": ["2026-03-01T09:30:00+00:00", "5"]}),
    _cursor({"d": "n", "v": ["2026-03-01T09:30:00+00:00", 2**70]}),
    _cursor({"d": "x", "v": ["2026-03-01T09:30:00+00:00", 5]}),
    _cursor({"d": "n", "v": ["2026-03-01T09:30:00+00:00"]}),
    _cursor([1, 2]),
])
def test_a_forged_cursor_is_a_400_problem(alpha, cursor):
    response = alpha.get("/api/v1/merchants", cursor=cursor)

    assert response.status_code == 400
    assert response["Content-Type"] == "application/problem+json"
    assert response.json()["errors"][0]["field"] == "cursor"


@pytest.mark.parametrize("limit", ["0", "-1", "many"])
def test_a_page_size_that_is_not_a_positive_whole_number_is_a_400(alpha, limit):
    response = alpha.get("/api/v1/merchants", limit=limit)

    assert response.status_code == 400
    assert response.json()["errors"][0]["field"] == "limit"
