"""The flicker/style frontier of ``fstvideo bench temporal`` as a PNG: E_warp against style loss,
both relative to the per-frame output, one curve per smoothing method.

Each method is a curve, not a point: a stronger blend flickers less and keeps less of the style,
so two methods compare fairly only at equal style retention (down and left is better). Without
VGG16 weights the style axis falls back to the mean difference to the per-frame output.
"""
from __future__ import annotations

from pathlib import Path

from .report import save_atomic

COLOURS = {"per-frame": "black", "ema": "tab:orange", "smoother": "tab:blue"}


def axes_of(result: dict) -> tuple[str, str]:
    """(row key of the x axis, its label): style vs per-frame when every row has it."""
    if all(r.get("style_vs_per_frame") is not None for r in result["rows"]):
        return "style_vs_per_frame", "VGG16 style loss / per-frame (lower keeps more style)"
    return "diff_to_per_frame", "mean |output - per-frame| in [0,1] (style loss unavailable)"


def plot_frontier(result: dict, path: Path) -> Path:
    """Write the frontier of ``result`` (``bench.temporal.evaluate``'s dict, plus ``clip``) to
    ``path`` (PNG); returns ``path``. Matplotlib's Agg canvas on a bare Figure: no display, and
    no pyplot state shared with a GUI in the same process."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    xkey, xlabel = axes_of(result)
    base = result["rows"][0]["e_warp"] or 1.0
    fig = Figure(figsize=(6.4, 4.8), dpi=100)
    FigureCanvasAgg(fig)
    ax = fig.add_subplot()
    first = result["rows"][0]
    for method in dict.fromkeys(r["method"] for r in result["rows"]):
        rows = sorted((r for r in result["rows"] if r["method"] == method), key=lambda r: r["strength"])
        if method != first["method"]:
            rows = [first] + rows  # strength 0 of every method is the per-frame output
        xs = [r[xkey] for r in rows]
        ys = [r["e_warp"] / base for r in rows]
        ax.plot(xs, ys, "o-", color=COLOURS.get(method), label=method, markersize=4)
        for r, x, y in zip(rows, xs, ys):
            if r is not first:
                ax.annotate(f"{r['strength']:g}", (x, y), textcoords="offset points", xytext=(4, 3),
                            fontsize=7, color=COLOURS.get(method))
            if r.get("default") and r["method"] == method:
                ax.plot([x], [y], "o", markersize=10, markerfacecolor="none", color=COLOURS.get(method))
    ax.set_xlabel(xlabel)
    ax.set_ylabel("E_warp / per-frame (lower flickers less)")
    h, w = result["size"]
    ax.set_title(f"{Path(str(result.get('clip', ''))).name}: {result['frames']} frames at {w}x{h}, "
                 f"{result.get('style', '')}", fontsize=9)
    ax.grid(True, alpha=0.3)
    ax.legend(fontsize=8)
    fig.tight_layout()
    save_atomic(Path(path), lambda p: fig.savefig(p, format="png"))
    return Path(path)
