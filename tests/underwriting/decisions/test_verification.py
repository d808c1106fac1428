"""The chain of decision records under attack: decisions made by the real service on PostgreSQL, then
rows deleted, renumbered or rewritten in raw SQL the way a superuser would (triggers and foreign keys
switched off with session_replication_role), and what `decisions_verify` and the commands report."""

import json
import threading

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.db import connection
from django.test import override_settings

from tests.audit_fixtures import as_attacker, decide
from underwriting.decisions import chain
from underwriting.decisions.models import Decision, DecisionChainHead
from underwriting.decisions.services import CONTENT_VERSION, SIGNED_FIELDS, hmac_key
from underwriting.decisions.verification import ExportedHead, decision_head_export, decisions_verify

pytestmark = pytest.mark.usefixtures("require_postgres")


def delete_from(sequence: int) -> tuple[str, list]:
    return "DELETE FROM underwriting_decision WHERE sequence >= %s", [sequence]


def rewind_head_to(decision: Decision) -> tuple[str, list]:
    return ("UPDATE underwriting_decisionchainhead SET last_decision_id = %s, last_sequence = %s, last_hmac = %s",
            [decision.pk, decision.sequence, decision.hmac])


@pytest.fixture
def chain_of_six(audit_world):
    """Six decisions appended by decision_make, in chain order."""
    return [decide(business) for business in audit_world[:6]]


def test_the_service_numbers_each_record_inside_its_hmac_and_moves_the_head(chain_of_six):
    assert [d.sequence for d in chain_of_six] == [1, 2, 3, 4, 5, 6]
    assert {d.content_version for d in chain_of_six} == {CONTENT_VERSION}
    assert [d.previous_hmac for d in chain_of_six] == [chain.GENESIS] + [d.hmac for d in chain_of_six[:-1]]
    head = DecisionChainHead.objects.get()
    assert (head.last_sequence, head.last_hmac, head.last_decision_id) == (6, chain_of_six[-1].hmac, chain_of_six[-1].pk)
    assert decisions_verify() == (6, [])


def test_deleting_the_newest_records_is_reported_as_a_truncated_tail(chain_of_six):
    # when an attacker deletes the two newest decisions
    as_attacker(delete_from(5))

    # then the walk finds four records and the head it keeps names the two missing
    checked, problems = decisions_verify()
    assert checked == 4
    assert [str(p) for p in problems] == [
        "sequences 5-6 missing: the chain head records sequence 6 but the last record is sequence 4 "
        "(the newest records were deleted)"]
    assert [p.sequence for p in problems] == [6]


def test_deleting_every_record_is_reported_against_the_head(chain_of_six):
    as_attacker(delete_from(1))

    assert [str(p) for p in decisions_verify()[1]] == [
        "sequences 1-6 missing: the chain head records sequence 6 but there are no records "
        "(the newest records were deleted)"]


def test_a_tail_cut_with_its_head_rewound_is_caught_only_against_an_exported_head(chain_of_six, tmp_path):
    # given the head exported after the sixth decision
    head_file = tmp_path / "decision-head.json"
    call_command("export_decision_head", out=str(head_file))
    exported = json.loads(head_file.read_text())
    assert (exported["count"], exported["last_sequence"], exported["last_hmac"]) == (6, 6, chain_of_six[-1].hmac)

    # when an attacker deletes the two newest decisions and rewinds the head to the fourth
    as_attacker(delete_from(5), rewind_head_to(chain_of_six[3]))

    # then the database alone holds a valid chain of four (the limit: nothing outside it says otherwise)
    assert decisions_verify() == (4, [])
    # but the exported head's position is gone
    checked, problems = decisions_verify(against=ExportedHead.from_json(head_file.read_text()))
    missing = (f"sequences 5-6 missing: the head exported at {exported['exported_at']} records sequence 6 but "
               f"the chain ends at sequence 4 (the chain was truncated or its head rewound)")
    assert (checked, [str(p) for p in problems]) == (4, [missing])
    with pytest.raises(CommandError, match=r"^1 problem\(s\) in 4 decision record\(s\)\.$"):
        call_command("verify_decisions", against=str(head_file))


def test_a_rewritten_tail_after_the_exported_head_is_caught(chain_of_six, audit_world, tmp_path):
    # given a head exported at the sixth decision
    head = decision_head_export(now=chain_of_six[-1].created_at)

    # when the sixth is deleted, the head rewound to the fifth and another decision appended in its place
    as_attacker(delete_from(6), rewind_head_to(chain_of_six[4]))
    replacement = decide(audit_world[6])

    # then the chain is valid on its own, but position 6 is not the record the head was exported with
    assert replacement.sequence == 6
    assert decisions_verify() == (6, [])
    assert [str(p) for p in decisions_verify(against=head)[1]] == [
        f"sequence 6: decision {replacement.public_id} (id {replacement.pk}) is not the record of the head "
        f"exported at {head.exported_at} (its HMAC differs: the chain was rewritten from there)"]


@pytest.mark.parametrize(("deleted", "message"), [
    (3, "sequence 3 missing: record 4 (decision {public_id}, id {pk}) links to a record that is not there"),
    (1, "sequence 1 missing: record 2 (decision {public_id}, id {pk}) links to a record that is not there"),
])
def test_deleting_a_record_reports_the_gap_by_position(chain_of_six, deleted, message):
    # when one record is deleted
    as_attacker(("DELETE FROM underwriting_decision WHERE sequence = %s", [deleted]))

    # then the gap is named by position, and the record after it is not blamed for anything else
    following = chain_of_six[deleted]
    checked, problems = decisions_verify()
    assert checked == 5
    assert [str(p) for p in problems] == [message.format(public_id=following.public_id, pk=following.pk)]


def test_closing_a_gap_by_renumbering_breaks_the_signed_position(chain_of_six):
    # when the fourth record is deleted and the fifth and sixth renumbered down to hide the gap
    victim, moved = chain_of_six[3], chain_of_six[4]
    as_attacker(("DELETE FROM underwriting_decision WHERE id = %s", [victim.pk]),
                ("UPDATE underwriting_decision SET sequence = 4 WHERE sequence = 5", []),
                ("UPDATE underwriting_decision SET sequence = 5 WHERE sequence = 6", []),
                ("UPDATE underwriting_decisionchainhead SET last_sequence = 5", []))

    # then the renumbered record neither links to its new predecessor nor verifies with its new position
    who = f"decision {moved.public_id} (id {moved.pk})"
    last = chain_of_six[5]
    assert [str(p) for p in decisions_verify()[1]] == [
        f"sequence 4: {who} links to a record that is not there, not to record 3 (a record was replaced)",
        f"sequence 4: {who}: its content does not match its HMAC (the record was altered)",
        f"sequence 5: decision {last.public_id} (id {last.pk}): its content does not match its HMAC "
        f"(the record was altered)",
    ]


def test_an_altered_field_is_still_caught_by_position(chain_of_six):
    target = chain_of_six[2]
    as_attacker(("UPDATE underwriting_decision SET requested_amount = requested_amount + 1 WHERE id = %s",
                 [target.pk]))

    assert [str(p) for p in decisions_verify()[1]] == [
        f"sequence 3: decision {target.public_id} (id {target.pk}): its content does not match its HMAC "
        f"(the record was altered)"]


def _resign_as_content_version_1(decisions: list[Decision], count: int) -> None:
    """Rewrites the first `count` records as the code before content versions signed them (the fields of
    SIGNED_FIELDS only) and re-links the rest: the chain a database migrated by 0013 holds."""
    key, previous, statements = hmac_key(), chain.GENESIS, []
    for position, decision in enumerate(decisions, 1):
        decision.content_version = 1 if position <= count else CONTENT_VERSION
        fields = SIGNED_FIELDS if position <= count else [*SIGNED_FIELDS, "sequence", "content_version"]
        signature = chain.sign(key=key, content={f: getattr(decision, f) for f in fields}, previous=previous)
        statements.append(("UPDATE underwriting_decision SET content_version = %s, previous_hmac = %s, hmac = %s "
                           "WHERE id = %s", [decision.content_version, previous, signature, decision.pk]))
        previous = decision.hmac = signature
    statements.append(("UPDATE underwriting_decisionchainhead SET last_hmac = %s", [previous]))
    as_attacker(*statements)


def test_records_signed_before_content_versions_keep_verifying_and_keep_their_protection(chain_of_six):
    # given three records signed in content version 1 (no position in the HMAC), then three in version 2
    _resign_as_content_version_1(chain_of_six, 3)
    assert decisions_verify() == (6, [])

    # when one old record is altered, an old one deleted and a new one claims the old format
    old, deleted, downgraded = chain_of_six[0], chain_of_six[1], chain_of_six[4]
    as_attacker(("UPDATE underwriting_decision SET score_band = 'A' WHERE id = %s", [old.pk]),
                ("DELETE FROM underwriting_decision WHERE id = %s", [deleted.pk]),
                ("UPDATE underwriting_decision SET content_version = 1 WHERE id = %s", [downgraded.pk]))

    # then each is named by position
    following = chain_of_six[2]
    assert [str(p) for p in decisions_verify()[1]] == [
        f"sequence 1: decision {old.public_id} (id {old.pk}): its content does not match its HMAC "
        f"(the record was altered)",
        f"sequence 2 missing: record 3 (decision {following.public_id}, id {following.pk}) links to a record "
        f"that is not there",
        f"sequence 5: decision {downgraded.public_id} (id {downgraded.pk}) is content version 1 after version 2 "
        f"records (the record was altered)",
        f"sequence 5: decision {downgraded.public_id} (id {downgraded.pk}): its content does not match its HMAC "
        f"(the record was altered)",
    ]


def test_the_head_is_exported_signed_and_never_for_a_chain_with_findings(chain_of_six, tmp_path):
    # given an intact chain: the export is its head, signed with the decision key
    first = tmp_path / "first.json"
    call_command("export_decision_head", out=str(first))
    head = ExportedHead.from_json(first.read_text())
    assert chain.verify_head(key=hmac_key(), head=head.fields(), signature=head.signature)
    with pytest.raises(CommandError, match="exists: an exported head is never overwritten"):
        call_command("export_decision_head", out=str(first))

    # when the file is edited to claim a shorter chain, it is reported, not trusted
    edited = tmp_path / "edited.json"
    edited.write_text(json.dumps({**json.loads(first.read_text()), "count": 4, "last_sequence": 4,
                                  "last_hmac": chain_of_six[3].hmac}))
    assert [str(p) for p in decisions_verify(against=ExportedHead.from_json(edited.read_text()))[1]] == [
        f"the exported head (sequence 4, exported at {head.exported_at}) is not signed with this key: it was "
        f"edited or comes from elsewhere; not compared"]

    # and once a record is altered, no head is exported
    as_attacker(("UPDATE underwriting_decision SET score_band = 'A' WHERE id = %s", [chain_of_six[0].pk]))
    with pytest.raises(CommandError, match=r"^1 problem\(s\) in the decision chain: no head exported\.$"):
        call_command("export_decision_head", out=str(tmp_path / "second.json"))
    assert not (tmp_path / "second.json").exists()


@pytest.fixture
def committed_world(transactional_db, audit_artifact):
    """audit_world, committed, so that other connections see it."""
    from accounts.models import Business
    from underwriting.modeling.registry import clear_active_model_cache, model_version_register
    from underwriting.modeling.services import model_version_promote
    from underwriting.simulator import simulate_marketplace

    store, path = audit_artifact
    with override_settings(MODEL_STORE=str(store), MODEL_REGISTRY_CHECK_SECONDS=0):
        clear_active_model_cache()
        simulate_marketplace(merchants=12, months=24, seed=11, partner_slug="audit")
        model_version_promote(model_version=model_version_register(artifact=path), promoted_by=None,
                              reason="the tests' model", via="tests")
        yield list(Business.objects.filter(partner__slug="audit").order_by("external_id"))
        clear_active_model_cache()


def test_concurrent_appends_take_consecutive_positions(committed_world):
    # given eight workers, each with its own database connection, deciding at the same moment
    start, made, errors = threading.Barrier(8), [], []

    def worker(business):
        try:
            start.wait()
            made.append(decide(business))
        except Exception as exc:  # reported below: a thread's exception is otherwise lost
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=worker, args=(b,)) for b in committed_world[:8]]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    # then the head lock gave them one order: positions 1-8, each linked to the one before
    assert errors == []
    assert sorted(d.sequence for d in made) == [1, 2, 3, 4, 5, 6, 7, 8]
    assert decisions_verify() == (8, [])
    assert DecisionChainHead.objects.get().last_sequence == 8
