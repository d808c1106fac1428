"""The training report: one static HTML page and its PNG charts inside the artifact directory.

Static files (no JavaScript, no external assets) so the report opens from the model store, from the
admin's link or from a copy of the folder, and its checksum means something.

Three charts are drawn with matplotlib's object API (`write_charts`); the SHAP beeswarm summary and
the dependence plots of the top features are drawn by the shap library itself (`write_shap_charts`),
from the TreeSHAP values training computed on its fixed validation sample (nothing is recomputed).
"""

from __future__ import annotations

import io
import textwrap
import threading
import warnings
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from html import escape
from pathlib import Path

import numpy as np

from underwriting.modeling.libraries import library_versions
from underwriting.modeling.storage import write_synced
from underwriting.modeling.train import TrainedModel

REPORT = "report.html"
CHARTS = ("calibration.png", "importance.png", "score_bands.png")
# Drawn by shap (write_shap_charts): the beeswarm summary and the dependence plots of the top features
# by mean |SHAP|, numbered by rank (a model with fewer features has fewer).
SHAP_BEESWARM = "shap_beeswarm.png"
SHAP_DEPENDENCE = "shap_dependence_{rank}.png"
SHAP_DEPENDENCE_PLOTS = 4
SHAP_CHARTS = (SHAP_BEESWARM, *(SHAP_DEPENDENCE.format(rank=r) for r in range(1, SHAP_DEPENDENCE_PLOTS + 1)))

TOP_FEATURES = 20
SLICES = ("train", "calibration", "validation")


def _save(fig, path: Path) -> None:
    buf = io.BytesIO()
    # No timestamp or software stamp in the PNG, so the same model draws the same bytes.
    fig.savefig(buf, format="png", dpi=110, bbox_inches="tight", metadata={"Software": None})
    write_synced(path, buf.getvalue())


def _label(text: str, limit: int = 80) -> str:
    return text if len(text) <= limit else text[: limit - 1].rstrip() + "\u2026"


def write_charts(model: TrainedModel, directory: Path) -> None:
    """The three matplotlib charts (CHARTS), drawn with the object API (no pyplot state)."""
    calibration, importance, score_bands = (directory / name for name in CHARTS)
    _draw_calibration(model, calibration)
    _draw_importance(model, importance)
    _draw_score_bands(model, score_bands)


def _draw_calibration(model: TrainedModel, path: Path) -> None:
    """Calibration by decile: predicted vs observed, validation and calibration slices."""
    from matplotlib.figure import Figure

    val = model.metrics["validation"]
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
    _save(fig, path)


def _draw_importance(model: TrainedModel, path: Path) -> None:
    """Global importance: mean |SHAP| on a validation sample, readable names."""
    from matplotlib.figure import Figure
    from matplotlib.patches import Patch

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
    _save(fig, path)


def _draw_score_bands(model: TrainedModel, path: Path) -> None:
    """Default rate by score band, with the mean predicted PD."""
    from matplotlib.figure import Figure

    bands = model.metrics["validation"]["score_bands"]
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
    _save(fig, path)


# ---- SHAP's own plots ----------------------------------------------------------------------------------

# shap's plotting functions draw through pyplot (its current figure, `plt.colorbar`, `plt.sca`), whose
# state is global to the process, and jitter and shuffle their dots with numpy's global random
# generator. One lock serialises that part in a threaded worker; Celery's prefork workers are
# separate processes, each with its own pyplot.
_PYPLOT_LOCK = threading.Lock()
# The seed of numpy's global generator while shap draws: the dot order and jitter of every plot are
# fixed, so the same model draws the same bytes.
SHAP_PLOT_SEED = 0


@dataclass(frozen=True)
class ShapChart:
    """A PNG drawn by shap, with what the report says about it."""

    file: str
    title: str
    alt: str
    how_to_read: str  # plain language, for a risk analyst (HTML-escaped by the report)


@contextmanager
def _shap_drawing() -> Iterator[None]:
    """Hold the pyplot lock, and give numpy's global generator back in the state it was found (each
    figure seeds it), so code around the report never sees shap's draws."""
    with _PYPLOT_LOCK:
        state = np.random.get_state()
        try:
            yield
        finally:
            np.random.set_state(state)


@contextmanager
def _pyplot_figure(plt, figsize) -> Iterator:
    np.random.seed(SHAP_PLOT_SEED)  # each plot from the same state, whatever was drawn before it
    fig = plt.figure(figsize=figsize)
    try:
        yield fig
    finally:
        plt.close(fig)


def _shap_name(spec) -> str:
    """A feature's plain description, on at most two lines, for shap's axis and colour-bar labels."""
    lines = textwrap.wrap(_description(spec), 46)
    if len(lines) > 2:
        lines = [lines[0], _label(" ".join(lines[1:]), 46)]
    return "\n".join(lines)


def _description(spec) -> str:
    return getattr(spec, "description", "") or spec.name


def _interaction(j: int, candidates: list[int], values: np.ndarray, data: np.ndarray) -> int | None:
    """The feature among `candidates` that shap's dependence plot would colour feature j by, as
    `shap.plots.scatter(explanation[:, j], color=explanation[:, candidates])` picks it
    (`shap.utils.approximate_interactions`), or None when none of them shows any interaction.

    The candidates are the summary's top features: scoring all of them costs ~0.5 s a plot on a
    2,000-loan sample with ~100 features, and an interaction with a feature that hardly moves the
    score would tell the reader little."""
    from shap.utils import approximate_interactions

    cols = [j, *(k for k in candidates if k != j)]
    if len(cols) < 2:
        return None
    order = [cols[int(i)] for i in approximate_interactions(0, values[:, cols], data[:, cols])]
    k = next(k for k in order if k != j)
    # Beside feature j alone, a pick that scored zero does not come first: shap's scatter would then
    # colour j by itself. Say "no interaction" instead.
    if int(approximate_interactions(0, values[:, [j, k]], data[:, [j, k]])[0]) != 1:
        return None
    return k


def _pyplot_and_shap():
    """pyplot on the Agg backend, and shap. Called with the pyplot lock held: switching a backend closes
    every pyplot figure, another thread's included, and the warning filters are global too."""
    import matplotlib

    matplotlib.use("Agg")  # no display; a worker or a web process has none
    import matplotlib.pyplot as plt

    with warnings.catch_warnings():  # shap's import sets colormap extremes the way matplotlib deprecates
        warnings.simplefilter("ignore", PendingDeprecationWarning)
        import shap
    return plt, shap


def write_shap_charts(model: TrainedModel, directory: Path) -> list[ShapChart]:
    """shap's beeswarm summary and dependence plots (top SHAP_DEPENDENCE_PLOTS features by mean |SHAP|)
    of the validation sample whose SHAP values training computed; [] for a model without that sample."""
    if model.shap_values is None or model.shap_data is None or not len(model.shap_values):
        return []
    values = np.asarray(model.shap_values[:, :-1], dtype=np.float64)
    data = np.asarray(model.shap_data, dtype=np.float64)
    index = {name: k for k, name in enumerate(model.feature_names)}
    ranked = [index[i["feature"]] for i in model.importance]  # mean |SHAP|, largest first
    with _shap_drawing():
        plt, shap = _pyplot_and_shap()
        explanation = shap.Explanation(values=values, base_values=np.asarray(model.shap_values[:, -1]), data=data,
                                       feature_names=[_shap_name(s) for s in model.specs])
        charts = [_draw_beeswarm(plt, shap, explanation, ranked, directory)]
        for rank, j in enumerate(ranked[:SHAP_DEPENDENCE_PLOTS], start=1):
            k = _interaction(j, ranked[:TOP_FEATURES], values, data)
            _draw_dependence(plt, shap, explanation, j, k, directory / SHAP_DEPENDENCE.format(rank=rank),
                             title=f"SHAP dependence: feature {rank} of {values.shape[1]} by mean |SHAP|")
            charts.append(_dependence_chart(model, data, rank, j, k))
    return charts


def _draw_beeswarm(plt, shap, explanation, ranked: list[int], directory: Path) -> ShapChart:
    n, n_features = explanation.values.shape
    rows = min(TOP_FEATURES, n_features)
    with _pyplot_figure(plt, (9, 0.45 * rows + 1.6)) as fig:
        ax = fig.add_subplot()
        # The same rows, in the same order, as the importance chart and table. No "sum of the other
        # features" row: shap would colour it by one feature's values, which reads as a claim it is not.
        shap.plots.beeswarm(explanation, max_display=rows, order=np.asarray(ranked), ax=ax, plot_size=None,
                            show=False, s=10, group_remaining_features=False)
        ax.tick_params(axis="y", labelsize=9)
        ax.set_xlabel("SHAP value: effect on the loan's log-odds of default (right = riskier)", fontsize=11)
        ax.set_title(f"SHAP summary: the top {rows} of {n_features} features by mean |SHAP|, "
                     f"{n:,} validation loans", fontsize=11)
        _save(fig, directory / SHAP_BEESWARM)
    return ShapChart(
        file=SHAP_BEESWARM, title="SHAP summary (beeswarm)",
        alt=f"SHAP beeswarm summary of the top {rows} features",
        how_to_read=(
            f"Each row is a feature, the most influential at the top; each dot is one of {n:,} validation "
            "loans, placed to the right when that feature raised the loan's predicted risk and to the left "
            "when it lowered it, and coloured by the loan's own value of the feature (red high, blue low, "
            "grey missing). Red dots on the right mean high values go with more risk; a wide row means the "
            "feature moves some loans' risk a lot."))


def _draw_dependence(plt, shap, explanation, j: int, k: int | None, path: Path, *, title: str) -> None:
    """Feature j's dependence plot, coloured by feature k (plain blue when k is None)."""
    with _pyplot_figure(plt, (7.5, 5) if k is not None else (6, 5)) as fig:
        ax = fig.add_subplot()
        shap.plots.scatter(explanation[:, j], color=explanation[:, k] if k is not None else "#1E88E5",
                           ax=ax, show=False, title=title)
        ax.title.set_fontsize(11)
        for each in fig.axes:  # shap's 13 pt labels crowd two-line descriptions
            each.xaxis.label.set_fontsize(11)
            each.yaxis.label.set_fontsize(11)
        _save(fig, path)


def _dependence_chart(model: TrainedModel, data: np.ndarray, rank: int, j: int, k: int | None) -> ShapChart:
    """What the report says about feature j's dependence plot."""
    feature = _description(model.specs[j])
    missing = (" The ticks on the left edge are loans where it is missing."
               if np.isnan(data[:, j]).any() else "")
    colour = (f" The colour is the loan's value of \u201c{_description(model.specs[k])}\u201d (red high, "
              "blue low), the top feature that shap finds interacting most with it: where red and blue "
              "dots at the same place across sit at different heights, the two features act together."
              if k is not None else " No top feature shows an interaction with it, so the dots are "
              "plain blue.")
    return ShapChart(
        file=SHAP_DEPENDENCE.format(rank=rank), title=f"{rank}. {feature} ({model.feature_names[j]})",
        alt=f"SHAP dependence plot of {feature}",
        how_to_read=(
            f"Each dot is one validation loan: across, its value of \u201c{feature}\u201d; up, how much "
            "that value moved the loan's predicted risk (SHAP value in log-odds: above 0 riskier, below 0 "
            "safer). The shape of the cloud is the model's response to this feature, and the grey bars "
            "at the bottom show how many loans have each value." + missing + colour))


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


def _shap_section(charts: Sequence[ShapChart], sample: int) -> str:
    if not charts:
        return ""
    parts = [f"""<h2>SHAP summary and dependence ({sample:,} validation loans)</h2>
<p class="note">Drawn by the shap library from the same TreeSHAP values as the importance above. A SHAP
value is how much one feature moved one loan's raw score (log-odds of default) away from the model's
average; a loan's values add up to its score.</p>"""]
    for chart in charts:
        parts.append(f"""<h3>{escape(chart.title)}</h3>
<p>{escape(chart.how_to_read)}</p>
<img src="{escape(chart.file)}" alt="{escape(chart.alt)}">""")
    return "\n".join(parts)


_HEADLINE = (
    ("loans", "n", "d"), ("defaults", "defaults", "d"), ("default rate", "default_rate", ".2%"),
    ("mean predicted PD", "mean_pd", ".2%"), ("AUC", "auc", ".4f"), ("Gini", "gini", ".4f"), ("KS", "ks", ".4f"),
    ("Brier", "brier", ".4f"), ("calibration error (mean over deciles)", "calibration_error", ".4f"),
    ("oracle AUC (simulator's true PD)", "oracle_auc", ".4f"), ("AUC / oracle AUC", "auc_to_oracle", ".4f"),
)
_STYLE = """<style>
body { font-family: system-ui, sans-serif; margin: 2rem; max-width: 70rem; color: #222; }
table { border-collapse: collapse; margin: 0.5rem 0 1.5rem; font-size: 0.9rem; }
th, td { border: 1px solid #ccc; padding: 0.25rem 0.6rem; text-align: right; }
th { background: #f3f3f3; } td:first-child, th:first-child { text-align: left; }
img { max-width: 100%; border: 1px solid #eee; margin: 0.5rem 0; }
.note { color: #555; font-size: 0.9rem; }
</style>"""


def _headline_table(metrics: dict) -> str:
    rows = [[escape(label)] + [_fmt(metrics[s].get(key), spec) for s in SLICES] for label, key, spec in _HEADLINE]
    return _table(["", *SLICES], rows)


def _window_table(window: dict) -> str:
    rows = [[name, _fmt(window[name]["rows"]), window[name]["first"] or "&ndash;", window[name]["last"] or "&ndash;"]
            for name in ("train", "fit", "early_stop", "calibration", "validation", "unused")]
    return _table(["slice", "loans", "first origination", "last origination"], rows)


def _decile_table(validation: dict) -> str:
    rows = [[str(d["decile"]), _fmt(d["n"]), _fmt(d["mean_pd"], ".2%"), _fmt(d["observed"], ".2%"),
             _fmt(d["observed"] - d["mean_pd"], "+.2%")] for d in validation["deciles"]]
    return _table(["decile", "loans", "mean predicted PD", "observed default rate", "observed - predicted"], rows)


def _band_table(validation: dict) -> str:
    rows = [[b["band"], f"{b['min_score'] if b['min_score'] is not None else ''}"
             f"&ndash;{b['max_score'] if b['max_score'] is not None else ''}", _fmt(b["n"]),
             _fmt(b["defaults"]), _fmt(b["default_rate"], ".2%"), _fmt(b["mean_pd"], ".2%")]
            for b in validation["score_bands"]]
    return _table(["band", "scores", "loans", "defaults", "default rate", "mean predicted PD"], rows)


def _importance_table(importance: list[dict]) -> str:
    rows = [[str(k + 1), escape(i["feature"]), escape(i["family"]), escape(i["description"]),
             _fmt(i["mean_abs_shap"])] for k, i in enumerate(importance[:TOP_FEATURES])]
    return _table(["rank", "feature", "family", "description", "mean |SHAP|"], rows)


_CHOICE = {
    "trees": "the trees alone: the scorecard did not help out of fold",
    "scorecard": "the scorecard alone: the trees did not help out of fold",
    "blend": "both, in equal parts of each margin's spread: together they did as well out of fold as either "
             "alone or better, and two differently wrong models average out",
}


def _blend_section(model: TrainedModel) -> str:
    """Which of the trees and the scorecard challenger decide, and why (modeling/blend.py, ADR 0014)."""
    blend = model.blend
    losses = blend.logloss
    rows = [[escape(name), _fmt(losses.get(name), ".5f")] for name in ("trees", "scorecard", "blend") if name in losses]
    card = model.scorecard
    on_card = f"; the scorecard weighs {card.used} features" if card is not None else ""
    return (f"<p>Decides: {escape(_CHOICE.get(blend.chosen, blend.chosen))}{on_card}. Weights: trees "
            f"{blend.trees:.4g}, scorecard {blend.scorecard:.4g}.</p>"
            + (_table(["candidate", "out-of-fold log loss (calibrated)"], rows) if rows else ""))


def _params_table(params: dict) -> str:
    rows = [[escape(k), escape(str(v))] for k, v in sorted(params.items()) if k != "monotone_constraints"]
    return _table(["LightGBM parameter", "value"], rows)


def _calibration_summary(calibration: dict) -> str:
    return str(calibration if calibration["method"] == "platt" else "isotonic, " + str(len(calibration["x"])) + " steps")


def write_report(model: TrainedModel, directory: Path, *, version: str, created_at: datetime,
                 shap_charts: Sequence[ShapChart] = ()) -> None:
    """report.html: the model's figures, split, charts and parameters on one static page."""
    m = model.metrics
    w = model.training_window
    excluded = model.row_counts.get("excluded", {})
    page = f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Model {escape(version)}</title>
{_STYLE}</head><body>
<h1>Model {escape(version)}</h1>
<p>Trained {escape(created_at.strftime("%Y-%m-%d %H:%M UTC"))} on the finished loans of
{escape(model.partner or "every partner")} (data up to {escape(str(model.data_end))}); seed {model.seed};
{model.booster.num_trees()} trees; calibration: {escape(model.calibration["method"])}.</p>
<p class="note">Settings chosen by time-ordered cross-validation ({w["folds"]} blocks of
{escape(w["rule"])} loans by origination date): each fold model learnt from the blocks before the one it
was scored on. "Calibration" is every out-of-fold loan (from {escape(w["calibration_start"])}; Platt
scaling is fitted on them), "validation" the last block (from {escape(w["validation_start"])}, out of time);
the final model then learnt from every one of them ("train", in sample). The most recent finished loans,
whose outcome window (term + 90 days) is still open, are a censored sample and are left out ("unused"). Not training rows: {escape(str(excluded))}.</p>
<h2>Trees or scorecard</h2>
{_blend_section(model)}
<h2>Headline figures</h2>
{_headline_table(m)}
<h2>Training window</h2>
{_window_table(w)}
<h2>Calibration by decile (validation)</h2>
<img src="calibration.png" alt="calibration by decile">
{_decile_table(m["validation"])}
<h2>Default rate by score band (validation)</h2>
<img src="score_bands.png" alt="default rate by score band">
{_band_table(m["validation"])}
<h2>Global SHAP importance</h2>
<img src="importance.png" alt="global SHAP importance">
{_importance_table(model.importance)}
{_shap_section(shap_charts, m["shap"]["sample"])}
<h2>Parameters</h2>
<p>Calibration: <code>{escape(_calibration_summary(model.calibration))}</code></p>
{_params_table(model.params)}
<p class="note">Libraries: {escape(", ".join(f"{k} {v}" for k, v in library_versions().items()))}.</p>
</body></html>
"""
    write_synced(directory / REPORT, page.encode("utf-8"))
