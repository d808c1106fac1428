from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from accounts.selectors import UnknownPartner, partner_get_by_slug
from underwriting.modeling.backtest import BacktestInputError, backtest_rows, read_book, write_scores
from underwriting.modeling.metrics import auc
from underwriting.modeling.registry import active_model


class Command(BaseCommand):
    help = "Score a loan book (interchange loans.csv) point-in-time with the active model and policy."

    def add_arguments(self, parser):
        parser.add_argument("--partner", required=True, help="Partner slug whose merchants' history is used.")
        parser.add_argument("--loans", required=True, type=Path, help="Loan book in the interchange format.")
        parser.add_argument("--out", required=True, type=Path, help="Where to write the scores CSV.")
        parser.add_argument("--progress", action="store_true")

    def handle(self, *args, partner, loans, out, progress, **options):

        try:
            tenant = partner_get_by_slug(slug=partner)
        except UnknownPartner as exc:
            raise CommandError(str(exc)) from exc
        if not loans.exists():
            raise CommandError(f"{loans}: no such file")
        model = active_model(tenant.pk)  # the model that decides this partner's applications (ADR 0012)
        if model is None:
            raise CommandError("No model is active; train one with `manage.py train_model`.")
        try:
            book = read_book(loans)
            count = write_scores(
                out, backtest_rows(partner=tenant, loans=book, model=model, progress=progress)
            )
        except BacktestInputError as exc:
            for problem in exc.problems[:50]:
                self.stderr.write(problem)
            raise CommandError(f"{exc}; nothing was written.") from exc
        self.stdout.write(f"Scored {count} loans with model {model.version} into {out}.")
        self._summary(out)

    def _summary(self, out: Path) -> None:
        import csv

        import numpy as np


        with open(out, newline="") as handle:
            rows = list(csv.DictReader(handle))
        decided = {}
        for row in rows:
            decided[row["decision"]] = decided.get(row["decision"], 0) + 1
        self.stdout.write("decisions: " + ", ".join(f"{k} {v}" for k, v in sorted(decided.items())))
        known = [(float(r["pd"]), int(r["outcome"])) for r in rows if r["outcome"] != "" and r["pd"] != ""]
        if known and 0 < sum(y for _, y in known) < len(known):
            score = auc(np.array([y for _, y in known]), np.array([p for p, _ in known]))
            self.stdout.write(f"AUC on {len(known)} loans with known outcomes: {score:.4f}")
