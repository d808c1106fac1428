import hashlib
import hmac

from django.db.models import QuerySet

from accounts.models import ApiKey, Business, PartnerBank, User


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


def api_key_authenticate(*, raw_key: str, now) -> ApiKey | None:
    """The active key whose secret is `raw_key`, or None (unknown, malformed, revoked or expired: the
    caller cannot tell which, so a leaked prefix tells an attacker nothing)."""
    parts = raw_key.split("_")
    if len(parts) < 3 or parts[0] != "p310" or len(raw_key) > 200:
        return None
    api_key = ApiKey.objects.select_related("partner").filter(prefix=parts[1]).first()
    if api_key is None:
        return None
    digest = hashlib.sha256(raw_key.encode()).hexdigest()
    if not hmac.compare_digest(digest, api_key.key_hash) or not api_key.is_active_at(now):
        return None
    return api_key
