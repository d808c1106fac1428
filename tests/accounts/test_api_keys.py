from datetime import timedelta
from io import StringIO

import pytest
from django.core.exceptions import ValidationError
from django.core.management import call_command
from django.core.management.base import CommandError

from accounts.models import ApiKey
from accounts.selectors import api_key_authenticate
from accounts.services import api_key_create, api_key_revoke
from config import clock
from tests.clock import pinned_dates
from tests.factories import PartnerFactory

pytestmark = pytest.mark.django_db


def test_a_key_is_stored_only_as_its_sha256_with_a_visible_prefix():
    partner = PartnerFactory(slug="north")

    created = api_key_create(partner=partner, name="origination", scopes=["write"])

    key = ApiKey.objects.get()
    raw = created.raw_key
    assert raw.startswith(f"p310_{key.prefix}_")
    assert len(raw) > 40
    import hashlib

    assert key.key_hash == hashlib.sha256(raw.encode()).hexdigest()
    assert raw not in str(ApiKey.objects.values().get())
    assert key.scopes == ["write"]
    assert key.effective_scopes == {"read", "write"}


def test_authentication_finds_the_active_key_and_refuses_anything_else():
    partner = PartnerFactory(slug="north")
    created = api_key_create(partner=partner, name="k", scopes=["read"])
    now = clock.now()

    assert api_key_authenticate(raw_key=created.raw_key, now=now) == created.api_key
    assert api_key_authenticate(raw_key=created.raw_key[:-1] + ("A" if created.raw_key[-1] != "A" else "B"), now=now) is None
    assert api_key_authenticate(raw_key="p310_nope_x", now=now) is None
    assert api_key_authenticate(raw_key="garbage", now=now) is None


@pinned_dates
def test_an_expired_key_stops_working_at_its_expiry():
    partner = PartnerFactory(slug="north")
    expires = clock.now() + timedelta(hours=1)
    created = api_key_create(partner=partner, name="k", scopes=["read"], expires_at=expires)

    assert api_key_authenticate(raw_key=created.raw_key, now=expires - timedelta(seconds=1)) is not None
    assert api_key_authenticate(raw_key=created.raw_key, now=expires) is None


def test_a_revoked_key_stops_working_and_revoking_again_keeps_the_first_time():
    partner = PartnerFactory(slug="north")
    created = api_key_create(partner=partner, name="k", scopes=["read"])

    first = api_key_revoke(api_key=created.api_key).revoked_at
    second = api_key_revoke(api_key=created.api_key).revoked_at

    assert first == second
    assert api_key_authenticate(raw_key=created.raw_key, now=clock.now()) is None


@pytest.mark.parametrize("scopes", [[], ["root"], ["read", "superuser"]])
def test_unknown_or_missing_scopes_are_refused(scopes):
    partner = PartnerFactory(slug="north")

    with pytest.raises(ValidationError):
        api_key_create(partner=partner, name="k", scopes=scopes)
    assert not ApiKey.objects.exists()


def test_an_expiry_in_the_past_is_refused():
    partner = PartnerFactory(slug="north")

    with pytest.raises(ValidationError):
        api_key_create(partner=partner, name="k", scopes=["read"], expires_at=clock.now() - timedelta(seconds=1))


def test_create_api_key_command_prints_the_key_once_and_stores_its_hash():
    PartnerFactory(slug="north")
    out = StringIO()

    call_command("create_api_key", partner="north", scope=["write"], stdout=out)

    key = ApiKey.objects.get()
    raw = next(line for line in out.getvalue().splitlines() if line.startswith("p310_"))
    assert api_key_authenticate(raw_key=raw, now=clock.now()) == key
    assert key.scopes == ["write"]
    assert "shown only once" in out.getvalue()


def test_create_api_key_command_refuses_an_unknown_partner():
    with pytest.raises(CommandError, match="Unknown partner"):
        call_command("create_api_key", partner="nobody", scope=["read"], stdout=StringIO())


def test_the_admin_creates_a_key_shows_it_once_and_revokes_it(client):
    from django.contrib.auth import get_user_model
    from django.contrib.messages import get_messages

    admin = get_user_model().objects.create_superuser(email="root@example.com", password="a-long-admin-password")
    client.force_login(admin)
    partner = PartnerFactory(slug="north")

    response = client.post(
        "/admin/accounts/apikey/add/", {"partner": partner.pk, "name": "from admin", "scopes": ["read", "admin"]}
    )

    assert response.status_code == 302
    key = ApiKey.objects.get()
    shown = [str(m) for m in get_messages(response.wsgi_request) if "p310_" in str(m)]
    assert len(shown) == 1
    raw = next(word for word in shown[0].split() if word.startswith("p310_"))
    assert api_key_authenticate(raw_key=raw, now=clock.now()) == key
    assert key.scopes == ["admin", "read"] and key.created_by == admin
    change = f"/admin/accounts/apikey/{key.pk}/change/"
    assert raw in client.get(change).content.decode()  # the one time it is shown, after the redirect
    assert raw not in client.get(change).content.decode()

    client.post("/admin/accounts/apikey/", {"action": "revoke", "_selected_action": [key.pk]})

    key.refresh_from_db()
    assert key.revoked_at is not None
    assert api_key_authenticate(raw_key=raw, now=clock.now()) is None
