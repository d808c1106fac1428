"""The training report: one static HTML page and three PNG charts inside the artifact directory.

Static files (no JavaScript, no external assets) so the report opens from the model store, from the
admin's link or from a copy of the folder, and its checksum means something.
"""

from __future__ import annotations

import io
from datetime import datetime
from html import escape
from pathlib import Path

import numpy as np

from .train import TrainedModel

TOP_FEATURES = 20
SLICES = ("train", "calibration", "validation")


def _save(fig, path: Path) -> None:
    from .artifact import _write

    buf = io.BytesIO()
    # No timestamp or software stamp in the PNG, so the same model draws the same bytes.
    fig.savefig(buf, format="png", dpi=110, bbox_inches="tight", metadata={"Software": None})
    _write(path, buf.getvalue())


def _label(text: str, limit: int = 80) -> str:
    return text if len(text) <= limit else text[: limit - 1].rstrip() + "\u2026"


def write_charts(model: TrainedModel, directory: Path) -> None:
    from matplotlib.figure import Figure
    from matplotlib.patches import Patch

    val = model.metrics["validation"]

    # Calibration by decile: predicted vs observed, validation and calibration slices.
    fig = Figure(figsize=(5.5, 5))
    ax = fig.subplots()
    top = 0.0
    for name, marker in (("calibration", "s"), ("validation", "o")):
        deciles = model.metrics[name]["deciles"]
        xs = [100 * d["mean_pd"] for d in deciles]
        ys = [100 * d["observed"] for d in deciles]
        top = max(top, *xs, *ys)
        ax.plot(xs, ys, marker=marker, label=f"{name} ({model.metrics[name]['n']:,} loans)")
    ax.plot([0, top * 1.05], [0, top * 1.05], color="grey", linestyle="--", linewidth=1, label="perfect calibration")
    ax.set_xlabel("mean predicted PD in the decile (%)")
    ax.set_ylabel("observed default rate (%)")
    ax.set_title(f"Calibration by decile (validation error {100 * val['calibration_error']:.2f} pts)")
    ax.legend(loc="upper left", fontsize=8)
    ax.grid(alpha=0.3)
    _save(fig, directory / "calibration.png")

    # Global importance: mean |SHAP| on a validation sample, readable names.
    imp = model.importance[:TOP_FEATURES][::-1]
    fig = Figure(figsize=(9, 0.32 * len(imp) + 1.2))
    ax = fig.subplots()
    families = sorted({i["family"] for i in imp})
    colours = {f: f"C{k % 10}" for k, f in enumerate(families)}
    ax.barh([_label(i["description"] or i["feature"]) for i in imp], [i["mean_abs_shap"] for i in imp],
            color=[colours[i["family"]] for i in imp])
    ax.legend(handles=[Patch(color=c, label=f) for f, c in colours.items()], title="family", fontsize=7,
              title_fontsize=8, loc="lower right")
    ax.set_xlabel("mean |SHAP value| on the raw margin (log-odds)")
    ax.set_title(f"What drives the model: top {len(imp)} features ({model.metrics['shap']['sample']:,} "
                 "validation loans)")
    ax.tick_params(axis="y", labelsize=8)
    _save(fig, directory / "importance.png")

    # Default rate by score band, with the mean predicted PD.
    bands = val["score_bands"]
    fig = Figure(figsize=(6, 4))
    ax = fig.subplots()
    labels = [b["band"] for b in bands]
    observed = [100 * (b["default_rate"] or 0) for b in bands]
    predicted = [100 * (b["mean_pd"] or 0) for b in bands]
    x = np.arange(len(bands))
    ax.bar(x - 0.2, observed, width=0.4, label="observed default rate")
    ax.bar(x + 0.2, predicted, width=0.4, label="mean predicted PD")
    for i, b in enumerate(bands):
        ax.annotate(f"{b['n']:,}", (x[i], max(observed[i], predicted[i])), ha="center", va="bottom", fontsize=8)
    ax.set_xticks(x, labels)
    ax.set_ylabel("%")
    ax.set_title("Validation loans by score band (numbers: loans)")
    ax.legend(fontsize=8)
    ax.grid(axis="y", alpha=0.3)
    _save(fig, directory / "score_bands.png")


def _fmt(value, spec: str = ".4f") -> str:
    if value is None or (isinstance(value, float) and not np.isfinite(value)):
        return "&ndash;"
    if isinstance(value, int):
        return f"{value:,}"
    return format(value, spec)


def _table(header: list[str], rows: list[list[str]]) -> str:
    head = "".join(f"<th>{escape(h)}</th>" for h in header)
    body = "".join("<tr>" + "".join(f"<td>{c}</td>" for c in r) + "</tr>" for r in rows)
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def write_report(model: TrainedModel, directory: Path, *, version: str, created_at: datetime) -> None:
    from .artifact import REPORT, _write, library_versions

    m = model.metrics
    headline = [
        ("loans", "n", "d"), ("defaults", "defaults", "d"), ("default rate", "default_rate", ".2%"),
        ("mean predicted PD", "mean_pd", ".2%"), ("AUC", "auc", ".4f"), ("Gini", "gini", ".4f"), ("KS", "ks", ".4f"),
        ("Brier", "brier", ".4f"), ("calibration error (mean over deciles)", "calibration_error", ".4f"),
        ("oracle AUC (simulator's true PD)", "oracle_auc", ".4f"), ("AUC / oracle AUC", "auc_to_oracle", ".4f"),
    ]
    metric_rows = [[escape(label)] + [_fmt(m[s].get(key), spec) for s in SLICES] for label, key, spec in headline]
    w = model.training_window
    window_rows = [[name, _fmt(w[name]["rows"]), w[name]["first"] or "&ndash;", w[name]["last"] or "&ndash;"]
                   for name in ("train", "fit", "early_stop", "calibration", "validation", "unused")]
    decile_rows = [[str(d["decile"]), _fmt(d["n"]), _fmt(d["mean_pd"], ".2%"), _fmt(d["observed"], ".2%"),
                    _fmt(d["observed"] - d["mean_pd"], "+.2%")] for d in m["validation"]["deciles"]]
    band_rows = [[b["band"], f"{b['min_score'] if b['min_score'] is not None else ''}"
                  f"&ndash;{b['max_score'] if b['max_score'] is not None else ''}", _fmt(b["n"]),
                  _fmt(b["defaults"]), _fmt(b["default_rate"], ".2%"), _fmt(b["mean_pd"], ".2%")]
                 for b in m["validation"]["score_bands"]]
    imp_rows = [[str(k + 1), escape(i["feature"]), escape(i["family"]), escape(i["description"]),
                 _fmt(i["mean_abs_shap"])] for k, i in enumerate(model.importance[:TOP_FEATURES])]
    params_rows = [[escape(k), escape(str(v))] for k, v in sorted(model.params.items()) if k != "monotone_constraints"]
    libs = library_versions()
    excluded = model.row_counts.get("excluded", {})
    page = f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Model {escape(version)}</title>
<style>
body {{ font-family: system-ui, sans-serif; margin: 2rem; max-width: 70rem; color: #222; }}
table {{ border-collapse: collapse; margin: 0.5rem 0 1.5rem; font-size: 0.9rem; }}
th, td {{ border: 1px solid #ccc; padding: 0.25rem 0.6rem; text-align: right; }}
th {{ background: #f3f3f3; }} td:first-child, th:first-child {{ text-align: left; }}
img {{ max-width: 100%; border: 1px solid #eee; margin: 0.5rem 0; }}
.note {{ color: #555; font-size: 0.9rem; }}
</style></head><body>
<h1>Model {escape(version)}</h1>
<p>Trained {escape(created_at.strftime("%Y-%m-%d %H:%M UTC"))} on the finished loans of
{escape(model.partner or "every partner")} (data up to {escape(str(model.data_end))}); seed {model.seed};
{model.booster.num_trees()} trees; calibration: {escape(model.calibration["method"])}.</p>
<p class="note">Out-of-time split by origination date ({escape(w["rule"])} rule): train before
{escape(w["calibration_start"])}, calibration until {escape(w["validation_start"])}, validation from then on.
Calibration and validation use loans whose outcome window (term + 90 days) has closed; the most recent
finished loans ("unused") are a censored sample and are left out. Not training rows: {escape(str(excluded))}.</p>
<h2>Headline figures</h2>
{_table(["", *SLICES], metric_rows)}
<h2>Training window</h2>
{_table(["slice", "loans", "first origination", "last origination"], window_rows)}
<h2>Calibration by decile (validation)</h2>
<img src="calibration.png" alt="calibration by decile">
{_table(["decile", "loans", "mean predicted PD", "observed default rate", "observed - predicted"], decile_rows)}
<h2>Default rate by score band (validation)</h2>
<img src="score_bands.png" alt="default rate by score band">
{_table(["band", "scores", "loans", "defaults", "default rate", "mean predicted PD"], band_rows)}
<h2>Global SHAP importance</h2>
<img src="importance.png" alt="global SHAP importance">
{_table(["rank", "feature", "family", "description", "mean |SHAP|"], imp_rows)}
<h2>Parameters</h2>
<p>Calibration: <code>{escape(str(model.calibration if model.calibration["method"] == "platt" else "isotonic, "
                                  + str(len(model.calibration["x"])) + " steps"))}</code></p>
{_table(["LightGBM parameter", "value"], params_rows)}
<p class="note">Libraries: {escape(", ".join(f"{k} {v}" for k, v in libs.items()))}.</p>
</body></html>
"""
    _write(directory / REPORT, page.encode("utf-8"))
