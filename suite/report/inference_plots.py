"""The inference sets' figures: per workload, scale and scenario, the latency distribution of
every set from LoadGen's traces (a CDF, so the tail the percentile judges is visible), and per
workload and scale, latency against batch size (how batching trades latency for throughput).
Drawn on Agg canvases without pyplot, as `summary_plots` draws.
"""

from __future__ import annotations

from collections.abc import Callable, Hashable, Sequence
from typing import TYPE_CHECKING

from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.ticker import NullLocator

from accelbench.report.figures import DPI, LOG_SCALE_FROM_RATIO, RUN_COLORS, ReportImage, literal, png, safe_name
from accelbench.report.inference_summary import BATCH_LATENCY_SCENARIOS, cdf_points
from accelbench.report.summary_tables import milliseconds

if TYPE_CHECKING:
    from accelbench.report.inference_summary import ScenarioRow

SCENARIO_STYLES = {"SingleStream": ("o", "-"), "MultiStream": ("s", "--"), "Offline": ("^", ":")}
OFFLINE_BATCH_LATENCY = "one batch at its throughput, 1000 × batch / samples/s"


def _log_if_decades(set_scale: Callable[[str], object], values: Sequence[float]) -> None:
    """A log axis for values spanning a decade or more: latencies often do."""
    positive = [v for v in values if v > 0]
    if positive and max(positive) / min(positive) >= LOG_SCALE_FROM_RATIO:
        set_scale("log")


def _groups(rows: Sequence[ScenarioRow], key: Callable[[ScenarioRow], Hashable]) -> dict[Hashable, list[ScenarioRow]]:
    """Rows by `key`, in the order each key first appears."""
    grouped: dict[Hashable, list[ScenarioRow]] = {}
    for row in rows:
        grouped.setdefault(key(row), []).append(row)
    return grouped


# --- latency distributions -----------------------------------------------------------------------


def latency_cdf_figure(rows: Sequence[ScenarioRow]) -> Figure:
    """The rows of one workload, scale and scenario: one line per set, its runs' traces pooled,
    and a dot where LoadGen put the latency it judges the scenario by."""
    first = rows[0]
    figure = Figure(figsize=(10, 5.2), dpi=DPI, layout="constrained")
    ax = figure.subplots()
    spanned: list[float] = []
    for index, row in enumerate(rows):
        color = RUN_COLORS[index % len(RUN_COLORS)]
        latencies_ms, fractions = cdf_points(row.latencies_ns)
        spanned += latencies_ms
        label = (f"{row.set.submitter} · {row.set.system}, batch {row.set.batch_size}, {row.set.precision}: "
                 f"{row.percentile_name} {milliseconds(row.latency_ms)}, {'VALID' if row.valid else 'INVALID'}")
        ax.plot(latencies_ms, fractions, drawstyle="steps-post", color=color, linewidth=1.4, label=literal(label))
        ax.plot(row.latency_ms, row.latency_percentile, marker="o", markersize=7, color=color,
                markeredgecolor="black", linestyle="none", zorder=4)
    for percentile in sorted({row.latency_percentile for row in rows}):
        ax.axhline(percentile, color="black", linestyle=":", linewidth=1.0)
    _log_if_decades(ax.set_xscale, spanned)
    counted = "samples (Offline's run is one query)" if first.scenario == "Offline" else "queries"
    per_query = ", a query's latency is its slowest sample's" if first.scenario == "MultiStream" else ""
    ax.set(xlabel="latency [ms]", ylabel=f"fraction of {counted}", ylim=(0, 1.02),
           title=literal(f"{first.set.workload} {first.set.scale}, {first.scenario}: latency distribution "
                         f"from LoadGen's traces{per_query}"))
    ax.grid(True, which="both", alpha=0.3)
    handles, _ = ax.get_legend_handles_labels()
    handles += [Line2D([], [], color="gray", marker="o", markeredgecolor="black", linestyle="none",
                       label="the latency LoadGen reported at the scenario's percentile (dotted)")]
    figure.legend(handles=handles, loc="outside lower center", ncols=1, frameon=False, fontsize=9)
    return figure


def latency_cdf_images(rows: Sequence[ScenarioRow]) -> tuple[ReportImage, ...]:
    groups = _groups(rows, lambda row: (row.set.workload, row.set.scale, row.scenario))
    return tuple(
        ReportImage(safe_name(f"latency_cdf_{workload}_{scale}_{scenario}.png"),
                    f"Latency distribution: {workload} {scale}, {scenario}", png(latency_cdf_figure(group)))
        for (workload, scale, scenario), group in groups.items()
    )


# --- latency against batch size ------------------------------------------------------------------


def _batch_series_label(row: ScenarioRow) -> str:
    if row.scenario == "Offline":
        what = OFFLINE_BATCH_LATENCY
    else:
        what = row.percentile_name + (" per query" if row.scenario == "MultiStream" else "")
    return literal(f"{row.set.submitter} · {row.set.system}: {row.scenario} {what}")


def latency_batch_figure(rows: Sequence[ScenarioRow]) -> Figure:
    """The SingleStream, MultiStream and Offline rows of one workload and scale: one point per
    set and scenario, joined per system; hollow points are INVALID."""
    first = rows[0]
    figure = Figure(figsize=(10, 5.2), dpi=DPI, layout="constrained")
    ax = figure.subplots()
    systems = list(dict.fromkeys((row.set.submitter, row.set.system) for row in rows))
    by_line = _groups(rows, lambda row: (row.set.submitter, row.set.system, row.scenario))
    for (submitter, system, scenario), line in by_line.items():
        line = sorted(line, key=lambda row: row.set.batch_size)
        color = RUN_COLORS[systems.index((submitter, system)) % len(RUN_COLORS)]
        marker, linestyle = SCENARIO_STYLES[scenario]
        ax.plot([row.set.batch_size for row in line], [row.batch_latency_ms for row in line], color=color,
                linestyle=linestyle, linewidth=1.3, marker=marker, markersize=7, label=_batch_series_label(line[0]))
        invalid = [row for row in line if not row.valid]
        if invalid:
            ax.plot([row.set.batch_size for row in invalid], [row.batch_latency_ms for row in invalid],
                    marker=marker, markersize=7, markerfacecolor="white", markeredgecolor=color, linestyle="none")
    batch_sizes = sorted({row.set.batch_size for row in rows})
    ax.set_xscale("log", base=2)
    ax.set_xticks(batch_sizes, [str(size) for size in batch_sizes])
    ax.xaxis.set_minor_locator(NullLocator())
    _log_if_decades(ax.set_yscale, [row.batch_latency_ms for row in rows])
    ax.set(xlabel="batch size (most samples in one forward pass)", ylabel="latency [ms]",
           title=literal(f"{first.set.workload} {first.set.scale}: latency against batch size"))
    ax.grid(True, which="both", alpha=0.3)
    handles, _ = ax.get_legend_handles_labels()
    if not all(row.valid for row in rows):
        handles.append(Line2D([], [], color="gray", marker="o", markerfacecolor="white", linestyle="none",
                              label="hollow: INVALID"))
    figure.legend(handles=handles, loc="outside lower center", ncols=1, frameon=False, fontsize=9)
    return figure


def latency_batch_images(rows: Sequence[ScenarioRow]) -> tuple[ReportImage, ...]:
    plotted = [row for row in rows if row.scenario in BATCH_LATENCY_SCENARIOS]
    groups = _groups(plotted, lambda row: (row.set.workload, row.set.scale))
    return tuple(
        ReportImage(safe_name(f"latency_vs_batch_size_{workload}_{scale}.png"),
                    f"Latency against batch size: {workload} {scale}", png(latency_batch_figure(group)))
        for (workload, scale), group in groups.items()
    )
