from django.core.management.base import BaseCommand, CommandError

from accounts.selectors import UnknownPartner, partner_get_by_slug
from underwriting.history.services import HistoryImportError, history_import
from underwriting.provenance import Provenance

PRINTED_ERRORS = 50


class Command(BaseCommand):
    help = (
        "Import a partner's merchant history from CSV files (docs/data-format.md). All-or-nothing unless "
        "--skip-invalid is given."
    )

    def add_arguments(self, parser):
        parser.add_argument("--partner", required=True, help="The partner's slug (it must exist).")
        parser.add_argument("--merchants", help="merchants.csv")
        parser.add_argument("--transactions", help="transactions.csv")
        parser.add_argument("--metrics", help="merchant_metrics.csv")
        parser.add_argument("--loans", help="loans.csv")
        parser.add_argument(
            "--skip-invalid",
            action="store_true",
            help="Import the valid rows; write rejected rows with reasons to <file>.rejected.csv.",
        )
        parser.add_argument(
            "--provenance", choices=[p.value for p in Provenance], default=Provenance.PARTNER_FEED.value,
            help="Where the data comes from (docs/provenance.md): a partner's own verified data (the default), "
            "a file a business owner gave you, or simulated.",
        )
        parser.add_argument(
            "--progress", action="store_true", help="Show a progress bar even when stdout is not a terminal."
        )

    def handle(
        self, *args, partner, merchants, transactions, metrics, loans, skip_invalid, progress, provenance, **options
    ):
        if not any((merchants, transactions, metrics, loans)):
            raise CommandError("Give at least one of --merchants, --transactions, --metrics, --loans.")
        try:
            tenant = partner_get_by_slug(slug=partner)
        except UnknownPartner as exc:
            raise CommandError(str(exc)) from exc
        show_progress = progress or self.stdout.isatty()
        try:
            result = history_import(
                partner=tenant,
                merchants=merchants,
                transactions=transactions,
                metrics=metrics,
                loans=loans,
                skip_invalid=skip_invalid,
                progress=show_progress,
                source="cli",
                provenance=provenance,
            )
        except HistoryImportError as exc:
            for issue in exc.errors[:PRINTED_ERRORS]:
                self.stderr.write(str(issue))
            more = exc.error_count - min(len(exc.errors), PRINTED_ERRORS)
            if more > 0:
                self.stderr.write(f"... and {more} more error(s)")
            raise CommandError(f"{exc.error_count} error(s): nothing was imported.") from exc

        for kind, counts in result.files.items():
            line = (
                f"{kind}: {counts.read} read, {counts.inserted} inserted, {counts.unchanged} unchanged, "
                f"{counts.updated} updated, {counts.rejected} rejected"
            )
            if counts.rejected_path:
                line += f" (see {counts.rejected_path})"
            self.stdout.write(line)
        if "transactions" in result.files:
            self.stdout.write(
                f"{result.files['transactions'].read} transactions in {result.seconds:.1f} s "
                f"({result.transactions_per_second:,.0f} transactions/s), {result.rollup_rows} rollup rows written"
            )
        else:
            self.stdout.write(f"Done in {result.seconds:.1f} s.")
        if result.error_count:
            self.stdout.write(
                self.style.WARNING(f"{result.error_count} problem(s); the rows concerned were skipped.")
            )
