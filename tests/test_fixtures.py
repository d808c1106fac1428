"""The sample files of fixtures/ (fixtures/README.md): the good history set imports with exactly the
counts the README gives and no problem, and its files agree with each other; the bad set is rejected
whole with exactly the problems the README lists and nothing stored; the generator rewrites the
committed bytes; the examples of docs/data-format.md are rows of the files and its error report is
what the command prints; the commands of fixtures/README.md and of the README's "Bring your own data"
work as written and print what those files say."""

import datetime as dt
import importlib.util
import io
import itertools
import re
import shlex
import shutil
from collections import Counter
from decimal import Decimal
from pathlib import Path

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.core.management import CommandError, call_command
from django.db.models import Sum

from accounts.models import Business, PartnerBank
from loans.businesses import services as loan_services
from tests.factories import PartnerFactory, UserFactory
from underwriting.history.models import (
    CounterpartyDailyRollup,
    DailyBalance,
    DailyRollup,
    Direction,
    HistorySource,
    ImportRun,
    ImportStatus,
    LoanRecord,
    MerchantMetric,
    Transaction,
    TransactionKind,
)
from underwriting.history.services import HistoryImportError, history_import

ROOT = Path(__file__).resolve().parent.parent
FIXTURES = ROOT / "fixtures"
HISTORY = FIXTURES / "history"
GOOD = {"merchants": "merchants.csv", "transactions": "transactions.csv", "metrics": "merchant_metrics.csv",
        "loans": "loans.csv"}
BAD = {"merchants": "merchants-bad.csv", "transactions": "transactions-bad.csv",
       "metrics": "merchant_metrics-bad.csv", "loans": "loans-bad.csv"}
COMMAND = "DEBUG=true .venv/bin/python manage.py "

# (file, line, column, reason): every problem of the bad set imported after the good set, in the order
# the import reports them (fixtures/README.md lists the same).
KINDS = ("sale, refund, chargeback, payout, fee, supplier_payment, payroll, rent, tax, transfer, cash_deposit, "
         "cash_withdrawal, card_payment, interest, loan_disbursement, loan_repayment, other")
NEVER = "a re-import must be identical (history is never overwritten)"
BAD_PROBLEMS = [
    ("merchants-bad.csv", 3, "name", "is not valid UTF-8 text (save the file as UTF-8)"),
    ("merchants-bad.csv", 4, "onboarded_on", "'2024-06-31' is not a valid calendar date"),
    ("merchants-bad.csv", 5, "name", "a value is required"),
    ("transactions-bad.csv", 3, "amount", "'1.2e3' is not a number (expected a plain decimal such as 1234.50)"),
    ("transactions-bad.csv", 4, "occurred_at",
     "'2024-06-31T21:35:00+08:00' is not a valid ISO 8601 date-time (e.g. 2024-03-31T14:05:00Z)"),
    ("transactions-bad.csv", 5, "amount", "'3,105.20' is not a number (expected a plain decimal such as 1234.50)"),
    ("transactions-bad.csv", 6, "counterparty", "is not valid UTF-8 text (save the file as UTF-8)"),
    ("transactions-bad.csv", 7, "amount",
     "-38.00 is negative; amounts are positive and the direction column says in or out"),
    ("transactions-bad.csv", 9, "occurred_at", "'06/06/2024' is not an ISO 8601 date-time (e.g. 2024-03-31T14:05:00Z)"),
    ("transactions-bad.csv", 10, "currency", "'USD' is not this partner's currency (CNY)"),
    ("transactions-bad.csv", 11, "amount",
     f'transaction_id "BK240530-0985" of merchant "M000003" was already imported with a different amount; {NEVER}'),
    ("transactions-bad.csv", 12, "direction", "a value is required"),
    ("transactions-bad.csv", 13, "kind", f"'suppliers' is not a known kind (expected one of {KINDS})"),
    ("transactions-bad.csv", 14, None, "the row has 8 fields but the header has 9"),
    ("transactions-bad.csv", 16, "transaction_id",
     'duplicate transaction_id "420020240601121000000001" of merchant "M000004" (first seen on line 15)'),
    ("transactions-bad.csv", 18, "merchant_id",
     'unknown merchant_id "M000009": this partner has no such merchant (import it in a merchants file first)'),
    ("transactions-bad.csv", 19, "merchant_id",
     'unknown merchant_id "M000007": its row on line 4 of merchants-bad.csv was rejected'),
    ("transactions-bad.csv", 20, "amount", "a value is required"),
    ("transactions-bad.csv", 20, "direction", "'credit' is not a direction (expected in or out)"),
    ("transactions-bad.csv", 21, "transaction_id",
     'duplicate transaction_id "RF-2024-005" of merchant "M000005" (first seen on line 20)'),
    ("merchant_metrics-bad.csv", 1, "observed_on",
     "required column missing from the header (found: merchant_id, date, metric, value)"),
    ("loans-bad.csv", 3, "status", f'loan_id "L-2023-0003" was already imported with a different status; {NEVER}'),
    ("loans-bad.csv", 4, "term_months", "72 is outside the accepted range of 3 to 60 months"),
    ("loans-bad.csv", 5, "defaulted_on", "a value is required when status is defaulted"),
    ("loans-bad.csv", 6, "loan_id", 'duplicate loan_id "L-2024-0011" (first seen on line 5)'),
    ("loans-bad.csv", 7, "merchant_id", 'unknown merchant_id "M000007": its row on line 4 of merchants-bad.csv was rejected'),
]
NOTHING_IMPORTED = f"CommandError: {len(BAD_PROBLEMS)} error(s): nothing was imported."


def printed(problem: tuple) -> str:
    file, line, column, reason = problem
    return f"{file}:{line}: {column}: {reason}" if column else f"{file}:{line}: {reason}"


@pytest.fixture
def partner(db):
    return PartnerFactory(slug="north-bank", name="North Bank", currency="CNY")


def import_set(partner, files: dict[str, str], folder: Path = HISTORY, **options):
    return history_import(partner=partner, **{kind: folder / name for kind, name in files.items()}, **options)


def counts(result) -> dict[str, tuple]:
    return {kind: (c.read, c.inserted, c.unchanged, c.updated, c.rejected) for kind, c in result.files.items()}


def stored(partner) -> dict[str, int]:
    business = {"business__partner": partner}
    return {
        "merchants": Business.objects.filter(partner=partner).count(),
        "transactions": Transaction.objects.filter(**business).count(),
        "metrics": MerchantMetric.objects.filter(**business).count(),
        "loans": LoanRecord.objects.filter(partner=partner).count(),
        "rollups": sum(m.objects.filter(**business).count()
                       for m in (DailyRollup, CounterpartyDailyRollup, DailyBalance)),
        "sources": HistorySource.objects.filter(**business).count(),
    }


# --- the files -----------------------------------------------------------------------------------------


def test_the_generator_rewrites_the_committed_files_byte_for_byte(tmp_path):
    spec = importlib.util.spec_from_file_location("make_history", HISTORY / "make_history.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    module.main(tmp_path)
    written = sorted(p.name for p in tmp_path.iterdir())
    assert written == sorted([*GOOD.values(), *BAD.values()])
    committed = sorted(p.name for p in HISTORY.glob("*.csv") if not p.name.endswith(".rejected.csv"))
    assert committed == written
    for name in written:
        assert (tmp_path / name).read_bytes() == (HISTORY / name).read_bytes(), name


def test_the_files_use_what_the_readme_says_they_use():
    loans = (HISTORY / "loans.csv").read_bytes()
    assert loans.startswith(b"\xef\xbb\xbf") and loans.count(b"\r\n") == 7
    assert b"\r" not in (HISTORY / "transactions.csv").read_bytes()
    for name, latin1 in (("merchants-bad.csv", "Café Lumière"), ("transactions-bad.csv", "Müller Küchentechnik")):
        data = (HISTORY / name).read_bytes()
        assert latin1.encode("latin-1") in data
        with pytest.raises(UnicodeDecodeError):
            data.decode("utf-8")
    for name in GOOD.values():
        (HISTORY / name).read_bytes().decode("utf-8")  # the good set is UTF-8 throughout


# --- the good set --------------------------------------------------------------------------------------


def test_the_good_set_imports_with_no_problem_and_the_counts_of_the_readme(partner):
    result = import_set(partner, GOOD)

    assert (result.status, result.error_count, result.errors) == (ImportStatus.SUCCEEDED, 0, [])
    assert counts(result) == {
        "merchants": (5, 5, 0, 0, 0),
        "transactions": (272, 272, 0, 0, 0),
        "metrics": (42, 42, 0, 0, 0),
        "loans": (6, 6, 0, 0, 0),
    }
    assert result.rollup_rows == 700
    assert stored(partner) == {"merchants": 5, "transactions": 272, "metrics": 42, "loans": 6, "rollups": 700,
                               "sources": 5}
    per_merchant = Counter(Transaction.objects.filter(business__partner=partner)
                           .values_list("business__external_id", flat=True))
    assert per_merchant == {"M000001": 133, "M000002": 29, "M000003": 50, "M000004": 39, "M000005": 21}


def test_the_good_set_reads_as_written(partner):
    import_set(partner, GOOD)
    merchants = {b.external_id: b for b in Business.objects.filter(partner=partner)}

    # Quoted names, empty optional values
    assert merchants["M000003"].legal_name == "Chen, Wu & Sons Trading"
    assert merchants["M000004"].legal_name == 'Mama "Lucky" Dumplings'
    assert (merchants["M000002"].established_on, merchants["M000002"].registration_number) == (None, "")
    assert merchants["M000005"].region == ""
    assert merchants["M000001"].registration_number == "91330100MA2B3C4D5E"

    def txn(merchant, transaction_id):
        return Transaction.objects.get(business=merchants[merchant], transaction_id=transaction_id)

    # Every way of writing a time, stored in UTC
    assert txn("M000001", "T1004").occurred_at == dt.datetime(2024, 3, 1, 13, 31, tzinfo=dt.UTC)  # +08:00
    assert txn("M000002", "A-82").occurred_at == dt.datetime(2024, 3, 18, tzinfo=dt.UTC)  # a date alone
    assert txn("M000003", "BK240315-0157").occurred_at == dt.datetime(2024, 3, 15, 0, 5, 31, 482000, tzinfo=dt.UTC)
    assert txn("M000004", "420020240401125027691154").occurred_at == dt.datetime(2024, 4, 1, 12, 50, tzinfo=dt.UTC)
    # Amounts without cents, UTF-8 text, a negative balance, no counterparty or balance
    assert txn("M000002", "A-82").amount_minor == 620_00
    assert txn("M000001", "T1003").counterparty == "浙江粮油有限公司 (Zhejiang Grain & Oil Co., Ltd.)"
    assert txn("M000003", "BK240315-0157").balance_after_minor == -753_47
    assert (txn("M000002", "A-82").counterparty, txn("M000002", "A-82").balance_after_minor) in {(None, None),
                                                                                                 ("", None)}
    # The loan book: the BOM and CRLF of a spreadsheet, an extra column ignored, an unknown status
    loans = {r.loan_id: r for r in LoanRecord.objects.filter(partner=partner)}
    assert sorted(loans) == ["L-2022-0009", "L-2023-0001", "L-2023-0002", "L-2023-0003", "L-2024-0004", "L-2024-0005"]
    assert (loans["L-2023-0002"].status, loans["L-2023-0002"].defaulted_on) == ("defaulted", dt.date(2023, 12, 15))
    assert loans["L-2023-0002"].amount == Decimal("8000.00")
    assert not loans["L-2024-0005"].status
    assert {r.source for r in loans.values()} == {"imported"}


def test_the_good_files_agree_with_each_other(partner):
    import_set(partner, GOOD)
    txns = Transaction.objects.filter(business__partner=partner)

    # Each merchant's balances follow from its amounts, row after row
    for merchant in ("M000001", "M000003", "M000004", "M000005"):
        rows = list(txns.filter(business__external_id=merchant).order_by("occurred_at")
                    .values_list("amount_minor", "direction", "balance_after_minor"))
        for (_, _, before), (amount, direction, after) in itertools.pairwise(rows):
            assert after == before + (amount if direction == Direction.IN else -amount), merchant
    # The monthly metrics are sums of the transactions of the month's UTC days
    for metric in MerchantMetric.objects.filter(business__partner=partner, metric__in=["monthly_sales",
                                                                                         "net_cash_flow"]):
        month = txns.filter(business=metric.business, occurred_at__year=metric.observed_on.year,
                            occurred_at__month=metric.observed_on.month)
        money_in = month.filter(direction=Direction.IN).exclude(kind=TransactionKind.LOAN_DISBURSEMENT)
        total_in = month.filter(direction=Direction.IN).aggregate(s=Sum("amount_minor"))["s"] or 0
        total_out = month.filter(direction=Direction.OUT).aggregate(s=Sum("amount_minor"))["s"] or 0
        expected = (money_in.aggregate(s=Sum("amount_minor"))["s"] if metric.metric == "monthly_sales"
                    else total_in - total_out)
        assert metric.value == Decimal(expected) / 100, (metric.business.external_id, metric.observed_on, metric.metric)
    # The loans of the period are in the transactions: paid out, and paid back
    paid_out = set(txns.filter(kind=TransactionKind.LOAN_DISBURSEMENT)
                   .values_list("business__external_id", "occurred_at__date", "amount_minor"))
    assert paid_out == {("M000001", dt.date(2024, 4, 12), 40_000_00), ("M000004", dt.date(2024, 5, 20), 5_000_00)}
    repaid = Counter(txns.filter(kind=TransactionKind.LOAN_REPAYMENT).values_list("business__external_id", flat=True))
    assert repaid == {"M000003": 3, "M000001": 1}  # L-2023-0003 each month, L-2024-0004 from its first month


def test_reimporting_the_good_set_changes_nothing(partner):
    import_set(partner, GOOD)
    before = stored(partner)

    result = import_set(partner, GOOD)

    assert counts(result) == {
        "merchants": (5, 0, 5, 0, 0),
        "transactions": (272, 0, 272, 0, 0),
        "metrics": (42, 0, 42, 0, 0),
        "loans": (6, 0, 6, 0, 0),
    }
    assert stored(partner) == before


# --- the bad set ---------------------------------------------------------------------------------------


def test_the_bad_set_is_rejected_whole_with_every_problem_in_one_pass(partner):
    import_set(partner, GOOD)
    before = stored(partner)

    with pytest.raises(HistoryImportError) as caught:
        import_set(partner, BAD)

    assert [(e.file, e.line, e.column, e.reason) for e in caught.value.errors] == BAD_PROBLEMS
    assert caught.value.error_count == len(BAD_PROBLEMS) == 26
    # Nothing stored, not even the valid update of merchants-bad.csv line 2 or the new loan of loans-bad.csv line 2
    assert stored(partner) == before
    assert Business.objects.get(partner=partner, external_id="M000002").established_on is None
    assert not LoanRecord.objects.filter(loan_id="L-2024-0013").exists()
    assert LoanRecord.objects.get(loan_id="L-2023-0003").status == "current"
    run = ImportRun.objects.get(public_id=caught.value.run_id)
    assert (run.status, run.error_count) == (ImportStatus.FAILED, 26)


def test_with_skip_invalid_the_bad_set_imports_its_valid_rows(partner, tmp_path):
    import_set(partner, GOOD)
    folder = tmp_path / "history"
    shutil.copytree(HISTORY, folder)
    files = {kind: name for kind, name in BAD.items() if kind != "metrics"}

    result = import_set(partner, files, folder, skip_invalid=True)

    assert counts(result) == {
        "merchants": (4, 0, 0, 1, 3),
        "transactions": (20, 4, 1, 0, 15),
        "loans": (6, 2, 0, 0, 4),
    }
    without_header_and_rejected_firsts = [
        p for p in BAD_PROBLEMS
        if p[0] != "merchant_metrics-bad.csv" and p[:2] not in {("transactions-bad.csv", 21), ("loans-bad.csv", 6)}
    ]
    assert [(e.file, e.line, e.column, e.reason) for e in result.errors] == without_header_and_rejected_firsts
    assert result.error_count == 23
    assert sorted(p.name for p in folder.glob("*.rejected.csv")) == [
        "loans-bad.csv.rejected.csv", "merchants-bad.csv.rejected.csv", "transactions-bad.csv.rejected.csv"]


def test_fixtures_readme_lists_exactly_the_problems_of_the_bad_set():
    rows = []
    for line in (FIXTURES / "README.md").read_text().splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if line.startswith("| ") and cells[0] in BAD.values():
            file, number, column, _mistake, reason = cells
            rows.append((file, int(number), column or None, reason.strip("`")))
    assert rows == BAD_PROBLEMS


# --- the docs ------------------------------------------------------------------------------------------


def fenced_blocks(text: str) -> list[tuple[str, str, int]]:
    """(language, body, offset of the opening fence) of every fenced code block, in order."""
    return [(m.group(1), m.group(2), m.start()) for m in re.finditer(r"^```(\w*)\n(.*?)^```$", text, re.M | re.S)]


def test_the_format_docs_examples_are_rows_of_the_fixture_files():
    text = (ROOT / "docs" / "data-format.md").read_text()
    examples = {}
    for language, body, start in fenced_blocks(text):
        if language != "csv":
            continue
        # The paragraph just above the block names the file it comes from.
        caption = text[:start].rstrip().split("\n\n")[-1]
        name = re.search(r"\(\.\./fixtures/history/([\w-]+\.csv)\)", caption).group(1)
        examples[name] = (body.splitlines(), "whole" in caption)
    assert sorted(examples) == sorted(GOOD.values())
    for name, (lines, whole) in examples.items():
        file_lines = (HISTORY / name).read_bytes().decode("utf-8-sig").splitlines()
        assert lines[0] == file_lines[0], name
        if whole:
            assert lines == file_lines, name
        else:
            assert set(lines) <= set(file_lines), (name, set(lines) - set(file_lines))
            assert len(lines) > 3, name


def test_the_format_docs_error_report_is_what_the_command_prints_for_the_bad_set():
    text = (ROOT / "docs" / "data-format.md").read_text()
    section = text[text.index("## Error reports"):]
    language, body, _ = fenced_blocks(section)[0]
    assert language == "text"
    assert body.splitlines() == [*map(printed, BAD_PROBLEMS), NOTHING_IMPORTED]


# --- the commands as written ---------------------------------------------------------------------------


def manage_commands(body: str) -> list[list[str]]:
    """The manage.py commands of a bash block, as argument lists (continuation lines joined)."""
    commands = []
    for line in body.replace("\\\n", " ").splitlines():
        if "manage.py" not in line:
            continue
        assert line.startswith(COMMAND), f"not run as the docs say: {line}"
        commands.append(shlex.split(line[len(COMMAND):], comments=True))
    return commands


def run(argv: list[str]) -> list[str]:
    """What `manage.py <argv>` prints (stdout, then stderr and the error line when the command fails)."""
    out, err = io.StringIO(), io.StringIO()
    try:
        call_command(*argv, stdout=out, stderr=err)
    except CommandError as exc:
        return [*out.getvalue().splitlines(), *err.getvalue().splitlines(), f"CommandError: {exc}"]
    return [*out.getvalue().splitlines(), *err.getvalue().splitlines()]


def steady(lines: list[str]) -> list[str]:
    """The lines with the time and rate of an import, which vary, blanked."""
    return [re.sub(r" in [\d.]+ s \([\d,]+ transactions/s\)", " in ... s (... transactions/s)", line)
            for line in lines]


@pytest.fixture
def clone(tmp_path, monkeypatch):
    """A folder laid out like the clone (fixtures/ copied), as the working directory: the commands'
    relative paths resolve there, and --skip-invalid writes its rejected files there."""
    shutil.copytree(FIXTURES, tmp_path / "fixtures", ignore=shutil.ignore_patterns("*.rejected.csv"))
    monkeypatch.chdir(tmp_path)
    return tmp_path


def test_the_fixtures_readme_commands_work_and_print_what_it_shows(db, clone):
    text = (FIXTURES / "README.md").read_text()
    blocks = fenced_blocks(text)
    ran = []
    for i, (language, body, _) in enumerate(blocks):
        if language != "bash":
            continue
        for argv in manage_commands(body):
            output = run(argv)
            ran.append((argv, output))
            shown = blocks[i + 1][1].splitlines() if i + 1 < len(blocks) and blocks[i + 1][0] == "text" else []
            # The block after a command is what it prints; after a failing one, how its output ends.
            if output[-1].startswith("CommandError"):
                assert steady(output[-len(shown):]) == steady(shown)
            else:
                assert steady(output) == steady(shown), argv
    assert [argv[0] for argv, _ in ran] == ["create_partner", "import_history", "import_history", "import_history"]
    partner = PartnerBank.objects.get(slug="north-bank")
    assert (partner.name, partner.currency) == ("North Bank", "CNY")
    # Step 2 printed every problem, as docs/data-format.md shows them
    assert ran[2][1] == [*map(printed, BAD_PROBLEMS), NOTHING_IMPORTED]
    # Step 3 imported the valid rows and wrote the rejected ones beside the inputs
    assert len(list((clone / "fixtures" / "history").glob("*.rejected.csv"))) == 3
    assert (Transaction.objects.filter(business__partner=partner).count(),
            LoanRecord.objects.filter(partner=partner).count()) == (276, 8)
    assert Business.objects.get(partner=partner, external_id="M000002").established_on == dt.date(2016, 3, 1)
    assert "North Bank then has 276 transactions and 8 loans, and Lin's Hardware's founding date is 2016-03-01" in (
        " ".join(text.split()))


def test_the_readme_commands_work_from_a_fresh_clone(db, clone):
    text = (ROOT / "README.md").read_text()
    section = text[text.index("## Bring your own data"):]
    section = section[:section.index("\n## ", 1)]
    bodies = [body for language, body, _ in fenced_blocks(section) if language == "bash" and "fixtures/" in body]
    assert len(bodies) == 1
    outputs = [run(argv) for argv in manage_commands(bodies[0])]

    assert len(outputs) == 3
    assert outputs[0] == ["Created partner north-bank (North Bank, CNY)."]
    assert outputs[1][:4] == [
        "merchants: 5 read, 5 inserted, 0 unchanged, 0 updated, 0 rejected",
        "transactions: 272 read, 272 inserted, 0 unchanged, 0 updated, 0 rejected",
        "metrics: 42 read, 42 inserted, 0 unchanged, 0 updated, 0 rejected",
        "loans: 6 read, 6 inserted, 0 unchanged, 0 updated, 0 rejected",
    ]
    assert outputs[2] == [*map(printed, BAD_PROBLEMS), NOTHING_IMPORTED]
    assert "adds 5 merchants, 272 transactions, 42 metrics and 6 loans" in " ".join(section.split())
    assert f"all {len(BAD_PROBLEMS)} of its problems" in " ".join(section.split())


# --- uploads/ ------------------------------------------------------------------------------------------


@pytest.mark.parametrize(("fixture", "rows", "tripped"), [
    ("fabricated-nine-months.csv", 385, ["DC_BALANCE_MISMATCH", "DC_ROUND_AMOUNTS"]),
    ("genuine-simulated.csv", 449, []),
])
def test_an_owner_uploads_an_uploads_file_without_its_merchant_id_column(db, fixture, rows, tripped):
    # As fixtures/README.md says: `cut -d, -f2-` drops the first column (the files quote nothing)
    text = (FIXTURES / "uploads" / fixture).read_text()
    assert '"' not in text and text.startswith("merchant_id,")
    cut = "".join(line.split(",", 1)[1] for line in text.splitlines(keepends=True))
    business = loan_services.business_create_for_owner(owner=UserFactory(), legal_name="Corner Grocery")
    upload = SimpleUploadedFile(fixture, cut.encode(), content_type="text/csv")

    result = loan_services.business_history_upload(business=business, upload=upload, actor="owner:test")

    assert result.files["transactions"].inserted == rows
    source = HistorySource.objects.get(business=business)
    assert (source.provenance, source.transactions) == ("owner_upload", rows)
    assert [c["code"] for c in source.checks if c["tripped"]] == tripped
