"""The model registry: one active model, activation switching what active_model() returns in a running
process, refusal of a modified artifact, and past records left as they were."""

import datetime as dt
import json

import numpy as np
import pytest
from django.db import IntegrityError, transaction

from tests.factories import PartnerFactory, UserFactory
from underwriting.features.history import day_number
from underwriting.modeling import registry
from underwriting.modeling.artifact import ArtifactError, write_artifact
from underwriting.modeling.dataset import TrainingSet
from underwriting.modeling.models import ModelVersion
from underwriting.modeling.registry import (
    RegistryError,
    active_model,
    clear_active_model_cache,
    model_version_activate,
    model_version_register,
)
from underwriting.modeling.train import train_model


class Spec:
    def __init__(self, name, family, monotone):
        self.name, self.description, self.family, self.monotone = name, name, family, monotone


SPECS = [Spec("revenue", "scale", -1), Spec("refunds", "refunds", 1), Spec("other", "growth", 0)]


def _model(seed: int):
    rng = np.random.default_rng(seed)
    n = 3000
    X = rng.normal(size=(n, 3))
    y = (rng.random(n) < 1 / (1 + np.exp(-(-2 - X[:, 0] + 0.8 * X[:, 1])))).astype(int)
    days = np.sort(rng.integers(day_number(dt.date(2025, 1, 1)), day_number(dt.date(2025, 12, 31)), n))
    return train_model(TrainingSet(X=X, y=y, originated_on=days, specs=SPECS), seed=seed,
                       params={"num_boost_round": 60})


@pytest.fixture(scope="module")
def models():
    return _model(1), _model(2)


@pytest.fixture(autouse=True)
def fresh_cache(settings, tmp_path):
    settings.MODEL_STORE = tmp_path / "models"
    clear_active_model_cache()
    yield
    clear_active_model_cache()


@pytest.fixture
def artifacts(models):
    from django.conf import settings

    return [write_artifact(m, store=settings.MODEL_STORE) for m in models]


@pytest.mark.django_db
def test_register_records_the_artifact(artifacts):
    user = UserFactory()
    mv = model_version_register(artifact=artifacts[0], trained_by=user)
    assert mv.version == artifacts[0].name and not mv.is_active and mv.activated_at is None
    manifest = (artifacts[0] / "manifest.json").read_bytes()
    import hashlib

    assert mv.checksum == hashlib.sha256(manifest).hexdigest()
    assert mv.feature_names == ["revenue", "refunds", "other"] and mv.trained_by == user
    assert mv.metrics["validation"]["auc"] > 0.6 and len(mv.metrics["validation_deciles"]) == 10
    assert mv.training_window["validation"]["rows"] > 0 and mv.report_path.endswith("report.html")
    assert active_model() is None


@pytest.mark.django_db
def test_exactly_one_active_model(artifacts):
    a = model_version_activate(model_version=model_version_register(artifact=artifacts[0]), note="first model")
    b = model_version_register(artifact=artifacts[1])
    assert list(ModelVersion.objects.filter(is_active=True)) == [a]
    model_version_activate(model_version=b, note="challenger won")
    assert list(ModelVersion.objects.filter(is_active=True).values_list("version", flat=True)) == [b.version]
    with pytest.raises(IntegrityError), transaction.atomic():
        ModelVersion.objects.filter(pk=a.pk).update(is_active=True)


@pytest.mark.django_db
def test_a_partner_with_its_own_model_is_decided_by_it_and_every_other_partner_by_the_platforms(artifacts):
    # Given a platform model, and partner A's own model (ADR 0012)
    a, b = PartnerFactory(slug="bank-a"), PartnerFactory(slug="bank-b")
    platform = model_version_activate(model_version=model_version_register(artifact=artifacts[0]), note="platform")
    own = model_version_activate(model_version=model_version_register(artifact=artifacts[1], partner=a),
                                 note="bank-a's own book")
    # Then each scope keeps its one active version: activating A's model left the platform's active
    assert set(ModelVersion.objects.filter(is_active=True).values_list("pk", flat=True)) == {platform.pk, own.pk}
    # And A's applications get A's model, B's and unscoped callers the platform's
    assert registry.active_model_and_id(a.pk)[1] == own.pk
    assert registry.active_model_and_id(b.pk)[1] == platform.pk
    assert registry.active_model_and_id()[1] == platform.pk
    assert active_model(a.pk).version == artifacts[1].name and active_model(b.pk).version == artifacts[0].name
    # A second active version in one scope is refused by the database itself
    for version, partner in (("a-second", a), ("platform-second", None)):
        other = ModelVersion.objects.create(version=version, artifact_path=own.artifact_path, checksum=own.checksum,
                                            partner=partner)
        with pytest.raises(IntegrityError), transaction.atomic():
            ModelVersion.objects.filter(pk=other.pk).update(is_active=True)


@pytest.mark.django_db
def test_without_a_platform_model_a_partner_without_its_own_has_none(artifacts):
    a, b = PartnerFactory(slug="bank-a"), PartnerFactory(slug="bank-b")
    own = model_version_activate(model_version=model_version_register(artifact=artifacts[1], partner=a),
                                 note="bank-a's own book")
    assert registry.active_model_and_id(a.pk)[1] == own.pk
    assert registry.active_model_and_id(b.pk) == (None, None)
    assert active_model() is None


@pytest.mark.django_db
def test_activation_switches_the_running_process_and_leaves_the_past_alone(
        artifacts, django_capture_on_commit_callbacks):
    officer = UserFactory(email="risk@example.com")
    with django_capture_on_commit_callbacks(execute=True):
        a = model_version_activate(model_version=model_version_register(artifact=artifacts[0]), note="first model")
    first = active_model()
    assert first.version == a.version
    X = np.array([[0.5, -0.2, np.nan]])
    pd_a = first.pd(X)
    assert active_model() is first  # cached: no reload per call
    before = ModelVersion.objects.filter(pk=a.pk).values().get()

    b = model_version_register(artifact=artifacts[1])
    with django_capture_on_commit_callbacks(execute=True):
        model_version_activate(model_version=b, activated_by=officer, note="better validation AUC")
    now = active_model()  # same process, no restart
    assert now.version == b.version and now is not first
    b.refresh_from_db()
    assert b.is_active and b.activated_by == officer and b.activation_note == "better validation AUC"
    after = ModelVersion.objects.filter(pk=a.pk).values().get()
    assert after.pop("is_active") is False and before.pop("is_active") is True
    assert after == before  # when and why it was active stay on record
    # The old artifact is untouched: a decision made with it replays to the same PD.
    assert np.array_equal(registry.load_model_version(ModelVersion.objects.get(pk=a.pk)).pd(X), pd_a)


@pytest.mark.django_db
def test_another_process_activation_is_noticed_within_the_check_interval(artifacts, settings, monkeypatch):
    settings.MODEL_REGISTRY_CHECK_SECONDS = 2.0
    clock = [1000.0]
    monkeypatch.setattr(registry.time, "monotonic", lambda: clock[0])
    a = model_version_activate(model_version=model_version_register(artifact=artifacts[0]), note="first model")
    b = model_version_register(artifact=artifacts[1])
    assert active_model().version == a.version
    # Another worker flips the flags directly in the database (no on_commit hook runs here).
    ModelVersion.objects.filter(pk=a.pk).update(is_active=False)
    ModelVersion.objects.filter(pk=b.pk).update(is_active=True)
    clock[0] += 1.0
    assert active_model().version == a.version  # within the interval: the cached model
    clock[0] += 1.5
    assert active_model().version == b.version
    ModelVersion.objects.filter(pk=b.pk).update(is_active=False)
    clock[0] += 2.5
    assert active_model() is None


@pytest.mark.django_db
def test_activation_needs_a_note_and_a_sound_artifact(artifacts):
    a = model_version_register(artifact=artifacts[0])
    with pytest.raises(RegistryError, match="note"):
        model_version_activate(model_version=a, note=" ")
    manifest = json.loads((artifacts[0] / "manifest.json").read_text())
    manifest["calibration"]["b"] -= 1.0
    (artifacts[0] / "manifest.json").write_text(json.dumps(manifest))
    with pytest.raises(ArtifactError):
        model_version_activate(model_version=a, note="try")
    assert not ModelVersion.objects.filter(is_active=True).exists()


@pytest.mark.django_db
def test_a_modified_active_artifact_is_refused_at_load(artifacts, settings):
    settings.MODEL_REGISTRY_CHECK_SECONDS = 0
    model_version_activate(model_version=model_version_register(artifact=artifacts[0]), note="first model")
    assert active_model() is not None
    clear_active_model_cache()
    with open(artifacts[0] / "model.txt", "a") as fh:
        fh.write("\n")
    with pytest.raises(ArtifactError, match="does not match its checksum"):
        active_model()


@pytest.fixture
def holding(artifacts, settings, monkeypatch):
    """A process that loaded and verified the active model (artifacts[0]); returns its monotonic clock,
    a one-item list the test moves forward."""
    settings.MODEL_REGISTRY_CHECK_SECONDS = 2.0
    settings.MODEL_ARTIFACT_VERIFY_SECONDS = 60.0
    clock = [1000.0]
    monkeypatch.setattr(registry.time, "monotonic", lambda: clock[0])
    model_version_activate(model_version=model_version_register(artifact=artifacts[0]), note="first model")
    assert active_model() is not None
    return clock


@pytest.mark.django_db
def test_a_process_holding_the_model_refuses_it_once_its_artifact_changes_on_disk(artifacts, holding):
    # given a process that loaded and verified the active model
    clock = holding

    # when its model file is rewritten (the registry still names it)
    model_file = artifacts[0] / "model.txt"
    model_file.write_text(model_file.read_text() + "\n")

    # then at the next registry check the process refuses it, and keeps refusing
    clock[0] += 2.5
    with pytest.raises(ArtifactError, match="does not match its checksum"):
        active_model()
    clock[0] += 2.5
    with pytest.raises(ArtifactError, match="does not match its checksum"):
        active_model()


@pytest.mark.django_db
def test_a_change_that_keeps_size_and_mtime_is_found_by_the_scheduled_rehash(artifacts, holding):
    import os

    clock = holding

    # given one byte of the model file flipped in place, its size and mtime put back
    model_file = artifacts[0] / "model.txt"
    stat = model_file.stat()
    data = bytearray(model_file.read_bytes())
    data[-2] = ord("0") if data[-2] != ord("0") else ord("1")
    with open(model_file, "r+b") as fh:
        fh.write(bytes(data))
    os.utime(model_file, ns=(stat.st_atime_ns, stat.st_mtime_ns))

    # then the cheap check passes until the scheduled re-hash, which refuses it
    clock[0] += 30
    assert active_model() is not None
    clock[0] += 31
    with pytest.raises(ArtifactError, match="does not match its checksum"):
        active_model()
