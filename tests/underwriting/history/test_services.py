"""The history import: the CSV contract of docs/data-format.md, its errors, idempotency and the
command. Every test runs on PostgreSQL (COPY fast path) and on SQLite (portable fallback)."""

import csv
import datetime as dt
import io
import tempfile
from decimal import Decimal
from pathlib import Path

import pytest
from django.core.management import CommandError, call_command
from hypothesis import given, settings
from hypothesis import strategies as st

from accounts.models import Business
from tests.factories import BusinessFactory, PartnerFactory
from underwriting.history.ingest.csvio import SUSPECT_BYTES, open_text
from underwriting.history.ingest.rows import RowParser, kinds_for, stage_metrics, stage_transactions
from underwriting.history.models import (
    CounterpartyDailyRollup,
    DailyBalance,
    DailyRollup,
    Direction,
    ImportRun,
    ImportStatus,
    LoanRecord,
    LoanRecordSource,
    LoanRecordStatus,
    MerchantMetric,
    Transaction,
    TransactionKind,
)
from underwriting.history.services import HistoryImportError, ImportIssue, history_import

UTC = dt.UTC
MERCHANTS_HEADER = "merchant_id,name,category,region,onboarded_on"
TXN_HEADER = (
    "merchant_id,transaction_id,occurred_at,amount,currency,direction,kind,counterparty,balance_after"
)
METRICS_HEADER = "merchant_id,observed_on,metric,value"
LOANS_HEADER = "loan_id,merchant_id,originated_on,amount,term_months,status,defaulted_on"


@pytest.fixture
def partner(db):
    return PartnerFactory(slug="acme-bank", currency="CNY")


@pytest.fixture
def merchant(partner):
    return BusinessFactory(partner=partner, external_id="M1", legal_name="Alpha Ltd")


@pytest.fixture
def write(tmp_path):
    def write(name: str, *lines: str, encoding: str = "utf-8") -> Path:
        path = tmp_path / name
        path.write_bytes(("\n".join(lines) + "\n").encode(encoding))
        return path

    return write


def issues(exc_info) -> list[tuple]:
    return [(e.file, e.line, e.column, e.reason) for e in exc_info.value.errors]


def txns(business) -> list[tuple]:
    return list(
        Transaction.objects.filter(business=business)
        .order_by("transaction_id")
        .values_list(
            "transaction_id",
            "occurred_at",
            "amount_minor",
            "direction",
            "kind",
            "counterparty",
            "balance_after_minor",
        )
    )


def rollups(business) -> list[tuple]:
    return sorted(
        DailyRollup.objects.filter(business=business).values_list(
            "day", "direction", "kind", "count", "total_minor", "max_minor"
        )
    )


# --- the happy path ---------------------------------------------------------------------------------


def test_merchants_then_transactions_in_one_call(partner, write):
    # given a merchants file and a transactions file naming those merchants
    merchants = write(
        "merchants.csv",
        "merchant_id,name,category,region,onboarded_on,established_on,registration_number",
        "M1,Alpha Ltd,grocery,east,2024-01-01,2019-05-01,REG-1",
        "M2,Beta Ltd,food,west,2024-02-01,,",
    )
    transactions = write(
        "transactions.csv",
        TXN_HEADER,
        "M1,t1,2024-03-01T09:00:00Z,120.50,CNY,in,sale,Shopper,1000.00",
        "M1,t2,2024-03-01T23:59:59,70.00,CNY,in,sale,,1070.00",
        "M1,t3,2024-03-02T00:30:00+01:00,30.005,CNY,out,rent,Landlord,-5.00",
        "M2,t1,2024-03-05,10,CNY,in,sale,Shopper,",
    )

    # when both are imported in one call
    result = history_import(partner=partner, merchants=merchants, transactions=transactions)

    # then the merchants exist with their profile and every transaction is stored in UTC, in cents
    m1 = Business.objects.get(partner=partner, external_id="M1")
    m2 = Business.objects.get(partner=partner, external_id="M2")
    assert (
        m1.legal_name,
        m1.sector,
        m1.region,
        m1.onboarded_on,
        m1.established_on,
        m1.registration_number,
    ) == ("Alpha Ltd", "grocery", "east", dt.date(2024, 1, 1), dt.date(2019, 5, 1), "REG-1")
    assert (m2.established_on, m2.registration_number, m2.owner) == (None, "", None)
    assert txns(m1) == [
        (
            "t1",
            dt.datetime(2024, 3, 1, 9, tzinfo=UTC),
            12_050,
            Direction.IN,
            TransactionKind.SALE,
            "Shopper",
            100_000,
        ),
        (
            "t2",
            dt.datetime(2024, 3, 1, 23, 59, 59, tzinfo=UTC),
            7_000,
            Direction.IN,
            TransactionKind.SALE,
            None,
            107_000,
        ),
        # 30.005 rounds half-up to 30.01; 00:30 at +01:00 is 23:30 UTC the day before
        (
            "t3",
            dt.datetime(2024, 3, 1, 23, 30, tzinfo=UTC),
            3_001,
            Direction.OUT,
            TransactionKind.RENT,
            "Landlord",
            -500,
        ),
    ]
    assert txns(m2) == [
        (
            "t1",
            dt.datetime(2024, 3, 5, tzinfo=UTC),
            1_000,
            Direction.IN,
            TransactionKind.SALE,
            "Shopper",
            None,
        )
    ]
    # and the rollups of every touched UTC day
    assert rollups(m1) == [
        (dt.date(2024, 3, 1), Direction.IN, TransactionKind.SALE, 2, 19_050, 12_050),
        (dt.date(2024, 3, 1), Direction.OUT, TransactionKind.RENT, 1, 3_001, 3_001),
    ]
    assert sorted(
        CounterpartyDailyRollup.objects.filter(business=m1).values_list(
            "day", "direction", "counterparty", "count", "total_minor"
        )
    ) == [
        (dt.date(2024, 3, 1), Direction.IN, "Shopper", 1, 12_050),
        (dt.date(2024, 3, 1), Direction.OUT, "Landlord", 1, 3_001),
    ]
    # the day's last transaction is t2 (23:59:59), not t3 (23:30), though t3 is later in the file
    assert list(
        DailyBalance.objects.filter(business=m1).values_list(
            "day", "min_balance_minor", "close_balance_minor"
        )
    ) == [(dt.date(2024, 3, 1), -500, 107_000)]
    assert DailyBalance.objects.filter(business=m2).count() == 0
    # and the counts and the audit record
    counts = {k: (c.read, c.inserted, c.unchanged, c.updated, c.rejected) for k, c in result.files.items()}
    assert counts == {"merchants": (2, 2, 0, 0, 0), "transactions": (4, 4, 0, 0, 0)}
    assert result.status == ImportStatus.SUCCEEDED
    run = ImportRun.objects.get(public_id=result.run_id)
    assert (run.partner, run.status, run.error_count, run.source) == (
        partner,
        ImportStatus.SUCCEEDED,
        0,
        "cli",
    )
    assert run.counts["transactions"]["inserted"] == 4
    assert run.finished_at is not None


def test_metrics_and_loans_are_imported(partner, merchant, write):
    # given metrics (one with a name the platform does not know yet) and a loan book
    metrics = write(
        "merchant_metrics.csv",
        METRICS_HEADER,
        "M1,2024-03-01,rating,4.5",
        "M1,2024-03-01,brand_new_metric,0.0000005",
    )
    loans = write(
        "loans.csv",
        LOANS_HEADER,
        "L1,M1,2023-01-01,5000,12,repaid,",
        "L2,M1,2023-06-01,3000.505,6,defaulted,2023-10-01",
        "L3,M1,2024-01-15,800.00,3,,",
    )

    # when they are imported
    result = history_import(partner=partner, metrics=metrics, loans=loans)

    # then unknown metric names are kept and values rounded half-up to 6 places
    assert sorted(
        MerchantMetric.objects.filter(business=merchant).values_list("observed_on", "metric", "value")
    ) == [
        (dt.date(2024, 3, 1), "brand_new_metric", Decimal("0.000001")),
        (dt.date(2024, 3, 1), "rating", Decimal("4.500000")),
    ]
    # and the loans are imported records of the merchant
    assert list(
        LoanRecord.objects.filter(partner=partner)
        .order_by("loan_id")
        .values_list(
            "loan_id",
            "business",
            "source",
            "originated_on",
            "amount",
            "term_months",
            "status",
            "defaulted_on",
        )
    ) == [
        (
            "L1",
            merchant.pk,
            LoanRecordSource.IMPORTED,
            dt.date(2023, 1, 1),
            Decimal("5000.00"),
            12,
            LoanRecordStatus.REPAID,
            None,
        ),
        (
            "L2",
            merchant.pk,
            LoanRecordSource.IMPORTED,
            dt.date(2023, 6, 1),
            Decimal("3000.51"),
            6,
            LoanRecordStatus.DEFAULTED,
            dt.date(2023, 10, 1),
        ),
        (
            "L3",
            merchant.pk,
            LoanRecordSource.IMPORTED,
            dt.date(2024, 1, 15),
            Decimal("800.00"),
            3,
            None,
            None,
        ),
    ]
    assert (result.files["metrics"].inserted, result.files["loans"].inserted) == (2, 3)


def test_column_order_is_free_extra_columns_are_ignored_and_a_bom_is_tolerated(partner, merchant, tmp_path):
    # given a file with a BOM, shuffled columns, an unknown column, padding and upper-case enums
    path = tmp_path / "transactions.csv"
    path.write_bytes(
        "\ufeffnote,kind,amount,merchant_id,direction,currency,occurred_at,transaction_id\n"
        "hello,SALE, 12 ,M1, In ,cny,2024-03-01 10:00:00,t1\n".encode()
    )

    # when it is imported
    history_import(partner=partner, transactions=path)

    # then the row is read by column name
    assert txns(merchant) == [
        ("t1", dt.datetime(2024, 3, 1, 10, tzinfo=UTC), 1_200, Direction.IN, TransactionKind.SALE, None, None)
    ]


# --- idempotency and conflicts ------------------------------------------------------------------------


def test_reimporting_identical_files_changes_nothing(partner, write):
    merchants = write("merchants.csv", MERCHANTS_HEADER, "M1,Alpha Ltd,grocery,east,2024-01-01")
    transactions = write(
        "transactions.csv",
        TXN_HEADER,
        "M1,t1,2024-03-01T09:00:00Z,120.50,CNY,in,sale,Shopper,1000.00",
        "M1,t2,2024-03-02T09:00:00Z,5.00,CNY,out,fee,,995.00",
    )
    metrics = write("metrics.csv", METRICS_HEADER, "M1,2024-03-01,rating,4.5")
    loans = write("loans.csv", LOANS_HEADER, "L1,M1,2023-01-01,5000,12,repaid,")
    history_import(
        partner=partner, merchants=merchants, transactions=transactions, metrics=metrics, loans=loans
    )
    business = Business.objects.get(partner=partner, external_id="M1")
    before = (txns(business), rollups(business), list(DailyBalance.objects.values_list()))

    # when the same files are imported again
    result = history_import(
        partner=partner, merchants=merchants, transactions=transactions, metrics=metrics, loans=loans
    )

    # then every row is counted unchanged and nothing moved
    counts = {k: (c.read, c.inserted, c.unchanged, c.updated, c.rejected) for k, c in result.files.items()}
    assert counts == {
        "merchants": (1, 0, 1, 0, 0),
        "transactions": (2, 0, 2, 0, 0),
        "metrics": (1, 0, 1, 0, 0),
        "loans": (1, 0, 1, 0, 0),
    }
    assert (txns(business), rollups(business), list(DailyBalance.objects.values_list())) == before
    assert Business.objects.filter(partner=partner).count() == 1
    assert result.status == ImportStatus.SUCCEEDED


def test_a_day_imported_in_two_pieces_has_the_rollup_of_both(partner, merchant, write):
    # given one row of a day already imported
    history_import(
        partner=partner,
        transactions=write("a.csv", TXN_HEADER, "M1,t1,2024-03-01T09:00:00Z,10.00,CNY,in,sale,,100.00"),
    )

    # when a later file brings another row of the same day, and a re-sent copy of the first
    history_import(
        partner=partner,
        transactions=write(
            "b.csv",
            TXN_HEADER,
            "M1,t1,2024-03-01T09:00:00Z,10.00,CNY,in,sale,,100.00",
            "M1,t2,2024-03-01T08:00:00Z,25.00,CNY,in,sale,,90.00",
        ),
    )

    # then the day's rollups cover both rows, and the close is the latest row's balance
    assert rollups(merchant) == [(dt.date(2024, 3, 1), Direction.IN, TransactionKind.SALE, 2, 3_500, 2_500)]
    assert list(
        DailyBalance.objects.filter(business=merchant).values_list("min_balance_minor", "close_balance_minor")
    ) == [(9_000, 10_000)]


def test_a_conflicting_reimport_is_an_error_and_changes_nothing(partner, merchant, write):
    # given an imported transaction and loan
    history_import(
        partner=partner,
        transactions=write("t.csv", TXN_HEADER, "M1,t1,2024-03-01T09:00:00Z,10.00,CNY,in,sale,,"),
        loans=write("l.csv", LOANS_HEADER, "L1,M1,2023-01-01,5000,12,current,"),
    )

    # when the same ids come back with different content, next to a new valid row
    with pytest.raises(HistoryImportError) as exc_info:
        history_import(
            partner=partner,
            transactions=write(
                "t2.csv",
                TXN_HEADER,
                "M1,t2,2024-03-02T09:00:00Z,1.00,CNY,in,sale,,",
                "M1,t1,2024-03-01T09:00:00Z,10.01,CNY,in,sale,,",
            ),
            loans=write("l2.csv", LOANS_HEADER, "L1,M1,2023-01-01,5000,12,repaid,"),
        )

    # then both are errors naming the line and the first column that differs
    assert issues(exc_info) == [
        (
            "t2.csv",
            3,
            "amount",
            'transaction_id "t1" of merchant "M1" was already imported with a different '
            "amount; a re-import must be identical (history is never overwritten)",
        ),
        (
            "l2.csv",
            2,
            "status",
            'loan_id "L1" was already imported with a different status; a re-import must '
            "be identical (history is never overwritten)",
        ),
    ]
    # and nothing changed, not even the valid new row
    assert [t[:3] for t in txns(merchant)] == [("t1", dt.datetime(2024, 3, 1, 9, tzinfo=UTC), 1_000)]
    assert rollups(merchant) == [(dt.date(2024, 3, 1), Direction.IN, TransactionKind.SALE, 1, 1_000, 1_000)]
    assert LoanRecord.objects.get(loan_id="L1").status == LoanRecordStatus.CURRENT


def test_a_changed_merchant_row_updates_the_profile(partner, write):
    # given an imported merchant
    history_import(
        partner=partner,
        merchants=write(
            "m.csv", MERCHANTS_HEADER + ",registration_number", "M1,Alpha Ltd,grocery,east,2024-01-01,R1"
        ),
    )

    # when its row comes back changed (and without the optional column)
    result = history_import(
        partner=partner,
        merchants=write("m2.csv", MERCHANTS_HEADER, "M1,Alpha Holdings Ltd,grocery,north,2024-01-01"),
    )

    # then the profile is updated; the absent column keeps its stored value
    business = Business.objects.get(partner=partner, external_id="M1")
    assert (business.legal_name, business.region, business.registration_number) == (
        "Alpha Holdings Ltd",
        "north",
        "R1",
    )
    assert (result.files["merchants"].updated, result.files["merchants"].inserted) == (1, 0)


def test_partners_are_isolated(partner, merchant, write):
    # given another partner with a merchant of the same id
    other = PartnerFactory(slug="other-bank", currency="CNY")
    theirs = BusinessFactory(partner=other, external_id="M1")

    # when both import the same transaction id
    history_import(
        partner=partner, transactions=write("a.csv", TXN_HEADER, "M1,t1,2024-03-01,10.00,CNY,in,sale,,")
    )
    history_import(
        partner=other, transactions=write("b.csv", TXN_HEADER, "M1,t1,2024-03-01,99.00,CNY,in,sale,,")
    )

    # then each partner's merchant has its own
    assert [t[2] for t in txns(merchant)] == [1_000]
    assert [t[2] for t in txns(theirs)] == [9_900]


# --- errors -------------------------------------------------------------------------------------------

BAD_TRANSACTIONS = [
    (
        "M1,t1,2024-02-30T10:00:00,1.00,CNY,in,sale,,",
        "occurred_at",
        "'2024-02-30T10:00:00' is not a valid ISO 8601 date-time (e.g. 2024-03-31T14:05:00Z)",
    ),
    (
        "M1,t1,03/01/2024,1.00,CNY,in,sale,,",
        "occurred_at",
        "'03/01/2024' is not an ISO 8601 date-time (e.g. 2024-03-31T14:05:00Z)",
    ),
    ("M1,t1,2024-02-30,1.00,CNY,in,sale,,", "occurred_at", "'2024-02-30' is not a valid calendar date"),
    ("M1,t1,,1.00,CNY,in,sale,,", "occurred_at", "a value is required"),
    (
        "M1,t1,2024-03-01,-1.00,CNY,in,sale,,",
        "amount",
        "-1.00 is negative; amounts are positive and the direction column says in or out",
    ),
    (
        "M1,t1,2024-03-01,0.00,CNY,in,sale,,",
        "amount",
        "0.00 is zero at cent precision; amounts must be greater than 0.00",
    ),
    (
        "M1,t1,2024-03-01,0.004,CNY,in,sale,,",
        "amount",
        "0.004 is zero at cent precision; amounts must be greater than 0.00",
    ),
    (
        "M1,t1,2024-03-01,12.5x,CNY,in,sale,,",
        "amount",
        "'12.5x' is not a number (expected a plain decimal such as 1234.50)",
    ),
    (
        'M1,t1,2024-03-01,"1,250.00",CNY,in,sale,,',
        "amount",
        "'1,250.00' is not a number (expected a plain decimal such as 1234.50)",
    ),
    (
        "M1,t1,2024-03-01,1000000000000.00,CNY,in,sale,,",
        "amount",
        "1000000000000.00 is too large (the limit is 999999999999.99)",
    ),
    ("M1,t1,2024-03-01,1.00,USD,in,sale,,", "currency", "'USD' is not this partner's currency (CNY)"),
    (
        "M1,t1,2024-03-01,1.00,CNY,sideways,sale,,",
        "direction",
        "'sideways' is not a direction (expected in or out)",
    ),
    (
        "M1,t1,2024-03-01,1.00,CNY,in,gift,,",
        "kind",
        "'gift' is not a known kind (expected one of sale, refund, chargeback, payout, fee, supplier_payment, payroll, rent, tax, transfer, cash_deposit, cash_withdrawal, card_payment, interest, loan_disbursement, loan_repayment, other)",
    ),
    (
        "M1,t1,2024-03-01,1.00,CNY,in,sale,,12.3.4",
        "balance_after",
        "'12.3.4' is not a number (expected a plain decimal such as 1234.50)",
    ),
    (
        "M1," + "x" * 65 + ",2024-03-01,1.00,CNY,in,sale,,",
        "transaction_id",
        "is 65 characters long; at most 64 are allowed",
    ),
    ("M1,t1,2024-03-01,1.00,CNY,in,sale", None, "the row has 7 fields but the header has 9"),
    ("M1,t1,2024-03-01,1.00,CNY,in,sale,,,extra", None, "the row has 10 fields but the header has 9"),
    (
        "M9,t1,2024-03-01,1.00,CNY,in,sale,,",
        "merchant_id",
        'unknown merchant_id "M9": this partner has no such merchant (import it in a merchants file first)',
    ),
]


@pytest.mark.parametrize(("row", "column", "reason"), BAD_TRANSACTIONS)
def test_a_bad_transaction_row_is_reported_with_its_line_and_column(
    partner, merchant, write, row, column, reason
):
    # given a file with a valid row, then the bad one
    path = write("transactions.csv", TXN_HEADER, "M1,t0,2024-03-01,1.00,CNY,in,sale,,", row)

    # when it is imported
    with pytest.raises(HistoryImportError) as exc_info:
        history_import(partner=partner, transactions=path)

    # then exactly that problem is reported, and nothing is imported
    assert issues(exc_info) == [("transactions.csv", 3, column, reason)]
    assert exc_info.value.error_count == 1
    assert Transaction.objects.count() == 0


def test_several_problems_in_one_row_are_all_reported(partner, merchant, write):
    path = write("transactions.csv", TXN_HEADER, "M1,t1,yesterday,abc,EUR,up,gift,,")

    with pytest.raises(HistoryImportError) as exc_info:
        history_import(partner=partner, transactions=path)

    assert [(e.line, e.column) for e in exc_info.value.errors] == [
        (2, "amount"),
        (2, "currency"),
        (2, "direction"),
        (2, "kind"),
        (2, "occurred_at"),
    ]


def test_duplicates_within_a_file_are_errors(partner, merchant, write):
    # given duplicated ids in every file kind (transaction ids repeat only per merchant)
    BusinessFactory(partner=partner, external_id="M2")
    paths = {
        "merchants": write(
            "m.csv",
            MERCHANTS_HEADER,
            "M3,C,x,y,2024-01-01",
            "M4,D,x,y,2024-01-01",
            "M3,C again,x,y,2024-01-01",
        ),
        "transactions": write(
            "t.csv",
            TXN_HEADER,
            "M1,t1,2024-03-01,1.00,CNY,in,sale,,",
            "M2,t1,2024-03-01,1.00,CNY,in,sale,,",
            "M1,t1,2024-03-01,1.00,CNY,in,sale,,",
        ),
        "metrics": write(
            "mm.csv",
            METRICS_HEADER,
            "M1,2024-03-01,rating,4",
            "M1,2024-03-02,rating,4",
            "M1,2024-03-01,rating,5",
        ),
        "loans": write("l.csv", LOANS_HEADER, "L1,M1,2023-01-01,10,12,,", "L1,M2,2023-01-01,10,12,,"),
    }

    with pytest.raises(HistoryImportError) as exc_info:
        history_import(partner=partner, **paths)

    assert issues(exc_info) == [
        ("m.csv", 4, "merchant_id", 'duplicate merchant_id "M3" (first seen on line 2)'),
        (
            "t.csv",
            4,
            "transaction_id",
            'duplicate transaction_id "t1" of merchant "M1" (first seen on line 2)',
        ),
        (
            "mm.csv",
            4,
            "metric",
            'duplicate metric "rating" of merchant "M1" on 2024-03-01 (first seen on line 2)',
        ),
        ("l.csv", 3, "loan_id", 'duplicate loan_id "L1" (first seen on line 2)'),
    ]
    assert Business.objects.filter(partner=partner).count() == 2


def test_one_call_reports_a_repeated_id_and_an_unknown_merchant_on_rows_with_other_problems_too(
    partner, merchant, write
):
    # given a file whose first t1 has a bad amount, repeated on the next line, and an unknown merchant on
    # a row whose date is wrong too
    rows = [
        "M1,t1,2024-03-01,twelve,CNY,in,sale,,",
        "M1,t1,2024-03-01,12.00,CNY,in,sale,,",
        "M9,t2,2024-02-30,1.00,CNY,in,sale,,",
        "M1,t3,2024-03-01,1.00,CNY,in,sale,,",
    ]

    # when it is imported, all or nothing
    with pytest.raises(HistoryImportError) as exc_info:
        history_import(partner=partner, transactions=write("t.csv", TXN_HEADER, *rows))

    # then every problem is in the one report: fixing the reported rows reveals nothing new
    assert issues(exc_info) == [
        ("t.csv", 2, "amount", "'twelve' is not a number (expected a plain decimal such as 1234.50)"),
        ("t.csv", 3, "transaction_id", 'duplicate transaction_id "t1" of merchant "M1" (first seen on line 2)'),
        ("t.csv", 4, "merchant_id",
         'unknown merchant_id "M9": this partner has no such merchant (import it in a merchants file first)'),
        ("t.csv", 4, "occurred_at", "'2024-02-30' is not a valid calendar date"),
    ]
    assert exc_info.value.error_count == 4
    assert not Transaction.objects.exists()
    with pytest.raises(HistoryImportError) as fixed_amount:
        history_import(partner=partner, transactions=write("t.csv", TXN_HEADER, rows[0].replace("twelve", "12.00"),
                                                           *rows[1:]))
    assert set(issues(fixed_amount)) < set(issues(exc_info))


def test_with_skip_invalid_a_row_repeating_a_rejected_row_is_still_imported(partner, merchant, write):
    """The rejected file documents the rows that failed, as before: a repeat of a rejected row is checked
    on its own (all or nothing, it is reported as a repeat as well, since nothing is imported anyway)."""
    path = write("t.csv", TXN_HEADER, "M1,t1,2024-03-01,twelve,CNY,in,sale,,", "M1,t1,2024-03-01,12.00,CNY,in,sale,,")

    result = history_import(partner=partner, transactions=path, skip_invalid=True)

    assert [(e.line, e.column) for e in result.errors] == [(2, "amount")]
    assert [t[0] for t in txns(merchant)] == ["t1"]


def test_missing_required_columns_are_one_error_on_line_1(partner, write):
    path = write(
        "transactions.csv",
        "merchant_id,transaction_id,occurred_at,direction,kind",
        "M1,t1,2024-03-01,in,sale",
    )

    with pytest.raises(HistoryImportError) as exc_info:
        history_import(partner=partner, transactions=path)

    assert issues(exc_info) == [
        (
            "transactions.csv",
            1,
            "amount, currency",
            "required columns missing from the header (found: "
            "merchant_id, transaction_id, occurred_at, direction, kind)",
        )
    ]


@pytest.mark.parametrize(
    ("content", "reason"),
    [
        (b"", "the file is empty: no header row"),
        (MERCHANTS_HEADER.encode() + b"\n", "the file has a header but no data rows"),
        (b"\n" + MERCHANTS_HEADER.encode() + b"\n", "the first line is empty; it must be the header row"),
    ],
)
def test_an_empty_file_is_an_error(partner, tmp_path, content, reason):
    path = tmp_path / "merchants.csv"
    path.write_bytes(content)

    with pytest.raises(HistoryImportError) as exc_info:
        history_import(partner=partner, merchants=path)

    assert issues(exc_info) == [("merchants.csv", 1, None, reason)]


def test_a_missing_file_is_an_error(partner, tmp_path):
    with pytest.raises(HistoryImportError) as exc_info:
        history_import(partner=partner, loans=tmp_path / "nope.csv")

    assert issues(exc_info) == [("nope.csv", 0, None, f"file not found: {tmp_path / 'nope.csv'}")]


def test_text_that_is_not_utf8_is_reported_on_its_line(partner, write):
    # given a Latin-1 file: the accented name is not UTF-8
    path = write(
        "merchants.csv",
        MERCHANTS_HEADER,
        "M1,Alpha,grocery,east,2024-01-01",
        "M2,Café Bleu,food,west,2024-01-01",
        "M3,Gamma,food,west,2024-01-01",
        encoding="latin-1",
    )

    with pytest.raises(HistoryImportError) as exc_info:
        history_import(partner=partner, merchants=path)

    assert issues(exc_info) == [
        ("merchants.csv", 3, "name", "is not valid UTF-8 text (save the file as UTF-8)")
    ]


def test_a_utf16_file_is_rejected_at_its_header(partner, tmp_path):
    path = tmp_path / "merchants.csv"
    path.write_bytes((MERCHANTS_HEADER + "\nM1,A,b,c,2024-01-01\n").encode("utf-16"))

    with pytest.raises(HistoryImportError) as exc_info:
        history_import(partner=partner, merchants=path)

    assert issues(exc_info) == [("merchants.csv", 1, None, "the file is UTF-16 encoded; save it as UTF-8")]


def test_bad_merchant_rows(partner, write):
    path = write(
        "merchants.csv",
        MERCHANTS_HEADER + ",established_on",
        "M1,,grocery,east,2024-01-01,",
        "M2,Beta,grocery,east,2024-1-5,",
        "M3,Gamma,grocery,east,2024-01-01,someday",
        ",Delta,grocery,east,2024-01-01,",
    )

    with pytest.raises(HistoryImportError) as exc_info:
        history_import(partner=partner, merchants=path)

    assert issues(exc_info) == [
        ("merchants.csv", 2, "name", "a value is required"),
        ("merchants.csv", 3, "onboarded_on", "'2024-1-5' is not a date of the form YYYY-MM-DD"),
        ("merchants.csv", 4, "established_on", "'someday' is not a date of the form YYYY-MM-DD"),
        ("merchants.csv", 5, "merchant_id", "a value is required"),
    ]


def test_merchant_dates_follow_the_apis_rules(partner, write):
    # Given a merchants file whose dates the partner API would refuse (the suite's clock: 2026-11-20 UTC)
    path = write(
        "merchants.csv",
        MERCHANTS_HEADER + ",established_on",
        "M1,Alpha,grocery,east,2026-11-21,2020-01-01",
        "M2,Beta,grocery,east,2026-11-22,",
        "M3,Gamma,grocery,east,2024-01-01,2999-01-01",
        "M4,Delta,grocery,east,2024-01-01,2024-06-01",
    )

    # When it is imported
    with pytest.raises(HistoryImportError) as exc_info:
        history_import(partner=partner, merchants=path)

    # Then a day ahead of today is tolerated, the rest is refused with the API's reasons, nothing is stored
    assert issues(exc_info) == [
        ("merchants.csv", 3, "onboarded_on",
         "2026-11-22 is in the future: onboarded_on may be at most one day after today (UTC)"),
        ("merchants.csv", 4, "established_on",
         "2999-01-01 is in the future: established_on may be at most one day after today (UTC)"),
        ("merchants.csv", 5, "established_on",
         "2024-06-01 is after onboarded_on (2024-01-01): a business is established on or before it is onboarded"),
    ]
    assert not Business.objects.filter(partner=partner).exists()


def test_bad_loan_rows(partner, merchant, write):
    path = write(
        "loans.csv",
        LOANS_HEADER,
        "L1,M1,2023-01-01,100,12,defaulted,",
        "L2,M1,2023-01-01,100,12,defaulted,2022-12-31",
        "L3,M1,2023-01-01,100,12,repaid,2023-05-01",
        "L4,M1,2023-01-01,100,2,,",
        "L5,M1,2023-01-01,100,61,,",
        "L6,M1,2023-01-01,100,12.5,,",
        "L7,M1,2023-01-01,100,12,lost,",
        "L8,M1,2023-01-01,-100,12,,",
        "L9,M9,2023-01-01,100,12,,",
    )

    with pytest.raises(HistoryImportError) as exc_info:
        history_import(partner=partner, loans=path)

    assert issues(exc_info) == [
        ("loans.csv", 2, "defaulted_on", "a value is required when status is defaulted"),
        ("loans.csv", 3, "defaulted_on", "2022-12-31 is before originated_on (2023-01-01)"),
        ("loans.csv", 4, "defaulted_on", "must be empty unless status is defaulted"),
        ("loans.csv", 5, "term_months", "2 is outside the accepted range of 3 to 60 months"),
        ("loans.csv", 6, "term_months", "61 is outside the accepted range of 3 to 60 months"),
        ("loans.csv", 7, "term_months", "'12.5' is not a whole number of months"),
        ("loans.csv", 8, "status", "'lost' is not a loan status (expected repaid, defaulted or current)"),
        ("loans.csv", 9, "amount", "-100 is not a positive amount"),
        (
            "loans.csv",
            10,
            "merchant_id",
            'unknown merchant_id "M9": this partner has no such merchant (import it in a merchants file first)',
        ),
    ]


def test_nothing_is_imported_when_any_file_has_an_error(partner, write):
    # given valid merchants, transactions and metrics, and one bad loan row
    merchants = write("merchants.csv", MERCHANTS_HEADER, "M1,Alpha,grocery,east,2024-01-01")
    transactions = write("transactions.csv", TXN_HEADER, "M1,t1,2024-03-01,1.00,CNY,in,sale,,")
    metrics = write("metrics.csv", METRICS_HEADER, "M1,2024-03-01,rating,4")
    loans = write("loans.csv", LOANS_HEADER, "L1,M1,2023-01-01,100,99,,")

    # when they are imported together
    with pytest.raises(HistoryImportError) as exc_info:
        history_import(
            partner=partner, merchants=merchants, transactions=transactions, metrics=metrics, loans=loans
        )

    # then nothing from any file is in the database, and the run is recorded as failed
    assert issues(exc_info) == [
        ("loans.csv", 2, "term_months", "99 is outside the accepted range of 3 to 60 months")
    ]
    assert Business.objects.filter(partner=partner).count() == 0
    assert (
        Transaction.objects.count(),
        DailyRollup.objects.count(),
        MerchantMetric.objects.count(),
        LoanRecord.objects.count(),
    ) == (0, 0, 0, 0)
    run = ImportRun.objects.get(public_id=exc_info.value.run_id)
    assert (run.status, run.error_count, run.errors_sample) == (
        ImportStatus.FAILED,
        1,
        [
            {
                "file": "loans.csv",
                "line": 2,
                "column": "term_months",
                "reason": "99 is outside the accepted range of 3 to 60 months",
            }
        ],
    )


def test_an_unknown_merchant_points_at_its_rejected_merchant_row(partner, write):
    merchants = write("merchants.csv", MERCHANTS_HEADER, "M1,Alpha,grocery,east,2024-13-01")
    transactions = write("transactions.csv", TXN_HEADER, "M1,t1,2024-03-01,1.00,CNY,in,sale,,")

    with pytest.raises(HistoryImportError) as exc_info:
        history_import(partner=partner, merchants=merchants, transactions=transactions)

    assert issues(exc_info) == [
        ("merchants.csv", 2, "onboarded_on", "'2024-13-01' is not a valid calendar date"),
        (
            "transactions.csv",
            2,
            "merchant_id",
            'unknown merchant_id "M1": its row on line 2 of merchants.csv was rejected',
        ),
    ]


def test_line_numbers_follow_the_csv_reader_across_quoted_newlines(partner, merchant, write):
    path = write(
        "transactions.csv",
        TXN_HEADER,
        'M1,t1,2024-03-01,1.00,CNY,in,sale,"Two-line',
        'counterparty",',
        "",
        "M1,t2,2024-03-01,oops,CNY,in,sale,,",
    )

    with pytest.raises(HistoryImportError) as exc_info:
        history_import(partner=partner, transactions=path)

    assert [(e.line, e.column) for e in exc_info.value.errors] == [(5, "amount")]


def test_a_nul_character_is_reported_and_the_rest_of_the_file_still_checked(partner, merchant, tmp_path):
    path = tmp_path / "transactions.csv"
    path.write_bytes(
        (
            TXN_HEADER + "\nM1,t1,2024-03-01,1.00,CNY,in,sale,\x00,\nM1,t2,2024-03-01,x,CNY,in,sale,,\n"
        ).encode()
    )

    with pytest.raises(HistoryImportError) as exc_info:
        history_import(partner=partner, transactions=path)

    assert [(e.line, e.column, e.reason.split(" (")[0]) for e in exc_info.value.errors] == [
        (2, "counterparty", "contains a NUL character"),
        (3, "amount", "'x' is not a number"),
    ]


# --- skipping invalid rows -------------------------------------------------------------------------


def test_skip_invalid_imports_the_valid_rows_and_writes_the_rejected_ones(partner, merchant, write):
    # given a file with good rows, bad rows, and a duplicate of the first row
    path = write(
        "transactions.csv",
        TXN_HEADER,
        "M1,t1,2024-03-01T10:00:00Z,10.00,CNY,in,sale,,",
        "M1,t2,2024-03-01T11:00:00Z,-3,CNY,in,sale,,",
        "M9,t3,2024-03-01T12:00:00Z,3.00,CNY,in,sale,,",
        "M1,t1,2024-03-01T13:00:00Z,99.00,CNY,in,sale,,",
        "M1,t4,2024-03-02T10:00:00Z,4.00,CNY,out,fee,Bank,",
    )

    # when it is imported with skip_invalid
    result = history_import(partner=partner, transactions=path, skip_invalid=True)

    # then the valid rows are in (the first of the duplicates), with their rollups
    assert [(t[0], t[2]) for t in txns(merchant)] == [("t1", 1_000), ("t4", 400)]
    assert rollups(merchant) == [
        (dt.date(2024, 3, 1), Direction.IN, TransactionKind.SALE, 1, 1_000, 1_000),
        (dt.date(2024, 3, 2), Direction.OUT, TransactionKind.FEE, 1, 400, 400),
    ]
    # and the rejected rows are written next to the input with their line and reasons
    counts = result.files["transactions"]
    assert (counts.read, counts.inserted, counts.unchanged, counts.rejected) == (5, 2, 0, 3)
    assert counts.rejected_path == f"{path}.rejected.csv"
    with open(counts.rejected_path, newline="", encoding="utf-8") as fh:
        assert list(csv.reader(fh)) == [
            [*TXN_HEADER.split(","), "line", "reason"],
            [
                "M1",
                "t2",
                "2024-03-01T11:00:00Z",
                "-3",
                "CNY",
                "in",
                "sale",
                "",
                "",
                "3",
                "amount: -3 is negative; amounts are positive and the direction column says in or out",
            ],
            [
                "M9",
                "t3",
                "2024-03-01T12:00:00Z",
                "3.00",
                "CNY",
                "in",
                "sale",
                "",
                "",
                "4",
                'merchant_id: unknown merchant_id "M9": this partner has no such merchant (import it in a merchants '
                "file first)",
            ],
            [
                "M1",
                "t1",
                "2024-03-01T13:00:00Z",
                "99.00",
                "CNY",
                "in",
                "sale",
                "",
                "",
                "5",
                'transaction_id: duplicate transaction_id "t1" of merchant "M1" (first seen on line 2)',
            ],
        ]
    assert result.status == ImportStatus.PARTIAL
    assert ImportRun.objects.get(public_id=result.run_id).error_count == 3


def test_skip_invalid_keeps_stored_history_on_a_conflict(partner, merchant, write):
    history_import(
        partner=partner, transactions=write("a.csv", TXN_HEADER, "M1,t1,2024-03-01,10.00,CNY,in,sale,,")
    )

    result = history_import(
        partner=partner,
        transactions=write(
            "b.csv", TXN_HEADER, "M1,t1,2024-03-01,11.00,CNY,in,sale,,", "M1,t2,2024-03-01,1.00,CNY,in,sale,,"
        ),
        skip_invalid=True,
    )

    assert [(t[0], t[2]) for t in txns(merchant)] == [("t1", 1_000), ("t2", 100)]
    assert rollups(merchant) == [(dt.date(2024, 3, 1), Direction.IN, TransactionKind.SALE, 2, 1_100, 1_000)]
    assert (result.files["transactions"].inserted, result.files["transactions"].rejected) == (1, 1)


def test_a_problem_with_a_whole_file_aborts_even_with_skip_invalid(partner, write):
    merchants = write("merchants.csv", MERCHANTS_HEADER, "M1,Alpha,grocery,east,2024-01-01")
    transactions = write("transactions.csv", "merchant_id,amount", "M1,1.00")

    with pytest.raises(HistoryImportError) as exc_info:
        history_import(partner=partner, merchants=merchants, transactions=transactions, skip_invalid=True)

    assert [(e.file, e.line, e.column) for e in exc_info.value.errors] == [
        ("transactions.csv", 1, "transaction_id, occurred_at, currency, direction, kind")
    ]
    assert Business.objects.filter(partner=partner).count() == 0


# --- the fast path agrees with the reference parser ----------------------------------------------------


def stage_through_file(kind, text: str, loop, *args) -> tuple[list[tuple], RowParser]:
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "f.csv"
        path.write_text(text, encoding="utf-8")
        clean = SUSPECT_BYTES[0]
        staged: list[tuple] = []
        with open_text(path) as fh:
            reader = csv.reader(fh)
            parser = RowParser(kind, next(reader))
            loop(reader, parser, staged.append, *args, clean=clean)
    return staged, parser


field_shapes = st.fixed_dictionaries(
    {
        "occurred_at": st.sampled_from(
            [
                "2024-03-01T10:00:00",
                "2024-03-01T10:00:00Z",
                "2024-03-01 10:00:00",
                "2024-03-01",
                " 2024-03-01T10:00:00",
                "2024-03-01T10:00:00+05:30",
                "2024-03-01T10:00:00.250Z",
                "2024-03-01T10:00",
                "2024-02-30T10:00:00",
                "2024-03-01T25:00:00",
                "2024-03-01x10:00:00",
                "2024-W09-5",
                "20240301T100000",
                "2024-03-01T10:00:00z",
            ]
        ),
        "amount": st.sampled_from(
            [
                "12.50",
                "0.01",
                "0.00",
                "12",
                "12.5",
                "12.345",
                "-12.50",
                " 12.50",
                "+12.50",
                "\uff11\uff12.\uff15\uff10",
                "12.5a",
                "999999999999.99",
                "1000000000000.00",
                "007.00",
                ".50",
            ]
        ),
        "currency": st.sampled_from(["CNY", "cny", "USD", ""]),
        "direction": st.sampled_from(["in", "out", "IN", "up"]),
        "kind": st.sampled_from(["sale", "refund", "Sale", "other", "gift"]),
        "counterparty": st.sampled_from(["", "Shop", " Shop ", "x" * 129, "S\x00p"]),
        "balance_after": st.sampled_from(["", "10.00", "-10.00", "-0.00", "-", "1e3", " -5.25"]),
        "merchant_id": st.sampled_from(["M1", " M1 ", "", "m" * 65]),
    }
)


@settings(max_examples=60, deadline=None)
@given(fields=field_shapes)
def test_the_fast_path_accepts_and_returns_exactly_what_the_reference_parser_does(fields):
    # given one row in any of the shapes the fast path short-cuts or must leave alone
    kind = kinds_for("CNY", today=dt.date(2026, 1, 1))["transactions"]
    header = TXN_HEADER.split(",")
    row = [fields.get(name, "t1") for name in header]
    text = io.StringIO()
    csv.writer(text).writerows([header, row])

    # when it goes through the hot loop (reading the file as an import does) and the reference parser
    staged, parser = stage_through_file(kind, text.getvalue(), stage_transactions, "CNY")
    parsed, errors = parser.parse(row)

    # then both agree, value for value and problem for problem
    if errors:
        assert [(s[-2], s[-1]) for s in staged] == errors
    else:
        assert staged == [(2, *parsed, None, None)]


metric_shapes = st.fixed_dictionaries(
    {
        "merchant_id": st.sampled_from(["M1", " M1", "", "m" * 65]),
        "observed_on": st.sampled_from(
            ["2024-03-01", "2024-3-1", "2024-02-30", " 2024-03-01", "2024-03-01T00:00"]
        ),
        "metric": st.sampled_from(["rating", " rating ", "", "x" * 65, "r\x00"]),
        "value": st.sampled_from(
            [
                "4.5",
                "4",
                "0.1234",
                "0.1234567",
                "-1.5",
                "007",
                "0",
                "12345678901234",
                "123456789012345",
                "1.",
                ".5",
                "1e3",
                "4.50 ",
                "\uff14",
            ]
        ),
    }
)


@settings(max_examples=60, deadline=None)
@given(fields=metric_shapes)
def test_the_metrics_fast_path_agrees_with_the_reference_parser(fields):
    kind = kinds_for("CNY", today=dt.date(2026, 1, 1))["metrics"]
    header = METRICS_HEADER.split(",")
    row = [fields[name] for name in header]
    text = io.StringIO()
    csv.writer(text).writerows([header, row])

    staged, parser = stage_through_file(kind, text.getvalue(), stage_metrics)
    parsed, errors = parser.parse(row)

    if errors:
        assert [(s[-2], s[-1]) for s in staged] == errors
    else:
        assert staged == [(2, *parsed, None, None)]


def test_a_changed_metric_value_is_a_conflict(partner, merchant, write):
    history_import(partner=partner, metrics=write("a.csv", METRICS_HEADER, "M1,2024-03-01,rating,4.5"))

    with pytest.raises(HistoryImportError) as exc_info:
        history_import(
            partner=partner,
            metrics=write("b.csv", METRICS_HEADER, "M1,2024-03-01,rating,4.6", "M1,2024-03-02,rating,4.6"),
        )

    assert issues(exc_info) == [
        (
            "b.csv",
            2,
            "value",
            'metric "rating" of merchant "M1" on 2024-03-01 was already imported with a '
            "different value; a re-import must be identical (history is never overwritten)",
        )
    ]
    assert MerchantMetric.objects.count() == 1


def test_the_progress_reader_counts_every_byte(tmp_path):
    path = tmp_path / "x.csv"
    path.write_bytes(b"a,b\n" + b"1,2\n" * 100_000)
    seen = []
    with open_text(path, seen.append) as fh:
        rows = sum(1 for _ in csv.reader(fh))
    assert (rows, sum(seen)) == (100_001, path.stat().st_size)


# --- the command -------------------------------------------------------------------------------------


def test_the_command_rejects_an_unknown_partner(db, write):
    path = write("merchants.csv", MERCHANTS_HEADER, "M1,Alpha,grocery,east,2024-01-01")

    with pytest.raises(CommandError, match="Unknown partner 'nobody'"):
        call_command("import_history", "--partner", "nobody", "--merchants", str(path))

    assert Business.objects.count() == 0


def test_the_command_needs_a_file(partner):
    with pytest.raises(CommandError, match="at least one of"):
        call_command("import_history", "--partner", partner.slug)


def test_the_command_prints_the_counts_and_the_throughput(partner, write):
    merchants = write("merchants.csv", MERCHANTS_HEADER, "M1,Alpha,grocery,east,2024-01-01")
    transactions = write("transactions.csv", TXN_HEADER, "M1,t1,2024-03-01,1.00,CNY,in,sale,,")
    out = io.StringIO()

    call_command(
        "import_history",
        "--partner",
        partner.slug,
        "--merchants",
        str(merchants),
        "--transactions",
        str(transactions),
        stdout=out,
    )

    lines = out.getvalue().splitlines()
    assert lines[:2] == [
        "merchants: 1 read, 1 inserted, 0 unchanged, 0 updated, 0 rejected",
        "transactions: 1 read, 1 inserted, 0 unchanged, 0 updated, 0 rejected",
    ]
    assert lines[2].startswith("1 transactions in ")
    assert lines[2].endswith("transactions/s), 1 rollup rows written")


def test_the_command_prints_each_error_and_says_nothing_was_imported(partner, merchant, write):
    # given 53 bad rows
    path = write(
        "transactions.csv", TXN_HEADER, *(f"M1,t{i},2024-03-01,bad,CNY,in,sale,," for i in range(53))
    )
    err = io.StringIO()

    # when the command runs
    with pytest.raises(CommandError) as exc_info:
        call_command("import_history", "--partner", partner.slug, "--transactions", str(path), stderr=err)

    # then the first 50 are printed as file:line: column: reason, then how many more
    lines = err.getvalue().splitlines()
    assert (
        lines[0]
        == "transactions.csv:2: amount: 'bad' is not a number (expected a plain decimal such as 1234.50)"
    )
    assert lines[49].startswith("transactions.csv:51: amount:")
    assert lines[50:] == ["... and 3 more error(s)"]
    assert str(exc_info.value) == "53 error(s): nothing was imported."
    assert Transaction.objects.count() == 0


def test_the_command_skips_invalid_rows_on_request(partner, merchant, write):
    path = write(
        "transactions.csv",
        TXN_HEADER,
        "M1,t1,2024-03-01,1.00,CNY,in,sale,,",
        "M1,t2,2024-03-01,bad,CNY,in,sale,,",
    )
    out = io.StringIO()

    call_command(
        "import_history", "--partner", partner.slug, "--transactions", str(path), "--skip-invalid", stdout=out
    )

    assert out.getvalue().splitlines()[0] == (
        f"transactions: 2 read, 1 inserted, 0 unchanged, 0 updated, 1 rejected (see {path}.rejected.csv)"
    )
    assert Path(f"{path}.rejected.csv").exists()


def test_issue_formatting():
    assert str(ImportIssue("t.csv", 3, "amount", "bad")) == "t.csv:3: amount: bad"
    assert str(ImportIssue("t.csv", 1, None, "empty")) == "t.csv:1: empty"
