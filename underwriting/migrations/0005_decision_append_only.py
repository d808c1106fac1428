"""Decisions are append-only at the database level: UPDATE and DELETE are rejected by a trigger, so
not even a direct SQL session or a bug in the app can rewrite history unnoticed (the HMAC chain
catches what a superuser does after dropping the trigger)."""

from django.db import migrations

PG_UP = """
CREATE OR REPLACE FUNCTION underwriting_decision_append_only() RETURNS trigger AS $$
BEGIN
    RAISE EXCEPTION 'decisions are append-only: % is not allowed on underwriting_decision', TG_OP
        USING ERRCODE = 'integrity_constraint_violation';
END;
$$ LANGUAGE plpgsql;
CREATE TRIGGER underwriting_decision_no_update BEFORE UPDATE OR DELETE ON underwriting_decision
    FOR EACH ROW EXECUTE FUNCTION underwriting_decision_append_only();
"""
PG_DOWN = """
DROP TRIGGER IF EXISTS underwriting_decision_no_update ON underwriting_decision;
DROP FUNCTION IF EXISTS underwriting_decision_append_only();
"""
SQLITE_UP = [
    """CREATE TRIGGER underwriting_decision_no_update BEFORE UPDATE ON underwriting_decision
       BEGIN SELECT RAISE(ABORT, 'decisions are append-only: UPDATE is not allowed on underwriting_decision'); END;""",
    """CREATE TRIGGER underwriting_decision_no_delete BEFORE DELETE ON underwriting_decision
       BEGIN SELECT RAISE(ABORT, 'decisions are append-only: DELETE is not allowed on underwriting_decision'); END;""",
]
SQLITE_DOWN = [
    "DROP TRIGGER IF EXISTS underwriting_decision_no_update;",
    "DROP TRIGGER IF EXISTS underwriting_decision_no_delete;",
]


def forwards(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(PG_UP, params=None)
    elif schema_editor.connection.vendor == "sqlite":
        for statement in SQLITE_UP:
            schema_editor.execute(statement)


def backwards(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(PG_DOWN, params=None)
    elif schema_editor.connection.vendor == "sqlite":
        for statement in SQLITE_DOWN:
            schema_editor.execute(statement)


class Migration(migrations.Migration):
    dependencies = [("underwriting", "0004_decision")]
    operations = [migrations.RunPython(forwards, backwards)]
