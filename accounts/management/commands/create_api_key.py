from datetime import timedelta

from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError

from accounts.models import ApiScope
from accounts.selectors import UnknownPartner, partner_get_by_slug
from accounts.services import api_key_create
from config import clock


class Command(BaseCommand):
    help = (
        "Create a partner API key and print it (once: only its hash is stored). "
        "create_api_key --partner SLUG --scope write [--scope admin] [--name N] [--expires-in-days D]"
    )

    def add_arguments(self, parser):
        parser.add_argument("--partner", required=True, help="The partner's slug.")
        parser.add_argument(
            "--scope", action="append", choices=ApiScope.values, required=True,
            help="read, write or admin; repeat for several (write and admin imply read).",
        )
        parser.add_argument("--name", default="", help="What the key is for.")
        parser.add_argument("--expires-in-days", type=int, default=None)
        parser.add_argument("--quiet-key", action="store_true", help="Print only the key (for scripts).")

    def handle(self, *args, partner, scope, name, expires_in_days, quiet_key, **options):
        try:
            tenant = partner_get_by_slug(slug=partner)
        except UnknownPartner as exc:
            raise CommandError(str(exc)) from None
        if expires_in_days is not None and expires_in_days <= 0:
            raise CommandError("--expires-in-days must be positive.")
        expires_at = clock.now() + timedelta(days=expires_in_days) if expires_in_days else None
        try:
            created = api_key_create(
                partner=tenant, name=name or f"{'+'.join(sorted(set(scope)))} key", scopes=scope,
                expires_at=expires_at,
            )
        except ValidationError as exc:
            raise CommandError("; ".join(f"{k}: {' '.join(v)}" for k, v in exc.message_dict.items())) from exc
        if quiet_key:
            self.stdout.write(created.raw_key)
            return
        key = created.api_key
        self.stdout.write(
            f"API key for {tenant.slug} (prefix {key.prefix}, scopes {', '.join(key.scopes)}"
            f"{', expires ' + key.expires_at.isoformat() if key.expires_at else ''}):\n"
            f"{created.raw_key}\n"
            "Store it now: it is shown only once."
        )
