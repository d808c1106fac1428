"""Training: the label rule, the out-of-time split, determinism, monotone constraints, calibration,
SHAP additivity, the artifact's checksums and atomic write, and train_model end to end.

The training core is exercised on small synthetic (X, y) sets (a second or two each); the label rule
and the end-to-end test use real LoanRecords and rollups in the test database.
"""

import datetime as dt
import itertools
import json
from dataclasses import dataclass
from decimal import Decimal

import numpy as np
import pytest
from django.core.management import call_command

from accounts.roles import APPLICANT, RISK_OPERATOR
from accounts.services import roles_sync, user_create_with_role
from tests.factories import BusinessFactory, PartnerFactory
from underwriting.features.history import day_number
from underwriting.history.models import DailyRollup, Direction, LoanRecord, TransactionKind
from underwriting.modeling import artifact as artifact_mod
from underwriting.modeling import report as report_mod
from underwriting.modeling.artifact import ArtifactError, load_artifact, write_artifact
from underwriting.modeling.blend import MIN_GAIN
from underwriting.modeling.dataset import TrainingSet, build_training_set, label_for, outcome_window_end
from underwriting.modeling.metrics import calibration_deciles, calibration_error, evaluate, ks
from underwriting.modeling.models import ModelActivation, ModelVersion
from underwriting.modeling.selection import SelectionError, candidates, time_folds
from underwriting.modeling.train import (
    Split,
    apply_calibration,
    fit_isotonic,
    fit_platt,
    monotone_signs,
    train_model,
)


@dataclass(frozen=True)
class Spec:
    name: str
    description: str
    family: str
    monotone: int


SPECS = [
    Spec("revenue", "Revenue", "scale", -1),
    Spec("refund_rate", "Refund rate", "refunds", +1),
    Spec("noise_a", "Noise a", "growth", 0),
    Spec("noise_b", "Noise b", "tenure", 0),
    Spec("spike", "Sales spike", "anomaly", +1),  # declared +1, but anomaly features stay free
]


def synthetic(n: int = 6000, seed: int = 0, missing: float = 0.05) -> TrainingSet:
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, len(SPECS)))
    logit = -2.3 - 0.9 * X[:, 0] + 0.7 * X[:, 1] + 0.4 * np.abs(X[:, 4])
    true_pd = 1 / (1 + np.exp(-logit))
    y = (rng.random(n) < true_pd).astype(np.int8)
    X[rng.random(X.shape) < missing] = np.nan
    days = np.sort(rng.integers(day_number(dt.date(2024, 1, 1)), day_number(dt.date(2025, 12, 31)), n))
    return TrainingSet(X=X, y=y, originated_on=days, specs=SPECS, true_pd=true_pd)


# --- the label rule ---------------------------------------------------------------------------------


def test_label_rule_and_the_90_day_window():
    orig = dt.date(2025, 1, 31)
    end = outcome_window_end(orig, 3)
    assert end == dt.date(2025, 4, 30) + dt.timedelta(days=90)  # due-date rule clamps to month end
    assert label_for(status="repaid", originated_on=orig, term_months=3, defaulted_on=None) == 0
    assert label_for(status="defaulted", originated_on=orig, term_months=3, defaulted_on=end) == 1
    assert label_for(status="defaulted", originated_on=orig, term_months=3,
                     defaulted_on=end + dt.timedelta(days=1)) == 0
    assert label_for(status="defaulted", originated_on=orig, term_months=3, defaulted_on=None) == 1
    assert label_for(status="current", originated_on=orig, term_months=3, defaulted_on=None) is None
    assert label_for(status=None, originated_on=orig, term_months=3, defaulted_on=None) is None


def _rollups(business, first: dt.date, last: dt.date):
    rows, day = [], first
    while day <= last:
        rows.append(DailyRollup(business=business, day=day, direction=Direction.IN, kind=TransactionKind.SALE,
                                count=3, total_minor=150_000, max_minor=80_000))
        day += dt.timedelta(days=1)
    DailyRollup.objects.bulk_create(rows)


@pytest.mark.django_db
def test_training_set_rows_labels_and_exclusions():
    partner = PartnerFactory(slug="label-bank")
    other = PartnerFactory(slug="other-bank")
    a = BusinessFactory(partner=partner)
    b = BusinessFactory(partner=partner)
    _rollups(a, dt.date(2024, 1, 1), dt.date(2025, 12, 31))  # the data ends 2025-12-31
    _rollups(b, dt.date(2024, 6, 1), dt.date(2025, 3, 31))  # b stopped trading: the end stays the partner's

    def loan(business, loan_id, orig, term, status, defaulted_on=None, partner_=partner):
        return LoanRecord.objects.create(partner=partner_, business=business, loan_id=loan_id, originated_on=orig,
                                         amount=Decimal("10000.00"), term_months=term, status=status,
                                         defaulted_on=defaulted_on)

    loan(a, "repaid", dt.date(2024, 6, 1), 6, "repaid")
    loan(a, "late-default", dt.date(2024, 9, 1), 3, "defaulted", dt.date(2025, 3, 15))  # window ends 2025-03-02
    loan(b, "default", dt.date(2024, 10, 1), 6, "defaulted", dt.date(2025, 2, 1))
    loan(a, "current", dt.date(2025, 6, 1), 12, "current")
    loan(b, "unknown", dt.date(2024, 12, 1), 3, None)
    loan(a, "recent-repaid", dt.date(2025, 9, 1), 3, "repaid")  # finished, window open at the end
    loan(BusinessFactory(partner=other), "elsewhere", dt.date(2024, 8, 1), 3, "repaid", partner_=other)

    ts = build_training_set(partner="label-bank")
    got = dict(zip(ts.loan_ids, ts.y.tolist(), strict=True))
    assert got == {"repaid": 0, "late-default": 0, "default": 1, "recent-repaid": 0}
    assert list(ts.loan_ids) == ["repaid", "late-default", "default", "recent-repaid"]  # by origination day
    assert ts.excluded == {"current": 1, "status_unknown": 1, "no_history": 0}
    assert ts.data_end == dt.date(2025, 12, 31)
    assert dict(zip(ts.loan_ids, ts.matured.tolist(), strict=True)) == {
        "repaid": True, "late-default": True, "default": True, "recent-repaid": False}
    assert ts.X.shape == (4, ts.n_features) and ts.n_features >= 60
    assert ts.true_pd is None  # no simulator truth in this book
    # Point in time: the origination day's own rollups never reach its features.
    DailyRollup.objects.filter(business=a, day=dt.date(2024, 6, 1)).update(total_minor=99_999_999)
    again = build_training_set(partner="label-bank")
    np.testing.assert_array_equal(again.X[0], ts.X[0])


# --- split ------------------------------------------------------------------------------------------


def test_folds_are_time_ordered_whole_days_of_matured_rows():
    # given 5,000 loans over 600 days whose last ~150 days still have open outcome windows
    rng = np.random.default_rng(1)
    days = np.sort(rng.integers(20000, 20600, 5000))
    y = (rng.random(5000) < 0.1).astype(int)
    matured = days < 20450
    # when the book is cut into folds
    f = time_folds(days, y, matured)
    # then there are five blocks of matured rows, each of whole days, each after the one before
    assert f.rule == "matured" and len(f.blocks) == 5
    for before, after in itertools.pairwise(f.blocks):
        assert days[before].max() < days[after].min()
    assert all(matured[b].all() for b in f.blocks)
    assert np.array_equal(np.sort(np.concatenate(f.blocks)), f.pool)
    assert all(abs(b.size / f.pool.size - 0.2) < 0.02 for b in f.blocks)
    # and the censored tail (finished, window still open) is left out of everything
    assert np.array_equal(f.unused, np.flatnonzero(~matured))
    # and the split the manifest records says the same
    s = Split.of(f)
    assert s.val_start == days[f.last].min() and s.cal_start == days[f.blocks[1]].min()
    assert np.array_equal(s.train, f.pool) and f.blocks[0].size + s.calibration.size == f.pool.size


def test_folds_fall_back_to_finished_rows_when_too_few_matured():
    days = np.arange(20000, 20400)
    y = np.tile([0, 0, 0, 1], 100)
    f = time_folds(days, y, np.zeros(400, dtype=bool))
    assert f.rule == "finished" and f.pool.size == 400 and len(f.blocks) == 5


def test_a_book_whose_defaults_cannot_fill_the_folds_is_refused_with_a_reason():
    days = np.arange(20000, 20400)
    y = np.zeros(400, dtype=int)
    y[:3] = 1  # every default in the first days: no later block holds one
    with pytest.raises(SelectionError, match="cannot be cut"):
        time_folds(days, y)


def test_settings_are_chosen_out_of_fold_and_the_final_model_learns_from_every_row(trained):
    cv = trained.params["cv"]
    # then every candidate was scored on the same folds, and the lowest out-of-fold log loss won
    losses = [c["logloss"] for c in cv["candidates"]]
    assert cv["chosen"] == int(np.argmin(losses)) and len(losses) == 3
    assert trained.params["num_leaves"] == cv["candidates"][cv["chosen"]]["num_leaves"]
    # and the final model was fitted on every pool row (not 70% of them)
    assert trained.row_counts["train_rows"] == synthetic().n_rows
    # and the validation figures are those of the last block, scored by a model that never saw it
    assert trained.metrics["validation"]["n"] == trained.split.validation.size
    assert trained.split.validation.size < trained.split.calibration.size < trained.split.train.size


def test_the_refit_never_grows_more_trees_than_the_decision_budget():
    # given settings whose folds use every round they may grow
    model = train_model(synthetic(n=3000), seed=1, params={"num_boost_round": 30, "early_stopping_rounds": 30,
                                                           "learning_rate": 0.01})
    # then the final model has at most that many trees, not 15% more
    assert model.params["cv"]["candidates"][model.params["cv"]["chosen"]]["rounds"] == 30
    assert model.booster.num_trees() == 30


def test_leaves_hold_more_loans_as_the_book_grows():
    small, large = candidates(1_000, {}), candidates(100_000, {})
    assert [c["num_leaves"] for c in small] == [7, 15, 31]
    assert all(b["min_data_in_leaf"] > a["min_data_in_leaf"] for a, b in zip(small, large, strict=True))


# --- the training core ------------------------------------------------------------------------------


def test_training_is_deterministic_for_a_seed(trained):
    again = train_model(synthetic(), seed=7)
    assert again.model_string == trained.model_string
    assert json.dumps(again.metrics, sort_keys=True) == json.dumps(trained.metrics, sort_keys=True)
    assert again.calibration == trained.calibration


def test_model_is_sized_for_the_decision_budget(trained):
    p = trained.params
    assert trained.booster.num_trees() <= 400 and p["num_leaves"] <= 31 and p["max_depth"] <= 6
    assert p["deterministic"] and p["num_threads"] == 2 and p["seed"] == 7


def test_monotone_constraints_are_honoured(trained):
    assert monotone_signs(SPECS) == [-1, 1, 0, 0, 0]  # the anomaly feature is exempt
    assert trained.params["monotone_constraints"] == [-1, 1, 0, 0, 0]
    rng = np.random.default_rng(3)
    base = rng.normal(size=(200, len(SPECS)))
    base[rng.random(base.shape) < 0.1] = np.nan
    grid = np.linspace(-4, 4, 41)
    for col, sign in ((0, -1), (1, +1)):
        rows = np.repeat(base, grid.size, axis=0)
        rows[:, col] = np.tile(grid, base.shape[0])
        pd_ = trained.pd(rows).reshape(base.shape[0], grid.size)
        steps = np.diff(pd_, axis=1) * sign
        assert (steps >= -1e-12).all(), f"feature {SPECS[col].name}: PD moved against its monotone sign"


def test_calibration_maps_margins_to_probabilities_monotonically(trained):
    margins = np.linspace(-8, 8, 2001)
    platt = apply_calibration(trained.calibration, margins)
    assert trained.calibration["method"] == "platt"
    assert ((platt > 0) & (platt < 1)).all() and (np.diff(platt) > 0).all()
    rng = np.random.default_rng(0)
    m = rng.normal(-2, 1, 3000)
    y = (rng.random(3000) < 1 / (1 + np.exp(-m))).astype(int)
    assert fit_platt(m, y)["a"] == pytest.approx(1.0, abs=0.15)
    iso = apply_calibration(fit_isotonic(m, y), margins)
    assert (np.diff(iso) >= 0).all() and ((iso > 0) & (iso < 1)).all()
    json.dumps(fit_isotonic(m, y))  # plain numbers


def test_metrics_on_known_cases():
    y = np.array([0, 0, 1, 1])
    assert ks(y, np.array([0.1, 0.2, 0.8, 0.9])) == 1.0
    m = evaluate(y, np.array([0.1, 0.2, 0.8, 0.9]), true_pd=np.array([0.2, 0.1, 0.9, 0.8]))
    assert m["auc"] == 1.0 and m["gini"] == 1.0 and m["oracle_auc"] == 1.0
    assert m["brier"] == pytest.approx((0.01 + 0.04 + 0.04 + 0.01) / 4)
    deciles = calibration_deciles(np.full(100, 0.1), np.r_[np.ones(20), np.zeros(80)])
    assert sum(d["n"] for d in deciles) == 100
    # Ties keep input order (stable sort), so the error is reproducible: 0.1 vs. 1.0, 1.0, then zeros.
    assert calibration_error(deciles) == pytest.approx((0.9 * 2 + 0.1 * 8) / 10)
    bands = m["score_bands"]
    assert [b["band"] for b in bands] == ["A", "B", "C", "D", "E"] and sum(b["n"] for b in bands) == 4


# --- the artifact -----------------------------------------------------------------------------------


def test_artifact_round_trip_and_shap_additivity(trained, store):
    path = write_artifact(trained, store=store)
    assert path.parent == store and path.name.startswith("m-")
    assert sorted(p.name for p in path.iterdir()) == sorted(
        ["model.txt", "manifest.json", "report.html", "calibration.png", "importance.png", "score_bands.png",
         "shap_beeswarm.png", "shap_dependence_1.png", "shap_dependence_2.png", "shap_dependence_3.png",
         "shap_dependence_4.png"])
    model = load_artifact(path)
    manifest = json.loads((path / "manifest.json").read_text())
    assert model.version == manifest["version"] == path.name
    assert model.feature_names == [s.name for s in SPECS]
    assert [f["constraint"] for f in manifest["features"]] == [-1, 1, 0, 0, 0]
    assert set(manifest["libraries"]) >= {"python", "lightgbm", "numpy", "sklearn"}
    assert {"train", "calibration", "validation"} <= set(manifest["training_window"])
    assert manifest["calibration"] == trained.calibration and manifest["seed"] == 7
    X = synthetic(500, seed=9, missing=0.2).X
    assert np.array_equal(model.pd(X), trained.pd(X))  # the same numbers by the same arithmetic
    contrib = model.contributions(X)
    assert contrib.shape == (500, len(SPECS) + 1)
    assert np.max(np.abs(contrib.sum(axis=1) - model.raw_margin(X))) < 1e-6
    assert model.pd(X[0]).shape == (1,)  # one row as a 1-d array
    # and the blend chosen out of fold is the artifact's too, scorecard included
    assert manifest["blend"] == trained.blend.to_dict() and model.blend == trained.blend
    assert (model.scorecard is None) == (trained.scorecard is None)
    assert np.array_equal(model.contributions(X), trained.contributions(X))
    with pytest.raises(ValueError, match="takes 5 features"):
        model.pd(X[:, :3])
    assert "<h1>Model " + model.version in (path / "report.html").read_text()


def test_the_artifact_stores_each_features_typical_value(trained, store):
    # Given a model trained on synthetic rows with missing values
    expected = np.nanmedian(synthetic().X[trained.split.train], axis=0)

    # Then the reference holds each feature's median over the train slice, missing values ignored
    ref = trained.reference["features"]
    assert [ref[s.name]["median"] for s in SPECS] == pytest.approx(list(expected), abs=0, rel=1e-12)
    assert trained.typical == pytest.approx(expected, abs=0, rel=1e-12)
    # and the artifact carries them to the loaded model, in its feature order
    path = write_artifact(trained, store=store)
    assert np.array_equal(load_artifact(path).typical, trained.typical)

    # Given the same artifact as written before medians were stored
    manifest_path = path / "manifest.json"
    manifest = json.loads(manifest_path.read_text())
    for entry in manifest["reference"]["features"].values():
        del entry["median"]
    manifest_path.write_text(json.dumps(manifest))
    # Then its typical values are the middle decile edges, which are the medians here
    old = load_artifact(path)
    assert all(len(entry["edges"]) == 9 for entry in manifest["reference"]["features"].values())
    assert old.typical == pytest.approx(expected, abs=0, rel=1e-12)


def test_typical_values_fall_back_to_the_middle_decile_edge_only_when_all_nine_are_there():
    from underwriting.modeling.reference import reference_distributions, typical_values

    edges = [float(e) for e in range(1, 10)]
    old = {"features": {"full": {"edges": edges, "shares": []}, "few": {"edges": [0.0, 1.0], "shares": []},
                        "empty": {"edges": [], "shares": []}}}
    new = {"features": {"full": {"edges": edges, "median": 4.25}, "few": {"edges": [0.0, 1.0], "median": 0.0},
                        "empty": {"edges": [], "median": None}}}
    names = ["full", "few", "empty", "unknown"]

    assert np.array_equal(typical_values(old, names), [5.0, np.nan, np.nan, np.nan], equal_nan=True)
    assert np.array_equal(typical_values(new, names), [4.25, 0.0, np.nan, np.nan], equal_nan=True)
    assert np.isnan(typical_values(None, ["full"])).all() and typical_values({}, []).shape == (0,)
    # A fresh reference: the median ignores missing values, and is the middle decile edge when there are nine
    x = np.r_[np.arange(101.0), [np.nan] * 20]
    ref = reference_distributions(X=np.c_[x, np.zeros_like(x), np.full_like(x, np.nan)],
                                  feature_names=["x", "zero", "gone"], pd=np.linspace(0, 0.2, x.size), slice_name="t")
    assert [ref["features"][n]["median"] for n in ("x", "zero", "gone")] == [50.0, 0.0, None]
    assert ref["features"]["x"]["edges"][4] == 50.0
    assert np.array_equal(typical_values(ref, ["gone", "zero", "x"]), [np.nan, 0.0, 50.0], equal_nan=True)


def test_a_second_artifact_gets_the_next_version(trained, store):
    first = write_artifact(trained, store=store)
    second = write_artifact(trained, store=store)
    assert first.name[:-4] == second.name[:-4] and int(second.name[-4:]) == int(first.name[-4:]) + 1


def test_a_modified_artifact_is_refused(trained, store):
    path = write_artifact(trained, store=store)
    checksum = load_artifact(path).checksum
    text = (path / "model.txt").read_text()
    (path / "model.txt").write_text(text.replace("leaf_value=", "leaf_value=1", 1))
    with pytest.raises(ArtifactError, match=r"model\.txt does not match its checksum"):
        load_artifact(path)
    (path / "model.txt").write_text(text)
    load_artifact(path, expected_checksum=checksum)  # restored: accepted again
    manifest = json.loads((path / "manifest.json").read_text())
    manifest["calibration"]["b"] += 0.5  # a quieter tampering: the files still match the manifest
    (path / "manifest.json").write_text(json.dumps(manifest))
    with pytest.raises(ArtifactError, match="the registry recorded"):
        load_artifact(path, expected_checksum=checksum)
    (path / "report.html").unlink()
    with pytest.raises(ArtifactError, match=r"report\.html is missing"):
        load_artifact(path)


def test_a_failed_write_leaves_nothing_behind(trained, store, monkeypatch):
    def broken(*args, **kwargs):
        raise OSError("disk full")

    monkeypatch.setattr(report_mod, "write_report", broken)
    with pytest.raises(OSError, match="disk full"):
        write_artifact(trained, store=store)
    assert list(store.iterdir()) == []
    monkeypatch.undo()
    monkeypatch.setattr(artifact_mod.os, "rename", broken)
    with pytest.raises(OSError, match="disk full"):
        write_artifact(trained, store=store)
    assert list(store.iterdir()) == []


# --- end to end -------------------------------------------------------------------------------------


@pytest.mark.django_db(transaction=True)
def test_train_model_command_on_a_simulated_world(store, capsys):
    from underwriting.modeling.registry import active_model, clear_active_model_cache
    from underwriting.simulator import simulate_marketplace

    simulate_marketplace(merchants=300, months=24, seed=5, partner_slug="e2e-train")
    call_command("train_model", partner="e2e-train", seed=3, quiet=True)
    out = capsys.readouterr().out
    for label in ("AUC", "Gini", "KS", "Brier", "calibration error", "oracle AUC", "AUC / oracle", "report:"):
        assert label in out
    mv = ModelVersion.objects.get()
    assert mv.is_active and mv.metrics["validation"]["n"] > 0 and mv.training_window["rule"] == "matured"
    clear_active_model_cache()
    model = active_model()
    assert model.version == mv.version and model.checksum == mv.checksum
    from underwriting.features import feature_names

    assert model.feature_names == feature_names()
    assert (store / mv.version / "report.html").exists()
    # Its activation went through the promotion service, recorded as the command line's
    first = ModelActivation.objects.get()
    assert (first.model_version_id, first.previous_version_id, first.activated_by, first.via, first.reason) == (
        mv.pk, None, None, "manage.py train_model", "trained by manage.py train_model (seed 3)")
    # Same data and seed: the same model, registered as another version (not activated).
    call_command("train_model", partner="e2e-train", seed=3, quiet=True, no_activate=True)
    second = ModelVersion.objects.exclude(pk=mv.pk).get()
    assert not second.is_active and ModelVersion.objects.get(pk=mv.pk).is_active
    assert ModelActivation.objects.count() == 1
    # A promotion under a risk operator's name records them and the version it replaced
    roles_sync()
    operator = user_create_with_role(email="risk@train.example.com", password="a-long-test-password",
                                     role=RISK_OPERATOR)
    call_command("train_model", partner="e2e-train", seed=3, quiet=True, by="RISK@train.example.com",
                 note="monthly retrain")
    third = ModelVersion.objects.get(is_active=True)
    latest = ModelActivation.objects.order_by("-id").first()
    assert (latest.model_version_id, latest.previous_version_id, latest.activated_by, latest.reason) == (
        third.pk, mv.pk, operator, "monthly retrain")
    # (Training time is bench/bench_train.py's figure, not a timed assertion here.)
    assert (store / mv.version / "model.txt").read_text() == (store / second.version / "model.txt").read_text()
    # Trained as the partner's own model (ADR 0012): it joins that partner's scope and the platform's
    # model stays active beside it
    call_command("train_model", partner="e2e-train", seed=4, quiet=True, for_partner=True, note="its own book")
    own = ModelVersion.objects.get(is_active=True, partner__slug="e2e-train")
    assert list(ModelVersion.objects.filter(is_active=True, partner=None)) == [third]
    assert ModelActivation.objects.order_by("-id").first().previous_version is None
    assert "e2e-train's model" in capsys.readouterr().out
    clear_active_model_cache()
    assert active_model(own.partner_id).version == own.version and active_model().version == third.version


@pytest.mark.django_db
def test_train_model_refuses_to_promote_under_someone_who_is_not_a_risk_operator(store):
    from django.core.management.base import CommandError

    roles_sync()
    user_create_with_role(email="owner@train.example.com", password="a-long-test-password", role=APPLICANT)

    for email in ("owner@train.example.com", "nobody@train.example.com"):
        with pytest.raises(CommandError, match=f"--by {email}: no active risk operator with that email"):
            call_command("train_model", quiet=True, by=email)
    with pytest.raises(CommandError, match="--for-partner needs --partner"):
        call_command("train_model", quiet=True, for_partner=True)

    assert not ModelVersion.objects.exists() and not ModelActivation.objects.exists()


def test_the_scorecard_challenger_is_judged_on_the_same_folds_and_the_winner_recorded(trained):
    blend = trained.blend
    # then the three candidates were scored out of fold and the recorded choice is the best of them
    assert set(blend.logloss) >= {"trees", "scorecard"}
    single = min(("trees", "scorecard"), key=blend.logloss.get)
    if blend.chosen == "blend":
        assert blend.logloss["blend"] <= blend.logloss[single] * (1 + MIN_GAIN)
        assert blend.trees > 0 and blend.scorecard > 0 and trained.scorecard is not None
    else:
        assert blend.chosen == single and blend.logloss.get("blend", np.inf) > blend.logloss[single] * (1 + MIN_GAIN)
    assert trained.params["blend"] == blend.to_dict()
    # and whatever won, the model's SHAP values add up to its margin
    X = synthetic(200, seed=3).X
    assert np.max(np.abs(trained.contributions(X).sum(axis=1) - trained.raw_margin(X))) < 1e-9


def test_the_risk_appetite_curve_is_read_from_the_loans_scored_out_of_fold(trained):
    # then the trade-off curve covers exactly the out-of-fold rows, the lowest PDs approved first
    record = trained.metrics["appetite"]
    oof = trained.split.calibration
    assert record["source"] == "out-of-fold" and record["loans"] == oof.size
    assert record["defaults"] == int(synthetic().y[oof].sum())
    curve = record["curve"]
    assert [r["loans"] for r in curve][-1] == oof.size and curve[-1]["approval_rate"] == 1.0
    assert all(a["max_pd"] <= b["max_pd"] for a, b in itertools.pairwise(curve))
