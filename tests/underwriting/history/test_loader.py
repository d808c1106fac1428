"""The history loader: point-in-time correctness (nothing dated on or after the as_of day is seen),
loan status as of the day, equality with a from-scratch computation from the raw rows, and
load_histories = load_history. Runs on PostgreSQL (bulk and cursor paths) and on SQLite."""

import datetime as dt
from collections import defaultdict
from decimal import Decimal
from pathlib import Path

import numpy as np
import pytest

from tests.factories import PartnerFactory
from underwriting.features import (
    BalanceRows,
    CounterpartyRows,
    DailyRows,
    LoanRequest,
    MerchantHistory,
    MetricRows,
    PriorLoans,
    compute_features,
    feature_names,
)
from underwriting.features.history import (
    CURRENT,
    DEFAULTED,
    IN,
    KIND,
    NO_DAY,
    OUT,
    REPAID,
    STATUS_CODE,
    day_number,
)
from underwriting.history import loader as history_loader
from underwriting.history.loader import as_of_day, load_histories, load_history
from underwriting.history.services import history_import

UTC = dt.UTC
AS_OF = dt.datetime(2024, 6, 15, 10, 30, tzinfo=UTC)
REQUEST = LoanRequest(20_000.0, 12)
TXN_HEADER = "merchant_id,transaction_id,occurred_at,amount,currency,direction,kind,counterparty,balance_after"
NAMES = feature_names()


def rows_for(merchant: str, start: dt.date, end: dt.date, seed: int, prefix: str = "T") -> list[dict]:
    """A plausible shop: daily card sales (two settlements), weekly refunds and cash deposits, rent on
    the 3rd (late in March), payroll on the 10th, a supplier fortnightly, an external loan
    repayment monthly, a running balance."""
    rng = np.random.default_rng(seed)
    out = []
    balance = 3000.0
    d = start
    i = 0
    while d < end:
        def add(hour, amount, direction, kind, cp, d=d):
            nonlocal balance, i
            amount = round(float(amount), 2)
            balance = round(balance + (amount if direction == "in" else -amount), 2)
            i += 1
            out.append({"merchant_id": merchant, "transaction_id": f"{prefix}{seed}-{i}",
                        "occurred_at": dt.datetime(d.year, d.month, d.day, hour, 15, tzinfo=UTC),
                        "amount": amount, "direction": direction, "kind": kind, "counterparty": cp,
                        "balance_after": balance})

        if rng.random() < 0.9:
            add(20, rng.uniform(300, 900), "in", "sale", "Alipay settlement")
            add(21, rng.uniform(50, 200), "in", "sale", "Alipay settlement")
        if d.weekday() == 4:
            add(17, rng.uniform(500, 1500), "in", "cash_deposit", "")
            add(12, rng.uniform(20, 80), "out", "refund", "Alipay settlement")
        if d.day == (9 if d.month == 3 else 3):
            add(10, 4000, "out", "rent", "Landlord Wu")
        if d.day == 10:
            add(11, 3000, "out", "payroll", "")
        if d.toordinal() % 14 == 0:
            add(14, rng.uniform(2000, 4000), "out", "supplier_payment", "Fresh Farms Co")
        if d.day == 20:
            add(8, 1200, "out", "loan_repayment", "ICBC loan")
        if d.day == 1:
            add(6, rng.uniform(30, 60), "out", "fee", "Alipay settlement")
        d += dt.timedelta(days=1)
    return out


def write_transactions(path: Path, rows: list[dict]) -> Path:
    lines = [TXN_HEADER]
    for r in rows:
        lines.append(f"{r['merchant_id']},{r['transaction_id']},{r['occurred_at'].isoformat()},{r['amount']:.2f},CNY,"
                     f"{r['direction']},{r['kind']},{r['counterparty']},{r['balance_after']:.2f}")
    path.write_text("\n".join(lines) + "\n")
    return path


def write(path: Path, *lines: str) -> Path:
    path.write_text("\n".join(lines) + "\n")
    return path


@pytest.fixture
def world(db, tmp_path):
    """Two merchants of one partner with history from 2023-03-01 to the day before AS_OF, metrics and loans."""
    partner = PartnerFactory(slug="loader-bank", currency="CNY")
    merchants = write(tmp_path / "merchants.csv", "merchant_id,name,category,region,onboarded_on,established_on",
                      "M1,Alpha Noodles,restaurants,east,2023-02-15,2019-05-01",
                      "M2,Beta Fashion,apparel,north,2023-09-01,")
    rows = rows_for("M1", dt.date(2023, 3, 1), AS_OF.date(), 1) + rows_for("M2", dt.date(2023, 9, 10), AS_OF.date(), 2)
    metrics = write(tmp_path / "metrics.csv", "merchant_id,observed_on,metric,value",
                    *[f"M1,{dt.date(2024, m, 28)},rating,{4.2 + m / 50:.2f}" for m in range(1, 6)],
                    *[f"M1,{dt.date(2024, m, 28)},dispute_rate,0.0{m}" for m in range(1, 6)],
                    "M2,2024-05-31,rating,4.80")
    loans = write(tmp_path / "loans.csv", "loan_id,merchant_id,originated_on,amount,term_months,status,defaulted_on",
                  "L1,M1,2023-05-10,10000.00,6,repaid,",
                  "L2,M1,2024-01-10,15000.00,6,defaulted,2024-08-01",  # defaults after AS_OF
                  "L3,M1,2024-03-05,8000.00,12,repaid,",  # renewed early: term not over at AS_OF
                  "L4,M2,2023-12-01,5000.00,3,defaulted,2024-05-01")
    history_import(partner=partner, merchants=merchants, transactions=write_transactions(tmp_path / "t.csv", rows),
                   metrics=metrics, loans=loans)
    businesses = {b.external_id: b for b in partner.businesses.all()}
    return {"partner": partner, "businesses": businesses, "rows": rows, "tmp": tmp_path}


def features_of(history: MerchantHistory) -> np.ndarray:
    return compute_features([history], [REQUEST])[0]


def test_as_of_is_a_utc_day_and_naive_datetimes_are_refused():
    assert as_of_day(dt.datetime(2024, 6, 15, 23, 30, tzinfo=dt.timezone(dt.timedelta(hours=-2)))) == dt.date(2024, 6, 16)
    assert as_of_day(dt.date(2024, 6, 15)) == dt.date(2024, 6, 15)
    with pytest.raises(ValueError):
        as_of_day(dt.datetime(2024, 6, 15, 10, 0))  # noqa: DTZ001 - the point of the test


def test_importing_transactions_on_or_after_the_as_of_day_changes_no_feature(world):
    # Given the features of M1 as of 2024-06-15 10:30 UTC
    m1 = world["businesses"]["M1"]
    before = features_of(load_history(business=m1, as_of=AS_OF))
    assert np.isfinite(before).sum() > 60
    # When transactions dated on the as_of day (even before 10:30, even written with an offset that
    # is the 14th locally) and later are imported, with metrics and a loan from that day on
    later = rows_for("M1", AS_OF.date(), dt.date(2024, 8, 1), 9, prefix="LATE")
    later.append({"merchant_id": "M1", "transaction_id": "EDGE-1", "amount": 99999.0, "direction": "in",
                  "kind": "sale", "counterparty": "Mystery Payer", "balance_after": -50000.0,
                  "occurred_at": dt.datetime(2024, 6, 14, 23, 59, tzinfo=dt.timezone(dt.timedelta(hours=-1)))})
    metrics = write(world["tmp"] / "m2.csv", "merchant_id,observed_on,metric,value", "M1,2024-06-15,rating,1.00",
                    "M1,2024-06-30,dispute_rate,0.9")
    loans = write(world["tmp"] / "l2.csv", "loan_id,merchant_id,originated_on,amount,term_months,status,defaulted_on",
                  "L9,M1,2024-06-15,50000.00,12,defaulted,2024-07-01")
    history_import(partner=world["partner"], transactions=write_transactions(world["tmp"] / "t2.csv", later),
                   metrics=metrics, loans=loans)
    # Then no feature as of AS_OF changes
    after = features_of(load_history(business=m1, as_of=AS_OF))
    assert np.array_equal(before, after, equal_nan=True)
    # ... while a transaction on the day before does change them (the check is not vacuous)
    history_import(partner=world["partner"], transactions=write_transactions(world["tmp"] / "t3.csv", [
        {**later[0], "transaction_id": "EVE-1", "occurred_at": dt.datetime(2024, 6, 14, 22, 0, tzinfo=UTC)}]))
    assert not np.array_equal(before, features_of(load_history(business=m1, as_of=AS_OF)), equal_nan=True)


def test_prior_loans_as_known_on_the_day(world):
    m1 = world["businesses"]["M1"]
    h = load_history(business=m1, as_of=AS_OF)
    # L2 defaults on 2024-08-01, after the day: it is current; L3 was repaid early but its term has
    # not ended, so the day cannot know it: current; L1's term ended: repaid.
    assert list(h.loans.originated_on) == [day_number(dt.date(2023, 5, 10)), day_number(dt.date(2024, 1, 10)),
                                          day_number(dt.date(2024, 3, 5))]
    assert list(h.loans.status) == [REPAID, CURRENT, CURRENT]
    assert list(h.loans.defaulted_on) == [NO_DAY, NO_DAY, NO_DAY]
    f = dict(zip(NAMES, features_of(h), strict=True))
    assert (f["prior_loans_repaid"], f["prior_loans_defaulted"], f["prior_loans_current"]) == (1.0, 0.0, 2.0)
    # Later, the default is known
    h2 = load_history(business=m1, as_of=dt.datetime(2024, 8, 2, tzinfo=UTC))
    assert list(h2.loans.status) == [REPAID, DEFAULTED, CURRENT]
    assert h2.loans.defaulted_on[1] == day_number(dt.date(2024, 8, 1))
    # On the default day itself it is not yet known
    assert list(load_history(business=m1, as_of=dt.date(2024, 8, 1)).loans.status) == [REPAID, CURRENT, CURRENT]
    # A loan originated on the as_of day is not a prior loan
    assert load_history(business=m1, as_of=dt.date(2024, 3, 5)).loans.originated_on.size == 2
    m2 = world["businesses"]["M2"]
    assert list(load_history(business=m2, as_of=AS_OF).loans.status) == [DEFAULTED]


def expected_history(rows: list[dict], business, as_of: dt.date, loans: list[tuple], metrics: list[tuple],
                     first_day: dt.date) -> MerchantHistory:
    """The history computed from scratch from the raw rows (the obvious way, no rollup tables)."""
    day_of = {}
    daily = defaultdict(lambda: [0, 0, 0])
    by_cp = defaultdict(lambda: [0, 0])
    balances = defaultdict(list)
    lo = as_of - dt.timedelta(days=730)
    names = sorted({r["counterparty"] for r in rows if r["counterparty"]})
    for r in rows:
        day = r["occurred_at"].astimezone(UTC).date()
        if not lo <= day < as_of:
            continue
        direction = IN if r["direction"] == "in" else OUT
        cents = round(Decimal(str(r["amount"])) * 100)
        d = daily[(day, direction, KIND[r["kind"]])]
        d[0] += 1
        d[1] += cents
        d[2] = max(d[2], cents)
        if r["counterparty"]:
            c = by_cp[(day, direction, r["counterparty"])]
            c[0] += 1
            c[1] += cents
        balances[day].append((r["occurred_at"], r["transaction_id"], round(Decimal(str(r["balance_after"])) * 100)))
        day_of[r["transaction_id"]] = day
    dk = sorted(daily)
    # Counterparties: the last 180 days, each day's 8 largest per direction (ties by name).
    cp_lo = as_of - dt.timedelta(days=180)
    ranked = defaultdict(list)
    for (day, direction, name), (_, cents) in by_cp.items():
        if day >= cp_lo:
            ranked[(day, direction)].append((-cents, name))
    ck = sorted((day, direction, name) for (day, direction), v in ranked.items() for _, name in sorted(v)[:8])
    bk = sorted(balances)
    return MerchantHistory(
        as_of=as_of, sector=business.sector, region=business.region, established_on=business.established_on,
        onboarded_on=business.onboarded_on, business_id=business.pk, first_activity=first_day,
        daily=DailyRows.build([day_number(k[0]) for k in dk], [k[1] for k in dk], [k[2] for k in dk],
                              [daily[k][0] for k in dk], [daily[k][1] / 100 for k in dk],
                              [daily[k][2] / 100 for k in dk]),
        counterparties=CounterpartyRows.build([day_number(k[0]) for k in ck], [k[1] for k in ck],
                                              [names.index(k[2]) for k in ck], [by_cp[k][0] for k in ck],
                                              [by_cp[k][1] / 100 for k in ck]),
        balances=BalanceRows.build([day_number(k) for k in bk], [min(b for *_, b in balances[k]) / 100 for k in bk],
                                   [max(balances[k])[2] / 100 for k in bk]),
        metrics=MetricRows.build([day_number(m[0]) for m in metrics if m[0] < as_of],
                                 [m[1] for m in metrics if m[0] < as_of], [m[2] for m in metrics if m[0] < as_of]),
        loans=PriorLoans.from_record(
            originated_on=[day_number(x[0]) for x in loans], amount=[x[1] for x in loans],
            term_months=[x[2] for x in loans], final_status=[STATUS_CODE[x[3]] for x in loans],
            defaulted_on=[NO_DAY if x[4] is None else day_number(x[4]) for x in loans],
            days_past_due=[0.0] * len(loans), as_of_day=day_number(as_of), dpd_known=[False] * len(loans)),
    )


@pytest.mark.parametrize("as_of", [AS_OF, dt.datetime(2024, 2, 29, 0, 0, tzinfo=UTC), dt.datetime(2023, 4, 2, tzinfo=UTC)])
def test_loader_equals_a_from_scratch_computation(world, as_of):
    m1 = world["businesses"]["M1"]
    loaded = load_history(business=m1, as_of=as_of)
    metrics = [(dt.date(2024, m, 28), "rating", 4.2 + m / 50) for m in range(1, 6)] + \
        [(dt.date(2024, m, 28), "dispute_rate", m / 100) for m in range(1, 6)]
    metrics.sort(key=lambda x: (x[0], x[1]))
    loans = [(dt.date(2023, 5, 10), 10000.0, 6, "repaid", None), (dt.date(2024, 1, 10), 15000.0, 6, "defaulted",
                                                                   dt.date(2024, 8, 1)),
             (dt.date(2024, 3, 5), 8000.0, 12, "repaid", None)]
    rows = [r for r in world["rows"] if r["merchant_id"] == "M1"]
    expected = expected_history(rows, m1, as_of.date(), loans, metrics, dt.date(2023, 3, 1))
    for group in ("daily", "balances", "metrics"):
        for field in getattr(expected, group).__dataclass_fields__:
            a, b = getattr(getattr(loaded, group), field), getattr(getattr(expected, group), field)
            assert np.array_equal(a, b), (group, field)
    # Counterparty codes are opaque but consistent (one code per name): the same rows, and codes that
    # map one to one onto the names.
    lc, ec = loaded.counterparties, expected.counterparties

    def rows(c):
        return sorted(zip(c.day.tolist(), c.direction.tolist(), c.total.tolist(), c.count.tolist(),
                          c.counterparty.tolist(), strict=True))

    got, want = rows(lc), rows(ec)
    assert [r[:4] for r in got] == [r[:4] for r in want]
    pairs = {(g[4], w[4]) for g, w in zip(got, want, strict=True)}
    assert len(pairs) == len({p[0] for p in pairs}) == len({p[1] for p in pairs})
    for field in ("originated_on", "amount", "term_months", "status", "defaulted_on", "term_end"):
        assert np.array_equal(getattr(loaded.loans, field), getattr(expected.loans, field)), field
    assert np.array_equal(features_of(loaded), features_of(expected), equal_nan=True)


@pytest.mark.parametrize("bulk", [False, True])
def test_load_histories_cuts_snapshots_equal_to_single_loads(world, django_assert_max_num_queries, monkeypatch,
                                                              bulk):
    # (bulk: PostgreSQL's aggregated-text path, used from BULK_MIN_MERCHANTS merchants per batch)
    monkeypatch.setattr(history_loader, "BULK_MIN_MERCHANTS", 1 if bulk else 10_000)
    b = world["businesses"]
    pairs = [(b["M1"], AS_OF), (b["M2"], AS_OF), (b["M1"], dt.datetime(2024, 1, 10, 9, tzinfo=UTC)),
             (b["M1"], dt.date(2023, 12, 31)), (b["M2"], dt.date(2023, 9, 20)), (b["M2"], dt.date(2023, 9, 1)),
             (b["M1"], dt.datetime(2024, 3, 5, tzinfo=UTC))]
    with django_assert_max_num_queries(12):
        many = load_histories(business_ids=[x.pk for x, _ in pairs], as_of=[a for _, a in pairs])
    assert [h.as_of for h in many] == [as_of_day(a) for _, a in pairs]
    singles = [load_history(business=x, as_of=a) for x, a in pairs]
    X_many = compute_features(many, [REQUEST] * len(pairs))
    X_single = compute_features(singles, [REQUEST] * len(pairs))
    assert np.array_equal(X_many, X_single, equal_nan=True)
    # A merchant before its first transaction: an empty history, explicit missing values
    assert many[5].daily.day.size == 0 and np.isnan(X_many[5, NAMES.index("revenue_90d")])
    for h in many:
        h.check()  # nothing on or after its own day, whatever the other snapshots of the batch
    # A merchant whose only snapshot is earlier than another merchant's in the same batch
    mixed = load_histories(business_ids=[b["M1"].pk, b["M2"].pk], as_of=[AS_OF, dt.date(2024, 1, 15)])
    mixed[1].check()
    assert np.array_equal(compute_features(mixed, [REQUEST] * 2), compute_features(
        [singles[0], load_history(business=b["M2"], as_of=dt.date(2024, 1, 15))], [REQUEST] * 2), equal_nan=True)
    # One as_of for everyone (the nightly batch)
    same = load_histories(business_ids=[b["M1"].pk, b["M2"].pk], as_of=AS_OF)
    assert np.array_equal(compute_features(same, [REQUEST] * 2), X_single[:2], equal_nan=True)


def test_load_history_is_a_handful_of_queries(world, django_assert_max_num_queries):
    with django_assert_max_num_queries(6):
        h = load_history(business=world["businesses"]["M1"], as_of=AS_OF)
    assert h.daily.day.size > 400 and h.balances.day.size > 400
    # Amounts are currency units
    sale_days = h.daily.total[(h.daily.kind == KIND["sale"])]
    assert (sale_days > 300).all() and (sale_days < 1100 * 2).all()


def test_unknown_business_ids_are_refused(world):
    with pytest.raises(ValueError):
        load_histories(business_ids=[999_999], as_of=AS_OF)
