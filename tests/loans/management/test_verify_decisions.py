"""`verify_decisions` over what points into the chain: an application decided through the loans pipeline
whose decision row an attacker deletes in raw SQL (the PROTECT foreign key is no obstacle to a superuser
with session_replication_role = replica)."""

from decimal import Decimal

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from loans.applications.models import Channel, Purpose
from loans.applications.services import application_decide, application_submit
from loans.reviews.models import Review
from tests.audit_fixtures import as_attacker, decide
from tests.factories import UserFactory

pytestmark = pytest.mark.usefixtures("require_postgres")


@pytest.fixture
def decided_application(audit_world):
    """Two direct decisions, an application decided through the pipeline (the third record), two more."""
    before = [decide(b) for b in audit_world[1:3]]
    application = application_submit(business=audit_world[0], amount=Decimal("20000.00"), term_months=12,
                                      purpose=Purpose.WORKING_CAPITAL, channel=Channel.WEB, actor="owner:test")
    application = application_decide(application_id=application.pk)
    after = [decide(b) for b in audit_world[3:5]]
    return application, before, after


def test_an_intact_chain_with_its_application_verifies(decided_application, capsys):
    application, _, _ = decided_application
    assert application.decision.sequence == 3

    call_command("verify_decisions")

    assert capsys.readouterr().out == "5 decision record(s) verified: the chain is intact.\n"


def test_deleting_the_decision_an_application_points_to_is_reported(decided_application, capsys):
    # given a decided application, its decision the third record of five, and an officer's review of it
    application, _, after = decided_application
    decision = application.decision
    review = Review.objects.create(decision=decision, application=application, reviewer=UserFactory(),
                                   verdict="agree", created_at=decision.created_at)

    # when an attacker deletes that decision row
    as_attacker(("DELETE FROM underwriting_decision WHERE id = %s", [decision.pk]))

    # then the gap, the application and the review are each reported, by position where there is one
    with pytest.raises(CommandError, match=r"^3 problem\(s\) in 4 decision record\(s\)\.$"):
        call_command("verify_decisions")
    assert capsys.readouterr().out.splitlines() == [
        f"sequence 3 missing: record 4 (decision {after[0].public_id}, id {after[0].pk}) links to a record "
        f"that is not there",
        f"application {application.public_id} ({application.status}) points to decision id {decision.pk}, "
        f"which is not there (sequence 3)",
        f"review {review.public_id} points to decision id {decision.pk}, which is not there (sequence 3)",
    ]


def test_a_decided_application_stripped_of_its_decision_is_reported(decided_application, capsys):
    # when an attacker deletes the newest decision and detaches it from its application (constraint dropped)
    application, _, _ = decided_application
    as_attacker(("ALTER TABLE loans_application DROP CONSTRAINT application_decided_has_decision", []),
                ("UPDATE loans_application SET decision_id = NULL WHERE id = %s", [application.pk]),
                ("DELETE FROM underwriting_decision WHERE id = %s", [application.decision_id]))

    with pytest.raises(CommandError, match=r"^2 problem\(s\) in 4 decision record\(s\)\.$"):
        call_command("verify_decisions")
    out = capsys.readouterr().out.splitlines()
    assert out[1] == f"application {application.public_id} ({application.status}) has no decision"
    assert out[0].startswith("sequence 3 missing: record 4 ")
