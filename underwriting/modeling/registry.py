"""The model registry: ModelVersion rows, activation, and the active model of this process.

A version belongs to one partner or to the platform (ADR 0012). At most one version is active per
scope (partial unique indexes enforce it in the database, so two concurrent activations cannot both
win); a partner's applications are decided by its own active version, else by the platform's.
Activation only flips flags on ModelVersion rows of its own scope: decisions store the version they
used and are never touched.

`active_model(partner_id)` serves the active version from a per-process cache. Every CHECK_INTERVAL
seconds (settings.MODEL_REGISTRY_CHECK_SECONDS, default 2.0; 0 = on every call) it asks the database
which versions are active, one indexed query, and loads an artifact (verifying its checksums against
the registry's record) when the answer changed. So a worker notices a newly activated
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
    "active_model_and_id",
    "artifact_path_of",
    "cached_model_ids",
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
def model_version_register(*, artifact: LoadedModel | Path | str, trained_by=None, partner=None) -> ModelVersion:
    """Records an artifact (verified on the way in) as an inactive ModelVersion of `partner`'s scope
    (None: the platform's). It decides only once promoted (underwriting.modeling.services.
    model_version_promote, which records the activation)."""
    loaded = artifact if isinstance(artifact, LoadedModel) else load_artifact(artifact)
    m = loaded.manifest
    val = m.get("metrics", {}).get("validation", {})
    summary = {slice_: {k: v for k, v in m["metrics"][slice_].items() if not isinstance(v, list | dict)}
               for slice_ in ("train", "calibration", "validation") if slice_ in m.get("metrics", {})}
    report = loaded.path / "report.html"
    mv = ModelVersion.objects.create(
        version=loaded.version,
        partner=partner,
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
    """Makes `model_version` the active model of its scope (its partner's, or the platform's). Refuses
    an artifact that no longer verifies (a worker could not load it); the scope's previous active
    version is deactivated in the same transaction. Other scopes are untouched."""
    if not note or not note.strip():
        raise RegistryError("an activation needs a note (why this model decides from now on)")
    # Lock the scope's active rows and the target, in id order, so concurrent activations queue.
    scope = model_version.partner_id
    rows = list(ModelVersion.objects.select_for_update().filter(is_active=True, partner_id=scope).order_by("id"))
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


# ---- the active models of this process -----------------------------------------------------------------

_lock = threading.Lock()
# "scopes": partner id (None: the platform) -> (version id, checksum) of its active version, as last read;
# "models": (version id, checksum) -> [model, verified at, files' fingerprint]
_cache: dict = {"checked": float("-inf"), "scopes": {}, "models": {}}


def clear_active_model_cache() -> None:
    with _lock:
        _cache.update(checked=float("-inf"), scopes={}, models={})


def _check_interval() -> float:
    return float(getattr(settings, "MODEL_REGISTRY_CHECK_SECONDS", DEFAULT_CHECK_SECONDS))


def _verify_interval() -> float:
    return float(getattr(settings, "MODEL_ARTIFACT_VERIFY_SECONDS", DEFAULT_VERIFY_SECONDS))


def _reverify_cached(key: tuple, now: float) -> None:
    """Re-hashes a cached model's artifact when its files changed on disk or the verification is older
    than the interval; on a mismatch forgets the model (the next call reloads, and refuses)."""
    entry = _cache["models"].get(key)
    if entry is None or isinstance(entry, ArtifactError):
        return
    model, verified, fingerprint = entry
    current = artifact_fingerprint(model.path, model.manifest)
    if current == fingerprint and now - verified < _verify_interval():
        return
    try:
        verify_artifact(model.path, expected_checksum=model.checksum)
    except ArtifactError:
        _cache["models"].pop(key, None)
        _cache["checked"] = float("-inf")
        raise
    _cache["models"][key] = [model, now, current]


def _refresh(now: float) -> None:
    """Reads which version is active in every scope and loads the ones not in memory yet."""
    rows = ModelVersion.objects.filter(is_active=True).values_list("id", "version", "artifact_path", "checksum",
                                                                    "partner_id")
    scopes = {}
    for pk, version, path, checksum, partner_id in rows:
        key = (pk, checksum)  # a re-registered path changes both
        scopes[partner_id] = key
        if key not in _cache["models"]:
            try:
                model = load_model_version(ModelVersion(id=pk, version=version, artifact_path=path, checksum=checksum))
            except ArtifactError as exc:  # refused for this scope only: other partners still decide
                _cache["models"][key] = exc
                continue
            _cache["models"][key] = [model, now, artifact_fingerprint(model.path, model.manifest)]
    _cache["models"] = {k: v for k, v in _cache["models"].items() if k in scopes.values()}
    _cache["scopes"] = scopes


def active_model(partner_id: int | None = None) -> LoadedModel | None:
    """The model deciding `partner_id`'s applications: its own active version, else the platform's
    (None when neither is active). Raises ArtifactError when that version's artifact is missing or
    modified: deciding without the recorded model is not an option."""
    return active_model_and_id(partner_id)[0]


def active_model_and_id(partner_id: int | None = None) -> tuple[LoadedModel | None, int | None]:
    """active_model() and the primary key of its ModelVersion row (what a decision cites), from the
    same cached reading."""
    now = time.monotonic()
    with _lock:
        stale = now - _cache["checked"] >= _check_interval()
        if stale:
            _refresh(now)
        key = _cache["scopes"].get(partner_id) if partner_id is not None else None
        key = key or _cache["scopes"].get(None)
        if stale:
            _cache["checked"] = now
        if key is None:
            return None, None
        if stale:
            _reverify_cached(key, now)
        entry = _cache["models"][key]
        if isinstance(entry, ArtifactError):
            _cache["models"].pop(key)  # the next call tries the artifact again
            _cache["checked"] = float("-inf")
            raise entry
        return entry[0], key[0]


def cached_model_ids() -> list[int]:
    """The ModelVersion ids whose models this process holds in memory (for the worker's preload check)."""
    with _lock:
        return sorted(k[0] for k, v in _cache["models"].items() if not isinstance(v, ArtifactError))
