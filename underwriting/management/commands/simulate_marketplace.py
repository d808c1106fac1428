"""manage.py simulate_marketplace --merchants N --months M --seed S [--partner P] [--out DIR]"""

from datetime import date

from django.core.management.base import BaseCommand, CommandError

from underwriting.history.services import HistoryImportError
from underwriting.simulator import DEFAULT_END, simulate_marketplace


def _date(value: str) -> date:
    try:
        return date.fromisoformat(value)
    except ValueError as exc:
        raise CommandError(f"--end-date {value!r} is not a date (YYYY-MM-DD)") from exc


class Command(BaseCommand):
    help = ("Generate a simulated marketplace (merchants, transactions, metrics, a loan book with outcomes), "
            "load it for a partner through the history import and store the simulator's truth.")

    def add_arguments(self, parser):
        parser.add_argument("--merchants", type=int, required=True)
        parser.add_argument("--months", type=int, required=True)
        parser.add_argument("--seed", type=int, required=True)
        parser.add_argument("--partner", default="demo", help="partner slug (created with CNY if missing)")
        parser.add_argument("--out", default=None, help="directory for the CSV files (default: a temporary one)")
        parser.add_argument("--end-date", type=_date, default=DEFAULT_END,
                            help=f"last day of the history, UTC (default {DEFAULT_END.isoformat()})")
        parser.add_argument("--no-load", action="store_true", help="write the files only (needs --out)")
        parser.add_argument("--quiet", action="store_true", help="no progress bars")

    def handle(self, *args, **opts):
        if opts["no_load"] and not opts["out"]:
            raise CommandError("--no-load needs --out DIR (otherwise nothing would be kept)")
        if opts["merchants"] < 1 or opts["months"] < 6:
            raise CommandError("--merchants must be >= 1 and --months >= 6")

        try:
            result = simulate_marketplace(
                merchants=opts["merchants"], months=opts["months"], seed=opts["seed"], partner_slug=opts["partner"],
                out_dir=opts["out"], end_date=opts["end_date"], load=not opts["no_load"],
                progress=not opts["quiet"],
            )
        except HistoryImportError as exc:
            lines = "\n".join(f"  {e}" for e in exc.errors[:20])
            raise CommandError(f"the import rejected the simulated files ({exc.error_count} errors):\n{lines}") from exc
        c = result.calibration
        self.stdout.write(
            f"{result.merchants} merchants x {result.months} months ({result.start} to {result.end}), seed {result.seed}: "
            f"{result.rows['transactions']:,} transactions, {result.rows['metrics']:,} metrics, "
            f"{result.rows['loans']:,} loans"
        )
        self.stdout.write(
            f"default rate {c.default_rate:.2%} (mean true PD {c.mean_true_pd:.2%}), oracle AUC on the latest "
            f"originations {c.oracle_auc_latest:.3f} ({c.latest_loans:,} loans, {c.latest_defaults:,} defaults), "
            f"calibration max error {c.calibration_max_error:.3f}"
        )
        self.stdout.write(
            f"generation {result.generation_seconds:.1f} s, writing {result.write_seconds:.1f} s, "
            f"import {result.import_seconds:.1f} s, truth {result.truth_seconds:.1f} s"
        )
        where = result.out_dir if result.out_dir else "a temporary directory (removed)"
        loaded = f"loaded for partner {result.partner_slug!r}" if result.loaded else "not loaded"
        self.stdout.write(self.style.SUCCESS(f"files in {where}; {loaded}"))
