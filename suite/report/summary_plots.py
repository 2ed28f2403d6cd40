"""The summary's figures as PNG bytes, for the files beside the report and the HTML page itself.

Per set, the convergence of every run (so a reader sees what the olympic mean kept and dropped,
and where each run met the target); across sets, the time and the energy to train with their
spread; power profiles where runs carry a trace; and, for inference sets, latency distributions
and latency against batch size (`inference_plots`). Drawn on Agg canvases without pyplot, so no
display and no global figure state is involved.
"""

from __future__ import annotations

import textwrap
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from matplotlib.axes import Axes
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.patches import Patch
from matplotlib.ticker import MaxNLocator

from accelbench.energy.trace import trace_energy_j
from accelbench.report.figures import DPI, LOG_SCALE_FROM_RATIO, RUN_COLORS, ReportImage, literal, png, safe_name
from accelbench.report.inference_plots import latency_batch_images, latency_cdf_images
from accelbench.report.summary_tables import (
    TARGET_SIGNS,
    energy_cell,
    interval_cell,
    joules,
    seconds,
    time_cell,
)

if TYPE_CHECKING:
    from accelbench.report.summarize import PowerTrace, RunSummary, SetSummary, Summary

TIME_COLOR = "#9cc3e6"
ENERGY_COLOR = "#a6d9a0"
INVALID_COLOR = "#e0e0e0"
RUN_MARKERS = {
    "kept": {"marker": "o", "markersize": 6, "color": "black"},
    "dropped": {"marker": "o", "markersize": 6, "color": "white", "markeredgecolor": "black"},
    "not converged": {"marker": "x", "markersize": 9, "mew": 2, "color": "tab:red"},
}
KEPT_LINE = {"linestyle": "-", "zorder": 3}
DROPPED_LINE = {"linestyle": "--", "alpha": 0.6, "zorder": 2}  # under the kept runs' lines
LABEL_WIDTH = 34
NOTE_WIDTH = 42


@dataclass(frozen=True)
class ReportImages:
    time_to_train: ReportImage | None  # None when no set is scored
    energy_to_train: ReportImage | None  # None when no set has an energy to train
    power: tuple[ReportImage, ...]  # one per set whose runs carry power traces
    convergence: tuple[ReportImage, ...]  # one per set, in table order
    latency_cdfs: tuple[ReportImage, ...]  # one per inference workload, scale and scenario
    latency_vs_batch: tuple[ReportImage, ...]  # one per inference workload and scale

    @property
    def all(self) -> tuple[ReportImage, ...]:
        bars = tuple(i for i in (self.time_to_train, self.energy_to_train) if i is not None)
        return bars + self.power + self.convergence + self.latency_cdfs + self.latency_vs_batch


def file_stem(index: int, s: SetSummary) -> str:
    """A safe, unique file name part: table position, then system, workload, scale, mode."""
    mode = "" if s.mode == "to_target" else f"_{s.mode}"
    return safe_name(f"{index + 1:02d}_{s.system}_{s.workload}_{s.scale}{mode}")


# --- convergence per set -------------------------------------------------------------------------


def _run_label(run: RunSummary, scored: bool) -> str:
    name = f"{run.file.removesuffix('.json')} (seed {run.seed})"
    if not scored:
        return f"{name}: {len(run.epoch_s)} epochs in {seconds(run.time_to_train_s)}"
    outcome = (f"reached target, {seconds(run.time_to_train_s)}" if run.converged
               else f"not converged, stopped at {seconds(run.time_to_train_s)}")
    return f"{name}: {outcome}" + (" — dropped" if run.dropped else "")


def _metric_axis(ax: Axes, values: list[float]) -> None:
    positive = [v for v in values if v > 0]
    if positive and max(positive) / min(positive) >= LOG_SCALE_FROM_RATIO:
        ax.set_yscale("log")


def convergence_figure(s: SetSummary) -> Figure:
    """The metric per evaluation of every run, against epochs and against the timed seconds."""
    figure = Figure(figsize=(11, 5.2), dpi=DPI, layout="constrained")
    by_epoch, by_time = figure.subplots(1, 2, sharey=True)
    sign = TARGET_SIGNS[s.direction]
    scored = s.verdict is not None  # fixed-epoch runs do not stop at the target
    handles = []
    for index, run in enumerate(s.runs):
        color = RUN_COLORS[index % len(RUN_COLORS)]
        line = DROPPED_LINE if run.dropped else KEPT_LINE
        points = [p for p in run.curve if p.value is not None]
        hit = s.converging_point(run) if scored else None
        for ax, x in ((by_epoch, lambda p: p.epoch), (by_time, lambda p: p.elapsed_s)):
            ax.plot([x(p) for p in points], [p.value for p in points], color=color, marker="o",
                    markersize=3.5, **line)
            if hit is not None:
                ax.plot(x(hit), hit.value, marker="*", markersize=15, color=color,
                        markeredgecolor="black", linestyle="none", zorder=line["zorder"] + 3)
            elif scored and not run.converged and points:
                ax.plot(x(points[-1]), points[-1].value, marker="X", markersize=11, color=color,
                        markeredgecolor="black", linestyle="none", zorder=line["zorder"] + 3)
        handles.append(Line2D([], [], color=color, marker="o", markersize=3.5,
                              label=_run_label(run, scored), **line))
    for ax in (by_epoch, by_time):
        ax.axhline(s.target, color="black", linestyle=":", linewidth=1.3)
        ax.grid(True, alpha=0.3)
    values = [p.value for run in s.runs for p in run.curve if p.value is not None]
    _metric_axis(by_epoch, [*values, s.target])
    by_epoch.xaxis.set_major_locator(MaxNLocator(integer=True))
    by_epoch.set(xlabel="epoch", ylabel=literal(s.metric), title="per epoch")
    by_time.set(xlabel="time since the run's clock started [s]", title="per second of the timed run")
    by_time.tick_params(labelleft=True)
    target = f"target {sign} {s.target:g}" + ("" if scored else " (for reference: fixed epochs)")
    handles.append(Line2D([], [], color="black", linestyle=":", label=target))
    if scored and any(s.converging_point(run) is not None for run in s.runs):
        handles.append(Line2D([], [], color="gray", marker="*", markersize=13, linestyle="none",
                              markeredgecolor="black", label="first evaluation that met the target"))
    if scored and not all(run.converged for run in s.runs):
        handles.append(Line2D([], [], color="gray", marker="X", markersize=10, linestyle="none",
                              markeredgecolor="black",
                              label="last evaluation of a run that did not converge"))
    if any(run.dropped for run in s.runs):
        handles.append(Line2D([], [], color="gray", label="dashed: dropped by the olympic score",
                              **DROPPED_LINE))
    figure.legend(handles=handles, loc="outside lower center", ncols=2, frameon=False, fontsize=9)
    count = len(s.runs)
    runs = f"{count} runs ({s.converged} converged)" if scored else f"{count} fixed-epoch runs"
    figure.suptitle(literal(f"{s.label} on {s.world_size} × {s.device}: {s.metric} of {runs}"),
                    fontsize=12)
    return figure


# --- bars across sets ----------------------------------------------------------------------------


@dataclass(frozen=True)
class Bar:
    """One set in a bar chart: its value with an optional interval, and the runs behind it."""

    label: str
    value: float | None
    interval: tuple[float, float] | None
    runs: tuple[RunSummary, ...]
    run_value: Callable[[RunSummary], float | None]
    valid: bool
    note: str  # printed beside the bar: the value, or why there is none


def _set_label(s: SetSummary) -> str:
    first = textwrap.shorten(f"{s.submitter} · {s.system}", LABEL_WIDTH, placeholder="…")
    return literal(f"{first}\n{s.workload} {s.scale}\n{s.world_size} × {s.platform}")


def _bar_chart(bars: Sequence[Bar], xlabel: str, title: str, scale: float, color: str) -> Figure:
    """Horizontal bars, top to bottom in table order, each run a dot over its set's bar, and
    each set's number (or why it has none) as a label on the right."""
    figure = Figure(figsize=(11, 1.9 + 0.95 * len(bars)), dpi=DPI, layout="constrained")
    ax = figure.subplots()
    used: set[str] = set()
    right = 0.0
    for y, bar in enumerate(bars):
        if bar.value is not None:
            ax.barh(y, bar.value / scale, height=0.6, color=color if bar.valid else INVALID_COLOR,
                    hatch=None if bar.valid else "//", edgecolor="dimgray", linewidth=0.6)
            used.add("bar" if bar.valid else "invalid")
            right = max(right, bar.value / scale)
        if bar.interval is not None and bar.value is not None:
            low, high = (v / scale for v in bar.interval)
            middle = bar.value / scale
            ax.errorbar(middle, y, xerr=[[middle - low], [high - middle]], fmt="none", ecolor="black",
                        elinewidth=1.5, capsize=6, zorder=4)
            used.add("interval")
            right = max(right, high)
        for run in bar.runs:
            value = bar.run_value(run)
            if value is None:
                continue
            right = max(right, value / scale)
            kind = "not converged" if not run.converged else "dropped" if run.dropped else "kept"
            used.add(kind)
            ax.plot(value / scale, y, zorder=5, linestyle="none", **RUN_MARKERS[kind])
    ax.set_xlim(0, (right or 1.0) * 1.08)
    ax.set_ylim(len(bars) - 0.5, -0.5)
    ax.set_yticks(range(len(bars)), [b.label for b in bars], fontsize=9)
    notes = ax.secondary_yaxis("right")
    notes.set_yticks(range(len(bars)), [literal(textwrap.fill(b.note, NOTE_WIDTH)) for b in bars],
                     fontsize=9)
    notes.tick_params(length=0)
    ax.set_xlabel(xlabel)
    ax.set_title(title)
    ax.grid(True, axis="x", alpha=0.3)
    legend = {
        "bar": Patch(facecolor=color, edgecolor="dimgray", label="olympic mean"),
        "interval": Line2D([], [], color="black", marker="|", markersize=10,
                           label="95% CI of the mean (Student t)"),
        "invalid": Patch(facecolor=INVALID_COLOR, edgecolor="dimgray", hatch="//",
                         label="mean of a score that is not valid"),
        "kept": Line2D([], [], linestyle="none", label="kept run", **RUN_MARKERS["kept"]),
        "dropped": Line2D([], [], linestyle="none", label="dropped run (fastest or slowest)",
                          **RUN_MARKERS["dropped"]),
        "not converged": Line2D([], [], linestyle="none", **RUN_MARKERS["not converged"],
                                label="run that did not converge (at its stop)"),
    }
    handles = [handle for name, handle in legend.items() if name in used]
    columns = len(handles) if len(handles) <= 4 else 3
    figure.legend(handles=handles, loc="outside lower center", ncols=columns, frameon=False, fontsize=9)
    return figure


def _time_note(s: SetSummary) -> str:
    valid = s.verdict is not None and s.verdict.valid
    return f"{time_cell(s)}, 95% CI {interval_cell(s)}" if valid else time_cell(s)


def time_to_train_figure(sets: Sequence[SetSummary]) -> Figure:
    """The olympic mean of each scored set with its CI, and every run's time as a dot."""
    bars = [
        Bar(_set_label(s), s.verdict.score_s, s.confidence_interval_s, s.runs,
            lambda run: run.time_to_train_s, s.verdict.valid, _time_note(s))
        for s in sets if s.verdict is not None
    ]
    return _bar_chart(bars, "time to train [s]", "Time to train (shorter is better)", 1.0,
                      TIME_COLOR)


def energy_to_train_figure(sets: Sequence[SetSummary]) -> Figure:
    """The energy over the kept runs of each scored set, in kJ, or why it has none."""
    bars = []
    for s in sets:
        if s.verdict is None:
            continue
        joules_to_train = s.energy.joules
        bars.append(Bar(_set_label(s), joules_to_train, None, s.runs, lambda run: run.energy_j,
                        joules_to_train is not None, energy_cell(s)))
    return _bar_chart(bars, "energy to train [kJ]", "Energy to train (less is better)", 1e3,
                      ENERGY_COLOR)


# --- power profiles ------------------------------------------------------------------------------


def power_figure(title: str, traces: Mapping[str, PowerTrace]) -> Figure:
    """Power against time, one line per run, each labelled with its mean power and energy.

    A trace point is the mean power over the stretch that ends at its time (since the previous
    point, or since the clock started), so it is drawn as steps and its energy is their sum."""
    figure = Figure(figsize=(10, 4.8), dpi=DPI, layout="constrained")
    ax = figure.subplots()
    for index, (name, trace) in enumerate(traces.items()):
        times = [t for t, _ in trace]
        watts = [w for _, w in trace]
        energy = trace_energy_j(trace)
        duration = times[-1]
        mean = f"mean {energy / duration:,.0f} W, " if duration > 0 else ""
        ax.step([0.0, *times], [watts[0], *watts], where="pre", color=RUN_COLORS[index % len(RUN_COLORS)],
                linewidth=1.2, label=literal(f"{name}: {mean}{joules(energy)} over {seconds(duration)}"))
    ax.set_ylim(bottom=0)
    ax.set(xlabel="time since the run's clock started [s]", ylabel="power [W]", title=literal(title))
    ax.grid(True, alpha=0.3)
    ax.legend(loc="lower right", fontsize=9)
    return figure


# --- all images of a summary ---------------------------------------------------------------------


def _traces(s: SetSummary) -> dict[str, PowerTrace]:
    return {run.file.removesuffix(".json"): run.power_trace for run in s.runs if run.power_trace}


def report_images(summary: Summary) -> ReportImages:
    scored = [s for s in summary.sets if s.verdict is not None]
    measured = [s for s in scored if s.energy.joules is not None]
    return ReportImages(
        time_to_train=ReportImage(
            "time_to_train.png", "Time to train per result set",
            png(time_to_train_figure(scored)),
        ) if scored else None,
        energy_to_train=ReportImage(
            "energy_to_train.png", "Energy to train per result set",
            png(energy_to_train_figure(scored)),
        ) if measured else None,
        power=tuple(
            ReportImage(f"power_{file_stem(i, s)}.png", f"Power: {s.label}",
                        png(power_figure(f"Power: {s.label}", _traces(s))))
            for i, s in enumerate(summary.sets) if s.has_power_traces
        ),
        convergence=tuple(
            ReportImage(f"convergence_{file_stem(i, s)}.png", f"Convergence: {s.label}",
                        png(convergence_figure(s)))
            for i, s in enumerate(summary.sets)
        ),
        latency_cdfs=latency_cdf_images(summary.inference_rows),
        latency_vs_batch=latency_batch_images(summary.inference_rows),
    )
