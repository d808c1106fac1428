"""The decision service end to end: a simulated world in the database, a model trained on it, and
decisions stored, replayed and verified."""

import dataclasses
from datetime import UTC, datetime
from decimal import Decimal

import numpy as np
import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.db import DatabaseError, connection, transaction
from django.test import override_settings

from accounts.models import Business
from underwriting.decisions.models import Decision
from underwriting.decisions.services import NoActiveModel, decision_make, decision_replay
from underwriting.decisions.verification import decisions_verify
from underwriting.engine.context import business_context
from underwriting.engine.evaluation import evaluate
from underwriting.engine.outcomes import KnockOut, Outcome
from underwriting.engine.product import annuity_instalment
from underwriting.features import LoanRequest, compute_features, feature_names
from underwriting.features.flows import REVENUE_KINDS
from underwriting.features.history import IN
from underwriting.history.loader import load_history
from underwriting.modeling.models import ModelVersion
from underwriting.modeling.registry import clear_active_model_cache, model_version_register
from underwriting.modeling.services import model_version_promote
from underwriting.policies.services import policy_active, policy_version_create

AS_OF = datetime(2026, 11, 1, 9, 30, tzinfo=UTC)  # the day after the simulated history ends


@pytest.fixture(scope="module")
def artifact(trained_artifact):
    """The session's trained model (tests/conftest.py)."""
    return trained_artifact


@pytest.fixture
def world(db, artifact):
    """60 merchants of another seed, and the trained model registered and active."""
    from underwriting.simulator import simulate_marketplace

    store, path = artifact
    with override_settings(MODEL_STORE=str(store)):
        clear_active_model_cache()
        simulate_marketplace(merchants=60, months=24, seed=11, partner_slug="decide")
        model_version_promote(model_version=model_version_register(artifact=path), promoted_by=None, reason="the tests' model",
                              via="tests")
        yield list(Business.objects.filter(partner__slug="decide").order_by("external_id"))
        clear_active_model_cache()


def _decide(business, amount="20000.00", term=12, **kwargs):
    return decision_make(business=business, amount=Decimal(amount), term_months=term, as_of=AS_OF, **kwargs)


def _scored(world):
    """A decision for every merchant the rules let through to the model."""
    decisions = [_decide(b) for b in world]
    return [d for d in decisions if d.decided_by == "model"]


def test_a_decision_stores_its_snapshot_versions_shap_and_timings(world):
    decision = _scored(world)[0]

    assert decision.feature_names == feature_names()
    assert len(decision.feature_values) == len(decision.feature_names)
    assert decision.model_version.is_active
    assert decision.policy_version == policy_active()[0]
    assert 0.0 < decision.pd < 1.0
    assert 300 <= decision.score <= 900
    assert set(decision.timings) >= {"load_ms", "features_ms", "engine_ms", "total_ms"}
    assert decision.previous_hmac and decision.hmac


def test_decisions_compare_with_the_sector_norms_the_model_was_trained_with(world):
    from underwriting.features import PEER_BASES, compute_features_with_bases
    from underwriting.features.peer_bases import PEER_BASE_NAMES
    from underwriting.modeling.registry import active_model

    # given the active model, which carries the sector norms fitted on its train slice
    peers = active_model().peers
    assert peers is not None and peers.overall

    # when a merchant is decided
    decision = _scored(world)[0]
    business = decision.business

    # then each peer feature is the merchant's log rate minus its sector's reference, never missing
    # where the rate exists
    history = load_history(business=business, as_of=AS_OF)
    _, bases = compute_features_with_bases([history], [LoanRequest(20000.0, 12)])
    names = decision.feature_names
    compared = 0
    for name, (base, floor) in PEER_BASES.items():
        value = decision.feature_values[names.index(name)]
        raw = bases[0, PEER_BASE_NAMES.index(base)]
        if np.isnan(raw):
            assert value is None
            continue
        assert value == pytest.approx(np.log(max(raw, floor)) - peers.reference(business.sector, base), abs=1e-12)
        compared += 1
    assert compared >= 4


def test_batch_scores_equal_the_decisions_pd_and_score(world):
    from underwriting.decisions.batch import businesses_score

    # given the decisions of the merchants the rules let through to the model
    decisions = _scored(world)

    # when the same merchants are scored in one batch for the same request and day
    batch = businesses_score(business_ids=[d.business_id for d in decisions], as_of=AS_OF,
                             amount=Decimal("20000.00"), term_months=12, chunk=7)

    # then each PD and score is the decision's for the requested amount (same features, sector norms,
    # model and scale; a counter-offer keeps the requested amount's beside its own)
    assert len(decisions) >= 10
    for decision, pd, score in zip(decisions, batch.pd, batch.score, strict=True):
        requested = decision.limit.get("at_request") or {"pd": decision.pd, "score": decision.score}
        assert abs(pd - requested["pd"]) <= 1e-12
        assert score == requested["score"]


def test_shap_values_add_up_to_the_raw_margin(world):
    for decision in _scored(world):
        total = decision.shap_base + sum(decision.shap_values)

        assert abs(total - decision.raw_margin) < 1e-6


def test_replay_is_identical(world):
    decisions = [_decide(b) for b in world[:20]]

    for decision in decisions:
        replay = decision_replay(decision=Decision.objects.get(pk=decision.pk))
        assert replay.identical, replay.differences
        if decision.pd is not None:
            assert abs(replay.result.pd - decision.pd) <= 1e-12


def test_an_application_is_decided_once(world):
    import uuid

    ref = uuid.uuid4()

    first = _decide(world[0], application_ref=ref)
    second = _decide(world[0], application_ref=ref)

    assert first.pk == second.pk
    assert Decision.objects.filter(application_ref=ref).count() == 1


def test_a_blocked_business_is_knocked_out_before_the_model(world):
    business = world[0]
    business.is_blocked = True
    business.save()

    decision = _decide(business)

    assert (decision.outcome, decision.decided_by) == (Outcome.DECLINED, "knockout")
    assert [r["feature"] for r in decision.reasons] == [KnockOut.BLOCKED]
    assert decision.pd is None and decision.offered_amount is None
    assert {k["code"]: k["passed"] for k in decision.knockouts}[KnockOut.BLOCKED] is False


def test_a_model_decline_gives_one_to_four_reasons_from_its_own_shap_values(world):
    policy_version_create(params={"max_pd": "0.0001"}, note="decline everything the model scores")

    declined = [d for d in _scored(world) if d.outcome == Outcome.DECLINED]

    assert declined
    texts = set()
    for decision in declined:
        assert 1 <= len(decision.reasons) <= 4
        families = [r["family"] for r in decision.reasons]
        assert len(families) == len(set(families))
        if decision.reasons[0]["family"] == "overall":
            # Only when not one feature pushed risk up: the policy's PD ceiling itself is the reason.
            assert max(decision.shap_values) <= 0 and len(decision.reasons) == 1
            continue
        for reason in decision.reasons:
            index = decision.feature_names.index(reason["feature"])
            model_index = ModelVersion.objects.get(pk=decision.model_version_id).feature_names.index(reason["feature"])
            assert reason["contribution"] == decision.shap_values[model_index] > 0
            assert reason["text"]
            texts.add(reason["text"])
            assert decision.feature_values[index] is None or isinstance(decision.feature_values[index], float)
    # Reasons carry each applicant's own numbers, so different applicants read different reasons.
    assert len(texts) > 4


def test_a_request_beyond_the_limit_gets_a_smaller_counter_offer(world):
    decisions = [_decide(b, amount="450000.00") for b in world]
    countered = [d for d in decisions if d.outcome == Outcome.COUNTER_OFFER]

    assert countered
    for decision in countered:
        assert Decimal("1000.00") <= decision.offered_amount < decision.requested_amount
        assert decision.reasons[0]["family"] == "limit"
        assert decision.limit["binding"] == decision.reasons[0]["feature"]


def test_reasons_of_declines_and_counter_offers_never_cite_a_fact_against_them(world):
    """Over the real model and many decisions: a model-based adverse reason always pushed this
    decision's risk up, and a monotone (or one-way-reading) feature speaks only from the risky side of
    its typical training value."""
    from underwriting.engine.evaluation import model_row, reason_specs
    from underwriting.engine.reasons import reading_side, reasons_from_contributions
    from underwriting.modeling.registry import active_model

    # Given counter-offers (requests beyond the limit) and declines (a PD ceiling no one meets) of the
    # trained model on a simulated world, for several amounts and terms
    decisions = [_decide(b, amount="450000.00") for b in world]
    policy_version_create(params={"max_pd": "0.0001"}, note="decline everything the model scores")
    decisions += [_decide(b, amount=amount, term=term) for b in world
                  for amount, term in (("20000.00", 12), ("5000.00", 24))]
    adverse = [d for d in decisions if d.decided_by == "model" and d.outcome in (Outcome.DECLINED, Outcome.COUNTER_OFFER)]
    assert len(adverse) >= 100 and {d.outcome for d in adverse} == {Outcome.DECLINED, Outcome.COUNTER_OFFER}
    model = active_model()
    typical = model.typical
    specs = reason_specs(model)
    assert np.isfinite(typical).mean() > 0.9  # the artifact knows the typical value of nearly every feature
    checked = changed = 0
    for decision in adverse:
        # the stored reasons come from the decision's own SHAP values, each pushing risk up
        shap = dict(zip(model.feature_names, decision.shap_values, strict=True))
        for reason in decision.reasons:
            if reason["contribution"] is not None:
                assert reason["contribution"] == shap[reason["feature"]] > 0
        # When the reasons are drawn with the model's typical values and the partner's currency
        x = model_row(model, decision.feature_names, np.array(decision.feature_values, dtype=np.float64))[0]
        contributions = model.contributions(x)[0]
        assert np.array_equal(contributions[:-1], decision.shap_values)
        reasons = reasons_from_contributions(specs=specs, values=x, contributions=contributions, direction="adverse",
                                             typical=typical, currency=decision.partner.currency)
        # Then every one pushed risk up and none reads as good news against its typical value
        for reason in reasons:
            i = model.feature_names.index(reason.feature)
            assert reason.contribution == contributions[i] > 0
            side = reading_side(specs[i], x[i], typical[i])
            assert side != -1, reason.text
            if specs[i].sense and not np.isnan(x[i]) and not np.isnan(typical[i]):
                assert side == 1, reason.text
            if specs[i].unit == "money" and reason.value is not None:
                assert decision.partner.currency in reason.text
            checked += 1
        untyped = reasons_from_contributions(specs=specs, values=x, contributions=contributions, direction="adverse")
        changed += [r.feature for r in untyped] != [r.feature for r in reasons]
    assert checked >= 3 * len(adverse)
    # and without the typical values some decisions would have cited a fact on the safe side
    assert changed > 0


def test_an_offer_carries_an_exact_schedule(world):
    offers = [d for d in _scored(world) if d.outcome in (Outcome.APPROVED, Outcome.COUNTER_OFFER)]

    assert offers
    for decision in offers:
        rows = decision.schedule["rows"]
        assert len(rows) == decision.term_months
        assert sum(Decimal(r["payment"]) for r in rows) == decision.total_repayable
        assert sum(Decimal(r["principal"]) for r in rows) == decision.offered_amount
        assert decision.instalment == annuity_instalment(
            decision.offered_amount, decision.apr / 100, decision.term_months
        )
        assert decision.effective_apr == decision.apr  # no origination fee by default


def test_no_active_model_means_no_decision(world):
    ModelVersion.objects.update(is_active=False)
    clear_active_model_cache()

    with pytest.raises(NoActiveModel):
        _decide(world[0])

    assert not Decision.objects.exists()


def test_decisions_cannot_be_updated_or_deleted(world):
    decision = _decide(world[0])

    with pytest.raises(DatabaseError), transaction.atomic():
        Decision.objects.filter(pk=decision.pk).update(offered_amount=Decimal("999999.00"))
    with pytest.raises(DatabaseError), transaction.atomic():
        Decision.objects.filter(pk=decision.pk).delete()

    assert Decision.objects.get(pk=decision.pk).hmac == decision.hmac


def test_verify_decisions_names_a_record_altered_in_sql(world, capsys):
    decisions = [_decide(b) for b in world[:5]]
    call_command("verify_decisions")
    assert "5 decision record(s) verified" in capsys.readouterr().out
    tampered = decisions[2]

    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            # What a superuser can do: switch triggers off for the session and rewrite the row.
            cursor.execute("SET LOCAL session_replication_role = replica")
            cursor.execute("UPDATE underwriting_decision SET score = score + 40 WHERE id = %s", [tampered.pk])
            cursor.execute("SET LOCAL session_replication_role = origin")
        else:
            cursor.execute("DROP TRIGGER underwriting_decision_no_update")
            cursor.execute("UPDATE underwriting_decision SET score = score + 40 WHERE id = %s", [tampered.pk])

    checked, problems = decisions_verify()
    assert checked == 5
    assert [(p.decision_id, p.public_id) for p in problems] == [(tampered.pk, str(tampered.public_id))]
    with pytest.raises(CommandError, match="1 problem"):
        call_command("verify_decisions")
    assert str(tampered.public_id) in capsys.readouterr().out


def _scaled(history, factor: float):
    """The same merchant with every business inflow scaled by `factor` (sales, transfers and deposits
    in, and the counterparties who paid them), everything else unchanged. All of them, not sales alone:
    scaling only the sales would also make the largest payers a larger share of income, which is more
    concentration, a risk of its own."""
    daily = history.daily
    sale = (daily.direction == IN) & np.isin(daily.kind, REVENUE_KINDS)
    scaled_daily = dataclasses.replace(
        daily,
        total=np.where(sale, daily.total * factor, daily.total),
        max=np.where(sale, daily.max * factor, daily.max),
    )
    cps = history.counterparties
    scaled_cps = dataclasses.replace(cps, total=np.where(cps.direction == IN, cps.total * factor, cps.total))
    return dataclasses.replace(history, daily=scaled_daily, counterparties=scaled_cps)


def test_scaling_sales_up_never_raises_the_pd_nor_lowers_the_offer(world):
    from underwriting.modeling.registry import active_model

    model = active_model()
    _, policy = policy_active()
    names = feature_names()
    request = LoanRequest(amount=20000.0, term_months=12)
    checked = 0
    for business in world:
        history = load_history(business=business, as_of=AS_OF)
        results = []
        for h in (history, _scaled(history, 1.5)):
            values = compute_features([h], [request], peers=model.peers)[0]
            results.append(
                evaluate(
                    feature_names=names,
                    feature_values=values,
                    context=business_context(history=h, is_blocked=False),
                    amount=Decimal("20000.00"),
                    term_months=12,
                    as_of=AS_OF.date(),
                    policy=policy,
                    model=model,
                )
            )
        base, scaled = results
        if base.pd is not None and scaled.pd is not None:
            checked += 1
            assert scaled.pd <= base.pd + 1e-12, business.external_id
        assert (scaled.offered_amount or Decimal(0)) >= (base.offered_amount or Decimal(0)), (
            business.external_id
        )
    assert checked >= 20


# ---- honest offers: the largest acceptable amount, not a decline -------------------------------------


def _outcome(business, amount):
    """What the engine decides for `amount` now, storing nothing."""
    from underwriting.decisions.services import decision_preview

    return decision_preview(business=business, amount=Decimal(amount), term_months=12, as_of=AS_OF)


def test_a_request_larger_than_the_business_can_afford_gets_the_largest_amount_it_can(world):
    # given merchants the engine approves for some amount, asking for far more than they can afford
    for business in world:
        small = _outcome(business, "2600.00")
        if small.outcome == Outcome.APPROVED:
            break
    else:
        pytest.fail("no merchant approvable for 2,600")

    # when one asks for 100,000
    decision = _decide(business, "100000.00")

    # then it is counter-offered the largest amount the engine accepts, never declined
    assert decision.outcome == Outcome.COUNTER_OFFER
    offered = decision.offered_amount
    assert Decimal("2600.00") <= offered < Decimal("100000.00")
    assert _outcome(business, str(offered)).outcome == Outcome.APPROVED
    assert _outcome(business, str(offered + Decimal("100.00"))).outcome != Outcome.APPROVED
    # its own PD, price and snapshot are the offer's; the request's are kept beside them
    at_request = decision.limit["at_request"]
    assert at_request["amount"] == "100000.00" and at_request["failure"] is not None
    assert decision.feature_values[feature_names().index("requested_amount")] == float(offered)
    assert decision.reasons[0]["text"].endswith(f"{offered:,.2f} CNY is the largest amount we can lend you now.")
    assert abs(decision.shap_base + sum(decision.shap_values) - decision.raw_margin) < 1e-6
    # and the record replays to the same offer
    assert decision_replay(decision=decision).identical


def test_a_decline_means_no_amount_in_the_products_range_is_acceptable(world):
    # given a merchant the engine would not lend even the product's minimum (a PD ceiling it cannot meet)
    policy_version_create(params={"max_pd": "0.02"}, note="a strict PD ceiling for the test")
    declined = [b for b in world if _outcome(b, "1000.00").outcome == Outcome.DECLINED
                and _outcome(b, "1000.00").decided_by == "model"]
    assert declined

    # when it asks for 50,000
    decision = _decide(declined[0], "50000.00")

    # then it is declined, and every reason is a fact that pushed this decision's risk up
    assert decision.outcome == Outcome.DECLINED
    model_names = ModelVersion.objects.get(pk=decision.model_version_id).feature_names
    for reason in decision.reasons:
        if reason["contribution"] is not None:
            assert reason["contribution"] == decision.shap_values[model_names.index(reason["feature"])] > 0


def test_a_record_without_request_bases_is_decided_as_before_counter_offers_were_searched(world):
    from underwriting.engine.evaluation import model_row
    from underwriting.modeling.registry import active_model

    # given the inputs of decisions made before requests were weighed at other amounts (no request bases)
    policy, model = policy_active()[1], active_model()
    results = []
    for business in world:
        history = load_history(business=business, as_of=AS_OF)
        values = compute_features([history], [LoanRequest(100000.0, 12)], peers=model.peers)[0]
        context = business_context(history=history, is_blocked=False)
        assert context.request_bases is None
        # when the engine decides them
        result = evaluate(feature_names=feature_names(), feature_values=values, context=context,
                          amount=Decimal("100000.00"), term_months=12, as_of=AS_OF.date(), policy=policy, model=model)
        results.append((values, result))

    # then each is decided as then: the request's own PD, a counter-offer exactly at the limit
    countered = [(v, r) for v, r in results if r.outcome == Outcome.COUNTER_OFFER]
    assert countered
    for values, result in countered:
        assert result.feature_values is None
        assert result.pd == float(model.pd(model_row(model, feature_names(), values))[0])
        assert result.offered_amount == Decimal(result.limit["max_amount"])
