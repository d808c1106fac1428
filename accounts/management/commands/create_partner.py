from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError

from accounts.services import partner_create


class Command(BaseCommand):
    help = "Create a partner bank (tenant): create_partner SLUG \"Display name\" [--currency CNY]"

    def add_arguments(self, parser):
        parser.add_argument("slug")
        parser.add_argument("name")
        parser.add_argument("--currency", default="CNY", help="ISO 4217 code (default CNY).")

    def handle(self, *args, slug, name, currency, **options):
        try:
            partner = partner_create(slug=slug, name=name, currency=currency)
        except ValidationError as exc:
            details = "; ".join(f"{field}: {' '.join(msgs)}" for field, msgs in exc.message_dict.items())
            raise CommandError(f"Cannot create partner {slug!r}: {details}") from exc
        self.stdout.write(f"Created partner {partner.slug} ({partner.name}, {partner.currency}).")
