from datetime import date

from django.core.management.base import BaseCommand, CommandError

from underwriting.monitoring.services import summaries_rebuild


def _day(value: str) -> date:
    try:
        return date.fromisoformat(value)
    except ValueError as exc:
        raise CommandError(f"{value!r} is not a date (YYYY-MM-DD)") from exc


class Command(BaseCommand):
    help = ("Recompute the risk dashboard's daily summaries from the decision records (all days, or from "
            "--since). Appends wait meanwhile (the chain head is locked).")

    def add_arguments(self, parser):
        parser.add_argument("--since", type=_day, help="First UTC day to recompute (default: every day).")

    def handle(self, *args, since, **options):
        count = summaries_rebuild(since=since)
        self.stdout.write(f"Daily summaries rebuilt from {count} decision(s)"
                          + (f" since {since.isoformat()}." if since else "."))
