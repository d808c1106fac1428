from django.db.models import QuerySet

from .models import Business, PartnerBank, User


class UnknownPartner(Exception):
    pass


def partner_get_by_slug(*, slug: str) -> PartnerBank:
    try:
        return PartnerBank.objects.get(slug=slug)
    except PartnerBank.DoesNotExist:
        known = ", ".join(PartnerBank.objects.values_list("slug", flat=True)) or "none yet"
        raise UnknownPartner(
            f"Unknown partner {slug!r} (known: {known}). Create it with: manage.py create_partner {slug} \"Name\""
        ) from None


def business_list_for_owner(*, user: User) -> QuerySet[Business]:
    return Business.objects.filter(owner=user).select_related("partner").order_by("legal_name")
