"""A policy version derived from a risk appetite (underwriting/policies/services.py) and the command
that records one (set_risk_appetite)."""

from decimal import ROUND_CEILING, Decimal
from io import StringIO

import numpy as np
import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from underwriting.engine.appetite import appetite_record
from underwriting.engine.policy import PolicyError, PolicyParams
from underwriting.modeling.models import ModelVersion
from underwriting.policies.models import PolicyVersion
from underwriting.policies.services import policy_active, policy_version_from_appetite

pytestmark = pytest.mark.django_db


def _record() -> dict:
    # 400 loans: PDs 0.5% .. 20%; the safest half defaulted at 1%, the next quarter at 6%, the last at 20%;
    # instalment shares 0.05-0.45 by hundreds, the heaviest hundred defaulting most
    pd = np.linspace(0.005, 0.20, 400)
    y = np.zeros(400, dtype=int)
    y[[10, 110]] = 1
    y[200:206] = 1
    y[300:320] = 1
    share = np.tile([0.05, 0.15, 0.25, 0.45], 100)
    multiple = np.full(400, 0.9)
    return appetite_record(pd, y, {"instalment_to_net_inflow": share, "amount_to_monthly_revenue": multiple})


def _model(record: dict) -> ModelVersion:
    return ModelVersion.objects.create(version="m-test-appetite", artifact_path="/nowhere", checksum="0" * 64,
                                       metrics={"appetite": record}, is_active=True)


def test_an_appetite_records_the_cut_off_and_caps_it_was_read_from():
    # given the active defaults and a model's validation record
    _, before = policy_active()
    record = _record()

    # when the risk operator sets a 3% appetite
    row = policy_version_from_appetite(target_bad_rate=Decimal("0.03"), record=record, model_version="m-1")

    # then the new version is active with the cut-off where 75% are approved (8 defaults in 300)
    assert row.is_active and row.version == 2
    policy = row.policy
    cut = record["curve"][14]
    assert cut["approval_rate"] == 0.75 and cut["defaults"] == 8
    assert policy.max_pd == Decimal(repr(cut["max_pd"])).quantize(Decimal("0.0001"), rounding=ROUND_CEILING)
    assert cut["max_pd"] <= policy.max_pd < cut["max_pd"] + 0.0001
    # and the share cap is the heaviest band the approved loans reached (0.4-0.5: 1 default in 75)
    assert row.derivation["max_instalment_share"] == 0.5 and policy.max_instalment_share == Decimal("0.5")
    # and nothing else changed
    changed = set(before.diff(policy))
    assert changed <= {"max_pd", "max_instalment_share", "revenue_multiple"} and "max_pd" in changed
    # and the version says where it came from
    assert row.derivation["target_bad_rate"] == "0.03" and row.derivation["model_version"] == "m-1"
    assert row.derivation["validation_loans"] == 400 and row.derivation["approval_rate"] == 0.75
    assert row.note.startswith("Risk appetite 3.00% bad rate on model m-1: approve up to PD ")


def test_an_appetite_the_book_cannot_hold_records_nothing():
    policy_active()
    with pytest.raises(PolicyError, match=r"no cut-off keeps the approved loans' bad rate within 0\.10%"):
        policy_version_from_appetite(target_bad_rate=Decimal("0.001"), record=_record(), model_version="m-1")
    assert PolicyVersion.objects.count() == 1 and PolicyVersion.objects.get().policy == PolicyParams()


def test_the_command_prints_the_curve_and_a_dry_run_records_nothing():
    _model(_record())
    out = StringIO()

    call_command("set_risk_appetite", target_bad_rate="0.03", dry_run=True, stdout=out)

    text = out.getvalue()
    assert "Model validation, out of fold: 400 loans, 28 defaults" in text
    assert "75%" in text and "<- chosen" in text and "Dry run: no version recorded." in text
    assert "  max_pd: 0.15 -> " in text
    assert PolicyVersion.objects.count() == 1

    call_command("set_risk_appetite", target_bad_rate="0.03", stdout=StringIO())
    assert policy_active()[0].derivation["model_version"] == "m-test-appetite"


def test_the_command_refuses_bad_input_clearly():
    with pytest.raises(CommandError, match="No model is active"):
        call_command("set_risk_appetite", target_bad_rate="0.03", stdout=StringIO())
    _model(_record())
    with pytest.raises(CommandError, match="must be a number"):
        call_command("set_risk_appetite", target_bad_rate="five", stdout=StringIO())
    with pytest.raises(CommandError, match="between 0 and 1"):
        call_command("set_risk_appetite", target_bad_rate="2", stdout=StringIO())
