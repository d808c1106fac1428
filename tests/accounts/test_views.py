"""Sign-up and log-in pages."""

import re

import pytest
from django.test import Client

from accounts.models import User
from accounts.roles import APPLICANT
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db


def _text(response) -> str:
    return re.sub(r"\s+", " ", response.content.decode())


def test_signing_up_creates_an_applicant_logs_in_and_lands_on_the_dashboard():
    client = Client()

    response = client.post("/signup/", {"email": "Ada@Example.com", "password1": "a-long-pass-310",
                                        "password2": "a-long-pass-310"})

    assert response.status_code == 302 and response["Location"] == "/"
    user = User.objects.get(email="ada@example.com")
    assert user.check_password("a-long-pass-310")
    assert list(user.groups.values_list("name", flat=True)) == [APPLICANT]
    assert not user.is_staff
    assert "Add your business" in _text(client.get("/"))


@pytest.mark.parametrize(
    ("data", "field", "message"),
    [
        ({"email": "not-an-email", "password1": "a-long-pass-310", "password2": "a-long-pass-310"},
         "id_email", "Enter a valid email address."),
        ({"email": "ada@example.com", "password1": "a-long-pass-310", "password2": "another-pass-310"},
         "id_password2", "The two passwords do not match."),
        ({"email": "ada@example.com", "password1": "short", "password2": "short"},
         "id_password1", "This password is too short. It must contain at least 8 characters."),
        ({"email": "taken@example.com", "password1": "a-long-pass-310", "password2": "a-long-pass-310"},
         "id_email", "An account with this email already exists. Log in instead."),
    ],
)
def test_sign_up_errors_are_shown_next_to_their_field_and_create_nothing(data, field, message):
    UserFactory(email="taken@example.com")

    response = Client().post("/signup/", data)

    html = _text(response)
    assert response.status_code == 200
    assert f'<ul class="errorlist" id="{field}-error"><li>{message}</li>' in html
    tag = re.search(rf'<input[^>]*id="{field}"[^>]*>', html).group(0)
    assert "aria-invalid" in tag and f"{field}-error" in tag
    assert User.objects.count() == 1


def test_the_sign_up_page_labels_every_field():
    html = _text(Client().get("/signup/"))

    for field, label in (("id_email", "Email"), ("id_password1", "Password"), ("id_password2", "Confirm password")):
        assert f'<label for="{field}">{label}</label>' in html
    assert '<button type="submit">Create account</button>' in html
    assert 'name="csrfmiddlewaretoken"' in html


def test_logging_in_with_email_and_password():
    UserFactory(email="owner@example.com", password="a-long-pass-310")
    client = Client()

    bad = client.post("/login/", {"username": "owner@example.com", "password": "wrong"})
    good = client.post("/login/", {"username": "owner@example.com", "password": "a-long-pass-310"})

    assert bad.status_code == 200 and "errorlist" in _text(bad)
    assert good.status_code == 302 and good["Location"] == "/"
