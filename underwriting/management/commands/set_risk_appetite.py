from decimal import Decimal, InvalidOperation

from django.core.management.base import BaseCommand, CommandError

from underwriting.engine.policy import PolicyError
from underwriting.engine.pricing import score_for
from underwriting.management.staff import staff_user
from underwriting.modeling.models import ModelVersion
from underwriting.policies.services import appetite_preview, policy_active, policy_version_from_appetite


class Command(BaseCommand):
    help = (
        "Record a policy version from a risk appetite: the approval cut-off and sizing caps that keep the "
        "approved loans' bad rate within --target-bad-rate on the model's own out-of-fold validation "
        "(docs/pricing.md). Prints the trade-off curve, the row chosen and what changed."
    )

    def add_arguments(self, parser):
        parser.add_argument("--target-bad-rate", required=True, help="e.g. 0.05: at most 5% of approved loans default.")
        parser.add_argument("--model", help="Model version to read (default: the active model).")
        parser.add_argument("--note", default="", help="Anything to add to the version's note.")
        parser.add_argument("--no-activate", action="store_true", help="Record it without making it active.")
        parser.add_argument("--by", help="Email of the staff user responsible.")
        parser.add_argument("--dry-run", action="store_true", help="Print the curve and the changes only.")

    def handle(self, *args, target_bad_rate, model, note, no_activate, by, dry_run, **options):
        try:
            target = Decimal(target_bad_rate)
        except InvalidOperation:
            raise CommandError(f"--target-bad-rate must be a number such as 0.05, got {target_bad_rate!r}") from None
        mv = self._model(model)
        record = (mv.metrics or {}).get("appetite") or {}
        _, base = policy_active()
        try:
            appetite, policy = appetite_preview(target_bad_rate=target, record=record, base=base)
        except PolicyError as exc:
            raise CommandError("; ".join(exc.errors)) from None
        self._curve(record, appetite.approval_rate, base)
        if not dry_run:
            row = policy_version_from_appetite(target_bad_rate=target, record=record, model_version=mv.version,
                                               note=note, created_by=staff_user(by), activate=not no_activate)
            state = "active" if row.is_active else "not active"
            self.stdout.write(self.style.SUCCESS(f"Recorded policy version {row.version} ({state}): {row.note}"))
        else:
            self.stdout.write("Dry run: no version recorded.")
        for key, (old, new) in base.diff(policy).items():
            self.stdout.write(f"  {key}: {old} -> {new}")
        if None in (appetite.max_instalment_share, appetite.revenue_multiple, appetite.max_debt_service_share):
            self.stdout.write("  (a sizing cap the book shows no evidence for keeps its value)")

    def _curve(self, record: dict, chosen: float, base) -> None:
        self.stdout.write(f"Model validation, out of fold: {record.get('loans', 0):,} loans, "
                          f"{record.get('defaults', 0):,} defaults")
        self.stdout.write(f"  {'approved':>8}  {'cut-off PD':>10}  {'score':>5}  {'bad rate':>8}  {'expected':>8}")
        for row in record["curve"]:
            mark = "  <- chosen" if row["approval_rate"] == chosen else ""
            self.stdout.write(f"  {row['approval_rate']:>8.0%}  {row['max_pd']:>10.2%}  "
                              f"{score_for(min(row['max_pd'], 1.0), base):>5}  {row['bad_rate']:>8.2%}  "
                              f"{row['expected_bad_rate']:>8.2%}{mark}")

    def _model(self, version):
        qs = ModelVersion.objects.all()
        mv = qs.filter(version=version).first() if version else qs.filter(is_active=True, partner__isnull=True).first()
        if mv is None:
            raise CommandError(f"There is no model version {version}." if version else "No model is active.")
        return mv
