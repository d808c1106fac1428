"""simulate_marketplace: generate a world, write the interchange files, load them, store the truth."""

import shutil
import tempfile
import time
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path

from underwriting.simulator.evaluation import Calibration, evaluate
from underwriting.simulator.params import DEFAULT_PARAMS, WorldParams
from underwriting.simulator.world import World, simulate
from underwriting.simulator.writers import truth_rows, write_world

DEFAULT_END = date(2026, 10, 31)
DEFAULT_PARTNER = "demo"


@dataclass
class SimulationResult:
    partner_slug: str
    merchants: int
    months: int
    seed: int
    start: date
    end: date
    out_dir: Path | None  # None when the files went to a temporary directory, since removed
    files: dict[str, Path]
    rows: dict[str, int]
    calibration: Calibration
    generation_seconds: float
    write_seconds: float
    import_seconds: float = 0.0
    truth_seconds: float = 0.0
    loaded: bool = False
    import_result: object | None = None
    timings: dict[str, float] = field(default_factory=dict)

    @property
    def total_rows(self) -> int:
        return sum(self.rows.values())


def generate_world(*, merchants: int, months: int, seed: int, end_date: date | None = None,
                   params: WorldParams = DEFAULT_PARAMS, progress: bool = False) -> World:
    """The world in memory (no files, no database): what the calibration tests use."""
    if merchants < 1:
        raise ValueError("merchants must be at least 1")
    if months < 6:
        raise ValueError("months must be at least 6 (loans need 90 days of history and room to run)")
    return simulate(merchants=merchants, months=months, seed=seed, end=end_date or DEFAULT_END, params=params,
                    progress=progress)


def _partner(slug: str):
    from accounts.selectors import UnknownPartner, partner_get_by_slug
    from accounts.services import partner_create

    try:
        return partner_get_by_slug(slug=slug)
    except UnknownPartner:
        return partner_create(slug=slug, name="Demo marketplace" if slug == DEFAULT_PARTNER else f"Simulated {slug}",
                              currency="CNY")


def simulate_marketplace(*, merchants: int, months: int, seed: int, partner_slug: str = DEFAULT_PARTNER,
                         out_dir: Path | str | None = None, end_date: date | None = None, load: bool = True,
                         progress: bool = False, params: WorldParams = DEFAULT_PARAMS) -> SimulationResult:
    """Generate a marketplace, write merchants/transactions/merchant_metrics/loans/truth CSVs to out_dir
    (a temporary directory when None, removed after loading) and, when load is set, import them for
    the partner through underwriting.history.services.history_import and store one SimulationTruth per loan.

    Deterministic: the same merchants, months, seed and end date give byte-identical files.
    """
    partner = _partner(partner_slug) if load else None
    currency = partner.currency if partner is not None else "CNY"

    t0 = time.perf_counter()
    world = generate_world(merchants=merchants, months=months, seed=seed, end_date=end_date, params=params,
                           progress=progress)
    t1 = time.perf_counter()
    temporary = out_dir is None
    directory = Path(tempfile.mkdtemp(prefix="simulate-marketplace-")) if temporary else Path(out_dir)
    try:
        files = write_world(world, directory, currency, progress=progress)
        t2 = time.perf_counter()
        result = SimulationResult(
            partner_slug=partner_slug, merchants=merchants, months=months, seed=seed, start=world.start,
            end=world.end, out_dir=None if temporary and load else directory, files=files,
            rows={"merchants": world.pop.n, "transactions": world.n_transactions,
                  "metrics": int(world.metrics["merchant"].size), "loans": int(world.loans["merchant"].size)},
            calibration=evaluate(world.loans), generation_seconds=t1 - t0, write_seconds=t2 - t1,
        )
        if load:
            result.import_result = _import(partner, files, progress)
            t3 = time.perf_counter()
            _store_truth(partner, world)
            t4 = time.perf_counter()
            result.import_seconds, result.truth_seconds, result.loaded = t3 - t2, t4 - t3, True
    finally:
        if temporary and load:
            shutil.rmtree(directory, ignore_errors=True)
    return result


def _import(partner, files: dict[str, Path], progress: bool):
    from underwriting.history.services import history_import
    from underwriting.provenance import Provenance

    return history_import(partner=partner, merchants=files["merchants"], transactions=files["transactions"],
                          metrics=files["metrics"], loans=files["loans"], progress=progress,
                          source="simulator", provenance=Provenance.SIMULATED)


def _store_truth(partner, world: World) -> int:
    """One SimulationTruth per loan, linked through the partner's LoanRecord (upserted on reruns)."""
    from django.db import transaction

    from underwriting.history.models import LoanRecord
    from underwriting.simulator.models import SimulationTruth

    rows = truth_rows(world)
    ids = dict(LoanRecord.objects.filter(partner=partner, loan_id__in=[r["loan_id"] for r in rows])
               .values_list("loan_id", "id"))
    missing = [r["loan_id"] for r in rows if r["loan_id"] not in ids]
    if missing:
        raise RuntimeError(f"{len(missing)} simulated loans are not in the credit record after the import "
                           f"(first: {missing[0]})")
    objs = [SimulationTruth(loan_id=ids[r["loan_id"]], true_pd=r["true_pd"],
                            details={k: v for k, v in r.items() if k not in ("loan_id", "true_pd")})
            for r in rows]
    with transaction.atomic():
        SimulationTruth.objects.bulk_create(objs, batch_size=2000, update_conflicts=True, unique_fields=["loan"],
                                            update_fields=["true_pd", "details"])
    return len(objs)
