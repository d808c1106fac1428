"""Policy parameters: validation, JSON round trip, versions in the database (exactly one active)
and the create_policy_version command."""

import dataclasses
import json
import threading
from decimal import Decimal
from io import StringIO

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.db import IntegrityError, connection, transaction

from tests.factories import UserFactory
from underwriting.engine.policy import PolicyError, PolicyParams
from underwriting.policies.models import PolicyVersion
from underwriting.policies.services import (
    DEFAULTS_NOTE,
    UnknownPolicyVersion,
    policy_active,
    policy_version_activate,
    policy_version_create,
    policy_version_get,
)

D = Decimal


# ---- PolicyParams ------------------------------------------------------------------------------------


def test_defaults_round_trip_through_json():
    policy = PolicyParams()
    data = json.loads(json.dumps(policy.to_dict()))
    assert data["max_apr"] == "0.36"
    assert data["min_amount"] == "1000.00"
    assert data["min_term_months"] == 3
    assert data["score_bands"][0] == ["A", 640]
    assert PolicyParams.from_dict(data) == policy


def test_defaults_are_sensible():
    policy = PolicyParams()
    assert (policy.min_amount, policy.max_amount) == (D("1000.00"), D("500000.00"))
    assert (policy.min_term_months, policy.max_term_months) == (3, 24)
    assert (policy.score_base, policy.score_base_odds, policy.score_pdo) == (600, D("50"), D("20"))
    assert policy.origination_fee_rate == 0
    assert (policy.offer_validity_days, policy.max_reasons) == (30, 4)
    # The cheapest loan still covers its costs, and the best price is under the legal maximum.
    assert policy.cost_of_funds + policy.operating_cost + policy.margin < policy.max_apr


def test_partial_dicts_take_the_defaults_and_strings_are_typed():
    policy = PolicyParams.from_dict({"max_apr": "0.30", "min_history_days": "365", "score_bands": "A:650,B:600,C:300"})
    assert policy.max_apr == D("0.30")
    assert policy.min_history_days == 365
    assert policy.score_bands == (("A", 650), ("B", 600), ("C", 300))
    assert policy.margin == PolicyParams().margin


def test_params_are_frozen():
    with pytest.raises(dataclasses.FrozenInstanceError):
        PolicyParams().max_apr = D("0.5")


def errors_of(data) -> list[str]:
    with pytest.raises(PolicyError) as exc:
        PolicyParams.from_dict(data)
    return exc.value.errors


def test_unknown_keys_are_refused():
    assert errors_of({"max_aprr": "0.3"}) == ["max_aprr: unknown parameter"]


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({"max_apr": "1.5"}, "max_apr: 1.5 is above the maximum 1"),
        ({"max_apr": "0"}, "max_apr: 0 is not above the minimum 0"),
        ({"min_term_months": 2}, "min_term_months: 2 is below the minimum 3"),
        ({"max_term_months": 36}, "max_term_months: 36 is above the maximum 24"),
        ({"max_reasons": 5}, "max_reasons: 5 is above the maximum 4"),
        ({"lgd": "0"}, "lgd: 0 is not above the minimum 0"),
        ({"max_instalment_share": "-0.1"}, "max_instalment_share: -0.1 is not above the minimum 0"),
        ({"min_amount": "1000.005"}, "min_amount: 1000.005 has more than 2 decimal places"),
        ({"min_amount": "600000.00"}, "min_amount 600000.00 is above max_amount 500000.00"),
        ({"min_term_months": 12, "max_term_months": 6}, "min_term_months 12 is above max_term_months 6"),
        ({"min_apr": "0.40"}, "min_apr 0.40 is above max_apr 0.36"),
        ({"min_amount": "1050.00"}, "min_amount 1050.00 is not a multiple of amount_step 100.00"),
        ({"max_apr": 0.3}, "max_apr: expected a decimal number as a string, got 0.3"),
        ({"max_apr": "lots"}, "max_apr: 'lots' is not a number"),
        ({"max_apr": "NaN"}, "max_apr: 'NaN' is not a finite number"),
        ({"min_history_days": "half a year"}, "min_history_days: expected an integer, got 'half a year'"),
        ({"min_history_days": True}, "min_history_days: expected an integer, got True"),
        ({"score_bands": "A:600,B:620,C:300"}, "score_bands: lowest scores must fall strictly"),
        ({"score_bands": "A:640,B:400"}, "score_bands: the last band starts at 400, above score_min 300"),
        ({"score_bands": "A:640,A:300"}, "score_bands: labels must be unique"),
        ({"score_bands": []}, "score_bands: at least one band is needed"),
        ({"score_bands": "A-640"}, "score_bands: expected 'A:640,B:620,...'"),
        ({"score_min": 900}, "score_min 900 must be below score_max 900"),
    ],
)
def test_out_of_range_values_are_refused_with_clear_messages(data, message):
    assert any(error.startswith(message) for error in errors_of(data)), errors_of(data)


def test_every_problem_is_reported_at_once():
    errors = errors_of({"nope": 1, "max_apr": "2", "min_term_months": "x"})
    assert "nope: unknown parameter" in errors
    assert "min_term_months: expected an integer, got 'x'" in errors
    assert "max_apr: 2 is above the maximum 1" in errors


def test_direct_construction_is_validated_too():
    with pytest.raises(PolicyError, match="must be a finite Decimal"):
        PolicyParams(max_apr=0.36)
    with pytest.raises(PolicyError, match="max_apr: 2 is above"):
        PolicyParams().replace(max_apr=D("2"))


def test_diff_lists_changed_parameters():
    base = PolicyParams()
    changed = base.replace(max_apr=D("0.30"), max_reasons=3)
    assert base.diff(changed) == {"max_apr": ("0.36", "0.30"), "max_reasons": (4, 3)}
    # 0.30 and 0.300 are the same rate: no difference.
    assert changed.diff(changed.replace(max_apr=D("0.300"))) == {}


# ---- versions in the database -------------------------------------------------------------------------


@pytest.mark.django_db
def test_policy_active_records_the_defaults_as_version_1():
    row, policy = policy_active()
    assert (row.version, row.is_active, row.note) == (1, True, DEFAULTS_NOTE)
    assert row.activated_at is not None
    assert policy == PolicyParams()
    again, _ = policy_active()
    assert again.pk == row.pk
    assert PolicyVersion.objects.count() == 1


@pytest.mark.django_db
def test_a_new_version_takes_over_and_exactly_one_is_active():
    policy_active()
    user = UserFactory()
    v2 = policy_version_create(params={"max_apr": "0.30"}, note="Tighter cap", created_by=user)
    v3 = policy_version_create(params={"margin": "0.04"}, note="Wider margin")
    assert (v2.version, v3.version) == (2, 3)
    assert list(PolicyVersion.objects.filter(is_active=True).values_list("version", flat=True)) == [3]
    row, policy = policy_active()
    assert row.pk == v3.pk and policy.margin == D("0.04") and policy.max_apr == D("0.36")
    # Stored complete and normalised, so a later change of a default cannot change its meaning.
    v2.refresh_from_db()
    assert v2.params == PolicyParams(max_apr=D("0.30")).to_dict()
    assert v2.created_by == user


@pytest.mark.django_db
def test_a_draft_does_not_take_over_until_activated():
    first, _ = policy_active()
    draft = policy_version_create(params={"max_pd": "0.10"}, note="Try stricter", activate=False)
    assert (draft.is_active, draft.activated_at) == (False, None)
    assert policy_active()[0].pk == first.pk
    policy_version_activate(version=draft.version)
    row, policy = policy_active()
    assert row.pk == draft.pk and policy.max_pd == D("0.10")
    # Roll back.
    policy_version_activate(version=1)
    assert policy_active()[0].version == 1
    assert PolicyVersion.objects.filter(is_active=True).count() == 1
    with pytest.raises(UnknownPolicyVersion):
        policy_version_activate(version=99)


@pytest.mark.django_db
def test_invalid_params_write_nothing():
    policy_active()
    with pytest.raises(PolicyError, match="max_apr"):
        policy_version_create(params={"max_apr": "5"}, note="oops")
    with pytest.raises(PolicyError, match="note"):
        policy_version_create(params={}, note="  ")
    assert PolicyVersion.objects.count() == 1
    assert PolicyVersion.objects.get().is_active


@pytest.mark.django_db
def test_the_database_refuses_two_active_versions():
    policy_active()
    draft = policy_version_create(params={}, note="draft", activate=False)
    with pytest.raises(IntegrityError), transaction.atomic():
        PolicyVersion.objects.filter(pk=draft.pk).update(is_active=True)


@pytest.mark.django_db
def test_a_version_is_read_back_by_number():
    policy_version_create(params={"max_apr": "0.30"}, note="first")
    row, policy = policy_version_get(version=1)
    assert policy.max_apr == D("0.30") and row.policy == policy
    with pytest.raises(UnknownPolicyVersion):
        policy_version_get(version=2)


@pytest.mark.django_db(transaction=True)
def test_concurrent_creators_get_distinct_numbers_and_one_active(require_postgres):
    policy_active()
    errors, barrier = [], threading.Barrier(4)

    def create(i):
        try:
            barrier.wait()
            policy_version_create(params={"margin": f"0.0{i + 1}"}, note=f"writer {i}")
        except Exception as exc:  # pragma: no cover - reported below
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=create, args=(i,)) for i in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    assert sorted(PolicyVersion.objects.values_list("version", flat=True)) == [1, 2, 3, 4, 5]
    assert PolicyVersion.objects.filter(is_active=True).count() == 1


# ---- the command ---------------------------------------------------------------------------------------


def run(*args) -> str:
    out = StringIO()
    call_command("create_policy_version", *args, stdout=out)
    return out.getvalue()


@pytest.mark.django_db
def test_command_creates_a_version_and_prints_the_diff():
    policy_active()
    output = run("--set", "max_apr=0.30", "--set", "score_bands=A:650,B:620,C:600,D:570,E:300", "--note", "Cap")
    assert "Recorded policy version 2 (active)." in output
    assert "Changes from version 1:" in output
    assert "max_apr: 0.36 -> 0.30" in output
    assert "score_bands: [['A', 640]," in output
    row, policy = policy_active()
    assert (row.version, row.note, policy.max_apr, policy.score_bands[0]) == (2, "Cap", D("0.30"), ("A", 650))


@pytest.mark.django_db
def test_command_from_an_older_version_without_activating():
    policy_version_create(params={"max_apr": "0.30"}, note="v1")
    policy_version_create(params={"max_apr": "0.25"}, note="v2")
    user = UserFactory(email="risk@example.com")
    output = run("--from-version", "1", "--set", "margin=0.05", "--note", "branch", "--no-activate", "--by", user.email)
    assert "Recorded policy version 3 (not active)." in output
    assert "margin: 0.03 -> 0.05" in output
    row, policy = policy_version_get(version=3)
    assert (policy.max_apr, policy.margin, row.created_by) == (D("0.30"), D("0.05"), user)
    assert policy_active()[0].version == 2


@pytest.mark.django_db
def test_command_refuses_bad_input_and_writes_nothing():
    policy_active()
    with pytest.raises(CommandError, match="max_aprr: unknown parameter"):
        run("--set", "max_aprr=0.3", "--note", "typo")
    with pytest.raises(CommandError, match="max_apr: 3 is above the maximum 1"):
        run("--set", "max_apr=3", "--note", "too high")
    with pytest.raises(CommandError, match="KEY=VALUE"):
        run("--set", "max_apr", "--note", "no value")
    with pytest.raises(CommandError, match="Nothing differs from version 1"):
        run("--set", "max_apr=0.36", "--note", "same")
    with pytest.raises(CommandError, match="no policy version 7"):
        run("--from-version", "7", "--set", "max_apr=0.3", "--note", "x")
    assert "Dry run" in run("--set", "max_apr=0.3", "--note", "x", "--dry-run")
    assert PolicyVersion.objects.count() == 1


def test_provenance_terms_round_trip_default_per_provenance_and_refuse_what_makes_no_sense():
    from underwriting.engine.policy import ProvenanceTerms

    # the defaults: an owner's own upload lends a tenth, at three points more, never paid out unconfirmed
    assert PolicyParams().terms_for("owner_upload") == ProvenanceTerms("owner_upload", Decimal("0.10"),
                                                                       Decimal("0.03"), False)
    assert PolicyParams().terms_for("") == PolicyParams().terms_for("partner_feed")
    # a partial mapping keeps the defaults of what it leaves out, and survives JSON
    changed = PolicyParams.from_dict({"provenance_terms": {"owner_upload": {"rate_premium": "0.05"}}})
    assert changed.terms_for("owner_upload") == ProvenanceTerms("owner_upload", Decimal("0.10"), Decimal("0.05"), False)
    assert PolicyParams.from_dict(changed.to_dict()) == changed
    assert PolicyParams.parse_value("provenance_terms", '{"simulated": {"auto_disburse": false}}')[1].auto_disburse is False
    # and nonsense is refused with every problem named
    with pytest.raises(PolicyError) as refused:
        PolicyParams.from_dict({"provenance_terms": {"bank_feed": {}, "owner_upload": {"max_amount_share": "2"}}})
    assert refused.value.errors == [
        "provenance_terms: unknown provenance(s) ['bank_feed']; expected ['owner_upload', 'partner_feed', 'simulated']",
    ]
    with pytest.raises(PolicyError) as refused:
        PolicyParams.from_dict({"provenance_terms": {"owner_upload": {"max_amount_share": "2", "rate_premium": 0.1}}})
    assert refused.value.errors == ["provenance_terms: owner_upload.rate_premium: expected a decimal number as a "
                                    "string, got 0.1"]
    with pytest.raises(PolicyError, match=r"provenance_terms.owner_upload.max_amount_share: 2 is not in \(0, 1\]"):
        PolicyParams.from_dict({"provenance_terms": {"owner_upload": {"max_amount_share": "2"}}})
