"""Training, calibration, the model artifact and the registry (docs/adr/0003-model-artifacts-and-registry.md).

* `dataset.build_training_set`: one row per finished loan, features as of its origination day, by
  the same feature code the live decision runs (Django side: reads the loan book and rollups).
* `train.train_model`: out-of-time split, LightGBM with monotone constraints, calibration (pure).
* `metrics`: AUC, Gini, KS, Brier, calibration by decile, default rate by score band (pure).
* `artifact`: the versioned, checksummed artifact directory and `load_artifact`; it has `report`
  draw the training report into the directory (the report never imports the artifact).
* `storage`: synced writes and file hashes; `libraries`: the library versions both record.
* `registry`: `ModelVersion` rows, activation, and the per-process `active_model()` cache.
"""

import os

# OpenMP threads (LightGBM's) spin while they wait for work unless told otherwise. On a 2-core host
# shared with the web process, workers and PostgreSQL, a spinning thread that has lost its core stalls
# every parallel step: measured here, 20 trees on 100k x 92 took 20-27 s with one other busy process
# against 0.4 s with PASSIVE. libgomp reads this once, when it loads (the first `import lightgbm`), so
# it is set on import of this package; deployments should also set it in the process environment.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
