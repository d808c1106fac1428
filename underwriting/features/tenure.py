"""Time in business and activity: age, history length, active days and gaps in business inflows."""

from __future__ import annotations

import numpy as np

from underwriting.features.arrays import longest_false_run
from underwriting.features.chunk import PANEL_DAYS, Chunk
from underwriting.features.flows import Flows


def tenure_features(chunk: Chunk, flows: Flows, f: dict[str, np.ndarray]) -> None:
    hist, end, ok30 = flows.history_days, PANEL_DAYS, flows.ok30
    f["business_age_days"] = chunk.as_of - chunk.established
    f["days_since_onboarding"] = chunk.as_of - chunk.onboarded
    has_hist = hist > 0
    f["history_days"] = np.where(has_hist, hist, np.nan)
    active = flows.revenue > 0
    active90 = active[:, end - 90:].sum(axis=1).astype(np.float64)
    f["active_days_share_90d"] = np.where(ok30, active90 / chunk.avail(90), np.nan)
    f["longest_gap_365d"] = np.where(
        ok30, longest_false_run(active[:, end - 365:], chunk.avail(365).astype(np.int64)), np.nan)
    any_in = active.any(axis=1)
    last_in = end - 1 - np.argmax(active[:, ::-1], axis=1)
    f["days_since_last_inflow"] = np.where(has_hist, np.where(any_in, (end - last_in).astype(float),
                                                              np.minimum(hist, end)), np.nan)
