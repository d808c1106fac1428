"""Exports decisions and officer reviews to CSV (decisions.csv, reviews.csv) for auditors."""

from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from loans.reviews.models import Review
from loans.reviews.selectors import review_csv_rows
from underwriting.decisions.audit import decision_csv_rows
from underwriting.decisions.models import Decision


def _day(value: str) -> date:
    try:
        return date.fromisoformat(value)
    except ValueError as exc:
        raise CommandError(f"{value!r} is not a date (YYYY-MM-DD)") from exc


class Command(BaseCommand):
    help = "Write decisions.csv and reviews.csv (UTC days --since..--until, inclusive) into a folder."

    def add_arguments(self, parser):
        parser.add_argument("folder", help="Where to write the two files (created if missing).")
        parser.add_argument("--since", type=_day, help="First UTC day of decisions (default: all).")
        parser.add_argument("--until", type=_day, help="Last UTC day of decisions (default: all).")

    def handle(self, *args, folder, since, until, **options):
        import csv

        out = Path(folder)
        out.mkdir(parents=True, exist_ok=True)
        decisions = Decision.objects.select_related("partner", "business", "model_version", "policy_version")
        reviews = Review.objects.select_related("reviewer", "application", "decision__business", "decision__partner")
        if since:
            start = datetime.combine(since, time.min, tzinfo=UTC)
            decisions, reviews = decisions.filter(created_at__gte=start), reviews.filter(decision__created_at__gte=start)
        if until:
            end = datetime.combine(until + timedelta(days=1), time.min, tzinfo=UTC)
            decisions, reviews = decisions.filter(created_at__lt=end), reviews.filter(decision__created_at__lt=end)
        counts = {}
        for name, rows in (("decisions.csv", decision_csv_rows(decisions.order_by("id").iterator(chunk_size=2000))),
                           ("reviews.csv", review_csv_rows(reviews.order_by("id").iterator(chunk_size=2000)))):
            with (out / name).open("w", newline="", encoding="utf-8") as fh:
                writer = csv.writer(fh)
                n = -1
                for row in rows:
                    writer.writerow(row)
                    n += 1
            counts[name] = n
        self.stdout.write(f"{counts['decisions.csv']} decision(s) -> {out / 'decisions.csv'}; "
                          f"{counts['reviews.csv']} review(s) -> {out / 'reviews.csv'}")
