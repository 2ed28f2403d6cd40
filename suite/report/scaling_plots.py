"""The weak-scaling figure: the seed's PMBS22 views of a report as one 2x2 PNG.

(a) end loss, (b) time per epoch and (c) samples/s with the ideal weak-scaling line, and
(d) energy per epoch, each against N on a log2 axis, one series per system side by side.
Drawn on an Agg canvas without pyplot, so no display and no global figure state is involved.
"""

from __future__ import annotations

import io
import textwrap
from collections.abc import Callable
from typing import TYPE_CHECKING

from matplotlib.axes import Axes
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.ticker import EngFormatter, Formatter, FuncFormatter, LogLocator, NullLocator

if TYPE_CHECKING:
    from accelbench.report.scaling import ScalingPoint, ScalingReport, Series

# Fixed colours and markers per platform, so A100 and IPU look the same in every report.
PLATFORM_STYLES = {"a100": ("tab:green", "o"), "ipu": ("tab:red", "s"), "cpu": ("tab:blue", "^")}
SPARE_STYLES = (("tab:purple", "D"), ("tab:orange", "v"), ("tab:brown", "P"), ("tab:gray", "X"))
MEDIAN_ALPHA = 0.35
DPI = 110
LOG_SCALE_FROM_RATIO = 10.0  # a measure spanning less than this reads better on a linear axis
PLAIN_NUMBER = FuncFormatter(lambda value, _: f"{value:g}")


def _styles(series: tuple[Series, ...]) -> list[tuple[str, str]]:
    """A platform's own style for its first series; spare styles for the rest."""
    spare = iter(SPARE_STYLES * (1 + len(series) // len(SPARE_STYLES)))
    used: set[str] = set()
    styles = []
    for one in series:
        if one.platform in PLATFORM_STYLES and one.platform not in used:
            styles.append(PLATFORM_STYLES[one.platform])
        else:
            styles.append(next(spare))
        used.add(one.platform)
    return styles


def _log2_axis(ax: Axes, counts: list[int]) -> None:
    """N on a log2 axis with a plain integer label at every N that ran."""
    ax.set_xscale("log", base=2)
    ax.xaxis.set_minor_locator(NullLocator())
    ax.set_xticks(counts, [str(n) for n in counts])
    low, high = min(counts), max(counts)
    ax.set_xlim(low / 1.4, high * 1.4)
    ax.set_xlabel("accelerators N (processes)")
    ax.grid(True, which="major", alpha=0.3)


def _value_axis(ax: Axes, values: list[float], formatter: Formatter) -> None:
    """Log scale with ticks at 1-2-5 when the values span a decade or more (80 s down to 1 s),
    linear otherwise (two CPU points), with plain labels either way instead of 10^x."""
    positive = [v for v in values if v > 0]
    if positive and max(positive) / min(positive) >= LOG_SCALE_FROM_RATIO:
        ax.set_yscale("log")
        ax.yaxis.set_major_locator(LogLocator(base=10, subs=(1.0, 2.0, 5.0)))
        ax.yaxis.set_minor_locator(NullLocator())
    ax.yaxis.set_major_formatter(formatter)


def _plot_measure(
    ax: Axes,
    series: tuple[Series, ...],
    styles: list[tuple[str, str]],
    value: Callable[[ScalingPoint], float | None],
    ideal: Callable[[ScalingPoint], float | None] | None = None,
) -> bool:
    """One line per series through its points that have a value; False when none had one."""
    drawn = False
    for one, (color, marker) in zip(series, styles):
        points = [(p.world_size, value(p)) for p in one.points if value(p) is not None]
        if points:
            ax.plot(*zip(*points), color=color, marker=marker, label=one.label)
            drawn = True
        if ideal is not None:
            ideals = [(p.world_size, ideal(p)) for p in one.points if ideal(p) is not None]
            if ideals:
                ax.plot(*zip(*ideals), color=color, linestyle="--", linewidth=1, alpha=0.8)
    return drawn


def _end_metric_panel(ax: Axes, report: ScalingReport, styles: list[tuple[str, str]]) -> None:
    _plot_measure(ax, report.series, styles, lambda p: p.best_metric)
    for one, (color, marker) in zip(report.series, styles):
        medians = [(p.world_size, p.median_metric) for p in one.points if p.median_metric is not None]
        if medians:
            ax.plot(*zip(*medians), color=color, marker=marker, linestyle="none", alpha=MEDIAN_ALPHA)
        for point in one.points:
            if point.diverged and point.best_metric is not None:
                ax.annotate(f"{point.diverged} of {point.runs} diverged",
                            (point.world_size, point.best_metric), textcoords="offset points",
                            xytext=(0, -9), ha="center", va="top", fontsize=8, color=color,
                            bbox={"facecolor": "white", "edgecolor": "none", "alpha": 0.8, "pad": 1})
    ax.set_title(f"(a) end {report.metric}: best over runs (faint: median)")
    ax.set_ylabel(f"end {report.metric}")


def _energy_panel(ax: Axes, report: ScalingReport, styles: list[tuple[str, str]]) -> None:
    ax.set_title("(d) energy per epoch")
    drawn = _plot_measure(ax, report.series, styles, lambda p: p.energy_per_epoch_wh)
    unmeasured = [
        textwrap.fill(f"{one.label}: {one.points[0].energy_note}", 60)
        for one in report.series
        if all(p.energy_per_epoch_wh is None for p in one.points)
    ]
    if not drawn:
        ax.set_axis_off()
        text = "Energy was not measured.\n\n" + "\n".join(unmeasured)
        ax.text(0.5, 0.5, text, transform=ax.transAxes, ha="center", va="center", fontsize=11,
                bbox={"boxstyle": "round", "facecolor": "whitesmoke", "edgecolor": "lightgray"})
        return
    ax.set_ylabel("energy per epoch [Wh]")
    ax.set_ylim(bottom=0)
    if unmeasured:
        ax.text(0.02, 0.02, "not measured:\n" + "\n".join(unmeasured), transform=ax.transAxes,
                fontsize=8, va="bottom", color="dimgray")


def scaling_figure(report: ScalingReport) -> Figure:
    """The 2x2 figure; its legend names each system, the ideal lines and the median markers."""
    series = report.series
    styles = _styles(series)
    figure = Figure(figsize=(12, 9.5), dpi=DPI, layout="constrained")
    (loss, time), (rate, energy) = figure.subplots(2, 2)
    _end_metric_panel(loss, report, styles)
    _plot_measure(time, series, styles, lambda p: p.epoch_s, lambda p: p.ideal_epoch_s)
    time.set(title="(b) time per epoch (training + evaluation)", ylabel="time per epoch [s]")
    _value_axis(time, [p.epoch_s for p in report.points if p.epoch_s is not None], PLAIN_NUMBER)
    _plot_measure(rate, series, styles, lambda p: p.samples_per_s, lambda p: p.ideal_samples_per_s)
    rate.set(title="(c) training throughput", ylabel="samples/s (all accelerators)")
    _value_axis(rate, [p.samples_per_s for p in report.points], EngFormatter(sep=""))
    _energy_panel(energy, report, styles)
    counts = sorted({p.world_size for p in report.points})
    for ax in (loss, time, rate, energy):
        if ax.axison:
            _log2_axis(ax, counts)
    figure.suptitle(
        f"Weak scaling of {report.workload}: {report.scale} scale, {report.epochs} epochs "
        f"({report.mode}), constant local batch — {report.runs} runs",
        fontsize=13,
    )
    handles = [
        Line2D([], [], color=color, marker=marker, label=one.label)
        for one, (color, marker) in zip(series, styles)
    ]
    handles += [
        Line2D([], [], color="gray", linestyle="--",
               label="ideal weak scaling from the smallest N: t1·N1/N (b), s1·N/N1 (c)"),
        Line2D([], [], color="gray", marker="o", linestyle="none", alpha=MEDIAN_ALPHA,
               label="median over runs"),
    ]
    figure.legend(handles=handles, loc="outside lower center", ncols=min(len(handles), 4),
                  frameon=False)
    return figure


def render_png(report: ScalingReport) -> bytes:
    buffer = io.BytesIO()
    FigureCanvasAgg(scaling_figure(report)).print_png(buffer)
    return buffer.getvalue()
