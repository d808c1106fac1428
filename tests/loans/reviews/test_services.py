"""Officer reviews: the workflow in the admin, the service's rules, the review queue and its count, CSV."""

from decimal import Decimal

import pytest
from django.core.exceptions import PermissionDenied
from django.core.management import call_command
from django.test import override_settings
from django.urls import reverse

from accounts.roles import APPLICANT, LOAN_OFFICER, RISK_OPERATOR
from loans.applications.models import Channel, Purpose
from loans.applications.services import application_decide, application_submit
from loans.reviews.models import Review
from loans.reviews.selectors import queue_reasons, review_queue, review_queue_count, sample_prefix
from loans.reviews.services import ReviewError, review_record
from tests.audit_fixtures import decide
from underwriting.decisions.models import Decision
from underwriting.engine.pricing import approval_cutoff

pytestmark = pytest.mark.usefixtures("require_postgres")


@pytest.fixture
def decisions(audit_world):
    return [decide(b) for b in audit_world[:20]]


def test_an_officer_records_a_review_on_the_decision_page(client, decisions, audit_users):
    decision = decisions[0]
    officer = audit_users[LOAN_OFFICER]
    client.force_login(officer)

    response = client.post(reverse("admin:underwriting_decision_review", args=[decision.pk]),
                           {"verdict": "disagree", "note": "Revenue trend reads worse than the score says."})

    assert response.status_code == 302
    review = Review.objects.get()
    assert (review.decision, review.reviewer, review.verdict) == (decision, officer, "disagree")
    assert review.note == "Revenue trend reads worse than the score says."
    assert review.created_at is not None
    page = client.get(reverse("admin:underwriting_decision_change", args=[decision.pk])).content.decode()
    assert "Officer reviews (1)" in page and officer.email in page and "Revenue trend reads worse" in page


def test_a_review_without_a_note_is_refused_and_nothing_is_written(client, decisions, audit_users):
    decision = decisions[0]
    client.force_login(audit_users[LOAN_OFFICER])

    response = client.post(reverse("admin:underwriting_decision_review", args=[decision.pk]),
                           {"verdict": "escalate", "note": "   "})
    bad_verdict = client.post(reverse("admin:underwriting_decision_review", args=[decision.pk]),
                              {"verdict": "approve", "note": "x"})

    assert response.status_code == 400 and b"needs a note saying why" in response.content
    assert bad_verdict.status_code == 400
    assert not Review.objects.exists()


def test_agreeing_needs_no_note_and_reviews_are_never_edited(decisions, audit_users):
    decision = decisions[0]
    officer = audit_users[LOAN_OFFICER]
    first = review_record(decision=decision, reviewer=officer, verdict="agree")
    second = review_record(decision=decision, reviewer=officer, verdict="note", note="Owner called about the fee.")

    assert first.note == "" and second.pk != first.pk
    assert list(decision.reviews.order_by("created_at", "id").values_list("verdict", flat=True)) == ["agree", "note"]


def test_the_database_rejects_updates_and_deletes_of_reviews(decisions, audit_users):
    from django.db import DatabaseError, transaction

    # given a review on record
    review = review_record(decision=decisions[0], reviewer=audit_users[LOAN_OFFICER], verdict="disagree",
                           note="The limit looks too generous for this cash flow.")

    # when anyone rewrites or deletes it, even bypassing the app
    for attempt in (lambda: Review.objects.filter(pk=review.pk).update(note="nothing to see"),
                    lambda: Review.objects.filter(pk=review.pk).delete()):
        with pytest.raises(DatabaseError, match="append-only"), transaction.atomic():
            attempt()

    # then it is unchanged
    assert Review.objects.get(pk=review.pk).note == "The limit looks too generous for this cash flow."


def test_only_staff_roles_record_reviews(decisions, audit_users):
    with pytest.raises(PermissionDenied):
        review_record(decision=decisions[0], reviewer=audit_users[APPLICANT], verdict="agree")
    with pytest.raises(ReviewError, match="Unknown verdict"):
        review_record(decision=decisions[0], reviewer=audit_users[RISK_OPERATOR], verdict="overrule", note="x")
    assert not Review.objects.exists()


def test_a_review_is_the_officers_only_write_in_the_admin(client, decisions, audit_users):
    review = review_record(decision=decisions[0], reviewer=audit_users[LOAN_OFFICER], verdict="disagree", note="why")
    client.force_login(audit_users[LOAN_OFFICER])

    edit = client.post(reverse("admin:loans_review_change", args=[review.pk]), {"verdict": "agree", "note": ""})
    delete = client.post(reverse("admin:loans_review_delete", args=[review.pk]), {"post": "yes"})

    assert edit.status_code == 403 and delete.status_code == 403
    review.refresh_from_db()
    assert review.verdict == "disagree" and review.note == "why"


def test_a_review_of_an_applications_decision_points_at_the_application(audit_world, audit_users):
    application = application_submit(business=audit_world[0], amount=Decimal("15000.00"), term_months=9,
                                     purpose=Purpose.INVENTORY, channel=Channel.WEB, actor="owner:test")
    application = application_decide(application_id=application.pk)

    review = review_record(decision=application.decision, reviewer=audit_users[LOAN_OFFICER], verdict="agree")

    assert review.application == application


# ---- the queue ----------------------------------------------------------------------------------------------


def test_the_queue_holds_the_sample_and_the_decisions_near_the_cutoff_until_reviewed(decisions, audit_users):
    prefix = sample_prefix(0.25)
    assert prefix == "40000000"
    with override_settings(REVIEW_SAMPLE_RATE=0.25, REVIEW_THRESHOLD_POINTS=15):
        sampled = {d.pk for d in decisions if d.hmac < prefix}
        near = set()
        for d in decisions:
            if d.score is not None:
                _, cut = approval_cutoff(d.policy_version.policy, d.requested_term_months)
                if abs(d.score - cut) <= 15:
                    near.add(d.pk)
        expected = sampled | near
        assert expected, "the fixture should put something in the queue"
        assert set(review_queue().values_list("pk", flat=True)) == expected
        assert review_queue_count() == (len(expected), False)
        # deterministic: asking again gives the same queue
        assert set(review_queue().values_list("pk", flat=True)) == expected
        some = Decision.objects.get(pk=sorted(expected)[0])
        assert queue_reasons(some)

        review_record(decision=some, reviewer=audit_users[LOAN_OFFICER], verdict="agree")
        assert review_queue_count() == (len(expected) - 1, False)
        assert some.pk not in set(review_queue().values_list("pk", flat=True))

    with override_settings(REVIEW_SAMPLE_RATE=0.0, REVIEW_THRESHOLD_POINTS=0):
        exact = {d.pk for d in decisions if d.score is not None
                 and d.score == approval_cutoff(d.policy_version.policy, d.requested_term_months)[1]}
        assert set(review_queue().values_list("pk", flat=True)) == exact - {some.pk}
    with override_settings(REVIEW_SAMPLE_RATE=1.0):
        assert review_queue_count() == (len(decisions) - 1, False)
        assert review_queue_count(cap=5) == (5, True)


def test_the_admin_index_shows_the_queue_count(client, decisions, audit_users):
    client.force_login(audit_users[LOAN_OFFICER])
    with override_settings(REVIEW_SAMPLE_RATE=1.0):
        index = client.get(reverse("admin:index")).content.decode()
        assert f'<strong id="review-queue-count">{len(decisions)}</strong>' in index
        queue = client.get(reverse("admin:underwriting_decision_queue")).content.decode()
        assert f'<span id="queue-total">{len(decisions)}</span>' in queue
        assert "random sample" in queue


def test_record_and_next_opens_the_next_decision_in_the_queue(client, decisions, audit_users):
    client.force_login(audit_users[LOAN_OFFICER])
    with override_settings(REVIEW_SAMPLE_RATE=1.0):
        first = review_queue().first()
        response = client.post(reverse("admin:underwriting_decision_review", args=[first.pk]),
                               {"verdict": "agree", "note": "", "next": "queue"})
        nxt = review_queue().first()
        assert response.status_code == 302
        assert response["Location"] == reverse("admin:underwriting_decision_change", args=[nxt.pk])
        assert nxt.pk != first.pk


# ---- export -----------------------------------------------------------------------------------------------


def test_reviews_export_to_csv_from_the_admin_and_the_command(client, decisions, audit_users, tmp_path):
    officer = audit_users[LOAN_OFFICER]
    r1 = review_record(decision=decisions[0], reviewer=officer, verdict="disagree", note='Says "no", with a comma')
    r2 = review_record(decision=decisions[1], reviewer=officer, verdict="note", note="=HYPERLINK(\"http://x\")")
    client.force_login(officer)

    response = client.post(reverse("admin:loans_review_changelist"),
                           {"action": "export_reviews_csv", "_selected_action": [r1.pk, r2.pk]})
    import csv
    import io

    rows = list(csv.reader(io.StringIO(b"".join(response.streaming_content).decode())))
    assert rows[0][:4] == ["review_id", "created_at", "reviewer", "verdict"]
    by_id = {row[0]: row for row in rows[1:]}
    assert by_id[str(r1.public_id)][3:6] == ["disagree", 'Says "no", with a comma', str(decisions[0].public_id)]
    assert by_id[str(r2.public_id)][2] == officer.email
    assert by_id[str(r2.public_id)][4] == "'=HYPERLINK(\"http://x\")"  # never a formula in a spreadsheet

    out = tmp_path / "audit"
    call_command("export_audit", str(out))
    decisions_csv = list(csv.reader((out / "decisions.csv").open()))
    reviews_csv = list(csv.reader((out / "reviews.csv").open()))
    assert len(decisions_csv) == 1 + len(decisions) and len(reviews_csv) == 3
    assert {row[0] for row in decisions_csv[1:]} == {str(d.public_id) for d in decisions}
