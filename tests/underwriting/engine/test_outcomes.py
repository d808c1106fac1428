"""One definition of a decision's outcomes and knock-out codes (underwriting/engine/outcomes.py)."""

import json

from underwriting.decisions.models import DecisionOutcome
from underwriting.engine.outcomes import KnockOut, Outcome


def test_the_models_choices_are_the_engines_outcomes_with_the_stored_values_and_labels():
    assert DecisionOutcome.choices == [("approved", "approved"), ("counter_offer", "counter-offer"),
                                       ("declined", "declined")]
    assert [o.value for o in Outcome] == DecisionOutcome.values
    assert all(DecisionOutcome(o) == o for o in Outcome)


def test_knock_out_codes_keep_their_stored_strings_and_serialise_as_plain_strings():
    # Decision records are HMAC-chained JSON: a code must encode exactly as the string stored before.
    assert [k.value for k in KnockOut] == [
        "KO_REQUEST_BOUNDS", "KO_HISTORY_SHORT", "KO_TOO_YOUNG", "KO_BLOCKED", "KO_ARREARS", "KO_FRAUD_SIGNAL",
        "KO_OPEN_LOANS", "KO_HISTORY_CHECKS"]
    assert json.dumps({"code": KnockOut.OPEN_LOANS, "outcome": Outcome.COUNTER_OFFER}) == (
        '{"code": "KO_OPEN_LOANS", "outcome": "counter_offer"}')
    assert f"{KnockOut.BLOCKED}" == "KO_BLOCKED"
