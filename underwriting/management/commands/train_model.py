"""manage.py train_model [--partner P [--for-partner]] [--seed S] [--no-activate] [--by EMAIL]
[--calibration platt|isotonic] [--note TEXT]"""

import time

from django.core.management.base import BaseCommand, CommandError

from accounts.selectors import UnknownPartner, partner_get_by_slug
from underwriting.modeling.artifact import write_artifact
from underwriting.modeling.dataset import build_training_set
from underwriting.modeling.registry import model_version_register
from underwriting.modeling.services import PROMOTE_PERMISSION, model_version_promote
from underwriting.modeling.train import TrainingError, train_model


class Command(BaseCommand):
    help = ("Build the training set from the loan book's finished loans (features as of each origination day), "
            "train and calibrate a LightGBM model out of time, write its artifact and report to MODEL_STORE, "
            "register it and activate it unless --no-activate.")

    def add_arguments(self, parser):
        parser.add_argument("--partner", default=None, help="train on this partner's book only (slug)")
        parser.add_argument("--for-partner", action="store_true",
                            help="register the model in --partner's own scope: it decides that partner's applications "
                                 "only, and the platform's model keeps deciding the others' (docs/adr/0012-model-scope.md)")
        parser.add_argument("--seed", type=int, default=1, help="LightGBM seed (same data + seed = same model)")
        parser.add_argument("--no-activate", action="store_true", help="register without activating")
        parser.add_argument("--calibration", choices=("platt", "isotonic"), default="platt")
        parser.add_argument("--note", default="", help="why this model decides from now on (the promotion's reason)")
        parser.add_argument("--by", default=None, metavar="EMAIL",
                            help="the risk operator the promotion is recorded under (default: the command line)")
        parser.add_argument("--quiet", action="store_true", help="no progress bars")

    def handle(self, *args, **opts):

        progress = not opts["quiet"]
        promoter = self._promoter(opts["by"]) if opts["by"] and not opts["no_activate"] else None
        partner = None
        if opts["for_partner"] and not opts["partner"]:
            raise CommandError("--for-partner needs --partner: a partner's model learns only from its own book")
        if opts["partner"]:
            try:
                partner = partner_get_by_slug(slug=opts["partner"])
            except UnknownPartner as exc:
                raise CommandError(str(exc)) from exc
        t0 = time.perf_counter()
        ts = build_training_set(partner=partner, progress=progress)
        if ts.n_rows == 0:
            raise CommandError(f"no finished loans to train on ({ts.excluded} not usable)")
        self.stdout.write(f"training set: {ts.n_rows:,} finished loans, {int(ts.y.sum()):,} defaults, "
                          f"{ts.n_features} features, built in {time.perf_counter() - t0:.1f} s "
                          f"(not rows: {ts.excluded})")
        t1 = time.perf_counter()
        try:
            model = train_model(ts, seed=opts["seed"], progress=progress, calibration=opts["calibration"])
        except TrainingError as exc:
            raise CommandError(str(exc)) from exc
        self.stdout.write(f"trained {model.booster.num_trees()} trees in {time.perf_counter() - t1:.1f} s; "
                          + model.split.describe(ts.originated_on))
        path = write_artifact(model)
        mv = model_version_register(artifact=path, partner=partner if opts["for_partner"] else None)
        if not opts["no_activate"]:
            # The same promotion as the audit console's: flags flipped and a ModelActivation recorded.
            model_version_promote(model_version=mv, promoted_by=promoter, via="manage.py train_model",
                                  reason=opts["note"] or f"trained by manage.py train_model (seed {opts['seed']})")
            mv.refresh_from_db()
        self.stdout.write(self._table(model.metrics))
        scope = f"{partner.slug}'s model" if mv.partner_id else "the platform's model"
        self.stdout.write(f"model {mv.version} ({scope}) "
                          f"{'registered and ACTIVE' if mv.is_active else 'registered (not active)'}"
                          f"; total {time.perf_counter() - t0:.1f} s")
        self.stdout.write(f"artifact: {path}")
        self.stdout.write(f"report:   {path / 'report.html'}")

    @staticmethod
    def _promoter(email: str):
        from django.contrib.auth import get_user_model


        user = get_user_model().objects.filter(email__iexact=email.strip()).first()
        if user is None or not (user.is_active and user.has_perm(PROMOTE_PERMISSION)):
            raise CommandError(f"--by {email}: no active risk operator with that email (only they promote models)")
        return user

    @staticmethod
    def _table(metrics: dict) -> str:
        slices = ("train", "calibration", "validation")
        rows = [("loans", "n", ",d"), ("defaults", "defaults", ",d"), ("default rate", "default_rate", ".2%"),
                ("mean PD", "mean_pd", ".2%"), ("AUC", "auc", ".4f"), ("Gini", "gini", ".4f"), ("KS", "ks", ".4f"),
                ("Brier", "brier", ".4f"), ("calibration error", "calibration_error", ".4f"),
                ("oracle AUC", "oracle_auc", ".4f"), ("AUC / oracle", "auc_to_oracle", ".4f")]
        lines = [f"{'':<20}" + "".join(f"{s:>14}" for s in slices)]
        for label, key, spec in rows:
            if all(metrics[s].get(key) is None for s in slices):
                continue
            cells = []
            for s in slices:
                v = metrics[s].get(key)
                cells.append(f"{'-':>14}" if v is None or v != v else f"{format(v, spec):>14}")
            lines.append(f"{label:<20}" + "".join(cells))
        return "\n".join(lines)
