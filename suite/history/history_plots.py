"""The figure of a history: every run as a dot, the per-commit median as a line with the runs'
range shaded, and each detected step marked at the commit that made it."""

from __future__ import annotations

from matplotlib.figure import Figure

from accelbench.history.series import Series
from accelbench.history.steps import Step
from accelbench.report.figures import DPI, ReportImage, literal, png, safe_name

MAX_TICK_LABELS = 30


def history_image(series: Series, steps: list[Step]) -> ReportImage:
    figure = Figure(figsize=(9.5, 4.2), dpi=DPI)
    axes = figure.add_subplot()
    x = list(range(len(series.points)))
    medians = [point.median for point in series.points]
    axes.fill_between(x, [p.low for p in series.points], [p.high for p in series.points], color="tab:blue",
                      alpha=0.15, linewidth=0, label="runs' range")
    for index, point in enumerate(series.points):
        axes.plot([index] * len(point.values), point.values, ".", color="tab:blue", alpha=0.5, markersize=4)
    axes.plot(x, medians, "-o", color="tab:blue", markersize=3, label="median")
    for step in steps:
        worse = step.worse(series.higher_is_better)
        color = "tab:red" if worse else "tab:green" if worse is False else "tab:gray"
        axes.axvline(step.index - 0.5, color=color, linestyle="--", linewidth=1)
        axes.annotate(f"{step.ratio:.2f}x at {literal(series.points[step.index].label)}",
                      (step.index - 0.5, max(medians)), rotation=90, va="top", ha="right", fontsize=8, color=color)
    every = max(1, len(x) // MAX_TICK_LABELS)
    axes.set_xticks(x[::every], [literal(p.label) for p in series.points][::every], rotation=60, fontsize=7,
                    ha="right")
    better = {True: "higher is better", False: "lower is better", None: ""}[series.higher_is_better]
    axes.set_ylabel(f"{series.metric} ({better})" if better else series.metric)
    axes.set_xlabel("suite commit, in the order first run" if series.axis == "commit" else "date (UTC)")
    title = f"{series.key}: {series.metric} over {len(series.points)} {series.axis}s"
    axes.set_title(literal(title), fontsize=10)
    axes.grid(alpha=0.3)
    axes.legend(fontsize=8, loc="best")
    figure.tight_layout()
    name = safe_name(f"history_{series.key.system}_{series.key.workload}_{series.key.scale}_{series.metric}")
    return ReportImage(f"{name}.png", title, png(figure))
