"""Consistency checks on uploaded histories (underwriting.history.ingest.consistency): each check trips on a
small hand-built fabrication and stays quiet on its genuine counterpart; the committed fixtures trip
exactly what fixtures/uploads/README.md says; a coarse bank-statement history trips nothing; time is an
input. No database: the checks take plain arrays.
"""

import importlib.util
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import pytest

from underwriting.history.ingest.check_result import CHECKS, CheckResult, tripped_codes
from underwriting.history.ingest.consistency import history_checks
from underwriting.history.ingest.history_csv import rows_from_csv
from underwriting.history.ingest.history_rows import HistoryRows

ROOT = Path(__file__).resolve().parents[4]
FIXTURES = ROOT / "fixtures" / "uploads"
NOW = datetime(2026, 11, 1, tzinfo=UTC)
MONDAY = datetime(2026, 3, 2, tzinfo=UTC)


# --- builders ----------------------------------------------------------------------------------------


def history(entries, *, opening=50_000_00, balances=True, balance_order=None) -> HistoryRows:
    """Rows from (when, amount_minor, direction 'in'/'out', kind[, counterparty]) in the given order, with
    the balance a bank would print: opening plus the signed amounts in `balance_order` (default: the
    given order)."""
    when = np.array([e[0].astimezone(UTC).replace(tzinfo=None) for e in entries], dtype="datetime64[s]")
    amount = np.array([e[1] for e in entries], dtype=np.int64)
    direction = np.array([1 if e[2] == "in" else 2 for e in entries], dtype=np.int8)
    kind = np.array([e[3] for e in entries], dtype=object)
    cp = np.array([e[4] if len(e) > 4 else None for e in entries], dtype=object)
    signed = np.where(direction == 1, amount, -amount)
    order = np.arange(len(entries)) if balance_order is None else np.asarray(balance_order)
    bal = np.empty(len(entries))
    bal[order] = opening + np.cumsum(signed[order])
    if not balances:
        bal[:] = np.nan
    return HistoryRows(occurred_at=when, amount_minor=amount, direction=direction, kind=kind, counterparty=cp,
                       balance_minor=bal)


def replace(h: HistoryRows, **columns) -> HistoryRows:
    fields = {f: getattr(h, f) for f in ("occurred_at", "amount_minor", "direction", "kind", "counterparty",
                                          "balance_minor")}
    return HistoryRows(**{**fields, **columns})


def settlements(days=90, *, seed=1, start=MONDAY, skip=lambda d: False, round_to=None):
    """A genuine-looking shop: one card settlement a night (cents), a supplier every ten days, rent."""
    rng = np.random.default_rng(seed)
    out = []
    for d in range(days):
        day = start + timedelta(days=d)
        if day.day == 3:
            out.append((day + timedelta(hours=2), 3_000_00, "out", "rent"))
        if d % 10 == 7:
            out.append((day + timedelta(hours=3), int(rng.uniform(4_000, 9_000) * 100), "out", "supplier_payment"))
        if skip(d):
            continue
        amount = int(rng.lognormal(np.log(1_500), 0.3) * 100)
        if round_to:
            amount = amount // (round_to * 100) * round_to * 100
        out.append((day + timedelta(hours=13, minutes=int(rng.integers(0, 59))), amount, "in", "sale"))
    return out


def check(h: HistoryRows, code: str, now: datetime = NOW) -> CheckResult:
    return next(r for r in history_checks(h, now=now) if r.code == code)


# --- the catalogue -----------------------------------------------------------------------------------


def test_one_result_per_code_in_catalogue_order():
    # Given a plain genuine history, when every check runs, then one result per code comes back in order
    results = history_checks(history(settlements()), now=NOW)
    assert [r.code for r in results] == list(CHECKS) == [
        "DC_BALANCE_MISMATCH", "DC_DUPLICATED_DAYS", "DC_CALENDAR_PATTERN", "DC_ROUND_AMOUNTS",
        "DC_REPEATED_AMOUNTS", "DC_FUTURE_DATES"]
    assert all(r.applicable and not r.tripped for r in results)
    assert tripped_codes(results) == []
    d = results[0].as_dict()
    assert d["code"] == "DC_BALANCE_MISMATCH" and d["title"] == "Balances do not add up"
    assert d["tripped"] is False and d["applicable"] is True and d["detail"] == results[0].detail
    assert d["measures"] == {"checkable": 101.0, "broken": 0.0, "broken_share": 0.0}


def test_an_empty_history_is_not_applicable_anywhere():
    empty = HistoryRows(np.array([], dtype="datetime64[s]"), [], [], [], [], [])
    assert [(r.applicable, r.tripped) for r in history_checks(empty, now=NOW)] == [(False, False)] * 6


def test_the_module_imports_nothing_from_django():
    # Given a fresh interpreter, when the module is imported, then Django is not loaded
    code = "import sys, underwriting.history.ingest.consistency; print(any(m.split('.')[0] == 'django' for m in sys.modules))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, check=True)
    assert out.stdout.strip() == "False"


# --- DC_BALANCE_MISMATCH ------------------------------------------------------------------------------


def test_balances_that_follow_stay_quiet():
    # Given 90 nights of settlements plus bills with the balances a bank prints
    r = check(history(settlements()), "DC_BALANCE_MISMATCH")
    # Then every checkable balance follows (102 rows; the first day's row has no day before it)
    assert (r.tripped, r.applicable) == (False, True)
    assert r.detail == "All 101 checkable balances follow from an earlier balance and the amount."


def test_inflated_sales_with_the_old_balances_trip():
    # Given the same history, ten of whose sales were doubled after the balances were printed
    genuine = history(settlements())
    sales = np.flatnonzero(genuine.kind == "sale")[10:20]
    amount = genuine.amount_minor.copy()
    amount[sales] *= 2
    r = check(replace(genuine, amount_minor=amount), "DC_BALANCE_MISMATCH")
    # Then exactly those ten rows fail
    assert r.tripped
    assert r.detail == ("10 of 101 balances (10%) do not follow from any earlier balance and the amount, the "
                        "first on 2026-03-12.")


def test_bills_slotted_into_a_spreadsheet_trip():
    # Given takings with a running balance, and bills inserted later whose balance is worked out from the
    # row above while the rows below are never redone
    takings = [e for e in settlements() if e[2] == "in"]
    h = history(takings)
    rows = [[e[0], e[1], e[2], e[3], b] for e, b in zip(takings, h.balance_minor.tolist(), strict=True)]
    for week in range(12):
        when = MONDAY + timedelta(days=7 * week + 1, hours=9)
        rows.append([when, 2_500_00, "out", "supplier_payment", None])
    rows.sort(key=lambda r: r[0])
    for i, row in enumerate(rows):
        if row[4] is None:
            row[4] = rows[i - 1][4] - row[1]
    fake = replace(history([r[:4] for r in rows]), balance_minor=[r[4] for r in rows])
    r = check(fake, "DC_BALANCE_MISMATCH")
    # Then each bill leaves one row claiming a balance another row already used: 12 rows fail
    assert r.tripped
    assert dict(r.measures)["broken"] == 12.0
    assert r.detail == ("12 of 101 balances (12%) do not follow from any earlier balance and the amount, the "
                        "first on 2026-03-03.")


def test_ties_newest_first_and_posting_order_stay_quiet():
    # Given a date-only statement listed newest first, the bank having posted each day's rows in its own
    # order (here: reversed against the transaction times)
    entries = settlements()
    days = np.array([e[0].date().toordinal() for e in entries])
    posting = np.lexsort((-np.arange(len(entries)), days))
    h = history(entries, balance_order=posting)
    midnight = h.occurred_at.astype("datetime64[D]").astype("datetime64[s]")
    statement = replace(h, occurred_at=midnight[::-1], amount_minor=h.amount_minor[::-1],
                        direction=h.direction[::-1], kind=h.kind[::-1], counterparty=h.counterparty[::-1],
                        balance_minor=h.balance_minor[::-1])
    # Then the order does not matter, only the arithmetic
    for variant in (h, statement):
        r = check(variant, "DC_BALANCE_MISMATCH")
        assert (r.tripped, r.applicable, dict(r.measures)["broken"]) == (False, True, 0.0)


def test_a_cent_of_rounding_and_a_lost_row_stay_quiet():
    genuine = history(settlements())
    # Given balances printed a cent off on every third row
    nudged = genuine.balance_minor + np.where(np.arange(len(genuine)) % 3 == 0, 1.0, 0.0)
    assert dict(check(replace(genuine, balance_minor=nudged), "DC_BALANCE_MISMATCH").measures)["broken"] == 0.0
    # Given one row lost from the extract
    keep = np.arange(len(genuine)) != 40
    lost = HistoryRows(*(getattr(genuine, f)[keep] for f in ("occurred_at", "amount_minor", "direction", "kind",
                                                              "counterparty", "balance_minor")))
    r = check(lost, "DC_BALANCE_MISMATCH")
    assert (r.tripped, dict(r.measures)["broken"]) == (False, 1.0)


def test_a_closing_balance_printed_on_every_row_of_the_day_is_read_as_the_days_net():
    # Given a statement that prints each day's closing balance on all of that day's rows
    h = history(settlements())
    day = h.occurred_at.astype("datetime64[D]")
    last = np.r_[day[1:] != day[:-1], True]
    closing = np.empty(len(h))
    for d in np.unique(day):
        closing[day == d] = h.balance_minor[(day == d) & last][0]
    r = check(replace(h, balance_minor=closing), "DC_BALANCE_MISMATCH")
    assert (r.tripped, r.applicable, dict(r.measures)["broken"]) == (False, True, 0.0)


def test_balances_that_cannot_be_chained_are_not_applicable():
    h = history(settlements())
    # Given no balances at all
    r = check(replace(h, balance_minor=np.full(len(h), np.nan)), "DC_BALANCE_MISMATCH")
    assert (r.tripped, r.applicable) == (False, False)
    assert r.detail == "No balances are reported, so they cannot be checked."
    # Given a balance on every other row only: no two consecutive days give every balance
    partial = np.where(np.arange(len(h)) % 2 == 0, h.balance_minor, np.nan)
    r = check(replace(h, balance_minor=partial), "DC_BALANCE_MISMATCH")
    assert (r.tripped, r.applicable) == (False, False)
    assert r.detail == ("Only 0 balances can be checked against the balance before them (at least 10 are needed: "
                        "every row of two consecutive days needs one).")


# --- DC_DUPLICATED_DAYS -------------------------------------------------------------------------------


def _week_of_sales(rng, start):
    return [(start + timedelta(days=d, hours=int(h)), int(rng.uniform(30, 400) * 100), "in", "sale")
            for d in range(7) for h in sorted(rng.integers(9, 20, size=int(rng.integers(3, 7))))]


def test_a_week_copied_forward_trips():
    # Given one plausible week of sales (cents, 3-6 a day) copied into the next seven weeks
    template = _week_of_sales(np.random.default_rng(3), MONDAY)
    copies = [(w + timedelta(days=7 * k), a, d, kind) for k in range(8) for (w, a, d, kind) in template]
    r = check(history(copies), "DC_DUPLICATED_DAYS")
    # Then every copied day repeats its template on another day of the month
    assert r.tripped
    assert dict(r.measures)["repeats"] == 49.0
    assert r.detail.startswith("49 of 56 days with several transactions repeat another day's transactions exactly")
    assert r.detail.endswith("e.g. 2026-03-09 repeats 2026-03-02 row for row.")


def test_fresh_weeks_and_monthly_fees_stay_quiet():
    rng = np.random.default_rng(3)
    # Given eight weeks of fresh sales
    fresh = [e for k in range(8) for e in _week_of_sales(rng, MONDAY + timedelta(days=7 * k))]
    assert dict(check(history(fresh), "DC_DUPLICATED_DAYS").measures)["repeats"] == 0.0
    # Given, on top, the same four students paying the same fees on the 3rd of every month
    fees = [(datetime(2026, m, 3, 10, tzinfo=UTC) + timedelta(minutes=i), fee, "in", "sale")
            for m in (3, 4) for i, fee in enumerate((1_200_00, 1_200_00, 1_500_00, 800_00))]
    r = check(history(sorted(fresh + fees)), "DC_DUPLICATED_DAYS")
    assert (r.tripped, r.applicable) == (False, True)


def test_a_cafe_whose_slow_days_coincide_by_chance_stays_quiet():
    # Given a cafe selling two or three coffees a day at three prices: days repeat by chance
    rng = np.random.default_rng(5)
    cups = [(MONDAY + timedelta(days=d, hours=8 + i), int(rng.choice([18_00, 22_00, 25_00])), "in", "sale")
            for d in range(120) for i in range(int(rng.integers(2, 4)))]
    r = check(history(cups), "DC_DUPLICATED_DAYS")
    m = dict(r.measures)
    assert m["repeats"] > 30 and m["chance"] > 30
    assert not r.tripped


# --- DC_CALENDAR_PATTERN ------------------------------------------------------------------------------


def test_every_fifth_day_missing_trips():
    # Given a shop with sales every day except one day in five, like clockwork
    h = history(settlements(100, skip=lambda d: d % 5 == 4))
    r = check(h, "DC_CALENDAR_PATTERN")
    assert r.tripped
    assert r.detail == ("Days follow a mechanical pattern: one day in every 5 has no sales (19 of 19 such days, "
                        "while 100% of the other days have sales).")


def test_closed_on_sundays_stays_quiet():
    # Given a shop closed every Sunday (the weekly cycle is genuine)
    h = history(settlements(120, skip=lambda d: (MONDAY + timedelta(days=d)).weekday() == 6))
    r = check(h, "DC_CALENDAR_PATTERN")
    assert (r.tripped, r.applicable) == (False, True)
    assert r.detail == ("Days follow no mechanical pattern: no interval other than the week leaves sales out of "
                        "one of its days more than 20% of the time and no number of two or more transactions "
                        "recurs on more than 12% of the days.")


def test_the_same_number_of_rows_every_day_trips_and_a_settlement_a_day_does_not():
    rng = np.random.default_rng(2)
    # Given exactly three sales every day for 90 days
    three = [(MONDAY + timedelta(days=d, hours=9 + 3 * i), int(rng.uniform(50, 800) * 100), "in", "sale")
             for d in range(90) for i in range(3)]
    r = check(history(three), "DC_CALENDAR_PATTERN")
    assert r.tripped
    assert r.detail == "Days follow a mechanical pattern: 90 of 90 days with transactions (100%) have exactly 3."
    # Given one settlement a night with bills on their own days
    assert not check(history(settlements()), "DC_CALENDAR_PATTERN").tripped


# --- DC_ROUND_AMOUNTS and DC_REPEATED_AMOUNTS ---------------------------------------------------------


def test_takings_in_round_tens_trip_and_takings_with_cents_do_not():
    # Given 90 nights of takings kept to the nearest 10 yuan
    r = check(history(settlements(round_to=10)), "DC_ROUND_AMOUNTS")
    assert r.tripped
    assert r.detail == "90 of 90 days' takings (100%) are whole multiples of 10 currency units (90 are whole units)."
    # Given the same nights to the cent
    r = check(history(settlements()), "DC_ROUND_AMOUNTS")
    assert (r.tripped, r.applicable) == (False, True)
    assert r.detail == "0 of 90 days' takings (0%) are whole multiples of 10 currency units (1 are whole units)."


def test_a_cafe_with_a_few_whole_prices_stays_quiet():
    # Given a cafe ringing up 20-60 single items a day at six whole-unit prices, one row per sale
    rng = np.random.default_rng(8)
    prices = np.array([12, 18, 22, 25, 28, 32]) * 100
    sales = [(MONDAY + timedelta(days=d, seconds=int(s)), int(rng.choice(prices)), "in", "card_payment")
             for d in range(90) for s in np.sort(rng.integers(0, 36_000, size=int(rng.integers(20, 60))))]
    results = history_checks(history(sales), now=NOW)
    # Then its daily takings are neither round nor repeated beyond chance, and nothing trips
    assert tripped_codes(results) == []
    round_share = dict(results[3].measures)["round_share"]
    assert 0.0 < round_share < 0.3


def test_a_b2b_firm_invoicing_a_few_round_sums_is_not_judged_on_takings():
    # Given six clients paying round invoices once a month
    invoices = [(datetime(2026, m, 2 + 4 * c, 10, tzinfo=UTC), fee * 100, "in", "sale", f"Client {c}")
                for m in range(2, 11) for c, fee in enumerate((5_000, 8_000, 10_000, 12_000, 20_000, 5_000))]
    results = history_checks(history(invoices), now=NOW)
    assert tripped_codes(results) == []
    for r in results[3:5]:
        assert not r.applicable
        assert r.detail == ("Sales arrive on 54 of 263 days; daily takings are checked with sales on at least 60 "
                            "days and 40% of them.")


def test_takings_picked_from_a_short_list_trip_and_smooth_takings_do_not():
    rng = np.random.default_rng(4)
    # Given takings picked from five figures every night
    picked = [(MONDAY + timedelta(days=d, hours=13), int(rng.choice([1_800, 2_200, 2_500, 3_000, 3_400])) * 100,
               "in", "sale") for d in range(90)]
    r = check(history(picked), "DC_REPEATED_AMOUNTS")
    assert r.tripped
    assert r.detail.startswith("90 of 90 days' takings (100%) repeat another day's figure exactly, 5 different "
                               "figures in all")
    # Given whole-yuan takings from a narrow smooth spread (many days share a figure by chance)
    smooth = [(MONDAY + timedelta(days=d, hours=13), int(rng.normal(2_000, 30)) * 100, "in", "sale")
              for d in range(90)]
    r = check(history(smooth), "DC_REPEATED_AMOUNTS")
    m = dict(r.measures)
    assert m["repeated_share"] >= 0.3 and m["spike"] < 2
    assert not r.tripped


# --- DC_FUTURE_DATES ----------------------------------------------------------------------------------


def test_rows_dated_after_the_check_trip():
    # Given a history ending three days after the moment of the check
    now = datetime(2026, 5, 30, 12, tzinfo=UTC)
    h = history(settlements(90))  # 2026-03-02 .. 2026-05-30, sales at 13:xx UTC
    later = replace(h, occurred_at=h.occurred_at + np.timedelta64(3 * 86_400, "s"))
    r = check(later, "DC_FUTURE_DATES", now)
    assert r.tripped
    assert r.detail == ("3 of 102 transactions are dated after the check (2026-05-30), the latest on 2026-06-02, "
                        "3 days ahead.")
    # Given the same history checked a week later, nothing is ahead
    assert not check(later, "DC_FUTURE_DATES", now + timedelta(days=7)).tripped


def test_a_day_of_grace_for_local_times_written_without_offset():
    # Given the last sale written as local time without offset: read as UTC, it is eight hours "ahead"
    now = datetime(2026, 5, 30, 6, tzinfo=UTC)
    r = check(history(settlements(90)), "DC_FUTURE_DATES", now)
    assert (r.tripped, r.applicable) == (False, True)
    assert r.detail == "No transaction is dated after the check (2026-05-30)."


def test_now_must_be_timezone_aware():
    with pytest.raises(ValueError, match="timezone-aware"):
        history_checks(history(settlements()), now=datetime(2026, 11, 1))  # noqa: DTZ001


# --- the committed fixtures ---------------------------------------------------------------------------


def test_the_fabricated_fixture_trips_balances_and_round_takings():
    # Given the fabricated nine months (fixtures/uploads/make_fabricated.py)
    h = rows_from_csv(FIXTURES / "fabricated-nine-months.csv", merchant_id="W000000000001")
    results = history_checks(h, now=NOW)
    # Then it trips two codes, exactly these, with these figures
    assert tripped_codes(results) == ["DC_BALANCE_MISMATCH", "DC_ROUND_AMOUNTS"]
    by_code = {r.code: r for r in results}
    assert by_code["DC_BALANCE_MISMATCH"].detail == (
        "104 of 384 balances (27%) do not follow from any earlier balance and the amount, the first on 2026-02-01.")
    assert by_code["DC_ROUND_AMOUNTS"].detail == (
        "271 of 271 days' takings (100%) are whole multiples of 10 currency units (271 are whole units).")
    assert all(r.applicable for r in results)


def test_the_genuine_fixture_trips_nothing():
    # Given twelve months of one simulated grocery (fixtures/uploads/export_genuine.py)
    h = rows_from_csv(FIXTURES / "genuine-simulated.csv", merchant_id="W000000000002")
    results = history_checks(h, now=NOW)
    assert len(h) == 449
    assert tripped_codes(results) == []
    assert all(r.applicable for r in results)


def test_a_coarse_bank_statement_trips_nothing_and_balances_are_not_applicable():
    # Given the genuine fixture as a bank statement shows it: card payments, transfers and other, no
    # counterparty, no balance
    h = rows_from_csv(FIXTURES / "genuine-simulated.csv")
    coarse = {"sale": "card_payment", "refund": "card_payment", "fee": "card_payment", "card_payment": "card_payment"}
    kinds = np.array([coarse.get(k, "transfer") for k in h.kind], dtype=object)
    statement = replace(h, kind=kinds, counterparty=np.full(len(h), None), balance_minor=np.full(len(h), np.nan))
    results = history_checks(statement, now=NOW)
    assert tripped_codes(results) == []
    assert [r.applicable for r in results] == [False, True, True, True, True, True]
    assert results[0].detail == "No balances are reported, so they cannot be checked."


def test_every_merchant_of_a_small_simulated_world_as_a_bank_statement_trips_nothing():
    from underwriting.simulator import generate_world
    from underwriting.simulator.params import TRANSACTION_KINDS

    world = generate_world(merchants=40, months=9, seed=11)
    tx = world.tx
    coarse = {"sale": "card_payment", "refund": "card_payment", "chargeback": "card_payment",
              "fee": "card_payment", "card_payment": "card_payment", "cash_deposit": "other"}
    kinds = np.array([coarse.get(k, "transfer") for k in TRANSACTION_KINDS], dtype=object)[tx["kind"]]
    start = np.datetime64(world.start.isoformat(), "s")
    when = start + (tx["day"].astype(np.int64) * 86_400 + tx["sec"]).astype("timedelta64[s]")
    for m in range(world.pop.n):
        sel = tx["merchant"] == m
        h = HistoryRows(when[sel], tx["amount"][sel], np.where(tx["direction"][sel] == 0, 1, 2), kinds[sel],
                        np.full(sel.sum(), None), np.full(sel.sum(), np.nan))
        assert tripped_codes(history_checks(h, now=NOW)) == [], m


@pytest.mark.parametrize(("script", "fixture"), [("make_fabricated.py", "fabricated-nine-months.csv"),
                                                 ("export_genuine.py", "genuine-simulated.csv")])
def test_the_fixture_scripts_regenerate_the_committed_files(tmp_path, script, fixture):
    spec = importlib.util.spec_from_file_location(script.removesuffix(".py"), FIXTURES / script)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    module.main(tmp_path / fixture)
    assert (tmp_path / fixture).read_bytes() == (FIXTURES / fixture).read_bytes()


# --- reading the interchange format -------------------------------------------------------------------


def test_rows_from_csv_reads_the_interchange_format(tmp_path):
    # Given a file with a BOM, header names in any case and order, an extra column, a blank line, offsets,
    # a date alone, more than two decimals, and two merchants
    path = tmp_path / "transactions.csv"
    path.write_text(
        "\ufeff Kind ,AMOUNT,Merchant_ID,occurred_at,direction,currency,transaction_id,note,Balance_After\n"
        "Sale,128.5,M1,2024-03-01T09:15:00Z,IN,CNY,T1,x,5128.50\n"
        "\n"
        "supplier_payment,2300.005,M1,2024-03-01T18:02:11+08:00,out,CNY,T2,,2828.49\n"
        "card_payment,45,M2,2024-03-02,in,CNY,A-77,,\n",
        encoding="utf-8")
    # When one merchant's rows are read
    h = rows_from_csv(path, merchant_id="M1")
    # Then the values are in UTC, in cents, lower-cased, with NaN for a missing balance
    assert h.occurred_at.astype(str).tolist() == ["2024-03-01T09:15:00", "2024-03-01T10:02:11"]
    assert h.amount_minor.tolist() == [12_850, 230_001]
    assert h.direction.tolist() == [1, 2]
    assert h.kind.tolist() == ["sale", "supplier_payment"]
    assert h.counterparty.tolist() == [None, None]
    assert h.balance_minor.tolist() == [512_850.0, 282_849.0]
    other = rows_from_csv(path, merchant_id="M2")
    assert other.occurred_at.tolist() == [np.datetime64("2024-03-02T00:00:00")]
    assert np.isnan(other.balance_minor[0])
    # Without a merchant named, a file of several merchants is refused, not mixed into one history
    with pytest.raises(ValueError, match=r"transactions.csv:5: merchant_id: the file holds several merchants"):
        rows_from_csv(path)


def test_rows_from_csv_names_the_line_and_column_of_a_bad_value(tmp_path):
    path = tmp_path / "t.csv"
    path.write_text("occurred_at,amount,direction,kind\n2024-03-01,10.00,in,sale\n2024-03-02,-5,in,sale\n")
    with pytest.raises(ValueError, match=r"t.csv:3: amount: -5 is negative"):
        rows_from_csv(path)
    path.write_text("occurred_at,amount,kind\n2024-03-01,10.00,sale\n")
    with pytest.raises(ValueError, match="required columns missing from the header: direction"):
        rows_from_csv(path)
