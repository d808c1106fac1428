from dataclasses import dataclass

from django.contrib.auth.models import Group, Permission
from django.core.exceptions import ValidationError
from django.db import transaction

from .models import PartnerBank, User
from .roles import ROLE_PERMISSIONS, STAFF_ROLES


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
