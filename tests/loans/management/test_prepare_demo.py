"""The run command's demo preparation (loans/management/commands/prepare_demo.py) and the banner the
pages show meanwhile (loans/demo_status.py)."""

import json
from io import StringIO
from pathlib import Path

from django.conf import settings
from django.core.management import call_command
from django.test import Client, override_settings

from accounts.models import Business, User
from loans.demo_status import demo_status_read, demo_status_write
from underwriting.decisions.models import Decision
from underwriting.modeling.models import ModelVersion
from underwriting.policies.models import PolicyVersion
from underwriting.policies.services import policy_active


def test_the_demo_is_prepared_step_by_step_and_a_second_run_changes_nothing(transactional_db, tmp_path):
    with override_settings(VAR_DIR=tmp_path, MODEL_STORE=str(tmp_path / "models")):
        # given a fresh database with the demo logins only (what the run command creates first)
        call_command("setup_demo", logins_only=True, stdout=StringIO())
        assert not Business.objects.exists()

        # when the preparation runs
        out = StringIO()
        call_command("prepare_demo", merchants=300, seed=5, stdout=out)

        # then the marketplace, the model, the owner's merchant and the demo decisions are there
        text = out.getvalue()
        assert Business.objects.filter(partner__slug="demo").count() == 300
        assert ModelVersion.objects.filter(is_active=True).count() == 1
        assert Business.objects.filter(owner__email="owner@demo.example.com").exists()
        assert Decision.objects.count() == 60
        # and the demo's policy was derived from its risk appetite on that model's validation
        policy_row, _ = policy_active()
        assert policy_row.derivation["target_bad_rate"] == "0.05"
        assert policy_row.derivation["model_version"] == ModelVersion.objects.get(is_active=True).version
        assert "Risk appetite 5.00% bad rate" in text and "<- chosen" in text
        assert "validation AUC" in text and "AUC / oracle" in text
        key = (Path(tmp_path) / "demo-api-key").read_text().strip()
        assert key in text and key.startswith("p310_")
        assert oct((Path(tmp_path) / "demo-api-key").stat().st_mode & 0o777) == "0o600"
        assert json.loads((Path(tmp_path) / "demo-status.json").read_text())["state"] == "ready"
        assert demo_status_read() is None

        # and running it again (a restart) reuses everything, the key included
        again = StringIO()
        call_command("prepare_demo", merchants=300, seed=5, stdout=again)
        assert Business.objects.filter(partner__slug="demo").count() == 300
        assert ModelVersion.objects.count() == 1 and Decision.objects.count() == 60
        assert PolicyVersion.objects.count() == 2
        assert key in again.getvalue()
        assert User.objects.filter(email="owner@demo.example.com").count() == 1


def test_pages_say_what_is_still_being_prepared(db, tmp_path):
    with override_settings(VAR_DIR=tmp_path):
        demo_status_write(state="preparing", step="train")

        page = Client().get("/login/").content.decode()

        assert ("The demo is still being prepared: training the demo model on its loan book (step 2 of 4). Pages "
                "work meanwhile; applications wait for the model.") in page
        demo_status_write(state="ready", step="")
        assert "still being prepared" not in Client().get("/login/").content.decode()
        demo_status_write(state="failed", step="RuntimeError: boom")
        assert "Preparing the demo failed; see var/log/prepare.log." in Client().get("/login/").content.decode()
    assert tmp_path != settings.VAR_DIR
