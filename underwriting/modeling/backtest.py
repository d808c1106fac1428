"""Scoring a loan book point-in-time with the active model and policy (how a risk team checks a model
or a policy change on its own history, and how the platform is judged on data no one tuned to).

Every loan is decided by the same engine as a live application: features from the history known
before its origination day, knock-out rules, PD, score, limit, price and reasons. Every loan gets a PD,
a knocked-out one too (the rule decides its outcome; the PD is the model's at the amount asked for), so
the backtest's AUC covers the whole book. Nothing is stored.
"""

from __future__ import annotations

import csv
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date
from decimal import Decimal, InvalidOperation
from pathlib import Path

from accounts.models import Business, PartnerBank
from underwriting.engine.context import business_context
from underwriting.engine.evaluation import evaluate, model_matrix
from underwriting.engine.pricing import score_for
from underwriting.features import LoanRequest, compute_features, feature_names
from underwriting.features.history import add_months
from underwriting.history.loader import load_histories
from underwriting.policies.services import policy_active

REQUIRED = ("loan_id", "merchant_id", "originated_on", "amount", "term_months")
OUTPUT = ("loan_id", "pd", "score", "outcome", "decision", "offered_amount", "apr", "reasons")
DEFAULT_WINDOW_DAYS = 90


class BacktestInputError(Exception):
    def __init__(self, problems: list[str]):
        self.problems = problems
        super().__init__(f"{len(problems)} problem(s) in the loan file")


@dataclass(frozen=True)
class BookLoan:
    loan_id: str
    merchant_id: str
    originated_on: date
    amount: Decimal
    term_months: int
    outcome: str  # "1" defaulted within term + 90 days, "0" repaid or defaulted later, "" unknown


def _outcome(row: dict, originated_on: date, term: int, where: str, problems: list[str]) -> str:
    status = (row.get("status") or "").strip()
    if status in ("", "current"):
        return ""
    if status == "repaid":
        return "0"
    if status != "defaulted":
        problems.append(f"{where}: status: {status!r} is not repaid, defaulted or current")
        return ""
    try:
        defaulted_on = date.fromisoformat((row.get("defaulted_on") or "").strip())
    except ValueError:
        problems.append(f"{where}: defaulted_on: a defaulted loan needs a valid date")
        return ""
    window_end = add_months(originated_on, term)
    return "1" if (defaulted_on - window_end).days <= DEFAULT_WINDOW_DAYS else "0"


def read_book(path: Path) -> list[BookLoan]:
    problems: list[str] = []
    loans: list[BookLoan] = []
    with open(path, newline="", encoding="utf-8-sig") as handle:
        reader = csv.DictReader(handle)
        missing = [c for c in REQUIRED if c not in (reader.fieldnames or [])]
        if missing:
            raise BacktestInputError([f"{path.name}:1: missing column(s): {', '.join(missing)}"])
        for row in reader:
            where = f"{path.name}:{reader.line_num}"
            try:
                originated_on = date.fromisoformat(row["originated_on"].strip())
                amount = Decimal(row["amount"].strip())
                term = int(row["term_months"].strip())
            except (ValueError, InvalidOperation, AttributeError):
                problems.append(f"{where}: originated_on, amount or term_months is not valid")
                continue
            if amount <= 0 or term <= 0:
                problems.append(f"{where}: amount and term_months must be positive")
                continue
            outcome = _outcome(row, originated_on, term, where, problems)
            loans.append(
                BookLoan(
                    row["loan_id"].strip(), row["merchant_id"].strip(), originated_on, amount, term, outcome
                )
            )
    if problems:
        raise BacktestInputError(problems)
    if not loans:
        raise BacktestInputError([f"{path.name}: the file has no loans"])
    return loans


def backtest_rows(
    *, partner: PartnerBank, loans: list[BookLoan], model, progress: bool = False
) -> Iterator[dict]:
    """One output row per loan, in the file's order."""
    businesses = {
        b.external_id: b
        for b in Business.objects.filter(partner=partner, external_id__in={x.merchant_id for x in loans})
    }
    unknown = sorted({loan.merchant_id for loan in loans} - businesses.keys())
    if unknown:
        shown = ", ".join(unknown[:10]) + (f" and {len(unknown) - 10} more" if len(unknown) > 10 else "")
        raise BacktestInputError([f"partner {partner.slug!r} has no history for merchant(s) {shown}"])
    _, policy = policy_active()
    histories = load_histories(
        business_ids=[businesses[x.merchant_id].pk for x in loans],
        as_of=[x.originated_on for x in loans],
        progress=progress,
    )
    features = compute_features(histories, [LoanRequest(float(x.amount), x.term_months) for x in loans],
                                peers=model.peers)
    names = feature_names()
    for loan, history, values in zip(loans, histories, features, strict=True):
        business = businesses[loan.merchant_id]
        result = evaluate(
            feature_names=names,
            feature_values=values,
            context=business_context(history=history, is_blocked=business.is_blocked),
            amount=loan.amount,
            term_months=loan.term_months,
            as_of=loan.originated_on,
            policy=policy,
            model=model,
        )
        pd, score = result.pd, result.score
        if pd is None:
            # A knock-out decides without the model, but a backtest owes every loan its PD (the rule still
            # decides the outcome): the model's PD at the amount and term the loan was asked for.
            pd = float(model.pd(model_matrix(model, names, values))[0])
            score = score_for(pd, policy)
        yield {
            "loan_id": loan.loan_id,
            "pd": f"{pd:.6f}",
            "score": score,
            "outcome": loan.outcome,
            "decision": result.outcome,
            "offered_amount": "" if result.offered_amount is None else str(result.offered_amount),
            "apr": "" if result.apr is None else str(result.apr),
            "reasons": " | ".join(reason["text"] for reason in result.reasons),
        }


def write_scores(path: Path, rows: Iterator[dict]) -> int:
    count = 0
    tmp = path.with_name(path.name + ".partial")
    with open(tmp, "w", newline="", encoding="utf-8") as handle:
        writer = csv.DictWriter(handle, fieldnames=OUTPUT)
        writer.writeheader()
        for row in rows:
            writer.writerow(row)
            count += 1
    tmp.replace(path)
    return count
