"""Monitoring: PSI against hand-computed values, histogram percentiles, the training reference in new
artifacts, daily summaries kept with each decision (and equal to a rebuild from the decisions)."""

import json
import math
import shutil
from datetime import date
from pathlib import Path

import numpy as np
import pytest

from tests.audit_fixtures import decide
from underwriting.engine.policy import PolicyParams
from underwriting.engine.pricing import approval_cutoff
from underwriting.modeling.models import ModelVersion
from underwriting.modeling.reference import bin_counts, bin_index, quantile_edges, reference_distributions
from underwriting.monitoring.drift import histogram_percentile, psi, psi_flag
from underwriting.monitoring.models import DecisionDailyDrift, DecisionDailySummary
from underwriting.monitoring.selectors import (
    dashboard_summary,
    drift_summary,
    model_reference,
)
from underwriting.monitoring.services import summaries_catch_up, summaries_rebuild

# ---- PSI (pure) -------------------------------------------------------------------------------------------


def test_psi_equals_the_hand_computed_value():
    # expected shares 25/25/50%, actual 10/30/60 of 100:
    # (0.1-0.25)ln(0.1/0.25) + (0.3-0.25)ln(0.3/0.25) + (0.6-0.5)ln(0.6/0.5)
    # = 0.137444 + 0.009116 + 0.018232 = 0.164792
    assert psi([0.25, 0.25, 0.5], [10, 30, 60]) == pytest.approx(0.16479184330021643, abs=1e-12)


def test_psi_floors_empty_bins_on_either_side():
    # expected 50/50/0, actual 0/50/50: both empty bins count as 0.01%,
    # PSI = 2 x (0.5 - 0.0001) x ln(0.5 / 0.0001) = 0.9998 x ln 5000 = 8.515490
    assert psi([0.5, 0.5, 0.0], [0, 50, 50]) == pytest.approx(0.9998 * math.log(5000), abs=1e-12)
    assert math.isfinite(psi([1.0, 0.0], [0, 7]))


def test_psi_of_identical_distributions_is_zero_and_flags_follow_the_thresholds():
    assert psi([0.2, 0.3, 0.5], [20, 30, 50]) == pytest.approx(0.0, abs=1e-15)
    assert [psi_flag(v) for v in (0.0, 0.099, 0.1, 0.25, 0.2501, None)] == [
        "stable", "stable", "watch", "watch", "shifted", ""]


def test_psi_refuses_mismatched_bins_or_no_observations():
    with pytest.raises(ValueError, match="same bins"):
        psi([0.5, 0.5], [1, 2, 3])
    with pytest.raises(ValueError, match="at least one observation"):
        psi([0.5, 0.5], [0, 0])


# ---- bins and percentiles ----------------------------------------------------------------------------------


def test_binning_puts_edge_values_right_and_missing_values_last():
    edges = [1.0, 2.0, 3.0]
    assert [bin_index(edges, v) for v in (0.5, 1.0, 1.5, 2.0, 3.0, 9.0, None, float("nan"))] == [
        0, 1, 1, 2, 3, 3, 4, 4]
    assert bin_counts(edges, np.array([0.5, 1.0, 1.5, 2.0, 3.0, 9.0, np.nan])) == [1, 2, 1, 2, 1]
    assert quantile_edges(np.array([np.nan, np.nan])) == []
    assert quantile_edges(np.array([1.0] * 50 + [2.0] * 50)) == [1.0, 1.5, 2.0]


def test_reference_distributions_hold_shares_that_sum_to_one_per_feature():
    rng = np.random.default_rng(1)
    X = rng.normal(size=(1000, 2))
    X[:100, 1] = np.nan
    ref = reference_distributions(X=X, feature_names=["a", "b"], pd=rng.uniform(0, 0.3, 1000), slice_name="train")
    assert ref["rows"] == 1000 and ref["slice"] == "train"
    assert len(ref["score"]["pd_edges"]) == 9 and sum(ref["score"]["shares"]) == pytest.approx(1.0)
    assert ref["features"]["b"]["shares"][-1] == pytest.approx(0.1)  # the missing bin
    for f in ref["features"].values():
        assert sum(f["shares"]) == pytest.approx(1.0)
        assert len(f["shares"]) == len(f["edges"]) + 2


def test_histogram_percentiles_interpolate_inside_the_bin():
    edges = [10.0, 20.0, 40.0]
    counts = [0, 50, 50, 0]  # 50 in [10, 20), 50 in [20, 40)
    assert histogram_percentile(counts, edges, 0.5) == pytest.approx(20.0)
    assert histogram_percentile(counts, edges, 0.25) == pytest.approx(15.0)
    assert histogram_percentile(counts, edges, 0.99) == pytest.approx(39.6)
    assert histogram_percentile([0, 0, 0, 3], edges, 0.5) == 40.0  # the open top bin answers its lower edge
    assert histogram_percentile([0, 0, 0, 0], edges, 0.5) is None


def test_the_approval_cutoff_is_the_lower_of_max_pd_and_the_pd_priced_at_max_apr():
    policy = PolicyParams()
    # 12 months: room 0.36 - 0.14 = 0.22 of APR buys PD 0.22 x 12 / (12 x 0.85) = 0.2588 > max_pd 0.15
    assert approval_cutoff(policy, 12)[0] == pytest.approx(0.15)
    # 3 months: 0.22 x 3 / (12 x 0.85) = 0.064706 < 0.15: the price binds first
    assert approval_cutoff(policy, 3)[0] == pytest.approx(0.22 * 3 / (12 * 0.85))
    assert approval_cutoff(policy, 3)[1] > approval_cutoff(policy, 12)[1]


# ---- summaries (database) ----------------------------------------------------------------------------------




@pytest.mark.usefixtures("require_postgres")
def test_new_artifacts_carry_the_training_reference(audit_world):
    mv = ModelVersion.objects.get(is_active=True)
    ref = model_reference(mv)
    assert ref is not None and ref["slice"] == "train"
    assert ref["rows"] == mv.training_window["train"]["rows"]
    assert set(ref["features"]) == set(mv.feature_names)


@pytest.mark.usefixtures("require_postgres")
def test_summaries_follow_every_decision_and_equal_a_rebuild(audit_world):
    decisions = [decide(b) for b in audit_world[:12]] + [decide(audit_world[0], amount="900.00")]
    day = decisions[0].created_at.date()
    # the decision path itself writes no summary; the catch-up (beat) adds them, once
    assert not DecisionDailySummary.objects.filter(day=day).exists()
    assert summaries_catch_up(batch_size=5) == len(decisions)
    assert summaries_catch_up() == 0

    rows = DecisionDailySummary.objects.filter(day=day)
    assert sum(r.count for r in rows) == len(decisions)
    by_outcome = {}
    for d in decisions:
        by_outcome[d.outcome] = by_outcome.get(d.outcome, 0) + 1
    for outcome, n in by_outcome.items():
        assert sum(r.count for r in rows if r.outcome == outcome) == n
    scored = [d for d in decisions if d.pd is not None]
    assert sum(r.pd_sum for r in rows) == pytest.approx(sum(d.pd for d in scored), abs=1e-12)
    offered = [d for d in decisions if d.offered_amount is not None]
    assert sum(r.offered_sum for r in rows) == sum(d.offered_amount for d in offered)
    assert sum(sum(r.latency_counts) for r in rows) == len(decisions)
    drift = DecisionDailyDrift.objects.get(day=day)
    assert drift.count == len(decisions) and drift.scored == len(scored) and drift.has_reference
    assert sum(drift.score_counts) == len(scored)
    assert all(sum(c) == len(decisions) for c in drift.feature_counts.values())

    def snapshot():
        return (sorted(DecisionDailySummary.objects.values_list(
                    "day", "partner_id", "outcome", "decided_by", "count", "scored", "requested_sum", "offered",
                    "offered_sum", "apr_sum", "latency_counts", "score_counts")),
                sorted(DecisionDailyDrift.objects.values_list("day", "model_version_id", "count", "scored",
                                                              "score_counts", "feature_counts")))

    live = snapshot()
    pd_live = sorted(DecisionDailySummary.objects.values_list("outcome", "decided_by", "pd_sum"))
    assert summaries_rebuild() == len(decisions)
    assert snapshot() == live
    for (o1, k1, p1), (o2, k2, p2) in zip(
            pd_live, sorted(DecisionDailySummary.objects.values_list("outcome", "decided_by", "pd_sum")), strict=True):
        assert (o1, k1) == (o2, k2) and p1 == pytest.approx(p2, abs=1e-12)


@pytest.mark.usefixtures("require_postgres")
def test_dashboard_summary_reads_volumes_rates_and_psi_from_the_summaries(audit_world):
    decisions = [decide(b) for b in audit_world[:15]]
    day = decisions[0].created_at.date()
    summaries_catch_up()

    summary = dashboard_summary(start=day, end=day)

    assert summary["total"] == 15
    approvals = sum(1 for d in decisions if d.outcome in ("approved", "counter_offer"))
    assert summary["approval_rate"] == pytest.approx(approvals / 15)
    outcomes = {o["outcome"]: o for o in summary["outcomes"]}
    declined = [d for d in decisions if d.outcome == "declined"]
    assert outcomes["declined"]["count"] == len(declined)
    scored_declined = [d.pd for d in declined if d.pd is not None]
    assert scored_declined  # the fixture's world has model-based declines
    assert outcomes["declined"]["avg_pd"] == pytest.approx(sum(scored_declined) / len(scored_declined))
    latencies = sorted(d.timings["total_ms"] for d in decisions)
    p50 = summary["latency"]["p50_ms"]
    # a histogram percentile lies inside the bin of the true one (bins 25% apart)
    true_p50 = latencies[7]
    assert true_p50 / 1.25 <= p50 <= true_p50 * 1.25
    drift = summary["drift"]
    assert drift["status"] == "ok"
    scored = [d for d in decisions if d.pd is not None]
    assert drift["scored"] == len(scored)
    # the score PSI recomputed by hand from the decisions' PDs and the reference bins
    ref = model_reference(ModelVersion.objects.get(is_active=True))
    counts = [0] * (len(ref["score"]["pd_edges"]) + 2)
    for d in scored:
        counts[bin_index(ref["score"]["pd_edges"], d.pd)] += 1
    e = ref["score"]["shares"][:-1]
    a = [c / len(scored) for c in counts[:-1]]
    expected_psi = sum((max(ai, 1e-4) - max(ei, 1e-4)) * math.log(max(ai, 1e-4) / max(ei, 1e-4))
                       for ai, ei in zip(a, e, strict=True))
    assert drift["score"]["psi"] == pytest.approx(expected_psi, abs=1e-12)
    assert len(drift["features"]) == len(ref["features"])
    assert all(f["n"] == 15 for f in drift["features"])

    other = dashboard_summary(start=date(2020, 1, 1), end=date(2020, 1, 31))
    assert other["total"] == 0 and other["approval_rate"] is None and len(other["days"]) == 31


@pytest.mark.usefixtures("require_postgres")
def test_an_artifact_without_reference_is_reported_not_failed(audit_world, settings):
    from underwriting.modeling.registry import model_version_activate, model_version_register

    active = ModelVersion.objects.get(is_active=True)
    src = Path(active.artifact_path)
    old = src.parent / (src.name + "-old")
    if not old.exists():
        shutil.copytree(src, old)
        manifest = json.loads((old / "manifest.json").read_text())
        manifest.pop("reference")
        manifest["version"] = old.name
        (old / "manifest.json").write_text(json.dumps(manifest))
    mv = model_version_register(artifact=old)
    model_version_activate(model_version=mv, note="an older artifact")

    d = decide(audit_world[1])
    summaries_catch_up()
    drift = drift_summary(start=d.created_at.date(), end=d.created_at.date())

    assert drift["status"] == "no_reference"
    assert "carries no training reference" in drift["message"] and mv.version in drift["message"]
    row = DecisionDailyDrift.objects.get(model_version=mv)
    assert row.count == 1 and not row.has_reference and row.feature_counts == {}


@pytest.mark.usefixtures("require_postgres")
def test_the_rebuild_command_restores_lost_summaries(audit_world, capsys):
    from django.core.management import call_command

    decisions = [decide(b) for b in audit_world[:3]]
    DecisionDailySummary.objects.all().delete()
    DecisionDailyDrift.objects.all().delete()

    call_command("rebuild_decision_summaries", "--since", decisions[0].created_at.date().isoformat())

    assert "rebuilt from 3 decision(s)" in capsys.readouterr().out
    assert sum(DecisionDailySummary.objects.values_list("count", flat=True)) == 3
    assert DecisionDailyDrift.objects.get().count == 3
