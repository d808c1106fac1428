"""The counterparty rollup keeps each day's TOP_COUNTERPARTIES largest counterparties per direction
(underwriting/ingest/rollups.py says why): existing rows beyond them are removed, exactly what a
rebuild would leave."""

from django.db import migrations

K = 8  # underwriting.ingest.rollups.TOP_COUNTERPARTIES when this migration was written
T = "underwriting_counterpartydailyrollup"

PG = f"""
DELETE FROM {T} c USING (
    SELECT business_id, day, direction, counterparty, ROW_NUMBER() OVER (
        PARTITION BY business_id, day, direction ORDER BY total_minor DESC, counterparty COLLATE "C") AS rk
    FROM {T}
) r
WHERE r.rk > {K} AND c.business_id = r.business_id AND c.day = r.day AND c.direction = r.direction
    AND c.counterparty = r.counterparty
"""
SQLITE = f"""
DELETE FROM {T} WHERE rowid IN (
    SELECT rowid FROM (
        SELECT rowid, ROW_NUMBER() OVER (
            PARTITION BY business_id, day, direction ORDER BY total_minor DESC, counterparty COLLATE BINARY) AS rk
        FROM {T}
    ) WHERE rk > {K}
)
"""


def forwards(apps, schema_editor):
    vendor = schema_editor.connection.vendor
    if vendor == "postgresql":
        schema_editor.execute(PG, params=None)
    elif vendor == "sqlite":
        schema_editor.execute(SQLITE, params=None)


class Migration(migrations.Migration):
    dependencies = [("underwriting", "0005_decision_append_only")]
    operations = [migrations.RunPython(forwards, migrations.RunPython.noop)]
