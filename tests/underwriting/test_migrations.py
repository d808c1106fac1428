"""Data migrations: what they make of rows written before them."""

import datetime as dt
import importlib
from decimal import Decimal

import pytest
from django.apps import apps
from django.db import DatabaseError, connection, transaction
from django.db.migrations.executor import MigrationExecutor

from config import clock
from loans.businesses import services
from tests.factories import BusinessFactory, UserFactory
from underwriting.decisions import chain
from underwriting.decisions.models import Decision, DecisionChainHead
from underwriting.decisions.services import SIGNED_FIELDS, hmac_key
from underwriting.decisions.verification import decisions_verify
from underwriting.history.models import DailyRollup, HistorySource, ImportRun
from underwriting.history.selectors import history_provenance
from underwriting.policies.services import policy_active

provenance_migration = importlib.import_module("underwriting.migrations.0011_history_provenance")


def test_owner_uploads_made_before_provenance_become_unchecked_owner_uploads(db):
    # given an owner's business whose history was uploaded on the web before provenance was recorded,
    # and a claimed demo merchant's (simulated) history
    business = services.business_create_for_owner(owner=UserFactory(), legal_name="Old Upload Ltd")
    ImportRun.objects.create(partner=business.partner, source="web", provenance="partner_feed")
    for day in (dt.date(2026, 1, 5), dt.date(2026, 3, 9)):
        DailyRollup.objects.create(business=business, day=day, direction=1, kind=1, count=4, total_minor=10000,
                                   max_minor=5000)
    assert history_provenance(business_id=business.pk, before=dt.date(2026, 6, 1)).provenance == ""

    # when the migration's data step runs
    provenance_migration.owner_uploads(apps, None)

    # then the run and the business's history are owner uploads, flagged as never checked
    assert ImportRun.objects.get(source="web").provenance == "owner_upload"
    source = HistorySource.objects.get(business=business)
    assert (source.provenance, source.transactions, source.first_day, source.last_day) == (
        "owner_upload", 8, dt.date(2026, 1, 5), dt.date(2026, 3, 9))
    seen = history_provenance(business_id=business.pk, before=dt.date(2026, 6, 1))
    assert (seen.provenance, [c["code"] for c in seen.checks]) == ("owner_upload", ["DC_UNCHECKED"])
    # and running it again changes nothing
    provenance_migration.owner_uploads(apps, None)
    assert HistorySource.objects.count() == 1


def test_decisions_signed_before_positions_keep_their_hmacs_and_are_numbered_in_chain_order(transactional_db):
    """underwriting/0013 on PostgreSQL: stored records become content version 1 with their HMACs untouched,
    numbered 1..n in append order, the head's position set, the append-only trigger on again."""
    if connection.vendor != "postgresql":
        pytest.skip("the migration's PostgreSQL path")
    before, latest = ("underwriting", "0012_model_activation_via_command_line"), ("underwriting", "0013_decision_sequence")
    business, policy_version = BusinessFactory(), policy_active()[0]
    executor = MigrationExecutor(connection)
    executor.migrate([before])
    try:
        # given five decisions appended the way the code before 0013 did (HMAC over SIGNED_FIELDS)
        old = executor.loader.project_state(before).apps
        OldDecision, OldHead = old.get_model("underwriting", "Decision"), old.get_model("underwriting", "DecisionChainHead")
        head = OldHead.objects.create(pk=1, last_hmac=chain.GENESIS)
        for _ in range(5):
            now = clock.now()
            d = OldDecision(partner_id=business.partner_id, business_id=business.pk, as_of=now,
                            requested_amount=Decimal("1000.00"), requested_term_months=12, outcome="declined",
                            decided_by="knockout", policy_version_id=policy_version.pk, created_at=now,
                            previous_hmac=head.last_hmac)
            d.hmac = chain.sign(key=hmac_key(), content={f: getattr(d, f) for f in SIGNED_FIELDS},
                                previous=head.last_hmac)
            d.save(force_insert=True)
            head.last_decision_id, head.last_hmac = d.pk, d.hmac
            head.save()
        signed = list(OldDecision.objects.order_by("id").values_list("id", "hmac"))
    finally:
        # when the migration runs
        executor = MigrationExecutor(connection)
        executor.migrate([latest])

    # then every record keeps its HMAC, is version 1 and numbered in append order, and the chain verifies
    assert list(Decision.objects.order_by("id").values_list("id", "hmac", "sequence", "content_version")) == [
        (pk, hmac, n, 1) for n, (pk, hmac) in enumerate(signed, 1)]
    assert DecisionChainHead.objects.get().last_sequence == 5
    assert decisions_verify() == (5, [])
    with pytest.raises(DatabaseError), transaction.atomic():
        Decision.objects.filter(pk=signed[0][0]).delete()
