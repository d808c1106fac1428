"""Prepares the demo in the background of the run command (scripts/run.sh): the simulated marketplace,
a model trained on it, the demo owner's merchant and the audit console's demo decisions. Each step
is skipped when already done; progress goes to a status file the pages read (the banner saying
what is still being prepared: loans/context_processors.py)."""

from datetime import timedelta
from pathlib import Path

from django.conf import settings
from django.core.management import call_command
from django.core.management.base import BaseCommand, CommandError

from accounts.models import Business
from accounts.selectors import api_key_authenticate, partner_get_by_slug
from accounts.services import api_key_create
from config import clock
from loans.demo_status import STEPS, demo_status_write
from underwriting.decisions.models import Decision
from underwriting.modeling.models import ModelVersion
from underwriting.policies.services import policy_active

DEMO_TARGET_BAD_RATE = "0.05"  # MYbank-like microlending runs a few percent; 5% leaves room for a young book


class Command(BaseCommand):
    help = "Prepare the demo: simulate the marketplace, train its model, link the demo owner, seed the audit console."

    def add_arguments(self, parser):
        parser.add_argument("--partner", default="demo")
        parser.add_argument("--merchants", type=int, default=1000)
        parser.add_argument("--seed", type=int, default=310)

    def handle(self, *args, partner, merchants, seed, **options):
        try:
            self._prepare(partner, merchants, seed)
        except BaseException as exc:
            demo_status_write(state="failed", step=f"{type(exc).__name__}: {exc}")
            raise

    def _prepare(self, partner: str, merchants: int, seed: int) -> None:
        if not Business.objects.filter(partner__slug=partner).exists():
            demo_status_write(state="preparing", step="simulate")
            # History up to yesterday (UTC, by the project clock): an application made today is decided
            # on fresh data.
            call_command("simulate_marketplace", merchants=merchants, months=24, seed=seed, partner=partner,
                         end_date=clock.today() - timedelta(days=1), stdout=self.stdout)
        if not ModelVersion.objects.filter(is_active=True, partner=None).exists():
            demo_status_write(state="preparing", step="train")
            call_command("train_model", partner=partner, seed=seed, quiet=True, stdout=self.stdout)
        if not policy_active()[0].derivation:
            # The demo's policy comes from its risk appetite, as a risk operator's would
            # (docs/pricing.md): the cut-off and caps that kept the model's validation book within it.
            try:
                call_command("set_risk_appetite", target_bad_rate=DEMO_TARGET_BAD_RATE,
                             note="The demo's risk appetite.", stdout=self.stdout)
            except CommandError as exc:
                self.stdout.write(f"The demo keeps the built-in policy: {exc}")
        quality = _model_quality()
        if quality:
            self.stdout.write(quality)
        demo_status_write(state="preparing", step="owner")
        call_command("setup_demo", partner=partner, stdout=self.stdout)
        key_file = Path(settings.VAR_DIR) / "demo-api-key"
        self.stdout.write(f"Partner API docs at /api/docs/; the demo partner key (write, admin; kept in {key_file}, "
                          "`manage.py create_api_key` makes another):")
        self.stdout.write(_demo_api_key(partner, key_file))
        if not Decision.objects.exists():
            demo_status_write(state="preparing", step="seed")
            call_command("seed_audit_demo", partner=partner, stdout=self.stdout)
        demo_status_write(state="ready", step="", model=quality)
        self.stdout.write(f"The demo is ready ({len(STEPS)} steps).")


def _demo_api_key(partner: str, key_file: Path) -> str:
    """The demo partner's key: the one kept in `key_file` while it still works, else a new one (kept
    there, readable by this user only)."""
    raw = key_file.read_text().strip() if key_file.exists() else ""
    if raw and api_key_authenticate(raw_key=raw, now=clock.now()) is not None:
        return raw
    created = api_key_create(partner=partner_get_by_slug(slug=partner), name="run.sh demo key",
                             scopes=["write", "admin"])
    key_file.write_text(created.raw_key + "\n")
    key_file.chmod(0o600)
    return created.raw_key


def _model_quality() -> str:
    active = ModelVersion.objects.filter(is_active=True, partner=None).first()
    validation = (active.metrics or {}).get("validation", {}) if active else {}
    auc, oracle = validation.get("auc"), validation.get("oracle_auc")
    if auc is None:
        return ""
    text = f"Demo model {active.version}: validation AUC {auc:.4f}"
    if oracle:
        text += f", oracle AUC {oracle:.4f}, AUC / oracle {auc / oracle:.4f}"
    return text + f" ({validation.get('n', 0):,} loans)."
