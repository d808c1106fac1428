"""Server-rendered charts for the audit console and the risk dashboard.

* `shap_waterfall_svg`: one decision's SHAP contributions as a waterfall (matplotlib, SVG), from the
  model's base value to the decision's raw margin, the largest contributors named in plain language.
* `bar_chart_svg`, `line_chart_svg`: small, dependency-free SVG charts for the dashboard. They are
  strings built in microseconds, so a dashboard with eight charts renders well under its 1 s budget
  (matplotlib costs ~50-100 ms a chart); no JavaScript and no external assets.
"""

from __future__ import annotations

import io
import math
import textwrap
from collections.abc import Sequence
from html import escape

TOP_CONTRIBUTORS = 12
PALETTE = ("#1f6feb", "#d1242f", "#8250df", "#1a7f37", "#bf8700", "#57606a")


# ---- SHAP waterfall -----------------------------------------------------------------------------------


def waterfall_items(*, names: Sequence[str], labels: dict[str, str], shap_values: Sequence[float],
                    values: Sequence[float | None], top: int = TOP_CONTRIBUTORS) -> list[dict]:
    """The `top` largest |contributions|, largest first, then one "other features" item."""
    order = sorted(range(len(shap_values)), key=lambda i: (-abs(shap_values[i]), names[i]))
    items = [{"name": names[i], "label": labels.get(names[i], names[i]), "value": values[i],
              "contribution": float(shap_values[i])} for i in order[:top]]
    rest = list(order[top:])
    if rest:
        items.append({"name": "", "label": f"{len(rest)} other features", "value": None,
                      "contribution": float(sum(shap_values[i] for i in rest))})
    return items


def shap_waterfall_svg(*, base: float, items: list[dict], margin: float, pd: float | None = None) -> str:
    """SVG of the walk from the base value to the raw margin (log-odds of default). Red bars push the
    risk up, green bars pull it down."""
    import matplotlib

    matplotlib.use("Agg")  # no display; a worker or a web process has none
    from matplotlib.figure import Figure

    n = len(items)
    fig = Figure(figsize=(10, 0.55 * (n + 2) + 1.2))
    ax = fig.subplots()
    running = base
    ys = list(range(n + 1, -1, -1))
    labels = ["Model base value (average applicant)"]
    ax.barh(ys[0], 0.0, left=base, color="#57606a")
    ax.plot([base, base], [ys[0] - 0.35, ys[0] + 0.35], color="#57606a", linewidth=2)
    for y, item in zip(ys[1:-1], items, strict=True):
        c = item["contribution"]
        ax.barh(y, c, left=running, color="#d1242f" if c > 0 else "#1a7f37", height=0.6)
        ax.text(running + c + (0.01 if c >= 0 else -0.01), y, f"{c:+.3f}", va="center",
                ha="left" if c >= 0 else "right", fontsize=8)
        running += c
        lines = textwrap.wrap(item["label"], 58)
        if len(lines) > 2:
            lines = [lines[0], lines[1][:55].rstrip() + "\u2026"]
        labels.append("\n".join(lines))
    labels.append("This decision (raw margin)" + (f", PD {100 * pd:.2f}%" if pd is not None else ""))
    ax.plot([margin, margin], [ys[-1] - 0.35, ys[-1] + 0.35], color="#1f2328", linewidth=3)
    ax.axvline(base, color="#8c959f", linewidth=0.8, linestyle="--")
    # Every bar end, the base and the margin inside the axes, with room for the value labels.
    ends, walk = [base, margin], base
    for item in items:
        walk += item["contribution"]
        ends.append(walk)
    lo, hi = min(ends), max(ends)
    pad = max(hi - lo, 1e-3) * 0.12
    ax.set_xlim(lo - pad, hi + pad)
    ax.set_yticks(ys)
    ax.set_yticklabels(labels, fontsize=9)
    ax.set_xlabel("log-odds of default (right = riskier)")
    ax.set_title("How each feature moved this decision's risk (SHAP, largest first)", fontsize=10)
    ax.grid(axis="x", alpha=0.3)
    fig.tight_layout()
    buf = io.StringIO()
    fig.savefig(buf, format="svg", metadata={"Date": None})
    return buf.getvalue()


# ---- small SVG charts ---------------------------------------------------------------------------------


def _nice_max(value: float) -> float:
    if value <= 0:
        return 1.0
    exp = 10 ** math.floor(math.log10(value))
    for m in (1, 2, 2.5, 5, 10):
        if value <= m * exp:
            return m * exp
    return 10 * exp


def _fmt(value: float, unit: str) -> str:
    if unit == "%":
        return f"{100 * value:.0f}%" if value >= 0.1 or value == 0 else f"{100 * value:.1f}%"
    if unit == "ms":
        return f"{value:,.0f} ms" if value >= 10 else f"{value:.1f} ms"
    if value >= 1000:
        return f"{value:,.0f}"
    return f"{value:g}"


def _frame(width: int, height: int, title: str, top: float, unit: str, pad: dict) -> list[str]:
    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {width} {height}" role="img" '
             f'aria-label="{escape(title)}" class="chart">',
             f'<title>{escape(title)}</title>']
    plot_h = height - pad["t"] - pad["b"]
    for k in range(5):
        v = top * k / 4
        y = pad["t"] + plot_h - plot_h * k / 4
        parts.append(f'<line x1="{pad["l"]}" x2="{width - pad["r"]}" y1="{y:.1f}" y2="{y:.1f}" class="grid"/>')
        parts.append(f'<text x="{pad["l"] - 6}" y="{y + 4:.1f}" text-anchor="end" class="tick">'
                     f'{escape(_fmt(v, unit))}</text>')
    return parts


def _xlabels(labels: Sequence[str], xs: Sequence[float], y: float, max_labels: int = 12) -> list[str]:
    step = max(1, math.ceil(len(labels) / max_labels))
    return [f'<text x="{x:.1f}" y="{y:.1f}" text-anchor="middle" class="tick">{escape(str(lab))}</text>'
            for i, (lab, x) in enumerate(zip(labels, xs, strict=True)) if i % step == 0]


def bar_chart_svg(*, title: str, labels: Sequence[str], series: dict[str, Sequence[float | None]],
                  unit: str = "", width: int = 640, height: int = 240) -> str:
    """Grouped bars: one group per label, one bar per series (None draws nothing)."""
    pad = {"l": 56, "r": 12, "t": 28, "b": 40}
    values = [v for s in series.values() for v in s if v is not None]
    top = _nice_max(max(values, default=0.0))
    parts = _frame(width, height, title, top, unit, pad)
    plot_w, plot_h = width - pad["l"] - pad["r"], height - pad["t"] - pad["b"]
    n, k = max(len(labels), 1), max(len(series), 1)
    group = plot_w / n
    bar = max(group * 0.8 / k, 1.0)
    centers = []
    for i in range(len(labels)):
        x0 = pad["l"] + group * i + group * 0.1
        centers.append(x0 + group * 0.4)
        for j, (name, vals) in enumerate(series.items()):
            v = vals[i]
            if v is None:
                continue
            h = plot_h * v / top
            parts.append(f'<rect x="{x0 + j * bar:.1f}" y="{pad["t"] + plot_h - h:.1f}" width="{bar:.1f}" '
                         f'height="{h:.1f}" fill="{PALETTE[j % len(PALETTE)]}">'
                         f'<title>{escape(str(labels[i]))} {escape(name)}: {escape(_fmt(v, unit))}</title></rect>')
    parts += _xlabels(labels, centers, height - pad["b"] + 16)
    parts += _legend(series, width, pad)
    parts.append("</svg>")
    return "".join(parts)


def line_chart_svg(*, title: str, labels: Sequence[str], series: dict[str, Sequence[float | None]],
                   unit: str = "", width: int = 640, height: int = 240) -> str:
    """Lines over the labels (gaps where a value is None)."""
    pad = {"l": 56, "r": 12, "t": 28, "b": 40}
    values = [v for s in series.values() for v in s if v is not None]
    top = _nice_max(max(values, default=0.0))
    parts = _frame(width, height, title, top, unit, pad)
    plot_w, plot_h = width - pad["l"] - pad["r"], height - pad["t"] - pad["b"]
    n = len(labels)
    xs = [pad["l"] + (plot_w * i / (n - 1) if n > 1 else plot_w / 2) for i in range(n)]
    for j, (name, vals) in enumerate(series.items()):
        color = PALETTE[j % len(PALETTE)]
        segment: list[str] = []
        segments = []
        for x, v in zip(xs, vals, strict=True):
            if v is None:
                if segment:
                    segments.append(segment)
                segment = []
                continue
            segment.append(f"{x:.1f},{pad['t'] + plot_h - plot_h * v / top:.1f}")
        if segment:
            segments.append(segment)
        for seg in segments:
            if len(seg) == 1:
                cx, cy = seg[0].split(",")
                parts.append(f'<circle cx="{cx}" cy="{cy}" r="2.5" fill="{color}"/>')
            else:
                parts.append(f'<polyline fill="none" stroke="{color}" stroke-width="2" points="{" ".join(seg)}">'
                             f'<title>{escape(name)}</title></polyline>')
    parts += _xlabels(labels, xs, height - pad["b"] + 16)
    parts += _legend(series, width, pad)
    parts.append("</svg>")
    return "".join(parts)


def _legend(series: dict, width: int, pad: dict) -> list[str]:
    parts, x = [], pad["l"]
    for j, name in enumerate(series):
        parts.append(f'<rect x="{x}" y="8" width="10" height="10" fill="{PALETTE[j % len(PALETTE)]}"/>')
        parts.append(f'<text x="{x + 14}" y="17" class="legend">{escape(name)}</text>')
        x += 24 + 7 * len(name)
    return parts
