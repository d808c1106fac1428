"""Officer reviews are append-only at the database level, like the decisions they review: UPDATE and
DELETE are rejected by a trigger, so a review on record cannot be rewritten or withdrawn quietly,
not even from a direct SQL session (a correction is a new review)."""

from django.db import migrations

PG_UP = """
CREATE OR REPLACE FUNCTION loans_review_append_only() RETURNS trigger AS $$
BEGIN
    RAISE EXCEPTION 'reviews are append-only: % is not allowed on loans_review', TG_OP
        USING ERRCODE = 'integrity_constraint_violation';
END;
$$ LANGUAGE plpgsql;
CREATE TRIGGER loans_review_no_update BEFORE UPDATE OR DELETE ON loans_review
    FOR EACH ROW EXECUTE FUNCTION loans_review_append_only();
"""
PG_DOWN = """
DROP TRIGGER IF EXISTS loans_review_no_update ON loans_review;
DROP FUNCTION IF EXISTS loans_review_append_only();
"""
SQLITE_UP = [
    """CREATE TRIGGER loans_review_no_update BEFORE UPDATE ON loans_review
       BEGIN SELECT RAISE(ABORT, 'reviews are append-only: UPDATE is not allowed on loans_review'); END;""",
    """CREATE TRIGGER loans_review_no_delete BEFORE DELETE ON loans_review
       BEGIN SELECT RAISE(ABORT, 'reviews are append-only: DELETE is not allowed on loans_review'); END;""",
]
SQLITE_DOWN = ["DROP TRIGGER IF EXISTS loans_review_no_update;", "DROP TRIGGER IF EXISTS loans_review_no_delete;"]


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
    dependencies = [("loans", "0003_loan_money_checks_tolerate_sqlite")]
    operations = [migrations.RunPython(forwards, backwards)]
