"""The training set: one row per finished loan, features as of its origination day.

Label (docs/domain.md): 1 when the loan defaulted (90+ days past due or charged off) within its term
plus 90 days, 0 when it was repaid or defaulted only after that window. Loans still `current` and
loans whose status the book does not give are not rows: their outcome is not known yet.

Features come from `underwriting.history.loader.load_histories` and
`underwriting.features.compute_features`, the code the live decision runs, with `as_of` = the
origination day at 00:00 UTC (so only days before it count) and the requested loan = the loan's own
amount and term. The simulator's true PD is carried for the report's oracle AUC, never as a feature.

`matured` marks rows whose whole outcome window (origination + term + 90 days) lies within the data
(the last day of the partner's rollups). Near the end of the data, the loans that are already
finished are a biased sample: early defaults and early repayments only. train.py therefore takes its
calibration and validation slices from matured loans (docs/adr/0003).

Only `build_training_set` touches Django; `TrainingSet` and `label_for` are plain and importable
anywhere (tests build TrainingSets straight from arrays).
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import NamedTuple

import numpy as np

from underwriting.features.history import EPOCH_ORDINAL, add_months, day_number

OUTCOME_GRACE_DAYS = 90  # the default definition's window: term + 90 days


def outcome_window_end(originated_on: date, term_months: int) -> date:
    """Last day on which a default still counts for the label: term end (due-date rule) + 90 days."""
    return add_months(originated_on, int(term_months)) + timedelta(days=OUTCOME_GRACE_DAYS)


def label_for(*, status: str | None, originated_on: date, term_months: int, defaulted_on: date | None) -> int | None:
    """The training label of a loan record, or None when it is not a training row (outcome unknown).

    A defaulted loan without a default date counts as a default: the book says it defaulted and a
    charge-off with no date is still a loss; the window cannot be checked, so the record is trusted.
    """
    if status == "repaid":
        return 0
    if status == "defaulted":
        if defaulted_on is None:
            return 1
        return 1 if defaulted_on <= outcome_window_end(originated_on, term_months) else 0
    return None


def day_to_date(day: int) -> date:
    return date.fromordinal(int(day) + EPOCH_ORDINAL)


@dataclass(eq=False)
class TrainingSet:
    """Rows of the training set; every array has one entry per row, in the same order.

    `originated_on` is in days since 1970-01-01 (int32), the feature code's day numbers.
    """

    X: np.ndarray  # (n, F) float64, NaN = missing
    y: np.ndarray  # (n,) int8
    originated_on: np.ndarray  # (n,) int32 day numbers
    specs: list  # FeatureSpec-like: .name, .description, .family, .monotone
    matured: np.ndarray | None = None  # (n,) bool; None = every row is matured
    true_pd: np.ndarray | None = None  # (n,) float64, NaN where the loan has no simulator truth
    loan_ids: np.ndarray | None = None  # (n,) the lender's loan ids (str)
    loan_pks: np.ndarray | None = None  # (n,) LoanRecord primary keys
    business_ids: np.ndarray | None = None  # (n,) int64
    partner: str | None = None
    data_end: date | None = None
    excluded: dict[str, int] = field(default_factory=dict)  # loans not used, by reason
    build_seconds: float = 0.0
    # The sector comparison's inputs (features/peers.py): each row's sector and the base values of the
    # peer features. Training fits the sector norms on the train slice only and fills the peer columns
    # (NaN in X until then); without them the model trains with the peer columns missing.
    sectors: np.ndarray | None = None  # (n,) str
    peer_bases: np.ndarray | None = None  # (n, len(PEER_BASE_NAMES)) float64

    def __post_init__(self):
        self.X = np.ascontiguousarray(self.X, dtype=np.float64)
        self.y = np.asarray(self.y, dtype=np.int8)
        self.originated_on = np.asarray(self.originated_on, dtype=np.int32)
        n = self.y.size
        if self.X.ndim != 2 or self.X.shape[0] != n or self.originated_on.size != n:
            raise ValueError(f"X {self.X.shape}, y {self.y.shape} and originated_on {self.originated_on.shape} "
                             "must have one row per loan")
        if self.X.shape[1] != len(self.specs):
            raise ValueError(f"X has {self.X.shape[1]} columns but there are {len(self.specs)} feature specs")
        if not np.isin(self.y, (0, 1)).all():
            raise ValueError("labels must be 0 or 1")
        self.matured = np.ones(n, dtype=bool) if self.matured is None else np.asarray(self.matured, dtype=bool)
        if self.true_pd is not None:
            self.true_pd = np.asarray(self.true_pd, dtype=np.float64)

    @property
    def n_rows(self) -> int:
        return int(self.y.size)

    @property
    def n_features(self) -> int:
        return int(self.X.shape[1])

    @property
    def feature_names(self) -> list[str]:
        return [s.name for s in self.specs]

    @property
    def has_truth(self) -> bool:
        return self.true_pd is not None and bool(np.isfinite(self.true_pd).any())


# ---- Django side --------------------------------------------------------------------------------------


def _data_end_by_partner(partner_ids: list[int]) -> dict[int, date | None]:
    """Per partner, the last day of its merchants' history (rollups), or None without any.

    One index probe per business (the rollups' primary key starts with business_id), never a scan of
    the rollup table.
    """
    from django.db.models import Max, OuterRef, Subquery

    from accounts.models import Business
    from underwriting.history.models import DailyRollup

    last = DailyRollup.objects.filter(business_id=OuterRef("pk")).order_by("-day").values("day")[:1]
    rows = (Business.objects.filter(partner_id__in=partner_ids).annotate(last=Subquery(last))
            .values("partner_id").annotate(end=Max("last")))
    out: dict[int, date | None] = dict.fromkeys(partner_ids)
    for r in rows:
        out[r["partner_id"]] = r["end"]
    return out


class _LoanRow(NamedTuple):
    """A finished loan that is a training row, as read from the loan book."""

    pk: int
    loan_id: str
    business_id: int
    originated_on: date
    amount: float
    term_months: int
    label: int
    matured: bool


def _loan_book(partner) -> list[tuple]:
    """Every loan record (of one partner, or all), ordered by (origination day, primary key)."""
    from underwriting.history.models import LoanRecord

    loans = LoanRecord.objects.all()
    if partner is not None:
        loans = loans.filter(partner=partner)
    return list(loans.order_by("originated_on", "id").values_list(
        "id", "loan_id", "business_id", "partner_id", "originated_on", "amount", "term_months", "status",
        "defaulted_on"))


def _training_rows(records: list[tuple], data_end: dict[int, date | None]) -> tuple[list[_LoanRow], dict[str, int]]:
    """The records with a known outcome and a history, labelled; and the count of the others by reason."""
    excluded = {"current": 0, "status_unknown": 0, "no_history": 0}
    keep = []
    for pk, loan_id, business_id, partner_id, orig, amount, term, status, defaulted_on in records:
        label = label_for(status=status, originated_on=orig, term_months=term, defaulted_on=defaulted_on)
        if label is None:
            excluded["current" if status == "current" else "status_unknown"] += 1
            continue
        end = data_end.get(partner_id)
        if end is None:
            excluded["no_history"] += 1
            continue
        matured = outcome_window_end(orig, term) <= end
        keep.append(_LoanRow(pk, loan_id, business_id, orig, float(amount), int(term), label, matured))
    return keep, excluded


def _features_as_of_origination(keep: list[_LoanRow], n_features: int, *, progress: bool,
                                batch_size: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Each row's features, peer-feature bases and sector, from its merchant's history as of the
    origination day: (X, bases, sectors)."""
    from underwriting.features import PEER_BASE_NAMES, LoanRequest, compute_features_with_bases
    from underwriting.history.loader import load_histories

    n = len(keep)
    X = np.full((n, n_features), np.nan)
    bases = np.full((n, len(PEER_BASE_NAMES)), np.nan)
    sectors = np.empty(n, dtype=object)
    # Group the requests by merchant so each merchant's history is loaded once (load_histories cuts
    # the point-in-time snapshots), in batches that bound memory.
    by_business: dict[int, list[int]] = {}
    for i, row in enumerate(keep):
        by_business.setdefault(row.business_id, []).append(i)
    businesses = list(by_business)
    bar = None
    if progress:
        from tqdm import tqdm

        bar = tqdm(total=n, desc="features", unit="loan")
    for start in range(0, len(businesses), batch_size):
        idx = [i for b in businesses[start:start + batch_size] for i in by_business[b]]
        histories = load_histories(
            business_ids=[keep[i].business_id for i in idx],
            as_of=[datetime(keep[i].originated_on.year, keep[i].originated_on.month, keep[i].originated_on.day,
                            tzinfo=UTC) for i in idx],
        )
        # Cut each snapshot at its own day once more: the training rows must be point-in-time even
        # if a batch load ever hands back rows of later days (a slice per row group, no copies).
        histories = [h.truncated(h.as_of) for h in histories]
        X[idx], bases[idx] = compute_features_with_bases(
            histories, [LoanRequest(amount=keep[i].amount, term_months=keep[i].term_months) for i in idx])
        sectors[idx] = [h.sector for h in histories]
        if bar is not None:
            bar.update(len(idx))
    if bar is not None:
        bar.close()
    return X, bases, sectors


def _true_pd(pks: np.ndarray) -> np.ndarray | None:
    """The simulator's true PD of each loan (NaN where it has none); None for a book without any."""
    from underwriting.simulator.models import SimulationTruth

    truth = dict(SimulationTruth.objects.filter(loan_id__in=pks.tolist()).values_list("loan_id", "true_pd")) \
        if pks.size else {}
    return np.array([truth.get(int(pk), np.nan) for pk in pks], dtype=np.float64) if truth else None


def build_training_set(*, partner=None, progress: bool = False, batch_size: int = 2000) -> TrainingSet:
    """One row per finished loan of the book (of one partner: a PartnerBank or its slug; or every
    partner), with its label, features as of its origination day and, for simulated books, the true PD.

    Rows are ordered by (origination day, loan primary key) so a rebuild gives the same matrix.
    """
    from accounts.models import PartnerBank
    from underwriting.features import FEATURES as SPECS

    t0 = time.perf_counter()
    if isinstance(partner, str):
        partner = PartnerBank.objects.get(slug=partner)
    records = _loan_book(partner)
    data_end = _data_end_by_partner(sorted({r[3] for r in records}))
    keep, excluded = _training_rows(records, data_end)
    specs = list(SPECS)
    X, bases, sectors = _features_as_of_origination(keep, len(specs), progress=progress, batch_size=batch_size)
    pks = np.array([r.pk for r in keep], dtype=np.int64)
    ends = [e for e in data_end.values() if e is not None]
    return TrainingSet(
        X=X,
        y=np.array([r.label for r in keep], dtype=np.int8),
        originated_on=np.array([day_number(r.originated_on) for r in keep], dtype=np.int32),
        specs=specs,
        matured=np.array([r.matured for r in keep], dtype=bool),
        true_pd=_true_pd(pks),
        loan_ids=np.array([r.loan_id for r in keep], dtype=object),
        loan_pks=pks,
        business_ids=np.array([r.business_id for r in keep], dtype=np.int64),
        partner=partner.slug if partner is not None else None,
        data_end=max(ends) if ends else None,
        excluded=excluded,
        build_seconds=time.perf_counter() - t0,
        sectors=sectors.astype(str),
        peer_bases=bases,
    )
