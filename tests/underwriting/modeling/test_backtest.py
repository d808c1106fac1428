"""`manage.py backtest`: a loan book scored point in time by the active model and policy; every loan gets a
PD, a knocked-out one too, while the rule still decides its outcome."""

import csv
from datetime import date

import numpy as np
import pytest
from django.core.management import CommandError, call_command
from django.test import override_settings

from accounts.models import Business
from underwriting.engine.evaluation import model_matrix
from underwriting.features import LoanRequest, compute_features, feature_names
from underwriting.history.loader import load_histories
from underwriting.modeling.registry import active_model, clear_active_model_cache, model_version_register
from underwriting.modeling.services import model_version_promote

ORIGINATED = date(2025, 6, 2)


@pytest.fixture
def book(db, trained_artifact, tmp_path):
    from underwriting.simulator import simulate_marketplace

    store, path = trained_artifact
    with override_settings(MODEL_STORE=str(store)):
        clear_active_model_cache()
        simulate_marketplace(merchants=12, months=18, seed=21, partner_slug="bt", end_date=date(2025, 12, 31))
        model_version_promote(model_version=model_version_register(artifact=path), promoted_by=None,
                              reason="backtest test", via="tests")
        clear_active_model_cache()
        merchants = list(Business.objects.filter(partner__slug="bt").order_by("external_id"))
        blocked = merchants[0]
        blocked.is_blocked = True
        blocked.save(update_fields=["is_blocked"])
        loans = tmp_path / "loans.csv"
        with open(loans, "w", newline="") as handle:
            writer = csv.writer(handle)
            writer.writerow(["loan_id", "merchant_id", "originated_on", "amount", "term_months", "status",
                             "defaulted_on"])
            writer.writerow(["L-blocked", blocked.external_id, ORIGINATED.isoformat(), "5000", "6", "repaid", ""])
            writer.writerow(["L-open", merchants[1].external_id, ORIGINATED.isoformat(), "5000", "6", "defaulted",
                             "2025-09-01"])
        yield loans, merchants
        clear_active_model_cache()


def test_every_loan_gets_a_pd_a_knocked_out_one_too(book, tmp_path, capsys):
    loans, merchants = book
    out = tmp_path / "scores.csv"
    # when the book is backtested
    call_command("backtest", partner="bt", loans=loans, out=out)
    with open(out, newline="") as handle:
        rows = {r["loan_id"]: r for r in csv.DictReader(handle)}
    # then the blocked merchant's loan is declined by the rule, yet carries the model's PD and score
    blocked = rows["L-blocked"]
    assert blocked["decision"] == "declined" and "blocked" in blocked["reasons"]
    history = load_histories(business_ids=[merchants[0].pk], as_of=[ORIGINATED])[0]
    model = active_model()
    values = compute_features([history], [LoanRequest(5000.0, 6)], peers=model.peers)
    expected = float(model.pd(model_matrix(model, feature_names(), values))[0])
    assert blocked["pd"] == f"{expected:.6f}" and blocked["score"] != ""
    # and the other loan is decided by the model, with its known outcome
    assert rows["L-open"]["pd"] != "" and rows["L-open"]["outcome"] == "1"
    assert "Scored 2 loans" in capsys.readouterr().out
    assert 0 < float(blocked["pd"]) < 1 and np.isfinite(float(rows["L-open"]["pd"]))


def test_a_book_naming_an_unknown_merchant_writes_nothing(book, tmp_path):
    loans, _ = book
    with open(loans, "a", newline="") as handle:
        csv.writer(handle).writerow(["L-x", "NOBODY", ORIGINATED.isoformat(), "5000", "6", "", ""])
    out = tmp_path / "scores.csv"
    with pytest.raises(CommandError, match="nothing was written"):
        call_command("backtest", partner="bt", loans=loans, out=out)
    assert not out.exists()
