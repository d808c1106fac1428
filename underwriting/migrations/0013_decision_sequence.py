"""Every decision gets its position in the chain (`sequence`, from 1) and the version of the content its
HMAC covers (`content_version`); the chain head records the last position.

Records already stored are content version 1: their HMACs are kept exactly as signed (an audit trail is
never re-signed, which would also launder any tampering done before this migration). They are numbered
in append order (id order: appends are serialised by the chain-head lock, so ids commit in chain order),
and that number is outside their HMAC; `verify_decisions` still checks it, since it must follow the
signed links. Records appended from now on are content version 2, whose HMAC covers the sequence.

Numbering the stored rows is an UPDATE of an append-only table: the trigger of 0005 is switched off for
that one statement, inside this migration's transaction.
"""

from django.db import migrations, models

PG_NUMBER = """
ALTER TABLE underwriting_decision DISABLE TRIGGER underwriting_decision_no_update;
UPDATE underwriting_decision AS d SET sequence = n.position
    FROM (SELECT id, row_number() OVER (ORDER BY id) AS position FROM underwriting_decision) AS n
    WHERE d.id = n.id;
ALTER TABLE underwriting_decision ENABLE TRIGGER underwriting_decision_no_update;
"""
SQLITE_NUMBER = [
    "DROP TRIGGER IF EXISTS underwriting_decision_no_update",
    """UPDATE underwriting_decision SET sequence =
       (SELECT COUNT(*) FROM underwriting_decision AS d WHERE d.id <= underwriting_decision.id)""",
]
HEAD = """
UPDATE underwriting_decisionchainhead SET last_sequence =
    COALESCE((SELECT sequence FROM underwriting_decision AS d
              WHERE d.id = underwriting_decisionchainhead.last_decision_id), 0)
"""
# SQLite rebuilds the table to add a unique column, which drops its triggers: 0005's are made again.
SQLITE_TRIGGERS = [
    "DROP TRIGGER IF EXISTS underwriting_decision_no_update",
    "DROP TRIGGER IF EXISTS underwriting_decision_no_delete",
    """CREATE TRIGGER underwriting_decision_no_update BEFORE UPDATE ON underwriting_decision
       BEGIN SELECT RAISE(ABORT, 'decisions are append-only: UPDATE is not allowed on underwriting_decision'); END;""",
    """CREATE TRIGGER underwriting_decision_no_delete BEFORE DELETE ON underwriting_decision
       BEGIN SELECT RAISE(ABORT, 'decisions are append-only: DELETE is not allowed on underwriting_decision'); END;""",
]


def number_stored_decisions(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(PG_NUMBER, params=None)
    else:
        for statement in SQLITE_NUMBER:
            schema_editor.execute(statement)
    schema_editor.execute(HEAD, params=None)


def sqlite_triggers(apps, schema_editor):
    if schema_editor.connection.vendor == "sqlite":
        for statement in SQLITE_TRIGGERS:
            schema_editor.execute(statement)


class Migration(migrations.Migration):
    dependencies = [("underwriting", "0012_model_activation_via_command_line")]

    operations = [
        migrations.AddField(
            model_name="decision",
            name="content_version",
            field=models.PositiveSmallIntegerField(default=1),
            preserve_default=False,
        ),
        migrations.AddField(
            model_name="decision",
            name="sequence",
            field=models.PositiveBigIntegerField(null=True),
        ),
        migrations.AddField(
            model_name="decisionchainhead",
            name="last_sequence",
            field=models.PositiveBigIntegerField(default=0),
        ),
        migrations.RunPython(number_stored_decisions, migrations.RunPython.noop),
        migrations.AlterField(
            model_name="decision",
            name="sequence",
            field=models.PositiveBigIntegerField(unique=True),
        ),
        migrations.RunPython(sqlite_triggers, migrations.RunPython.noop),
    ]
