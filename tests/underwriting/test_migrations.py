"""Data migrations: what they make of rows written before them."""

import datetime as dt
import importlib

from django.apps import apps

from loans.businesses import services
from tests.factories import UserFactory
from underwriting.history.models import DailyRollup, HistorySource, ImportRun
from underwriting.history.selectors import history_provenance

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
