"""The model artifact: a versioned, checksummed directory in the model store (docs/adr/0003).

    <MODEL_STORE>/<version>/
        model.txt            LightGBM model string (the booster, nothing else)
        manifest.json        version, ordered features (family, monotone sign), calibration, training
                             window, row counts, metrics, seed, LightGBM params, library versions,
                             and the SHA-256 of every other file
        report.html          the training report, with the PNG charts beside it
        calibration.png, importance.png, score_bands.png
        shap_beeswarm.png, shap_dependence_1.png .. shap_dependence_4.png   (drawn by shap)

The artifact's checksum is the SHA-256 of manifest.json: since the manifest holds every other file's
hash, that one value pins the whole directory. The registry stores it; `load_artifact` recomputes
every hash and refuses a directory that does not match. Nothing is pickled: the model is LightGBM's
own text format and the calibration is plain numbers, so loading an artifact never runs code from it.

Writes are atomic: everything goes to a hidden temporary directory in the store, each file and the
directory are fsynced, and one rename publishes it. A crash leaves either no version or a complete
one (plus, at worst, a `.tmp-*` directory that no reader ever opens).

`write_artifact` has the report drawn and written into that directory (report.py, which owns the
names of its files and never imports this module).
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import shutil
import uuid
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

import numpy as np

from config import clock
from underwriting.features import PeerBenchmarks
from underwriting.modeling import report
from underwriting.modeling.blend import Blend, blended_contributions, blended_margin
from underwriting.modeling.libraries import library_versions
from underwriting.modeling.reference import typical_values
from underwriting.modeling.scorecard import Scorecard
from underwriting.modeling.storage import fsync_dir, sha256_file, write_synced
from underwriting.modeling.train import TrainedModel, apply_calibration

FORMAT = 1
MANIFEST = "manifest.json"
MODEL_FILE = "model.txt"
TMP_PREFIX = ".tmp-"


class ArtifactError(Exception):
    """The artifact is missing, incomplete or does not match its checksums: it must not be used."""


@dataclass(frozen=True)
class ModelFeature:
    """A feature as the model was trained on it (the same attributes as features.FeatureSpec)."""

    name: str
    description: str
    family: str
    monotone: int  # the sign the catalog declared
    constraint: int  # the sign LightGBM enforced (anomaly features are left free)


# ---- writing ------------------------------------------------------------------------------------------


def _json_ready(value):
    """NaN/inf become null (JSON has no NaN); numpy scalars become Python numbers."""
    if isinstance(value, dict):
        return {str(k): _json_ready(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_json_ready(v) for v in value]
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def next_version(store: Path, today: datetime | None = None) -> str:
    """m-YYYYMMDD-NNNN: the next free sequence number of the UTC day in this store."""
    day = (today or clock.now()).strftime("%Y%m%d")
    prefix = f"m-{day}-"
    taken = [int(p.name[len(prefix):]) for p in store.glob(prefix + "*") if p.name[len(prefix):].isdigit()]
    return f"{prefix}{max(taken, default=0) + 1:04d}"


def build_manifest(model: TrainedModel, *, version: str, created_at: datetime, files: dict) -> dict:
    features = [
        {"name": s.name, "description": getattr(s, "description", ""), "family": s.family,
         "monotone": int(s.monotone), "constraint": int(c)}
        for s, c in zip(model.specs, model.monotone, strict=True)
    ]
    return _json_ready({
        "format": FORMAT,
        "version": version,
        "created_at": created_at.isoformat().replace("+00:00", "Z"),
        "partner": model.partner,
        "seed": model.seed,
        "features": features,
        "calibration": model.calibration,
        "blend": model.blend.to_dict(),
        "scorecard": model.scorecard.to_dict() if model.scorecard is not None else None,
        "peers": model.peers,
        "lightgbm_params": model.params,
        "training_window": {**model.training_window,
                            "data_end": model.data_end.isoformat() if model.data_end else None},
        "row_counts": model.row_counts,
        "metrics": model.metrics,
        "importance": model.importance,
        "reference": model.reference,
        "training_seconds": round(model.training_seconds, 3),
        "libraries": library_versions(),
        "files": files,
    })


def _model_store(store: Path | str | None) -> Path:
    if store is None:
        from django.conf import settings

        store = settings.MODEL_STORE
    return Path(store)


def _write_manifest(model: TrainedModel, directory: Path, *, version: str, created_at: datetime,
                    names: tuple[str, ...]) -> None:
    """The manifest, with the hash and size of each named file of `directory`."""
    files = {}
    for name in names:
        path = directory / name
        files[name] = {"sha256": sha256_file(path), "bytes": path.stat().st_size}
    manifest = build_manifest(model, version=version, created_at=created_at, files=files)
    write_synced(directory / MANIFEST, json.dumps(manifest, indent=2, sort_keys=True, allow_nan=False).encode("utf-8"))


def _publish(tmp: Path, store: Path, label: str, *, label_given: bool) -> Path | None:
    """Renames the complete temporary directory to its version label; None when a concurrent writer
    took an automatic label first (the rename fails: the target is a non-empty directory)."""
    fsync_dir(tmp)
    target = store / label
    try:
        os.rename(tmp, target)
    except OSError:
        if label_given or not target.exists():
            raise
        return None
    fsync_dir(store)
    return target


def write_artifact(model: TrainedModel, *, store: Path | str | None = None, version: str | None = None) -> Path:
    """Writes the artifact and its report into the store; returns the published directory."""
    store = _model_store(store)
    store.mkdir(parents=True, exist_ok=True)
    tmp = store / f"{TMP_PREFIX}{uuid.uuid4().hex}"
    tmp.mkdir()
    try:
        created_at = clock.now()
        write_synced(tmp / MODEL_FILE, model.model_string.encode("utf-8"))
        report.write_charts(model, tmp)
        shap_charts = report.write_shap_charts(model, tmp)
        names = (MODEL_FILE, report.REPORT, *report.CHARTS, *(c.file for c in shap_charts))
        # The report and the manifest name the version, so both are rewritten when a label is lost.
        for _attempt in range(100):
            label = version or next_version(store)
            report.write_report(model, tmp, version=label, created_at=created_at, shap_charts=shap_charts)
            _write_manifest(model, tmp, version=label, created_at=created_at, names=names)
            target = _publish(tmp, store, label, label_given=version is not None)
            if target is not None:
                return target
        raise ArtifactError(f"no free version label in {store}")
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise


# ---- loading ------------------------------------------------------------------------------------------


class LoadedModel:
    """A verified artifact, ready to score. Pass numpy arrays (n, F) or (F,) in `feature_names` order;
    a one-row DataFrame costs ~19x more per call on the decision path."""

    def __init__(self, *, path: Path, manifest: dict, checksum: str, booster):
        self.path = path
        self.manifest = manifest
        self.checksum = checksum
        self.version: str = manifest["version"]
        self.specs: tuple[ModelFeature, ...] = tuple(
            ModelFeature(f["name"], f.get("description", ""), f["family"], int(f["monotone"]),
                         int(f.get("constraint", f["monotone"])))
            for f in manifest["features"])
        self.feature_names: list[str] = [f.name for f in self.specs]
        self.calibration: dict = manifest["calibration"]

        # The sector norms the model was trained with: live rows must be compared with the same ones.
        self.peers: PeerBenchmarks | None = (
            PeerBenchmarks.from_dict(manifest["peers"]) if manifest.get("peers") else None)
        self.booster = booster
        self.n_features = len(self.specs)
        # The scorecard challenger and the blend weights (ADR 0014); an artifact without them is trees alone.
        self.blend = Blend.from_dict(manifest.get("blend"))
        self.scorecard = Scorecard.from_dict(manifest["scorecard"]) if manifest.get("scorecard") else None

        # Each feature's median on the training rows (NaN where unknown), in feature order: the typical
        # value a decision's reasons compare the applicant's own number with.
        self.typical: np.ndarray = typical_values(manifest.get("reference"), self.feature_names)

    def __repr__(self) -> str:
        return f"<LoadedModel {self.version} ({self.n_features} features)>"

    def _matrix(self, X) -> np.ndarray:
        X = np.asarray(X, dtype=np.float64)
        if X.ndim == 1:
            X = X.reshape(1, -1)
        if X.ndim != 2 or X.shape[1] != self.n_features:
            raise ValueError(f"model {self.version} takes {self.n_features} features per row, got shape {X.shape}")
        return X

    def raw_margin(self, X) -> np.ndarray:
        """The log-odds before calibration (what SHAP values add up to): the booster's, blended with the
        scorecard's where training chose to."""
        return blended_margin(self.booster, self.scorecard, self.blend, self._matrix(X))

    def pd(self, X) -> np.ndarray:
        """Calibrated probability of default."""
        return apply_calibration(self.calibration, self.raw_margin(X))

    def pd_from_margin(self, margin) -> np.ndarray:
        return apply_calibration(self.calibration, margin)

    def contributions(self, X) -> np.ndarray:
        """SHAP values on the raw margin, (n, F + 1): the last column is the base value (TreeSHAP, plus
        the scorecard's exact values when blended)."""
        return blended_contributions(self.booster, self.scorecard, self.blend, self._matrix(X))


def verify_artifact(path: Path | str, *, expected_checksum: str | None = None) -> tuple[dict, str]:
    """Checks every file of the artifact against the manifest (and the manifest against
    `expected_checksum`, the registry's record, when given); returns (manifest, checksum). Raises
    ArtifactError otherwise. Reads and hashes the files but builds no model: a process that already
    holds the model calls it again to prove the files it was loaded from are still the registered ones."""
    path = Path(path)
    manifest_path = path / MANIFEST
    if not manifest_path.is_file():
        raise ArtifactError(f"{path} is not a model artifact (no {MANIFEST})")
    raw = manifest_path.read_bytes()
    checksum = hashlib.sha256(raw).hexdigest()
    if expected_checksum is not None and checksum != expected_checksum:
        raise ArtifactError(f"{manifest_path} has checksum {checksum}, the registry recorded {expected_checksum}: "
                            "the artifact was modified after registration")
    try:
        manifest = json.loads(raw)
    except ValueError as exc:
        raise ArtifactError(f"{manifest_path} is not valid JSON: {exc}") from exc
    if manifest.get("format") != FORMAT:
        raise ArtifactError(f"{manifest_path}: unsupported artifact format {manifest.get('format')!r}")
    files = manifest.get("files") or {}
    if MODEL_FILE not in files:
        raise ArtifactError(f"{manifest_path} does not list {MODEL_FILE}")
    for name, meta in sorted(files.items()):
        file_path = path / name
        if Path(name).name != name or not file_path.is_file():
            raise ArtifactError(f"{path}: {name} is missing")
        actual = sha256_file(file_path)
        if actual != meta["sha256"]:
            raise ArtifactError(f"{file_path} does not match its checksum (SHA-256 {actual}, manifest says "
                                f"{meta['sha256']}): the artifact was modified; refusing to load it")
    return manifest, checksum


def artifact_fingerprint(path: Path | str, manifest: dict) -> tuple:
    """Size, modification time and inode of the manifest and every file it lists: a change to any file
    changes this (a cheap stat per file), so a process can re-verify at once instead of at its next
    scheduled check. A missing file gives None in its place."""
    path = Path(path)
    marks = []
    for name in (MANIFEST, *sorted(manifest.get("files") or {})):
        try:
            st = (path / name).stat()
        except OSError:
            marks.append(None)
        else:
            marks.append((st.st_size, st.st_mtime_ns, st.st_ino))
    return tuple(marks)


def load_artifact(path: Path | str, *, expected_checksum: str | None = None) -> LoadedModel:
    """Loads an artifact after `verify_artifact`. Raises ArtifactError when it does not verify."""
    import lightgbm as lgb

    path = Path(path)
    manifest, checksum = verify_artifact(path, expected_checksum=expected_checksum)
    text = (path / MODEL_FILE).read_text(encoding="utf-8")
    try:
        booster = lgb.Booster(model_str=text)
    except lgb.basic.LightGBMError as exc:
        raise ArtifactError(f"{path / MODEL_FILE} is not a LightGBM model: {exc}") from exc
    if booster.num_feature() != len(manifest["features"]):
        raise ArtifactError(f"{path}: the model takes {booster.num_feature()} features, the manifest lists "
                            f"{len(manifest['features'])}")
    return LoadedModel(path=path, manifest=manifest, checksum=checksum, booster=booster)
