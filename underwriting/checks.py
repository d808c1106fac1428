"""System checks an operator sees in `manage.py check --deploy` (docs/deploy.md)."""

from django.conf import settings
from django.core.checks import Info, Tags, register


@register(Tags.security, deploy=True)
def decision_signing_key_check(app_configs, **kwargs):
    # Info, not a warning: the site itself runs without it (pages, API, imports), but no decision can
    # be signed, so applications wait in "submitted" until the key is set and the sweeper re-queues them.
    if settings.DECISION_HMAC_KEY:
        return []
    return [Info(
        "DECISION_HMAC_KEY is not set: the worker cannot sign decision records, so no application is "
        "decided until it is.",
        hint="Set DECISION_HMAC_KEY to a long random value kept outside the database (docs/deploy.md).",
        id="underwriting.I001",
    )]
