import hashlib
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.contrib.auth.models import Group, Permission
from django.core.exceptions import ValidationError
from django.db import transaction

from accounts.models import ApiKey, ApiScope, PartnerBank, User
from accounts.roles import ROLE_PERMISSIONS, STAFF_ROLES
from config import clock


class RoleConfigurationError(Exception):
    """A role names a permission that does not exist (a typo or a missing migration)."""


@transaction.atomic
def roles_sync() -> dict[str, int]:
    """Create each role's group and give it exactly the permissions listed in accounts.roles."""
    result = {}
    for role, codenames in ROLE_PERMISSIONS.items():
        group, _ = Group.objects.get_or_create(name=role)
        perms = []
        for dotted in codenames:
            app_label, codename = dotted.split(".", 1)
            perm = Permission.objects.filter(content_type__app_label=app_label, codename=codename).first()
            if perm is None:
                raise RoleConfigurationError(f"Role {role!r} names unknown permission {dotted!r}.")
            perms.append(perm)
        group.permissions.set(perms)
        result[role] = len(perms)
    return result


@transaction.atomic
def partner_create(*, slug: str, name: str, currency: str = "CNY") -> PartnerBank:
    """Create a tenant. The slug is its handle on the command line and in the API."""
    currency = currency.strip().upper()
    partner = PartnerBank(slug=slug.strip(), name=name.strip(), currency=currency)
    partner.full_clean()
    partner.save()
    return partner


@dataclass(frozen=True)
class DemoLogin:
    role: str
    email: str
    password: str


@transaction.atomic
def user_create_with_role(*, email: str, password: str, role: str, first_name: str = "") -> User:
    if role not in ROLE_PERMISSIONS:
        raise ValidationError({"role": f"Unknown role {role!r}."})
    user, created = User.objects.get_or_create(email=email.lower(), defaults={"first_name": first_name})
    if created or not user.has_usable_password():
        user.set_password(password)
    user.is_staff = role in STAFF_ROLES
    user.save()
    user.groups.add(Group.objects.get(name=role))
    return user


# --- API keys ----------------------------------------------------------------------------------
API_KEY_PREFIX = "p310"


def _api_key_digest(raw_key: str) -> str:
    return hashlib.sha256(raw_key.encode()).hexdigest()


@dataclass(frozen=True)
class NewApiKey:
    api_key: ApiKey
    raw_key: str  # shown once, never stored


@transaction.atomic
def api_key_create(
    *,
    partner: PartnerBank,
    name: str,
    scopes: list[str],
    expires_at: datetime | None = None,
    created_by: User | None = None,
) -> NewApiKey:
    """Creates a key and returns it with its secret, which exists nowhere else afterwards."""
    scopes = sorted({s.strip().lower() for s in scopes})
    unknown = [s for s in scopes if s not in ApiScope.values]
    if not scopes or unknown:
        raise ValidationError({"scopes": f"Give one or more of {', '.join(ApiScope.values)} (got {scopes})."})
    if expires_at is not None and expires_at <= clock.now():
        raise ValidationError({"expires_at": "The expiry must be in the future."})
    name = name.strip() or "API key"
    prefix = secrets.token_hex(4)
    raw_key = f"{API_KEY_PREFIX}_{prefix}_{secrets.token_urlsafe(32)}"
    api_key = ApiKey.objects.create(
        partner=partner, name=name[:100], prefix=prefix, key_hash=_api_key_digest(raw_key),
        scopes=scopes, expires_at=expires_at, created_by=created_by,
    )
    return NewApiKey(api_key=api_key, raw_key=raw_key)


@transaction.atomic
def api_key_revoke(*, api_key: ApiKey) -> ApiKey:
    """Revokes a key at once; revoking twice keeps the first time."""
    api_key = ApiKey.objects.select_for_update().get(pk=api_key.pk)
    if api_key.revoked_at is None:
        api_key.revoked_at = clock.now()
        api_key.save(update_fields=["revoked_at"])
    return api_key


def api_key_touch(*, api_key: ApiKey, now: datetime) -> None:
    """Records use at most once a minute per key, so authentication does not write on every request."""
    if api_key.last_used_at is None or now - api_key.last_used_at > timedelta(minutes=1):
        ApiKey.objects.filter(pk=api_key.pk).update(last_used_at=now)
        api_key.last_used_at = now
