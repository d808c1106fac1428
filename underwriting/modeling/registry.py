"""The model registry: ModelVersion rows, activation, and the active model of this process.

Exactly one version is active platform-wide (a partial unique index on is_active=True enforces it in
the database, so two concurrent activations cannot both win). Activation only flips flags on
ModelVersion rows: decisions store the version they used and are never touched.

`active_model()` serves the active version from a per-process cache. Every CHECK_INTERVAL seconds
(settings.MODEL_REGISTRY_CHECK_SECONDS, default 2.0; 0 = on every call) it asks the database which
version is active, one indexed single-row query, and loads the artifact (verifying its checksums
against the registry's record) when the answer changed. So a worker notices a newly activated
version within ~2 s, without a restart; an activation in this process clears the cache on commit, so
this process sees it at once.

The model in memory is only as good as the files it was loaded from: the decision record cites the
artifact, and a replay or an audit reads those files. So the process also proves, before deciding with
it, that the artifact on disk still matches the registry's checksum: at every registry check it stats
the artifact's files (any write changes size, mtime or inode) and re-hashes them at once when one
changed, and re-hashes them anyway every settings.MODEL_ARTIFACT_VERIFY_SECONDS (default 60). A
modified or missing artifact drops the model from the cache and raises ArtifactError, so the worker
refuses to decide (the application waits, docs/reliability.md) exactly as a fresh worker would.
"""

from __future__ import annotations

import threading
import time
from pathlib import Path

from django.conf import settings
from django.db import transaction

from config import clock
from underwriting.modeling.artifact import (
    ArtifactError,
    LoadedModel,
    artifact_fingerprint,
    load_artifact,
    verify_artifact,
)
from underwriting.modeling.models import ModelVersion

__all__ = [
    "active_model",
    "artifact_path_of",
    "clear_active_model_cache",
    "load_model_version",
    "model_version_activate",
    "model_version_register",
]

DEFAULT_CHECK_SECONDS = 2.0
DEFAULT_VERIFY_SECONDS = 60.0


class RegistryError(Exception):
    pass


def _store() -> Path:
    return Path(settings.MODEL_STORE)


def _stored_path(path: Path) -> str:
    """Absolute, so any process (and `load_artifact(mv.artifact_path)`) finds it whatever its working
    directory; a relative path (written by hand) is read relative to MODEL_STORE."""
    return str(Path(path).resolve())


def artifact_path_of(model_version: ModelVersion) -> Path:
    path = Path(model_version.artifact_path)
    return path if path.is_absolute() else _store() / path


def load_model_version(model_version: ModelVersion) -> LoadedModel:
    """The version's artifact, verified against the checksum recorded at registration."""
    return load_artifact(artifact_path_of(model_version), expected_checksum=model_version.checksum)


@transaction.atomic
def model_version_register(*, artifact: LoadedModel | Path | str, trained_by=None) -> ModelVersion:
    """Records an artifact (verified on the way in) as an inactive ModelVersion. It decides only once
    promoted (underwriting.modeling.services.model_version_promote, which records the activation)."""
    loaded = artifact if isinstance(artifact, LoadedModel) else load_artifact(artifact)
    m = loaded.manifest
    val = m.get("metrics", {}).get("validation", {})
    summary = {slice_: {k: v for k, v in m["metrics"][slice_].items() if not isinstance(v, list | dict)}
               for slice_ in ("train", "calibration", "validation") if slice_ in m.get("metrics", {})}
    report = loaded.path / "report.html"
    mv = ModelVersion.objects.create(
        version=loaded.version,
        artifact_path=_stored_path(loaded.path),
        checksum=loaded.checksum,
        trained_by=trained_by,
        training_window=m.get("training_window", {}),
        metrics={**summary, "validation_deciles": val.get("deciles", []), "appetite": m["metrics"].get("appetite", {}),
                 "validation_score_bands": val.get("score_bands", [])},
        report_path=_stored_path(report) if report.exists() else "",
        feature_names=loaded.feature_names,
    )
    return mv


@transaction.atomic
def model_version_activate(*, model_version: ModelVersion, activated_by=None, note: str) -> ModelVersion:
    """Makes `model_version` the one active model. Refuses an artifact that no longer verifies (a
    worker could not load it); the previous active version is deactivated in the same transaction."""
    if not note or not note.strip():
        raise RegistryError("an activation needs a note (why this model decides from now on)")
    # Lock every currently active row and the target, in id order, so concurrent activations queue.
    rows = list(ModelVersion.objects.select_for_update().filter(is_active=True).order_by("id"))
    target = ModelVersion.objects.select_for_update().get(pk=model_version.pk)
    load_model_version(target)  # ArtifactError if missing or modified
    if target.is_active and len(rows) == 1:
        return target
    ModelVersion.objects.filter(pk__in=[r.pk for r in rows if r.pk != target.pk]).update(is_active=False)
    target.is_active = True
    target.activated_at = clock.now()
    target.activated_by = activated_by
    target.activation_note = note.strip()
    target.save(update_fields=["is_active", "activated_at", "activated_by", "activation_note"])
    transaction.on_commit(clear_active_model_cache)
    return target


# ---- the active model of this process ------------------------------------------------------------------

_lock = threading.Lock()
_EMPTY = {"checked": float("-inf"), "key": None, "model": None, "verified": float("-inf"), "fingerprint": None}
_cache: dict = dict(_EMPTY)


def clear_active_model_cache() -> None:
    with _lock:
        _cache.update(_EMPTY)


def _check_interval() -> float:
    return float(getattr(settings, "MODEL_REGISTRY_CHECK_SECONDS", DEFAULT_CHECK_SECONDS))


def _verify_interval() -> float:
    return float(getattr(settings, "MODEL_ARTIFACT_VERIFY_SECONDS", DEFAULT_VERIFY_SECONDS))


def _reverify_cached(now: float) -> None:
    """Re-hashes the cached model's artifact when its files changed on disk or the verification is
    older than the interval; on a mismatch forgets the model (the next call reloads, and refuses)."""
    model: LoadedModel | None = _cache["model"]
    if model is None:
        return
    fingerprint = artifact_fingerprint(model.path, model.manifest)
    if fingerprint == _cache["fingerprint"] and now - _cache["verified"] < _verify_interval():
        return
    try:
        verify_artifact(model.path, expected_checksum=model.checksum)
    except ArtifactError:
        _cache.update(_EMPTY)
        raise
    _cache.update(verified=now, fingerprint=fingerprint)


def active_model() -> LoadedModel | None:
    """The active version's model (None when no version is active). Raises ArtifactError when the
    active version's artifact is missing or modified: deciding without the recorded model is not an option."""
    return active_model_and_id()[0]


def active_model_and_id() -> tuple[LoadedModel | None, int | None]:
    """active_model() and the primary key of its ModelVersion row (what a decision cites), from the
    same cached reading."""
    now = time.monotonic()
    with _lock:
        if now - _cache["checked"] < _check_interval():
            return _cache["model"], _model_id()
        row = (ModelVersion.objects.filter(is_active=True)
               .values_list("id", "version", "artifact_path", "checksum").first())
        key = (row[0], row[3]) if row else None  # (id, checksum): a re-registered path changes both
        if key != _cache["key"]:
            model = fingerprint = None
            if row is not None:
                mv = ModelVersion(id=row[0], version=row[1], artifact_path=row[2], checksum=row[3])
                model = load_model_version(mv)
                fingerprint = artifact_fingerprint(model.path, model.manifest)
            _cache.update(key=key, model=model, verified=now, fingerprint=fingerprint)
        else:
            _reverify_cached(now)
        _cache["checked"] = now
        return _cache["model"], _model_id()


def _model_id() -> int | None:
    key = _cache["key"]
    return None if key is None or _cache["model"] is None else key[0]
