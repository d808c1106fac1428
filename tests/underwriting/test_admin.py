"""The audit console in the admin: every page an officer or operator uses, read-only decisions
(admin and database), tamper evidence, permissions per role, model promotion and policy versions."""

import re
from decimal import Decimal

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.db import DatabaseError, connection, transaction
from django.urls import reverse

from accounts.roles import APPLICANT, LOAN_OFFICER, RISK_OPERATOR
from loans.applications.models import Application, ApplicationStatus, Channel, Purpose
from loans.applications.services import application_decide, application_submit
from tests.audit_fixtures import decide, login
from tests.factories import PartnerFactory
from underwriting.decisions.models import Decision
from underwriting.modeling.models import ModelActivation, ModelVersion
from underwriting.policies.models import PolicyVersion
from underwriting.policies.services import policy_active

pytestmark = pytest.mark.usefixtures("require_postgres")


def _decision_fields(decision_id):
    return Decision.objects.filter(pk=decision_id).values().get()


@pytest.fixture
def decided(audit_world, audit_users):
    """An application decided through the loans pipeline (so it has a state history) and a few
    direct decisions."""
    business = audit_world[0]
    application = application_submit(business=business, amount=Decimal("20000.00"), term_months=12,
                                      purpose=Purpose.WORKING_CAPITAL, channel=Channel.WEB, actor="owner:test")
    application = application_decide(application_id=application.pk)
    others = [decide(b) for b in audit_world[1:8]]
    return application, others


# ---- pages ----------------------------------------------------------------------------------------------


def test_an_officer_walks_every_audit_page_and_sees_its_key_elements(client, decided, audit_users):
    application, others = decided
    decision = application.decision
    scored = next(d for d in [decision, *others] if d.decided_by == "model")
    PartnerFactory(slug="other-bank")  # the partner filter shows once there is a choice
    login(client, audit_users[LOAN_OFFICER])

    index = client.get(reverse("admin:index"))
    assert index.status_code == 200
    assert b'id="review-queue-count"' in index.content
    assert reverse("risk:dashboard").encode() in index.content

    changelist = client.get(reverse("admin:underwriting_decision_changelist"))
    assert changelist.status_code == 200
    html = changelist.content.decode()
    # (Django shows a related-model filter once it has two choices: one model and one policy here.)
    for flt in ("By outcome", "By partner", "By score band", "By decided", "By reviewed", "By review queue"):
        assert flt.lower() in html.lower(), flt
    assert str(decision.public_id)[:8] in html
    filters = {"outcome": scored.outcome, "partner__id__exact": scored.partner_id,
               "model_version__id__exact": scored.model_version_id,
               "policy_version__id__exact": scored.policy_version_id, "score_band": scored.score_band,
               "decided": "7d", "reviewed": "no", "queue": "queue"}
    for key, value in filters.items():
        response = client.get(reverse("admin:underwriting_decision_changelist"), {key: value})
        assert response.status_code == 200, key
        if key != "queue":
            assert str(scored.public_id)[:8] in response.content.decode(), key

    by_name = client.get(reverse("admin:underwriting_decision_changelist"), {"q": decision.business.legal_name})
    assert str(decision.public_id)[:8] in by_name.content.decode()
    by_app = client.get(reverse("admin:underwriting_decision_changelist"), {"q": str(application.public_id)})
    assert by_app.status_code == 200 and str(decision.public_id)[:8] in by_app.content.decode()
    assert b"1 result" in by_app.content
    by_reg = client.get(reverse("admin:underwriting_decision_changelist"),
                        {"q": decision.business.registration_number or decision.business.external_id})
    assert str(decision.public_id)[:8] in by_reg.content.decode()
    garbage = client.get(reverse("admin:underwriting_decision_changelist"), {"q": "not-a-uuid"})
    assert garbage.status_code == 200

    page = client.get(reverse("admin:underwriting_decision_change", args=[scored.pk]))
    assert page.status_code == 200
    html = page.content.decode()
    for section in ('id="request"', 'id="outcome"', 'id="risk"', 'id="versions"', 'id="reasons"', 'id="knockouts"',
                    'id="explanation"', 'id="features"', 'id="timings"', 'id="history"', 'id="reviews"',
                    'id="review-form"'):
        assert section in html, section
    assert f"{100 * scored.pd:.3f}%" in html
    assert str(scored.score) in html
    assert scored.model_version.version in html
    assert reverse("admin:underwriting_modelversion_change", args=[scored.model_version_id]) in html
    assert reverse("admin:underwriting_policyversion_change", args=[scored.policy_version_id]) in html
    for reason in scored.reasons:
        assert reason["text"].replace("'", "&#x27;") in html
    for rule in scored.knockouts:
        assert rule["code"] in html
    # every feature with its catalog description
    from underwriting.features.specs import FEATURES

    for spec in FEATURES:
        assert f"<code>{spec.name}</code>" in html
    assert "Business inflows over the last 90 days" in html
    # the waterfall, rendered server-side, names contributors in plain language
    svg = client.get(reverse("admin:underwriting_decision_waterfall", args=[scored.pk]))
    assert svg.status_code == 200 and svg["Content-Type"] == "image/svg+xml"
    body = svg.content.decode()
    assert body.lstrip().startswith("<?xml") and "<svg" in body
    assert "Model base value" in body and "This decision" in body
    top = max(range(len(scored.shap_values)), key=lambda i: abs(scored.shap_values[i]))
    top_spec = next(s for s in FEATURES if s.name == scored.model_version.feature_names[top])
    assert top_spec.description[:30] in body

    app_page = client.get(reverse("admin:underwriting_decision_change", args=[decision.pk])).content.decode()
    assert "Application state history" in app_page
    for status in ("Submitted", "Deciding", application.get_status_display()):
        assert status in app_page
    assert "system:worker" in app_page

    app_admin = client.get(reverse("admin:loans_application_change", args=[application.pk]))
    assert app_admin.status_code == 200 and b"Application transitions" in app_admin.content
    assert client.get(reverse("admin:loans_application_changelist")).status_code == 200

    queue = client.get(reverse("admin:underwriting_decision_queue"))
    assert queue.status_code == 200 and b'id="queue-table"' in queue.content

    mv = scored.model_version
    mv_page = client.get(reverse("admin:underwriting_modelversion_change", args=[mv.pk]))
    html = mv_page.content.decode()
    assert mv_page.status_code == 200
    for section in ('id="training-window"', 'id="metrics"', 'id="charts"', 'id="promotions"'):
        assert section in html
    assert f"{mv.metrics['validation']['auc']:.4f}" in html
    assert str(mv.training_window["train"]["rows"]) in html
    assert 'id="promote-link"' not in html  # officers do not promote
    for name, kind in (("calibration.png", "image/png"), ("importance.png", "image/png"), ("report.html", "text/html")):
        url = reverse("admin:underwriting_modelversion_artifact", args=[mv.pk, name])
        assert url in html
        response = client.get(url)
        assert response.status_code == 200 and response["Content-Type"].startswith(kind)
    # every chart the training report shows (shap's beeswarm and dependence plots included) is served
    # beside it, so the report's relative links work from the console
    report = client.get(reverse("admin:underwriting_modelversion_artifact", args=[mv.pk, "report.html"]))
    shown = re.findall(r'<img src="([^"]+)"', b"".join(report.streaming_content).decode())
    assert {"shap_beeswarm.png", "shap_dependence_1.png", "shap_dependence_4.png"} <= set(shown)
    for name in shown:
        response = client.get(reverse("admin:underwriting_modelversion_artifact", args=[mv.pk, name]))
        assert response.status_code == 200 and response["Content-Type"] == "image/png", name
        assert b"".join(response.streaming_content)[:8] == b"\x89PNG\r\n\x1a\n", name
    assert client.get(reverse("admin:underwriting_modelversion_artifact", args=[mv.pk, "model.txt"])).status_code == 404
    assert client.get(reverse("admin:underwriting_modelversion_artifact", args=[mv.pk, "..%2Fmanifest.json"])).status_code == 404

    assert client.get(reverse("admin:underwriting_policyversion_changelist")).status_code == 200
    assert client.get(reverse("admin:loans_review_changelist")).status_code == 200


def test_csv_export_of_decisions_holds_every_selected_decision(client, decided, audit_users):
    application, others = decided
    login(client, audit_users[LOAN_OFFICER])
    chosen = [application.decision, *others[:2]]

    response = client.post(reverse("admin:underwriting_decision_changelist"),
                           {"action": "export_decisions_csv", "_selected_action": [d.pk for d in chosen]})

    assert response.status_code == 200 and response["Content-Type"].startswith("text/csv")
    lines = b"".join(response.streaming_content).decode().splitlines()
    assert lines[0].startswith("decision_id,created_at,as_of,partner")
    assert len(lines) == 1 + len(chosen)
    exported = {line.split(",")[0] for line in lines[1:]}
    assert exported == {str(d.public_id) for d in chosen}
    first = next(line for line in lines[1:] if line.startswith(str(application.decision.public_id)))
    assert str(application.public_id) in first and application.decision.hmac in first


# ---- read-only -------------------------------------------------------------------------------------------


@pytest.mark.parametrize("role", [LOAN_OFFICER, RISK_OPERATOR])
def test_a_crafted_post_to_the_decision_change_view_changes_nothing(client, decided, audit_users, role):
    decision = decided[1][0]
    before = _decision_fields(decision.pk)
    login(client, audit_users[role])

    change = client.post(reverse("admin:underwriting_decision_change", args=[decision.pk]),
                         {"outcome": "approved", "offered_amount": "999999.00", "score": "900", "reasons": "[]"})
    delete = client.post(reverse("admin:underwriting_decision_delete", args=[decision.pk]), {"post": "yes"})
    add = client.post(reverse("admin:underwriting_decision_add"), {"outcome": "approved"})
    bulk_delete = client.post(reverse("admin:underwriting_decision_changelist"),
                              {"action": "delete_selected", "_selected_action": [decision.pk], "post": "yes"})

    assert change.status_code == 403
    assert delete.status_code == 403
    assert add.status_code == 403
    assert bulk_delete.status_code in (200, 302)  # "no action selected": delete_selected is not offered
    assert _decision_fields(decision.pk) == before
    assert Decision.objects.count() == 1 + len(decided[1])


def test_the_decision_page_offers_no_save_or_delete(client, decided, audit_users):
    decision = decided[1][0]
    login(client, audit_users[RISK_OPERATOR])
    html = client.get(reverse("admin:underwriting_decision_change", args=[decision.pk])).content.decode()
    assert 'name="_save"' not in html and "deletelink" not in html


def test_the_database_rejects_updates_and_deletes_of_decisions(decided):
    decision = decided[1][0]
    with pytest.raises(DatabaseError), transaction.atomic():
        Decision.objects.filter(pk=decision.pk).update(offered_amount=Decimal("1.00"))
    with pytest.raises(DatabaseError), transaction.atomic(), connection.cursor() as cursor:
        cursor.execute("DELETE FROM underwriting_decision WHERE id = %s", [decision.pk])
    assert Decision.objects.get(pk=decision.pk).offered_amount == decision.offered_amount


def test_verify_decisions_names_a_row_altered_in_sql(decided, capsys):
    decisions = sorted([decided[0].decision, *decided[1]], key=lambda d: d.pk)
    target = decisions[2]
    call_command("verify_decisions")
    assert f"{len(decisions)} decision record(s) verified" in capsys.readouterr().out

    # An attacker with SQL access (and the power to disable the trigger) rewrites one offer.
    with connection.cursor() as cursor:
        cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")  # deferred FK checks would block ALTER TABLE
        cursor.execute("ALTER TABLE underwriting_decision DISABLE TRIGGER USER")
        cursor.execute("UPDATE underwriting_decision SET score = score + 40, outcome = 'approved' WHERE id = %s",
                       [target.pk])
        cursor.execute("ALTER TABLE underwriting_decision ENABLE TRIGGER USER")

    with pytest.raises(CommandError, match=r"1 problem\(s\)"):
        call_command("verify_decisions")
    out = capsys.readouterr().out
    assert f"decision {target.public_id} (id {target.pk}): its content does not match its HMAC" in out
    for other in decisions:
        if other.pk != target.pk:
            assert str(other.public_id) not in out


# ---- permissions -------------------------------------------------------------------------------------------


def test_applicants_and_anonymous_users_have_no_admin_access(client, decided, audit_users):
    decision = decided[1][0]
    urls = [reverse("admin:index"), reverse("admin:underwriting_decision_changelist"),
            reverse("admin:underwriting_decision_change", args=[decision.pk]),
            reverse("admin:underwriting_decision_waterfall", args=[decision.pk]),
            reverse("admin:underwriting_decision_queue")]
    for url in urls:
        response = client.get(url)
        assert response.status_code == 302 and "/admin/login/" in response["Location"], url
    login(client, audit_users[APPLICANT])
    for url in urls:
        response = client.get(url)
        assert response.status_code == 302 and "/admin/login/" in response["Location"], url
    response = client.post(reverse("admin:underwriting_decision_review", args=[decision.pk]),
                           {"verdict": "disagree", "note": "x"})
    assert response.status_code == 302
    assert not decision.reviews.exists()


def test_an_officer_cannot_promote_models_or_create_policy_versions(client, audit_world, audit_users):
    mv = ModelVersion.objects.get(is_active=True)
    login(client, audit_users[LOAN_OFFICER])
    versions_before = list(PolicyVersion.objects.values_list("version", flat=True))
    activations_before = list(ModelActivation.objects.values_list("pk", flat=True))

    promote = client.post(reverse("admin:underwriting_modelversion_promote", args=[mv.pk]), {"reason": "because"})
    add = client.post(reverse("admin:underwriting_policyversion_add"),
                      {"params": "{}", "note": "officer tries", "activate": "on"})
    add_get = client.get(reverse("admin:underwriting_policyversion_add"))

    assert promote.status_code == 403
    assert add.status_code == 403 and add_get.status_code == 403
    assert list(ModelActivation.objects.values_list("pk", flat=True)) == activations_before
    assert list(PolicyVersion.objects.values_list("version", flat=True)) == versions_before


def test_a_risk_operator_promotes_a_model_with_a_reason_and_past_decisions_keep_theirs(client, audit_world, audit_users):
    from underwriting.modeling.registry import model_version_register

    old = ModelVersion.objects.get(is_active=True)
    past = decide(audit_world[0])
    past_fields = _decision_fields(past.pk)
    # the same artifact registered again under another version label stands in for a retrained model
    import shutil
    from pathlib import Path

    src = Path(old.artifact_path)
    dst = src.parent / (src.name + "-b")
    if not dst.exists():
        shutil.copytree(src, dst)
        import json

        manifest = json.loads((dst / "manifest.json").read_text())
        manifest["version"] = src.name + "-b"
        (dst / "manifest.json").write_text(json.dumps(manifest))
    new = model_version_register(artifact=dst)
    login(client, audit_users[RISK_OPERATOR])

    page = client.get(reverse("admin:underwriting_modelversion_change", args=[new.pk]))
    assert b'id="promote-link"' in page.content
    empty = client.post(reverse("admin:underwriting_modelversion_promote", args=[new.pk]), {"reason": "  "})
    assert empty.status_code == 200 and b"This field is required" in empty.content
    assert ModelVersion.objects.get(is_active=True) == old

    done = client.post(reverse("admin:underwriting_modelversion_promote", args=[new.pk]),
                       {"reason": "Validation AUC +0.02 on the October book; reviewed by the risk committee."})

    assert done.status_code == 302
    assert ModelVersion.objects.get(is_active=True) == new
    activation = ModelActivation.objects.get(model_version=new)
    assert activation.model_version == new and activation.previous_version == old
    assert activation.activated_by == audit_users[RISK_OPERATOR]
    assert activation.reason.startswith("Validation AUC +0.02")
    assert _decision_fields(past.pk) == past_fields
    history = client.get(reverse("admin:underwriting_modelversion_change", args=[new.pk])).content.decode()
    assert "Validation AUC +0.02" in history and audit_users[RISK_OPERATOR].email in history


def test_a_risk_operator_creates_a_policy_version_and_bad_params_lose_nothing(client, audit_world, audit_users):
    active, _ = policy_active()
    login(client, audit_users[RISK_OPERATOR])
    before = PolicyVersion.objects.count()

    form = client.get(reverse("admin:underwriting_policyversion_add"))
    assert form.status_code == 200 and b"max_pd" in form.content
    bad = client.post(reverse("admin:underwriting_policyversion_add"),
                      {"params": '{"max_pd": "2"}', "note": "too loose", "activate": "on"})
    assert bad.status_code == 200 and b"max_pd" in bad.content
    assert PolicyVersion.objects.count() == before

    good = client.post(reverse("admin:underwriting_policyversion_add"),
                       {"params": '{"max_pd": "0.12"}', "note": "Tighter cut-off after the Q3 review", "activate": "on"})
    assert good.status_code == 302
    created = PolicyVersion.objects.get(is_active=True)
    assert created.version == active.version + 1
    assert created.params["max_pd"] == "0.12" and created.created_by == audit_users[RISK_OPERATOR]


def test_applications_are_read_only_in_the_admin(client, decided, audit_users):
    application = decided[0]
    login(client, audit_users[RISK_OPERATOR])
    response = client.post(reverse("admin:loans_application_change", args=[application.pk]),
                           {"status": ApplicationStatus.APPROVED, "amount": "1.00"})
    assert response.status_code == 403
    fresh = Application.objects.get(pk=application.pk)
    assert fresh.status == application.status and fresh.amount == application.amount


def test_a_partners_api_key_opens_neither_the_admin_nor_the_dashboard(client, decided):
    from accounts.services import api_key_create

    decision = decided[1][0]
    key = api_key_create(partner=decision.partner, name="bank", scopes=["read", "write", "admin"])
    header = {"HTTP_AUTHORIZATION": f"Bearer {key.raw_key}"}

    for url in (reverse("admin:index"), reverse("admin:underwriting_decision_change", args=[decision.pk]),
                reverse("risk:dashboard")):
        response = client.get(url, **header)
        assert response.status_code == 302 and "login" in response["Location"], url
    review = client.post(reverse("admin:underwriting_decision_review", args=[decision.pk]),
                         {"verdict": "agree"}, **header)
    assert review.status_code == 302 and not decision.reviews.exists()
