"""What the management commands share."""

from django.contrib.auth import get_user_model
from django.core.management.base import CommandError


def staff_user(email: str | None):
    """The user a command acts under (`--by EMAIL`), None when not given; an unknown email is an error."""
    if not email:
        return None
    user = get_user_model().objects.filter(email__iexact=email).first()
    if user is None:
        raise CommandError(f"No user with email {email!r}.")
    return user
